//! Cases: rule matches grouped per host within a time window.
//!
//! A [`CaseBook`] receives [`Detection`]s (an event and the rules it matched) and keeps one open
//! case per host. A match joins the host's open case when its event time is within the window of
//! the case's last activity; otherwise the old case is closed and a new one opens. Repeats of the
//! same rule are counted, not re-alerted: they raise the finding's count while its evidence list
//! stays bounded. Each published state of a case is a new verdict version ([`crate::verdict`]).
//!
//! The book does no IO and reads no clock: callers pass `now`, so it is deterministic in tests
//! and in one-shot scans.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::event::Event;
use crate::pipeline::ack::Ack;
use crate::pipeline::{Detection, Hit};
use crate::verdict::{self, CaseHeader, Evidence, FindingInput, FindingKind, Verdict};

/// How cases are grouped and bounded.
#[derive(Debug, Clone)]
pub struct CaseSettings {
    /// Matches within this much event time of a case's last activity join it.
    pub window: Duration,
    /// Evidence references kept per finding.
    pub max_evidence: usize,
    /// Open cases kept; past this the least recently active case is closed.
    pub max_open: usize,
}

impl Default for CaseSettings {
    fn default() -> Self {
        Self {
            window: Duration::hours(1),
            max_evidence: 20,
            max_open: 10_000,
        }
    }
}

struct FindingState {
    input: FindingInput,
}

struct Case {
    id: String,
    host: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    /// Versions published so far.
    version: u32,
    /// Findings in the order first seen, keyed by (kind, rule id, correlation group).
    findings: Vec<FindingState>,
    index: HashMap<(FindingKind, String, String), usize>,
    /// Something changed since the last published version.
    dirty: bool,
    /// Earliest receive time among events not yet reflected in a published verdict.
    pending_since: Option<DateTime<Utc>>,
    /// Order of last activity, for eviction.
    touched: u64,
    /// Acknowledgements of the records behind changes not yet published; the next published
    /// version carries them, so they are released only once it is delivered.
    acks: Vec<Ack>,
}

/// A verdict ready to publish, with the receive time of its oldest new evidence (for the
/// ingest-to-verdict latency metric).
#[derive(Debug, Clone)]
pub struct Published {
    pub verdict: Arc<Verdict>,
    pub oldest_received: Option<DateTime<Utc>>,
    /// Released by the outputs once every sink accepted the verdict.
    pub ack: Ack,
}

/// The open cases, one per host.
pub struct CaseBook {
    settings: CaseSettings,
    open: HashMap<String, Case>,
    clock: u64,
}

/// Host name used when an event names none.
pub const UNKNOWN_HOST: &str = "unknown";

impl CaseBook {
    pub fn new(settings: CaseSettings) -> Self {
        Self {
            settings,
            open: HashMap::new(),
            clock: 0,
        }
    }

    pub fn open_cases(&self) -> usize {
        self.open.len()
    }

    /// Adds a detection to its host's case. Returns the published verdict of the case it closed
    /// to make room, if any (a case that ages out with unpublished changes is published once
    /// more so nothing is lost), and whether the detection opened a new case.
    pub fn observe(&mut self, det: &Detection, now: DateTime<Utc>) -> (Vec<Published>, bool) {
        let mut closed = Vec::new();
        if det.hits.is_empty() {
            return (closed, false);
        }
        let host = det
            .event
            .host
            .clone()
            .unwrap_or_else(|| UNKNOWN_HOST.to_owned());
        let t = det.event.time;
        let expired = self.open.get(&host).is_some_and(|c| {
            t - c.last_seen > self.settings.window || c.first_seen - t > self.settings.window
        });
        if expired && let Some(old) = self.open.remove(&host) {
            closed.extend(self.publish_case(old, now));
        }
        let mut opened = false;
        if !self.open.contains_key(&host) {
            if self.open.len() >= self.settings.max_open
                && let Some(victim) = self
                    .open
                    .iter()
                    .min_by_key(|(_, c)| c.touched)
                    .map(|(h, _)| h.clone())
                && let Some(old) = self.open.remove(&victim)
            {
                closed.extend(self.publish_case(old, now));
            }
            self.open.insert(host.clone(), new_case(&host, &det.event));
            opened = true;
        }
        self.clock += 1;
        let clock = self.clock;
        let max_evidence = self.settings.max_evidence;
        if let Some(case) = self.open.get_mut(&host) {
            case.touched = clock;
            case.first_seen = case.first_seen.min(t);
            case.last_seen = case.last_seen.max(t);
            case.dirty = true;
            let received = det.event.received;
            case.pending_since = Some(case.pending_since.map_or(received, |p| p.min(received)));
            if !det.ack.is_none() {
                case.acks.push(det.ack.clone());
            }
            for hit in &det.hits {
                add_hit(case, hit, &det.event, max_evidence);
            }
        }
        (closed, opened)
    }

