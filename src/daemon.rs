//! `nightwatch run`: builds the stage graph from config, serves the API, and owns shutdown.
//!
//! Nothing starts unless the start-up checks pass ([`crate::preflight`], the same checks as
//! `nightwatch validate`), and the state directory's store, case history and audit log open.
//! Start-up order is then downstream first (outputs, cases, detection), then the API, then inputs, so
//! nothing is produced before there is somewhere for it to go. Shutdown is the reverse: on
//! SIGINT/SIGTERM `/health` turns 503, inputs stop, the daemon drops its own record sender, and
//! the graph drains in order until every output has flushed; then WebSocket clients are closed
//! and the server stops. Draining longer than `pipeline.shutdown_timeout_secs` is an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::cases::CaseSettings;
use crate::config::Config;
use crate::demo;
use crate::detect::{CorrelationLimits, RuleSet};
use crate::flow::channel::Receiver;
use crate::history::audit::AuditLog;
use crate::history::{HistoryStore, SledHistory};
use crate::inputs;
use crate::metrics::{self, Metrics};
use crate::normalize::DeadLetter;
use crate::outputs::websocket::VerdictStream;
use crate::outputs::{self, OutputError, OutputOptions};
use crate::pipeline::{self, Publishing, Settings};
use crate::store::Store;
use crate::verdict::{Policy, Runbooks};
use crate::{api, config};

/// Opens the embedded store (its page cache `state.cache_bytes`), the case history in it
/// (keeping `history.max_versions_per_case` verdict versions per case) and the audit log under
/// the state directory (creating it), once per process. Any of them failing stops start-up: a
/// daemon that cannot remember cases or record analyst changes is not started (e.g. another
/// process holds the store). The `nightwatch_history_*` gauges are measured here, before the API
/// serves, so the first scrape after a restart already reads the stored cases.
fn open_state(config: &config::Config, metrics: &Metrics) -> Result<State, DaemonError> {
    let dir = &config.state.dir;
    let state_err = |reason: String| {
        DaemonError::Config(crate::base::Problem {
            key: "state.dir".into(),
            message: format!("{}: {reason}", dir.display()),
        })
    };
    std::fs::create_dir_all(dir).map_err(|e| state_err(format!("cannot be created: {e}")))?;
    let store = Store::open_with_cache(dir, config.state.cache_bytes).map_err(|e| {
        state_err(format!(
            "the embedded store cannot be opened (is another nightwatch using this state directory?): {e}"
        ))
    })?;
    tracing::info!(path = %store.path().display(), cache_bytes = store.cache_bytes(), "embedded store opened");
    let history: Arc<dyn HistoryStore> = Arc::new(
        SledHistory::open(&store)
            .map_err(|e| state_err(format!("the case history cannot be opened: {e}")))?
            .with_max_versions(config.history.max_versions_per_case),
    );
    let rotation = crate::history::audit::Rotation {
        max_bytes: config.history.audit_max_bytes,
        keep: config.history.audit_keep,
    };
    let audit = AuditLog::open(&dir.join("audit.jsonl"), rotation)
        .map_err(|e| state_err(format!("the audit log cannot be opened: {e}")))?;
    if let Err(e) = crate::history::measure(&*history, metrics) {
        metrics.history.errors.inc();
        tracing::warn!(error = %e, "measuring the case history failed");
    }
    Ok(State {
        store,
        history,
        audit: Arc::new(audit),
    })
}

/// What the daemon keeps under `state.dir`, opened by [`open_state`].
struct State {
    store: Store,
    history: Arc<dyn HistoryStore>,
    audit: Arc<AuditLog>,
}

/// Opens the correlation journal in the store; without it correlation state lives in memory
/// only (a restart starts every window empty), which is logged.
fn open_journal(store: Option<&Store>) -> Option<crate::detect::CorrelationJournal> {
    match crate::detect::CorrelationJournal::open(store?) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!(error = %e, "correlation state is not persisted: a restart starts every window empty");
            None
        }
    }
}

