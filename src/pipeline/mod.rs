//! The stage graph: how records flow from inputs to verdicts.
//!
//! ```text
//! inputs ──RawRecord──▶ parse pool ──Arc<Event>──▶ detect pool ──Matched──▶ correlate
//!              │ (blocking workers)        (blocking workers)                 │ Detection
//!              └──ParseError──▶ dead letters                                  ▼
//!                                            outputs ◀──Published verdict── cases
//! ```
//!
//! Each record's [`Ack`] travels beside what it becomes (events, matches, the pending
//! verdict of its case, a dead letter) and is released once that has left the daemon; see
//! [`crate::flow::ack`] for the at-least-once contract.
//!
//! **Order.** The parse and detect pools run in parallel, so what they finish comes out in any
//! order; correlations and cases must not depend on that. Each record is numbered as it leaves
//! the `raw` channel (one lock, so numbers follow the channel's order, which is each input's own
//! order), its events travel in numbered [`Part`]s, and the correlator puts the parts back in
//! record order before it observes them ([`Reorder`]). Results are a function of the input
//! sequence, not of the scheduler: the same input gives the same detections on one core or many.
//!
//! Every edge is a bounded [`crate::flow::channel`] sized from config, so a slow stage backs pressure up to
//! the inputs. CPU stages (parsing, rule evaluation, correlation) run on blocking threads and
//! never on the async reactor. Shutdown is by draining: when the inputs drop their senders, each
//! stage finishes what is queued, drops its own sender, and the closure cascades downstream
//! until the last consumer sees the end of its channel. Nothing here knows wire formats or
//! rule syntax; the stages call pure functions of `normalize`, `detect` and `cases`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::cases::{CaseBook, CaseSettings, Detection, Hit, Published};
use crate::detect::{
    CorrelationJournal, CorrelationLimits, CorrelationMatch, Correlator, RuleMatch, RuleSet,
};
use crate::event::Event;
use crate::flow::ack::Ack;
use crate::flow::channel::{self, Receiver, Sender, bounded};
use crate::intel::lookout::{self, Lookout, Sighting};
use crate::intel::{Enricher, Profile};
use crate::llm::Summaries;
#[cfg(feature = "llm")]
use crate::llm::{self, SummaryWorker};
use crate::metrics::{Metrics, stage};
use crate::normalize::RawRecord;
use crate::normalize::{self, DeadLetter};
use crate::verdict::IndicatorRef;

/// An event, every single-event rule it matched (including rules only correlations use), and
/// what threat intel saw in it.
struct Matched {
    event: Arc<Event>,
    matches: Vec<RuleMatch>,
    sighting: Sighting,
    ack: Ack,
}

/// Events of one record, or a slice of them: records that become many events (an EVTX chunk, a
/// packet capture) are cut into parts of at most [`PART_EVENTS`] so both pools share the work.
/// `seq` numbers the record in the order it left the `raw` channel; `part` counts from 0 and
/// `last` marks the record's final part (which may be empty).
struct Part<T> {
    seq: u64,
    part: u32,
    last: bool,
    items: Vec<T>,
}

/// Events per [`Part`].
const PART_EVENTS: usize = 256;

/// Restores record order after the parallel pools: parts are held until every part before them
/// has been taken. Nothing is lost: every record sends its parts, the last one marked, so the
/// buffer holds at most what is in flight in the pools and their channels.
struct Reorder<T> {
    next: (u64, u32),
    held: BTreeMap<(u64, u32), Part<T>>,
}

impl<T> Reorder<T> {
    fn new() -> Self {
        Reorder {
            next: (0, 0),
            held: BTreeMap::new(),
        }
    }

    /// Takes a part in; returns the parts now in order (possibly none).
    fn push(&mut self, part: Part<T>, ready: &mut Vec<Part<T>>) {
        self.held.insert((part.seq, part.part), part);
        while let Some(p) = self.held.remove(&self.next) {
            self.next = if p.last {
                (p.seq + 1, 0)
            } else {
                (p.seq, p.part + 1)
            };
            ready.push(p);
        }
    }

