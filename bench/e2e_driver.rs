//! Load driver and meter of the end-to-end benchmark (`bench/e2e.sh`); a `harness = false` bench
//! target so it builds with release settings and the crate's own Kafka and NATS clients.
//!
//! `e2e_driver send --input syslog|nats|kafka --target ADDR --events FILE [--rate N]` sends the
//! demo NDJSON lines to the daemon's input: syslog as RFC 5424 lines over TCP (the JSON is the
//! message), NATS as one core publish per line (a JetStream stream captures the subject), Kafka
//! as one message per line (acked by the broker; the topic is created with `--partitions`, 4,
//! when absent). `--rate 0` sends flat out.
//!
//! `e2e_driver watch --metrics ADDR --pid PID --expect N` polls the daemon's `/metrics` and
//! `/proc/PID` until N events have left rule evaluation, then prints one JSON line: sustained
//! events/s and CPU seconds per event, both measured from the first event seen (so rule loading
//! is excluded), the `nightwatch_ingest_to_verdict_seconds` p50/p99 (interpolated within the
//! histogram's buckets, as Prometheus' `histogram_quantile` does), peak RSS (VmHWM) and more.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; nothing to do then.
    if args.is_empty() || args.iter().any(|a| a == "--bench") {
        eprintln!("usage: e2e_driver send|watch ... (run by bench/e2e.sh)");
        return;
    }
    let result = match args[0].as_str() {
        "send" => send(&Opts::parse(&args[1..])),
        "watch" => watch(&Opts::parse(&args[1..])),
        other => Err(format!("unknown command {other}").into()),
    };
    if let Err(e) = result {
        eprintln!("e2e_driver: {e}");
        #[allow(clippy::disallowed_methods)] // this binary's main: the CLI edge
        std::process::exit(1);
    }
}

/// `--key value` pairs.
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Self {
        let mut m = BTreeMap::new();
        for pair in args.chunks(2) {
            if let [k, v] = pair {
                m.insert(k.trim_start_matches("--").to_owned(), v.clone());
            }
        }
        Self(m)
    }
    fn get(&self, k: &str) -> Result<&str, Error> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("--{k} is required").into())
    }
    fn num(&self, k: &str, default: f64) -> Result<f64, Error> {
        match self.0.get(k) {
            Some(v) => Ok(v.parse()?),
            None => Ok(default),
        }
    }
}

/// Sleeps as needed so that `sent` items took `sent / rate` seconds since `start`.
fn pace(start: Instant, sent: usize, rate: f64) {
    if rate <= 0.0 {
        return;
    }
    let due = start + Duration::from_secs_f64(sent as f64 / rate);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

fn send(o: &Opts) -> Result<(), Error> {
    let path = PathBuf::from(o.get("events")?);
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&path)?)
        .lines()
        .collect::<Result<_, _>>()?;
    let rate = o.num("rate", 0.0)?;
    let target = o.get("target")?;
    let start = Instant::now();
    // Paced in batches of ~1 ms of traffic, so high rates are not limited by sleep granularity.
    let batch = if rate > 0.0 {
        ((rate / 1000.0).ceil() as usize).max(1)
    } else {
        1000
    };
    match o.get("input")? {
        "syslog" => {
            let mut sock = std::io::BufWriter::new(TcpStream::connect(target)?);
            for (i, chunk) in lines.chunks(batch).enumerate() {
                for l in chunk {
                    writeln!(sock, "<14>1 2026-11-21T00:00:00Z bench-host demo - - - {l}")?;
                }
                sock.flush()?;
                pace(start, (i + 1) * batch, rate);
            }
            sock.flush()?;
            // Wait for the daemon to have read everything before closing.
            let mut inner = sock.into_inner().map_err(|e| e.to_string())?;
            inner.shutdown(std::net::Shutdown::Write)?;
            inner.set_read_timeout(Some(Duration::from_secs(5)))?;
            let _ = inner.read(&mut [0u8; 1]);
        }
        "nats" => {
            let subject = o.get("subject")?.to_owned();
            runtime()?.block_on(async {
                let client = async_nats::connect(target).await?;
                for (i, chunk) in lines.chunks(batch).enumerate() {
                    for l in chunk {
                        client.publish(subject.clone(), l.clone().into()).await?;
                    }
                    client.flush().await?;
                    pace(start, (i + 1) * batch, rate);
                }
                client.flush().await?;
                Ok::<_, Error>(())
            })?;
        }
        "kafka" => {
            let topic = o.get("topic")?.to_owned();
            let partitions = o.num("partitions", 4.0)? as i32;
            let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", target)
                .create()?;
            // Created when absent ("already exists" is fine: a rate run after a flat-out one).
            let created = runtime()?.block_on(admin.create_topics(
                &[NewTopic::new(
                    &topic,
                    partitions,
                    TopicReplication::Fixed(1),
                )],
                &AdminOptions::new(),
            ))?;
            for r in created {
                if let Err((t, e)) = r {
                    eprintln!("topic {t}: {e}");
                }
            }
            // One record per batch against tansu 0.6, which skips a whole batch when a fetch
            // starts inside it (see tests/it/kafka.rs); librdkafka's default otherwise.
            let batch_messages =
                std::env::var("E2E_KAFKA_BATCH").unwrap_or_else(|_| "10000".to_owned());
            let producer: FutureProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", target)
                .set("linger.ms", "5")
                .set("batch.num.messages", &batch_messages)
                .create()?;
            runtime()?.block_on(async {
                let mut pending = Vec::new();
                for (i, chunk) in lines.chunks(batch).enumerate() {
                    for l in chunk {
                        let record = FutureRecord::<(), String>::to(&topic).payload(l);
                        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
                    }
                    if pending.len() >= 2000 || rate > 0.0 {
                        for p in pending.drain(..) {
                            p.await?.map_err(|(e, _)| e)?;
                        }
                    }
                    pace(start, (i + 1) * batch, rate);
                }
                for p in pending {
                    p.await?.map_err(|(e, _)| e)?;
                }
                Ok::<_, Error>(())
            })?;
        }
        other => return Err(format!("unknown input {other}").into()),
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "sent {} lines in {secs:.2} s ({:.0}/s)",
        lines.len(),
        lines.len() as f64 / secs
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One scrape of `/metrics`: `series{labels}` → value (labels as written by the exporter).
fn scrape(addr: &str) -> Result<BTreeMap<String, f64>, Error> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let mut m = BTreeMap::new();
    for line in body.lines().filter(|l| l.starts_with("nightwatch_")) {
        if let Some((k, v)) = line.rsplit_once(' ')
            && let Ok(v) = v.parse::<f64>()
        {
            m.insert(k.to_owned(), v);
        }
    }
    Ok(m)
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

/// Events that left rule evaluation: matched (sent on) or matched nothing (dropped).
fn detected(m: &BTreeMap<String, f64>) -> f64 {
    m.get("nightwatch_stage_sent_total{stage=\"detect\"}")
        .copied()
        .unwrap_or(0.0)
        + m.get("nightwatch_stage_dropped_total{reason=\"no_match\",stage=\"detect\"}")
            .copied()
            .unwrap_or(0.0)
}

/// The q-quantile of the cumulative histogram `name` (linear within a bucket).
fn quantile(m: &BTreeMap<String, f64>, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&format!("{name}_bucket{{le=\""))?;
            let le = le.strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lo);
            }
            let in_bucket = count - below;
            return Some(if in_bucket > 0.0 {
                lo + (le - lo) * (rank - below) / in_bucket
            } else {
                le
            });
        }
        lo = le;
        below = count;
    }
    None
}