/// Applies the retention of `[history]` every `compact_interval_secs` until `stop`, keeping
/// the `nightwatch_history_*` metrics current (measured at start-up by [`open_state`]).
async fn compact_history(
    history: Arc<dyn HistoryStore>,
    cfg: config::HistoryConfig,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let period = Duration::from_secs(cfg.compact_interval_secs.max(60));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (h, m) = (history.clone(), metrics.clone());
        let retention = crate::history::Retention {
            horizon: Utc::now() - chrono::Duration::days(cfg.retention_days as i64),
            max_cases: cfg.max_cases,
            max_bytes: cfg.max_bytes,
        };
        match tokio::task::spawn_blocking(move || {
            crate::history::compact_and_measure(&*h, &retention, &m)
        })
        .await
        {
            Ok(Ok(r)) if r.removed_by_age + r.removed_by_cap + r.removed_by_size > 0 => {
                tracing::info!(
                    removed_by_age = r.removed_by_age,
                    removed_by_cap = r.removed_by_cap,
                    removed_by_size = r.removed_by_size,
                    cases = r.cases_after,
                    bytes = r.bytes_after,
                    "case history compacted"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "case history compaction failed"),
            Err(e) => {
                metrics.history.errors.inc();
                tracing::warn!(error = %e, "case history compaction task failed")
            }
        }
    }
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Metrics could not be registered (a programming error).
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The API address could not be bound.
    #[error("binding the API to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The start-up checks ([`crate::preflight`]) found problems: nothing was started.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<crate::base::Problem>),
    /// A configuration value was invalid, or what it names unusable.
    #[error("config: {0}")]
    Config(#[from] crate::base::Problem),
    /// An output could not be opened or failed while writing.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// An input could not start (a listener could not bind its address).
    #[error(transparent)]
    Input(#[from] inputs::StartError),
    /// Threat intel (cache store, HTTP client) could not start.
    #[error("intel: {0}")]
    Intel(String),
    /// History replication (`[cluster.history_topic]`) could not start.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The API server failed.
    #[error("serving the API: {0}")]
    Serve(std::io::Error),
    /// The runbook directory could not be read.
    #[error(transparent)]
    Runbooks(#[from] crate::verdict::runbooks::RunbookError),
    /// The pipeline did not drain within the configured timeout.
    #[error("shutdown: the pipeline did not drain within {0:?}")]
    DrainTimeout(Duration),
}

/// Options given on the command line rather than in the file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Overrides `api.listen`.
    pub listen: Option<String>,
    /// Feed the built-in intrusion scenario.
    pub demo: bool,
}

/// Runs the start-up checks and returns the compiled rules, logging each rejected rule once
/// (the daemon runs without them) and setting the rule metrics.
fn checked_rules(config: &Config, metrics: &Metrics) -> Result<Arc<RuleSet>, DaemonError> {
    let checked = crate::preflight::check(config);
    if !checked.problems.is_empty() {
        return Err(DaemonError::Invalid(checked.problems));
    }
    for e in &checked.rejected {
        tracing::warn!(error = %e, "rule rejected");
    }
    metrics
        .detect
        .rules_rejected
        .inc_by(checked.rejected.len() as u64);
    metrics.detect.rules_loaded.set(checked.rules.len() as i64);
    tracing::info!(
        loaded = checked.rules.len(),
        rejected = checked.rejected.len(),
        "rules compiled"
    );
    Ok(checked.rules)
}

/// Starts threat intel: offline feeds always; the store-backed cache only when an external
/// provider is configured (feed look-ups are cheaper than the cache).
fn start_intel(
    config: &Config,
    store: Option<&Store>,
    metrics: &Arc<Metrics>,
) -> Result<Option<crate::intel::Running>, DaemonError> {
    if !config.intel.enabled {
        return Ok(None);
    }
    let store = store.filter(|_| crate::intel::enrich::has_external_providers(&config.intel));
    crate::intel::start(&config.intel, store, metrics.clone())
        .map(Some)
        .map_err(|e| DaemonError::Intel(e.to_string()))
}

/// Starts the LLM summary worker when `[llm]` has a key or endpoint (it says once at start-up
/// when it is off). It needs the store for its cache; without one summaries stay off.
#[cfg(feature = "llm")]
fn start_llm(
    config: &Config,
    store: Option<&Store>,
    metrics: &Arc<Metrics>,
) -> Option<(crate::llm::SummaryWorker, crate::llm::Summaries)> {
    let Some(store) = store else {
        tracing::warn!("llm summaries off: the embedded store (their cache) is unavailable");
        return None;
    };
    match crate::llm::start(&config.llm, store, metrics.clone()) {
        Ok(worker) => worker,
        Err(e) => {
            tracing::error!(error = %e, "llm summaries off: the worker could not start");
            None
        }
    }
}

/// Runs until SIGINT/SIGTERM (or `stop` fires), then drains. `ready` receives the bound API
/// address once serving.
pub async fn run(
    config: Config,
    opts: RunOptions,
    stop: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), DaemonError> {
    let signals = shutdown_signal();
    let metrics = Arc::new(Metrics::new()?);
    let formats: Vec<&str> = crate::normalize::Format::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    let kinds: Vec<&str> = crate::intel::IndicatorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    metrics.register_labels(&formats, &kinds);
    let listen = opts
        .listen
        .clone()
        .unwrap_or_else(|| config.api.listen.clone());
    let addr: SocketAddr = listen.parse().map_err(|e| crate::base::Problem {
        key: "api.listen".into(),
        message: format!("`{listen}` is not a socket address: {e}"),
    })?;
    let rules = checked_rules(&config, &metrics)?;
    let cap = config.pipeline.channel_capacity;
    let policy = Arc::new(Policy {
        weights: config.verdict.weights.clone(),
        runbooks: Runbooks::load(&config.verdict.runbooks_dir)?,
    });
    let State {
        store,
        history,
        audit,
    } = open_state(&config, &metrics)?;
    // The stages and the API take these as options (library callers may run without them).
    let (store, history, audit) = (Some(store), Some(history), Some(audit));
    let mut intel = start_intel(&config, store.as_ref(), &metrics)?;
    let annotators = pipeline::Annotators {
        intel: intel.as_mut().and_then(|i| {
            // Without an external provider a profile would only repeat the feed hits.
            let external = !i.enricher.provider_names().is_empty();
            let profiles = i.profiles.take().filter(|_| external)?;
            Some((i.enricher.clone(), profiles))
        }),
        #[cfg(feature = "llm")]
        llm: start_llm(&config, store.as_ref(), &metrics),
    };

    // Downstream first: outputs, cases, detection.
    let ws = VerdictStream::with_replay_bytes(
        config.api.ws_max_lag,
        config.api.ws_replay,
        config.api.ws_replay_bytes,
    );
    let graph = pipeline::spawn_detection(
        &Settings {
            capacity: cap,
            parse_workers: config.pipeline.parse_workers,
            detect_workers: config.pipeline.detect_workers,
            correlation: CorrelationLimits::default(),
            lookout: intel.as_ref().map(|i| i.enricher.lookout().clone()),
            journal: open_journal(store.as_ref()),
        },
        rules.clone(),
        metrics.clone(),
    );
    let verdicts = pipeline::spawn_cases(
        graph.detections,
        CaseSettings {
            window: chrono::Duration::seconds(config.cases.window_secs as i64),
            max_evidence: config.cases.max_evidence_per_finding,
            max_open: config.cases.max_open_cases,
            suppression: chrono::Duration::seconds(config.cases.suppression_secs as i64),
            max_case_events: config.cases.max_events_per_case,
            max_indicators: config.cases.max_indicators_per_case,
            expect_enrichment: annotators.intel.is_some(),
            policy: policy.clone(),
            history: history.clone(),
        },
        Publishing::Live {
            interval: Duration::from_secs(config.cases.update_interval_secs.max(1)),
        },
        annotators,
        cap,
        metrics.clone(),
    );
    let output_configs: Vec<_> = config.outputs.clone().into_iter().collect();
    let dead_path =
        (!config.dead_letter.path.is_empty()).then(|| PathBuf::from(&config.dead_letter.path));
    let dead_bus =
        outputs::dead_letter::DeadLetterBus::open(&config.dead_letter, metrics.clone()).await?;
    let outputs = outputs::spawn(
        &output_configs,
        verdicts,
        ws.clone(),
        cap,
        metrics.clone(),
        OutputOptions {
            dead_letter: dead_path.clone(),
            dead_bus: dead_bus.clone(),
            instance: Some(Arc::from(config.cluster.instance())),
        },
    )
    .await?;
    let dead_task = tokio::spawn(dead_letters(
        graph.dead,
        dead_path,
        dead_bus,
        metrics.clone(),
    ));

    // The API.
    let draining = Arc::new(AtomicBool::new(false));
    let server_stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(DaemonError::Serve)?;
    // Validation refuses a non-loopback listener without a token; this holds for callers
    // that skip it, and for `--listen`.
    let guard = api::guard::Guard::new(bound, &config.api)?;
    let app = api::router(api::AppState {
        metrics: metrics.clone(),
        draining: draining.clone(),
        verdicts: ws.clone(),
        shutdown: server_stop.clone(),
        history: history.clone(),
        audit,
        policy,
        guard: Arc::new(guard),
        enricher: intel.as_ref().map(|i| i.enricher.clone()),
        rules: rules.clone(),
    });
    let compaction = history.clone().map(|h| {
        tokio::spawn(compact_history(
            h,
            config.history.clone(),
            metrics.clone(),
            server_stop.clone(),
        ))
    });
    let replication = crate::cluster::spawn(
        &config.cluster,
        history.clone(),
        server_stop.clone(),
        metrics.clone(),
    )?;
    let stop_serving = server_stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop_serving.cancelled().await })
        .await
    });
    tracing::info!(addr = %bound, "api listening; verdicts stream on /ws");
    if let Some(ready) = ready {
        let _ = ready.send(bound);
    }

    // Inputs last.
    let inputs_stop = CancellationToken::new();
    let raw = graph.raw;
    let dead_tx = graph.dead_tx;
    // Inputs that acknowledge (tail, NATS) finish after the drain, once their last checkpoint
    // or acknowledgement is written; the daemon waits for them.
    let wiring = inputs::Wiring {
        raw: raw.clone(),
        dead: dead_tx.clone(),
        stop: inputs_stop.clone(),
        metrics: metrics.clone(),
        channel_capacity: config.pipeline.channel_capacity,
        state_dir: config.state.dir.clone(),
    };
    let mut acking_inputs = Vec::new();
    for (name, input) in &config.inputs {
        acking_inputs.extend(input.start(name, &wiring).await?);
    }
    drop(wiring);
    if opts.demo {
        tracing::info!(
            events_per_second = config.demo.events_per_second,
            "feeding the demo intrusion scenario"
        );
        let (cfg, raw, stop) = (config.demo.clone(), raw.clone(), inputs_stop.clone());
        tokio::task::spawn_blocking(move || demo::feed::run(cfg, raw, stop));
    }

    tokio::select! {
        _ = stop.cancelled() => {}
        _ = signals => {}
    }
    tracing::info!("shutting down: draining the pipeline");
    draining.store(true, Ordering::SeqCst);
    inputs_stop.cancel();
    drop(raw);
    drop(dead_tx);
    let timeout = Duration::from_secs(config.pipeline.shutdown_timeout_secs);
    let drained = tokio::time::timeout(timeout, async {
        let out = outputs.await;
        let _ = dead_task.await;
        for input in acking_inputs {
            let _ = input.await;
        }
        out
    })
    .await;
    server_stop.cancel();
    let served = server.await;
    for task in compaction.into_iter().chain(replication) {
        let _ = task.await;
    }
    if let Some(h) = &history
        && let Err(e) = h.flush()
    {
        tracing::error!(error = %e, "flushing the case history failed");
    }
    match drained {
        Err(_) => return Err(DaemonError::DrainTimeout(timeout)),
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(e)) => tracing::error!(error = %e, "output task failed"),
        Ok(Ok(Ok(()))) => {}
    }
    if let Ok(Err(e)) = served {
        return Err(DaemonError::Serve(e));
    }
    tracing::info!("drained; bye");
    Ok(())
}