    /// End of stream: whatever is still held, in order. Only a stage that stopped early (its
    /// parts never came) leaves anything here.
    fn drain(&mut self) -> impl Iterator<Item = Part<T>> {
        std::mem::take(&mut self.held).into_values()
    }
}

/// The `raw` channel's receiving end with the record counter: one lock, so a record's number
/// is its position in the channel.
struct Numbered {
    rx: Receiver<RawRecord>,
    next: u64,
}

impl Numbered {
    fn recv(shared: &std::sync::Mutex<Numbered>) -> Option<(u64, RawRecord)> {
        let mut guard = match shared.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let record = guard.rx.recv_blocking().ok()?;
        let seq = guard.next;
        guard.next += 1;
        Some((seq, record))
    }
}

/// Sizes of the graph.
#[derive(Debug, Clone)]
pub struct Settings {
    pub capacity: usize,
    pub parse_workers: usize,
    pub detect_workers: usize,
    pub correlation: CorrelationLimits,
    /// Indicator extraction and offline feed matching in the detect stage; `None` when
    /// `[intel]` is off.
    pub lookout: Option<Lookout>,
    /// Where correlation state is persisted (the daemon with a store). With it, an event that
    /// changed correlation state is acknowledged only once a snapshot holding the change is
    /// flushed, the state is restored at start, and open windows are not judged at shutdown
    /// (they go on after the restart). Without it (one-shot scans) state is in memory and
    /// every window is judged at the end of the input.
    pub journal: Option<CorrelationJournal>,
}

/// How often a journaled correlator writes its snapshot while events change its state, and
/// how many held acknowledgements force one sooner.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(200);
const SNAPSHOT_MAX_HELD: usize = 8192;

