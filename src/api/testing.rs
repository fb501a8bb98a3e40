//! The real API router on 127.0.0.1:0 over a temporary history and audit log, for handler
//! tests: case `c1` (host `ws-7`, user `CORP\j.doe`, indicator 203.0.113.7, one finding whose
//! evidence is the stored event `ev(0)` with a `CommandLine`) and `c2` (host `srv-2`, user
//! `CORP\m.roe`), intel on with offline feeds only (documentation addresses count as external).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::AppState;
use crate::config::ApiConfig;
use crate::history::HistoryStore;
use crate::history::sled_store::tests::{ev, record};
use crate::verdict::{Conclusion, EntityKind, EntityRef, Evidence, Finding, FindingKind};

pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub history: Arc<crate::history::SledHistory>,
    pub audit: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// The `[api]` of the embedded configuration.
pub(crate) fn api_config() -> ApiConfig {
    crate::config::Config::embedded_default().unwrap().api
}

/// One rule attributed to T1003.001.
fn rules() -> crate::detect::RuleSet {
    let report = crate::detect::compile_str(
        "title: Process Memory Dump Via Comsvcs.DLL\nid: 6c0d4a5e-3b8f-4c52-9a43-2f3b1d7a9e10\n\
         tags: [attack.credential-access, attack.t1003.001]\nlevel: high\n\
         logsource: {category: process_creation, product: windows}\n\
         detection: {sel: {CommandLine|contains: comsvcs}, condition: sel}\n",
        &crate::detect::LoadOptions::default(),
    );
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    report.rules
}

pub(crate) async fn serve(api: ApiConfig) -> TestServer {
    let store = crate::store::Store::temporary().unwrap();
    let h = Arc::new(crate::history::SledHistory::open(&store).unwrap());
    let (mut c1, mut v1) = record("c1", "ws-7", 10, Conclusion::Incident);
    c1.severity = crate::verdict::Severity::Critical;
    let mut event = ev(0);
    event.fields.insert(
        "CommandLine",
        "rundll32.exe comsvcs.dll MiniDump 624 C:\\lsass.dmp full",
    );
    event.raw = Some("<Event><Data Name='CommandLine'>rundll32.exe …</Data></Event>".into());
    v1.findings.push(Finding {
        kind: FindingKind::RuleMatch,
        summary: "LSASS dumped with comsvcs.dll".into(),
        weight: 40.0,
        rule_id: "r1".into(),
        rule_title: "Process Memory Dump Via Comsvcs.DLL".into(),
        level: crate::detect::Level::High,
        count: 1,
        first_seen: event.time,
        last_seen: event.time,
        evidence: vec![Evidence {
            event_id: event.id.as_str().to_owned(),
            time: event.time,
            rule_id: "r1".into(),
            input: "t".into(),
            source: "t".into(),
            index: 0,
            fields: [(
                "CommandLine".to_owned(),
                "rundll32.exe comsvcs.dll MiniDump".to_owned(),
            )]
            .into(),
        }],
        indicators: Vec::new(),
        prior_cases: Vec::new(),
        suppressed: 0,
    });
    v1.reasoning.insert(
        0,
        "high rule \"Process Memory Dump Via Comsvcs.DLL\" matched once".into(),
    );
    h.record(&c1, &v1, &[&event]).unwrap();
    let (mut c2, v2) = record("c2", "srv-2", 600, Conclusion::Suspicious);
    c2.entities = vec![
        EntityRef::new(EntityKind::Host, "srv-2"),
        EntityRef::new(EntityKind::User, "CORP\\m.roe"),
    ];
    c2.indicators.clear();
    c2.first_seen = c2.last_seen;
    h.record(&c2, &v2, &[]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let log = crate::history::audit::AuditLog::open(
        &audit,
        crate::history::audit::Rotation {
            max_bytes: 0,
            keep: 1,
        },
    )
    .unwrap();
    let metrics = Arc::new(crate::metrics::Metrics::new().unwrap());
    let mut intel = crate::config::load(None).unwrap().intel;
    intel.documentation_as_internal = false;
    let running = crate::intel::start(&intel, None, metrics.clone()).unwrap();
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        metrics,
        draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        verdicts: crate::outputs::websocket::VerdictStream::new(16, 16),
        shutdown: stop.clone(),
        history: Some(h.clone() as Arc<dyn HistoryStore>),
        audit: Some(Arc::new(log)),
        policy: Arc::new(crate::verdict::Policy::default()),
        guard: Arc::new(super::guard::Guard::new(addr, &api).unwrap()),
        enricher: Some(running.enricher.clone()),
        rules: Arc::new(rules()),
    };
    let app = super::router(state);
    let until = stop.clone();
    tokio::spawn(async move {
        let _keep = running;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { until.cancelled().await })
        .await
    });
    TestServer {
        addr,
        stop,
        history: h,
        audit,
        _dir: dir,
    }
}