/// Logs, counts and stores (file, brokers) records that could not be parsed.
async fn dead_letters(
    rx: Receiver<DeadLetter>,
    path: Option<PathBuf>,
    bus: Option<Arc<outputs::dead_letter::DeadLetterBus>>,
    metrics: Arc<Metrics>,
) {
    const LOGGED: u64 = 100;
    let mut file = match &path {
        Some(p) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .await
        {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(path = %p.display(), error = %e, "cannot open dead-letter file; dead letters are only logged");
                None
            }
        },
        None => None,
    };
    let mut seen = 0u64;
    while let Ok(DeadLetter { error: e, ack }) = rx.recv().await {
        seen += 1;
        metrics
            .sink
            .dead_letters
            .with_label_values(&[metrics::stage::PARSE])
            .inc();
        if seen <= LOGGED {
            tracing::warn!(file = %e.file, position = %e.position, format = %e.format, reason = %e.reason, "record could not be parsed");
            if seen == LOGGED {
                tracing::warn!(
                    "further unparsable records are counted in nightwatch_dead_letters_total but not logged"
                );
            }
        }
        if let Some(f) = file.as_mut()
            && let Ok(mut line) = serde_json::to_vec(&e)
        {
            line.push(b'\n');
            if let Err(err) = f.write_all(&line).await.and(f.flush().await) {
                tracing::error!(error = %err, "writing the dead-letter file failed; dead letters are only logged from now on");
                file = None;
            }
        }
        if let Some(bus) = &bus
            && let Ok(json) = serde_json::to_vec(&outputs::dead_letter::ParseDeadLetter::new(&e))
        {
            bus.publish(&e.input, &json).await;
        }
        // Logged and counted (and written when a file or broker is configured): handled.
        ack.done();
    }
    if let Some(mut f) = file {
        let _ = f.flush().await;
    }
}

/// Listens for SIGINT and SIGTERM from now on (the handlers are installed when this is
/// called, so a signal during start-up drains instead of killing the process); the returned
/// future completes on the first.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| {
            let installed = signal(kind);
            async move {
                match installed {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, signal = name, "cannot listen for the signal");
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let (int, term) = (
            listen(SignalKind::interrupt(), "SIGINT"),
            listen(SignalKind::terminate(), "SIGTERM"),
        );
        async move {
            tokio::select! {
                _ = int => {}
                _ = term => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    }
}