impl Settings {
    /// Worker count for a pool: the configured number, or one per core when 0.
    fn workers(configured: usize) -> usize {
        if configured > 0 {
            return configured;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

/// The detection half of the graph, as spawned: feed `raw`, read `detections` and `dead`.
pub struct DetectionGraph {
    /// Where inputs send framed records. Drop every clone to start draining.
    pub raw: Sender<RawRecord>,
    /// Where inputs send records they could not frame.
    pub dead_tx: Sender<DeadLetter>,
    /// Every record that could not be framed or parsed.
    pub dead: Receiver<DeadLetter>,
    /// Events with at least one hit to publish.
    pub detections: Receiver<Detection>,
}

/// Spawns the parse pool, the detect pool and the correlation stage.
pub fn spawn_detection(
    settings: &Settings,
    rules: Arc<RuleSet>,
    metrics: Arc<Metrics>,
) -> DetectionGraph {
    let cap = settings.capacity;
    let (raw_tx, raw_rx) = bounded::<RawRecord>("raw", cap, &metrics);
    let (dead_tx, dead_rx) = bounded::<DeadLetter>("dead_letter", cap, &metrics);
    let (event_tx, event_rx) = bounded::<Part<(Arc<Event>, Ack)>>("events", cap, &metrics);
    let (matched_tx, matched_rx) = bounded::<Part<Matched>>("matched", cap, &metrics);
    let (det_tx, det_rx) = bounded::<Detection>("detections", cap, &metrics);

    let numbered = Arc::new(std::sync::Mutex::new(Numbered {
        rx: raw_rx,
        next: 0,
    }));
    for _ in 0..Settings::workers(settings.parse_workers) {
        let (rx, tx, dead, m) = (
            numbered.clone(),
            event_tx.clone(),
            dead_tx.clone(),
            metrics.clone(),
        );
        tokio::task::spawn_blocking(move || parse_worker(rx, tx, dead, m));
    }
    for _ in 0..Settings::workers(settings.detect_workers) {
        let (rx, tx, r, l, m) = (
            event_rx.clone(),
            matched_tx.clone(),
            rules.clone(),
            settings.lookout.clone(),
            metrics.clone(),
        );
        tokio::task::spawn_blocking(move || detect_worker(rx, tx, r, l, m));
    }
    let correlator = Correlator::new(rules, settings.correlation.clone());
    let (m, journal) = (metrics.clone(), settings.journal.clone());
    tokio::task::spawn_blocking(move || {
        correlate_worker(matched_rx, det_tx, correlator, journal, m)
    });

    DetectionGraph {
        raw: raw_tx,
        dead_tx,
        dead: dead_rx,
        detections: det_rx,
    }
}

fn parse_worker(
    rx: Arc<std::sync::Mutex<Numbered>>,
    tx: Sender<Part<(Arc<Event>, Ack)>>,
    dead: Sender<DeadLetter>,
    m: Arc<Metrics>,
) {
    let received = m.stages.received.with_label_values(&[stage::PARSE]);
    let sent = m.stages.sent.with_label_values(&[stage::PARSE]);
    let timing = m.stages.processing.with_label_values(&[stage::PARSE]);
    while let Some((seq, mut record)) = Numbered::recv(&rx) {
        received.inc();
        let format = record.payload.format().name();
        let parsed = m.detect.events_parsed.with_label_values(&[format]);
        let ack = std::mem::take(&mut record.ack);
        let start = Instant::now();
        let results = normalize::parse(record);
        timing.observe(start.elapsed().as_secs_f64());
        let mut part = Part {
            seq,
            part: 0,
            last: false,
            items: Vec::new(),
        };
        for result in results {
            match result {
                Ok(event) => {
                    parsed.inc();
                    sent.inc();
                    part.items.push((Arc::new(event), ack.clone()));
                    if part.items.len() == PART_EVENTS {
                        let next = Part {
                            seq,
                            part: part.part + 1,
                            last: false,
                            items: Vec::new(),
                        };
                        if tx
                            .send_blocking(std::mem::replace(&mut part, next))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                Err(e) => {
                    m.detect
                        .parse_errors
                        .with_label_values(&[e.format.name()])
                        .inc();
                    m.stages
                        .errors
                        .with_label_values(&[stage::PARSE, e.format.name()])
                        .inc();
                    let letter = DeadLetter {
                        error: e,
                        ack: ack.clone(),
                    };
                    if dead.send_blocking(letter).is_err() {
                        return;
                    }
                }
            }
        }
        // The record's last part goes out even when empty: the correlator counts on it.
        part.last = true;
        if tx.send_blocking(part).is_err() {
            return;
        }
        // Every event and dead letter holds its own share; a record that produced nothing
        // (an empty chunk) is finished here.
        ack.done();
    }
}

fn detect_worker(
    rx: Receiver<Part<(Arc<Event>, Ack)>>,
    tx: Sender<Part<Matched>>,
    rules: Arc<RuleSet>,
    lookout: Option<Lookout>,
    m: Arc<Metrics>,
) {
    let received = m.stages.received.with_label_values(&[stage::DETECT]);
    let sent = m.stages.sent.with_label_values(&[stage::DETECT]);
    let timing = m.stages.processing.with_label_values(&[stage::DETECT]);
    // Events that match nothing have been fully processed: counted, not forwarded.
    let no_match = m
        .stages
        .dropped
        .with_label_values(&[stage::DETECT, crate::metrics::stage_drop::NO_MATCH]);
    let mut buf = Vec::new();
    while let Ok(part) = rx.recv_blocking() {
        let mut matched = Vec::new();
        for (event, ack) in part.items {
            received.inc();
            let start = Instant::now();
            rules.matches(&event, &mut buf);
            // Indicators matter for matched events (enrichment, history) and, when a feed is
            // loaded, for every event: a listed indicator is a finding of its own.
            let sighting = match &lookout {
                Some(l) if !buf.is_empty() || l.has_feeds() => l.sight(&event),
                _ => Sighting::default(),
            };
            timing.observe(start.elapsed().as_secs_f64());
            if buf.is_empty() && sighting.listed.is_empty() {
                no_match.inc();
                ack.done();
                continue;
            }
            for hit in &buf {
                m.detect
                    .rule_matches
                    .with_label_values(&[hit.rule.level.as_str()])
                    .inc();
            }
            sent.inc();
            matched.push(Matched {
                event,
                matches: std::mem::take(&mut buf),
                sighting,
                ack,
            });
        }
        // Sent even when nothing matched: the correlator restores order by these numbers.
        let out = Part {
            seq: part.seq,
            part: part.part,
            last: part.last,
            items: matched,
        };
        if tx.send_blocking(out).is_err() {
            return;
        }
    }
}

/// The feed hits and the external indicators of a sighting, as the case builder takes them.
fn intel_hits(sighting: Sighting) -> (Vec<Hit>, Vec<IndicatorRef>) {
    let mut hits = Vec::new();
    for (ind, matches) in &sighting.listed {
        let level = lookout::feed_level(matches);
        let mut feeds: Vec<&str> = matches.iter().map(|m| m.feed.as_str()).collect();
        feeds.sort_unstable();
        feeds.dedup();
        for feed in feeds {
            hits.push(Hit::Feed {
                indicator: lookout::indicator_ref(ind),
                feed: feed.to_owned(),
                level,
            });
        }
    }
    let indicators = sighting
        .indicators
        .iter()
        .filter(|i| !i.internal)
        .map(lookout::indicator_ref)
        .collect();
    (hits, indicators)
}

fn correlate_worker(
    rx: Receiver<Part<Matched>>,
    tx: Sender<Detection>,
    correlator: Correlator,
    journal: Option<CorrelationJournal>,
    m: Arc<Metrics>,
) {
    let sent = m.stages.sent.with_label_values(&[stage::CORRELATE]);
    let meters = (
        m.stages.received.with_label_values(&[stage::CORRELATE]),
        m.stages.processing.with_label_values(&[stage::CORRELATE]),
    );
    // Matches of rules that only feed correlations (no `generate`) end here.
    let correlation_only = m.stages.dropped.with_label_values(&[
        stage::CORRELATE,
        crate::metrics::stage_drop::CORRELATION_ONLY,
    ]);
    let mut state = CorrelationState::new(correlator, journal);
    let mut fired = Vec::new();
    let mut order = Reorder::new();
    let mut ready = Vec::new();
    let mut open = true;
    while open {
        let received = if state.holding() {
            rx.recv_blocking_timeout(SNAPSHOT_INTERVAL)
        } else {
            rx.recv_blocking().map(Some)
        };
        match received {
            Ok(Some(part)) => order.push(part, &mut ready),
            Ok(None) => {}
            Err(_) => {
                ready.extend(order.drain());
                open = false;
            }
        }
        for part in ready.drain(..) {
            for matched in part.items {
                let Some(det) = correlate(matched, &mut state, &mut fired, &m, &meters) else {
                    correlation_only.inc();
                    continue;
                };
                if tx.send_blocking(det).is_err() {
                    return;
                }
                sent.inc();
            }
        }
        state.snapshot_if_due(!open);
    }
    if state.journal.is_some() {
        // Open windows go on after a restart: nothing is judged early at shutdown.
        return;
    }
    let mut correlator = state.correlator;
    // End of the input: judge the windows still open (e.g. "fewer than N events" conditions).
    correlator.flush(&mut fired);
    for c in fired {
        m.detect
            .correlation_matches
            .with_label_values(&[c.rule.level.as_str()])
            .inc();
        let event = c.events.last().cloned();
        if let Some(event) = event
            && tx
                .send_blocking(Detection {
                    event,
                    hits: vec![Hit::Correlation(c)],
                    indicators: Vec::new(),
                    ack: Ack::none(),
                })
                .is_ok()
        {
            sent.inc();
        }
    }
}

/// The correlator and, when journaled, the acknowledgements held until its next snapshot.
struct CorrelationState {
    correlator: Correlator,
    journal: Option<CorrelationJournal>,
    held: Vec<Ack>,
    since: Instant,
}

impl CorrelationState {
    fn new(correlator: Correlator, journal: Option<CorrelationJournal>) -> Self {
        let correlator = match &journal {
            Some(j) => {
                let mut c = correlator.journaled();
                match c.restore(j) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(groups = n, "correlation state restored"),
                    Err(e) => {
                        tracing::error!(error = %e, "correlation state not restored: open windows start empty");
                    }
                }
                c
            }
            None => correlator,
        };
        CorrelationState {
            correlator,
            journal,
            held: Vec::new(),
            since: Instant::now(),
        }
    }

    /// Whether acknowledgements wait for a snapshot (the loop must wake up to write it).
    fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    fn hold(&mut self, ack: &Ack) {
        if self.journal.is_some() && !ack.is_none() {
            if self.held.is_empty() {
                self.since = Instant::now();
            }
            self.held.push(ack.clone());
        }
    }

    /// Writes the snapshot when it is due (or `now`) and releases the held acknowledgements.
    /// A failed write drops them unfinished: their inputs keep the position and read those
    /// records again after a restart.
    fn snapshot_if_due(&mut self, now: bool) {
        let Some(journal) = &self.journal else {
            return;
        };
        let due = self.held.len() >= SNAPSHOT_MAX_HELD || self.since.elapsed() >= SNAPSHOT_INTERVAL;
        if !(now || (self.holding() && due)) {
            return;
        }
        let snapshot = self.correlator.snapshot();
        let held = std::mem::take(&mut self.held);
        if snapshot.is_empty() && held.is_empty() {
            return;
        }
        match journal.write(snapshot) {
            Ok(()) => held.into_iter().for_each(Ack::done),
            Err(e) => {
                tracing::error!(error = %e, records = held.len(), "correlation state not persisted: those records will be read again after a restart");
            }
        }
    }
}

/// Observes one matched event in the correlator and turns it into a detection: its emitting
/// rule hits, the correlations it completed and its feed hits. `None` when nothing is left to
/// report (matches of correlation-only rules): the record is finished here.
fn correlate(
    matched: Matched,
    state: &mut CorrelationState,
    fired: &mut Vec<CorrelationMatch>,
    m: &Metrics,
    meters: &(prometheus::IntCounter, prometheus::Histogram),
) -> Option<Detection> {
    let Matched {
        event,
        matches,
        sighting,
        ack,
    } = matched;
    meters.0.inc();
    let start = Instant::now();
    if state.correlator.observe(&event, &matches, fired) {
        state.hold(&ack);
    }
    meters.1.observe(start.elapsed().as_secs_f64());
    let mut hits: Vec<Hit> = matches
        .into_iter()
        .filter(|m| m.emit)
        .map(|m| Hit::Rule(m.rule))
        .collect();
    for c in fired.drain(..) {
        m.detect
            .correlation_matches
            .with_label_values(&[c.rule.level.as_str()])
            .inc();
        hits.push(Hit::Correlation(c));
    }
    let (feed_hits, indicators) = intel_hits(sighting);
    hits.extend(feed_hits);
    if hits.is_empty() {
        // Observed; a share is held until the state change is persisted (when journaled).
        ack.done();
        return None;
    }
    Some(Detection {
        event,
        hits,
        indicators,
        ack,
    })
}

/// When the case stage publishes verdicts.
#[derive(Debug, Clone, Copy)]
pub enum Publishing {
    /// Daemon: a new case at once, later changes coalesced every `interval`.
    Live { interval: Duration },
    /// One-shot scan: every case once, when the input is exhausted.
    AtEnd,
}

/// What annotates cases after their verdicts are out: enrichment profiles and LLM summaries.
/// Each arrives on its own channel and becomes a new version of the case; the case stage
/// never waits for either.
#[derive(Default)]
pub struct Annotators {
    /// Indicators new to a case are submitted here; their profiles come back on the receiver.
    pub intel: Option<(Enricher, mpsc::Receiver<Profile>)>,
    /// Versions with new evidence are submitted here; summaries come back on the receiver.
    #[cfg(feature = "llm")]
    pub llm: Option<(SummaryWorker, Summaries)>,
}

/// Spawns the case stage: detections in, published verdicts out.
pub fn spawn_cases(
    detections: Receiver<Detection>,
    settings: CaseSettings,
    publishing: Publishing,
    annotators: Annotators,
    capacity: usize,
    metrics: Arc<Metrics>,
) -> Receiver<Published> {
    let (tx, rx) = bounded::<Published>("verdicts", capacity, &metrics);
    tokio::spawn(cases_stage(
        detections,
        tx,
        CaseBook::new(settings),
        publishing,
        annotators,
        metrics,
    ));
    rx
}

/// The next item of an optional channel; pending forever when there is none.
async fn next_of<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn cases_stage(
    rx: Receiver<Detection>,
    tx: Sender<Published>,
    mut book: CaseBook,
    publishing: Publishing,
    annotators: Annotators,
    m: Arc<Metrics>,
) {
    let received = m.stages.received.with_label_values(&[stage::CASES]);
    let interval = match publishing {
        Publishing::Live { interval } => interval,
        Publishing::AtEnd => Duration::from_secs(3600),
    };
    let live = matches!(publishing, Publishing::Live { .. });
    let (enricher, mut profiles) = match annotators.intel {
        Some((e, p)) => (Some(e), Some(p)),
        None => (None, None),
    };
    #[cfg(feature = "llm")]
    let (summarizer, mut summaries) = match annotators.llm {
        Some((w, s)) => (Some(w), Some(s)),
        None => (None, None),
    };
    // A build without the `llm` feature has no summary worker: nothing arrives here.
    #[cfg(not(feature = "llm"))]
    let mut summaries: Option<Summaries> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut newest_event: Option<DateTime<Utc>> = None;
    let mut history_errors = 0;
    if live {
        let resumed = book.resume(Utc::now());
        if resumed > 0 {
            tracing::info!(cases = resumed, "open cases resumed from history");
        }
    }
    loop {
        let mut out = Vec::new();
        tokio::select! {
            det = rx.recv() => {
                let Ok(det) = det else { break };
                received.inc();
                newest_event = Some(newest_event.map_or(det.event.time, |t| t.max(det.event.time)));
                let now = Utc::now();
                let observed = book.observe(&det, now);
                out.extend(observed.closed);
                if let Some(e) = &enricher {
                    for ind in observed.new_indicators {
                        if let Some(ind) = lookout::submission(&ind) {
                            e.submit(ind);
                        }
                    }
                }
                if live && observed.opened {
                    out.extend(book.publish_for(&det, now));
                }
                // The case holds its own share until its next version is delivered.
                det.ack.done();
            }
            profile = next_of(&mut profiles) => match profile {
                Some(p) => out.extend(book.enrich(lookout::profile_ref(&p), Utc::now())),
                None => profiles = None,
            },
            summary = next_of(&mut summaries) => match summary {
                Some((case_id, s)) => out.extend(book.attach_summary(&case_id, s, Utc::now())),
                None => summaries = None,
            },
            _ = tick.tick(), if live => {
                let now = Utc::now();
                out.extend(book.publish_dirty(now));
                book.save_quiet();
                if let Some(t) = newest_event {
                    out.extend(book.close_inactive(t, now));
                }
            }
        }
        report_book(&book, &m, &mut history_errors);
        #[cfg(feature = "llm")]
        if let Some(w) = &summarizer {
            for p in out.iter().filter(|p| p.summarize) {
                let events = book.case_events(&p.verdict.case_id);
                w.submit(llm::digest_from_verdict(
                    &p.verdict,
                    events.iter().map(|e| e.as_ref()),
                ));
            }
        }
        if send_all(&tx, out, &m).await.is_err() {
            return;
        }
    }
    let final_versions = book.publish_dirty(Utc::now());
    book.save_quiet();
    report_book(&book, &m, &mut history_errors);
    let _ = send_all(&tx, final_versions, &m).await;
}

/// Open cases, and the book's history failures since the last report (`reported` holds the
/// count already added to the metric).
fn report_book(book: &CaseBook, m: &Metrics, reported: &mut u64) {
    m.cases.open.set(book.open_cases() as i64);
    let errors = book.history_errors();
    m.history.errors.inc_by(errors.saturating_sub(*reported));
    *reported = errors;
}

async fn send_all(
    tx: &Sender<Published>,
    items: Vec<Published>,
    m: &Metrics,
) -> Result<(), channel::Closed> {
    for p in items {
        let v = &p.verdict;
        m.cases
            .verdicts
            .with_label_values(&[v.conclusion.as_str(), v.severity.as_str()])
            .inc();
        if let Some(t) = p.oldest_received {
            let secs = (Utc::now() - t).num_microseconds().unwrap_or(0) as f64 / 1e6;
            m.cases.ingest_to_verdict.observe(secs.max(0.0));
        }
        tx.send(p).await?;
        m.stages.sent.with_label_values(&[stage::CASES]).inc();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
