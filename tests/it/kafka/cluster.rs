//! Two daemons in one consumer group against the real broker: the partitions split between
//! them and the case history is shared (see the parent module for the broker harness).

use super::*;

/// The partitions of the latest `kafka partitions assigned` line in `log` (new lines are
/// appended to `seen`); `None` before the first assignment.
fn latest_assignment(daemon: &Daemon, seen: &mut Vec<String>) -> Option<Vec<String>> {
    seen.extend(daemon.log.try_iter());
    let line = seen
        .iter()
        .rev()
        .find(|l| l.contains("kafka partitions assigned"))?;
    let parts = line
        .split("partitions=")
        .nth(1)?
        .split_whitespace()
        .next()?;
    Some(
        parts
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The `Computer` (host) of a demo line.
fn host_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["Computer"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[test]
fn two_instances_split_the_partitions_and_share_history() {
    let Some((bootstrap, _broker)) = broker("two_instances_split_the_partitions_and_share_history")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = names();
    let rt = runtime();
    create_topics(&rt, &bootstrap, &n);
    let events = 2000;
    let lines = demo_lines(dir.path(), events, 31);
    let start = |id: &str| {
        let home = dir.path().join(id);
        std::fs::create_dir_all(&home).unwrap();
        let config = write_config(&home, &bootstrap, &n, 1024);
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "[cluster]\ninstance_id = \"{id}\"\n[cluster.history_topic]\nbrokers = \"{bootstrap}\"\ntopic = \"{}\"\n",
            n.verdicts
        ));
        std::fs::write(&config, text).unwrap();
        Daemon::start(&["--config", &config.display().to_string()], &[])
    };
    let (a, b) = (start("a"), start("b"));

    // Events are produced only once the group settled: each instance owns some partitions,
    // together all of them, none twice (a later rebalance would re-read in-flight messages).
    let (mut log_a, mut log_b) = (Vec::new(), Vec::new());
    wait_for(
        "the group to split the partitions",
        Duration::from_secs(120),
        || {
            let (Some(pa), Some(pb)) = (
                latest_assignment(&a, &mut log_a),
                latest_assignment(&b, &mut log_b),
            ) else {
                return false;
            };
            let mut all: Vec<&String> = pa.iter().chain(&pb).collect();
            all.sort();
            all.dedup();
            !pa.is_empty()
                && !pb.is_empty()
                && all.len() == pa.len() + pb.len()
                && all.len() == EVENT_PARTITIONS as usize
        },
    );

    // Keyed by host upstream: one host's events in one partition, hosts spread over all.
    let mut hosts: Vec<String> = lines.iter().map(|l| host_of(l)).collect();
    hosts.sort();
    hosts.dedup();
    assert!(hosts.len() >= EVENT_PARTITIONS as usize, "{hosts:?}");
    let route = |chunk: &[String]| {
        let host = host_of(&chunk[0]);
        let i = hosts.iter().position(|h| *h == host).unwrap_or(0);
        (host, i as i32 % EVENT_PARTITIONS)
    };
    let mut produced = Produced::default();
    produce_to(
        &rt,
        &bootstrap,
        &n.events,
        &lines,
        1,
        Some(&route),
        &mut produced,
    );
    let high = produced.high_watermarks();
    wait_for("every offset committed", Duration::from_secs(420), || {
        committed(&bootstrap, &n) == high
    });
    let (parsed_a, parsed_b) = (metric(&a, PARSED), metric(&b, PARSED));
    assert!(
        parsed_a > 0.0 && parsed_b > 0.0,
        "both instances got work: {parsed_a} + {parsed_b}"
    );
    assert_eq!(
        parsed_a + parsed_b,
        events as f64,
        "no event processed by both"
    );

    // Every verdict names its instance; each instance's cases reach the other's history.
    let mut stored = Vec::new();
    wait_for(
        "every verdict on the topic",
        Duration::from_secs(60),
        || {
            let ok = metric(
                &a,
                "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"ok\"}",
            ) + metric(
                &b,
                "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"ok\"}",
            );
            stored = read_verdicts(&bootstrap, &n.verdicts, ok as usize);
            ok > 0.0 && stored.len() as f64 == ok && ok == verdicts_total(&a) + verdicts_total(&b)
        },
    );
    assert_verdicts(&stored);
    let mut shared = 0;
    for (from, to) in [("a", &b), ("b", &a)] {
        let cases: std::collections::BTreeSet<&str> = stored
            .iter()
            .filter(|s| s.instance == from)
            .filter_map(|s| s.body["case_id"].as_str())
            .collect();
        for case in &cases {
            wait_for(
                &format!("case {case} of instance {from} in the other's history"),
                Duration::from_secs(60),
                || http_get(to.addr, &format!("/api/cases/{case}")).0 == 200,
            );
            let (_, body) = http_get(to.addr, &format!("/api/cases/{case}"));
            let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
            // Listed under its hosts too (a case keyed by a user or address may have none).
            let hosts = shown["case"]["entities"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for e in hosts.iter().filter(|e| {
                e["kind"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case("host"))
            }) {
                let host = e["value"].as_str().unwrap();
                let (status, listed) = http_get(to.addr, &format!("/api/cases?host={host}"));
                assert_eq!(status, 200);
                assert!(listed.contains(case), "{listed} {}", shown["case"]);
            }
        }
        shared += cases.len();
    }
    assert!(shared > 0, "some instance published a case");
    let recorded = |d: &Daemon| metric(d, "nightwatch_cluster_verdicts_total{result=\"recorded\"}");
    let own = |d: &Daemon| metric(d, "nightwatch_cluster_verdicts_total{result=\"own\"}");
    eprintln!(
        "kafka scale-out: {events} events over {} hosts; a parsed {parsed_a}, b parsed {parsed_b}; {} verdicts ({} from a, {} from b); {shared} cases replicated; a recorded {} foreign and skipped {} own, b recorded {} and skipped {}",
        hosts.len(),
        stored.len(),
        stored.iter().filter(|s| s.instance == "a").count(),
        stored.iter().filter(|s| s.instance == "b").count(),
        recorded(&a),
        own(&a),
        recorded(&b),
        own(&b),
    );
    for d in [a, b] {
        let (code, log) = d.terminate(Duration::from_secs(30));
        assert_eq!(code, 0, "{log:?}");
    }
}