    /// Publishes a new version of the case of `host` if it changed.
    pub fn publish_host(&mut self, host: &str, now: DateTime<Utc>) -> Option<Published> {
        let case = self.open.get_mut(host)?;
        publish(case, now)
    }

    /// Publishes a new version of every case that changed since its last version.
    pub fn publish_dirty(&mut self, now: DateTime<Utc>) -> Vec<Published> {
        let mut out: Vec<Published> = self
            .open
            .values_mut()
            .filter_map(|c| publish(c, now))
            .collect();
        out.sort_by(|a, b| {
            a.verdict
                .first_seen
                .cmp(&b.verdict.first_seen)
                .then(a.verdict.case_id.cmp(&b.verdict.case_id))
        });
        out
    }

    /// Closes cases whose last event is older than the window before `event_now` (the newest
    /// event time seen), publishing any unpublished change first.
    pub fn close_inactive(
        &mut self,
        event_now: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Published> {
        let window = self.settings.window;
        let stale: Vec<String> = self
            .open
            .iter()
            .filter(|(_, c)| event_now - c.last_seen > window)
            .map(|(h, _)| h.clone())
            .collect();
        let mut out = Vec::new();
        for host in stale {
            if let Some(case) = self.open.remove(&host) {
                out.extend(self.publish_case(case, now));
            }
        }
        out
    }

    fn publish_case(&mut self, mut case: Case, now: DateTime<Utc>) -> Option<Published> {
        publish(&mut case, now)
    }
}

fn new_case(host: &str, first: &Event) -> Case {
    let mut h = Sha256::new();
    h.update(host.as_bytes());
    h.update([0]);
    h.update(first.id.as_str().as_bytes());
    Case {
        id: verdict::hex16(&h.finalize()),
        host: host.to_owned(),
        first_seen: first.time,
        last_seen: first.time,
        version: 0,
        findings: Vec::new(),
        index: HashMap::new(),
        dirty: false,
        pending_since: None,
        touched: 0,
        acks: Vec::new(),
    }
}

fn evidence(event: &Event, rule_id: &str) -> Evidence {
    Evidence {
        event_id: event.id.to_string(),
        time: event.time,
        rule_id: rule_id.to_owned(),
        input: event.origin.input.to_string(),
        source: event.origin.source.to_string(),
        index: event.origin.index,
    }
}

fn add_hit(case: &mut Case, hit: &Hit, event: &Event, max_evidence: usize) {
    let (kind, rule, group, events): (_, _, String, Vec<&Event>) = match hit {
        Hit::Rule(rule) => (FindingKind::RuleMatch, rule, String::new(), vec![event]),
        Hit::Correlation(c) => {
            let group = c
                .group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let events = if c.events.is_empty() {
                vec![event]
            } else {
                c.events.iter().map(|e| e.as_ref()).collect()
            };
            (FindingKind::Correlation, &c.rule, group, events)
        }
    };
    let key = (kind, rule.id.clone(), group.clone());
    let idx = match case.index.get(&key) {
        Some(&i) => i,
        None => {
            case.findings.push(FindingState {
                input: FindingInput {
                    kind,
                    rule_id: rule.id.clone(),
                    rule_title: rule.title.clone(),
                    level: rule.level,
                    tags: rule.tags.clone(),
                    count: 0,
                    first_seen: event.time,
                    last_seen: event.time,
                    evidence: Vec::new(),
                    detail: (!group.is_empty()).then_some(group),
                },
            });
            case.index.insert(key, case.findings.len() - 1);
            case.findings.len() - 1
        }
    };
    let f = &mut case.findings[idx].input;
    f.count += 1;
    for e in events {
        f.first_seen = f.first_seen.min(e.time);
        f.last_seen = f.last_seen.max(e.time);
        if f.evidence.len() < max_evidence
            && !f.evidence.iter().any(|x| x.event_id == e.id.as_str())
        {
            f.evidence.push(evidence(e, &rule.id));
        }
    }
}

fn publish(case: &mut Case, now: DateTime<Utc>) -> Option<Published> {
    if !case.dirty {
        return None;
    }
    case.dirty = false;
    case.version += 1;
    let inputs: Vec<FindingInput> = case.findings.iter().map(|f| f.input.clone()).collect();
    let verdict = verdict::synthesize(
        CaseHeader {
            case_id: &case.id,
            version: case.version,
            host: &case.host,
            first_seen: case.first_seen,
            last_seen: case.last_seen,
        },
        &inputs,
        now,
    );
    Some(Published {
        verdict: Arc::new(verdict),
        oldest_received: case.pending_since.take(),
        ack: Ack::merge(std::mem::take(&mut case.acks)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::detect::{Level, RuleMeta};
    use crate::event::{Fields, Origin};

    fn rule(id: &str, level: Level) -> Arc<RuleMeta> {
        Arc::new(RuleMeta {
            id: id.to_owned(),
            title: format!("rule {id}"),
            name: None,
            level,
            description: None,
            tags: vec!["attack.execution".to_owned()],
            path: "t.yml".into(),
            logsource: Default::default(),
            kind: crate::detect::RuleKind::Detection,
        })
    }

    fn det(host: &str, index: u64, minute: i64, rules: &[&Arc<RuleMeta>]) -> Detection {
        let t0 = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::new(
            Origin {
                input: "file".into(),
                source: "f.jsonl".into(),
                index,
            },
            t0,
            Fields::new(),
        );
        e.time = t0 + Duration::minutes(minute);
        e.host = Some(host.to_owned());
        Detection {
            event: Arc::new(e),
            hits: rules.iter().map(|r| Hit::Rule((*r).clone())).collect(),
            ack: Ack::none(),
        }
    }

    #[test]
    fn repeats_are_counted_in_one_finding() {
        let r = rule("r1", Level::High);
        let mut book = CaseBook::new(CaseSettings {
            max_evidence: 2,
            ..Default::default()
        });
        let now = Utc::now();
        for i in 0..5 {
            book.observe(&det("ws-1", i, i as i64, &[&r]), now);
        }
        let out = book.publish_dirty(now);
        assert_eq!(out.len(), 1);
        let v = &out[0].verdict;
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].count, 5);
        assert_eq!(v.findings[0].evidence.len(), 2);
        assert_eq!(v.version, 1);
        // Nothing new: nothing to publish.
        assert!(book.publish_dirty(now).is_empty());
    }

    #[test]
    fn hosts_get_separate_cases_and_versions_increase() {
        let r = rule("r1", Level::Medium);
        let mut book = CaseBook::new(CaseSettings::default());
        let now = Utc::now();
        assert!(book.observe(&det("a", 0, 0, &[&r]), now).1);
        assert!(book.observe(&det("b", 1, 0, &[&r]), now).1);
        assert!(!book.observe(&det("a", 2, 1, &[&r]), now).1);
        assert_eq!(book.publish_dirty(now).len(), 2);
        book.observe(&det("a", 3, 2, &[&r]), now);
        let again = book.publish_host("a", now).unwrap();
        assert_eq!(again.verdict.version, 2);
    }

    #[test]
    fn a_match_past_the_window_opens_a_new_case() {
        let r = rule("r1", Level::Medium);
        let mut book = CaseBook::new(CaseSettings {
            window: Duration::minutes(30),
            ..Default::default()
        });
        let now = Utc::now();
        book.observe(&det("a", 0, 0, &[&r]), now);
        let first = book.publish_dirty(now).remove(0).verdict;
        let (closed, opened) = book.observe(&det("a", 1, 90, &[&r]), now);
        assert!(opened);
        assert!(closed.is_empty(), "the old case had nothing unpublished");
        let second = book.publish_dirty(now).remove(0).verdict;
        assert_ne!(first.case_id, second.case_id);
    }

    #[test]
    fn inactive_cases_close_and_the_cap_holds() {
        let r = rule("r1", Level::Medium);
        let mut book = CaseBook::new(CaseSettings {
            max_open: 2,
            ..Default::default()
        });
        let now = Utc::now();
        for (i, h) in ["a", "b", "c"].iter().enumerate() {
            let (closed, _) = book.observe(&det(h, i as u64, 0, &[&r]), now);
            if i == 2 {
                // `a` was evicted with its unpublished change published.
                assert_eq!(closed.len(), 1);
                assert_eq!(closed[0].verdict.host, "a");
            }
        }
        assert_eq!(book.open_cases(), 2);
        let later = DateTime::parse_from_rfc3339("2024-05-01T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let out = book.close_inactive(later, now);
        assert_eq!(out.len(), 2);
        assert_eq!(book.open_cases(), 0);
    }
}