/// (utime + stime in seconds, VmHWM bytes, VmRSS bytes) of `pid`.
fn proc_stats(pid: &str, clk_tck: f64) -> Result<(f64, u64, u64), Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').ok_or("bad /proc stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = (f[11].parse::<f64>()? + f[12].parse::<f64>()?) / clk_tck;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((cpu, kb("VmHWM:"), kb("VmRSS:")))
}

fn watch(o: &Opts) -> Result<(), Error> {
    let addr = o.get("metrics")?;
    let pid = o.get("pid")?;
    let expect = o.num("expect", 0.0)?;
    let clk_tck = o.num("clk-tck", 100.0)?;
    let timeout = Duration::from_secs_f64(o.num("timeout", 1800.0)?);
    let settle = Duration::from_secs_f64(o.num("settle", 6.0)?);
    let poll = Duration::from_millis(100);
    let began = Instant::now();
    let (load_cpu, _, _) = proc_stats(pid, clk_tck)?;
    // The first poll that sees events sets the start of the measured window.
    let (t0, done0, cpu0) = loop {
        let m = scrape(addr)?;
        let d = detected(&m);
        if d > 0.0 {
            break (Instant::now(), d, proc_stats(pid, clk_tck)?.0);
        }
        if began.elapsed() > timeout {
            return Err("no event reached rule evaluation".into());
        }
        std::thread::sleep(poll);
    };
    let mut max_depth = BTreeMap::<String, f64>::new();
    let (t1, done1, cpu1) = loop {
        let m = scrape(addr)?;
        for (k, v) in m
            .iter()
            .filter(|(k, _)| k.starts_with("nightwatch_channel_depth"))
        {
            let e = max_depth.entry(k.clone()).or_default();
            *e = e.max(*v);
        }
        let d = detected(&m);
        if d >= expect {
            break (Instant::now(), d, proc_stats(pid, clk_tck)?.0);
        }
        if began.elapsed() > timeout {
            return Err(format!("timed out with {d} of {expect} events evaluated").into());
        }
        std::thread::sleep(poll);
    };
    // Let the last coalesced case updates publish (cases.update_interval_secs).
    std::thread::sleep(settle);
    let m = scrape(addr)?;
    let (cpu_end, hwm, rss) = proc_stats(pid, clk_tck)?;
    let secs = t1.duration_since(t0).as_secs_f64();
    let events = done1 - done0;
    let h = "nightwatch_ingest_to_verdict_seconds";
    let q = |p| quantile(&m, h, p).map_or("null".to_owned(), |v| format!("{v:.4}"));
    let g = |k: &str| m.get(k).copied().unwrap_or(0.0);
    let depth: Vec<String> = max_depth
        .iter()
        .map(|(k, v)| {
            let channel = k.split('"').nth(1).unwrap_or(k);
            format!("\"{channel}\":{v}")
        })
        .collect();
    println!(
        "{{\"events\":{},\"seconds\":{secs:.3},\"events_per_s\":{:.0},\"cpu_s\":{:.2},\"cpu_us_per_event\":{:.2},\"load_cpu_s\":{load_cpu:.2},\"cpu_after_settle_s\":{cpu_end:.2},\"p50_s\":{},\"p99_s\":{},\"verdicts\":{},\"rule_matches\":{},\"rules_loaded\":{},\"parse_errors\":{},\"vmhwm_mb\":{:.1},\"vmrss_mb\":{:.1},\"max_channel_depth\":{{{}}}}}",
        events,
        events / secs,
        cpu1 - cpu0,
        (cpu1 - cpu0) / events * 1e6,
        q(0.5),
        q(0.99),
        g(&format!("{h}_count")),
        sum(&m, "nightwatch_rule_matches_total"),
        g("nightwatch_rules_loaded"),
        sum(&m, "nightwatch_parse_errors_total"),
        hwm as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        depth.join(","),
    );
    Ok(())
}
