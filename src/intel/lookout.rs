//! The detect stage's view of threat intel: each event's indicators extracted and matched
//! against the offline feeds at line rate, with no network and no waiting. What it sees rides
//! on the detection to the case builder: indicators for enrichment and history, feed entries as
//! findings of their own.

use std::sync::Arc;

use super::extract::{self, ExtractSettings};
use super::feeds::{self, FeedMatch, FeedSlot};
use super::{Indicator, IndicatorKind, Profile, Tier};
use crate::detect::Level;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::verdict::{IndicatorRef, SourceOpinion};

/// Extraction settings and the current offline feeds, cheap to clone into every detect worker.
#[derive(Clone)]
pub struct Lookout {
    extract: Arc<ExtractSettings>,
    feeds: FeedSlot,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Lookout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookout")
            .field("feed_entries", &feeds::current(&self.feeds).len())
            .finish()
    }
}

/// What one event carries: its indicators, and those an offline feed lists.
#[derive(Debug, Default)]
pub struct Sighting {
    pub indicators: Vec<Indicator>,
    pub listed: Vec<(Indicator, Vec<FeedMatch>)>,
}

impl Lookout {
    pub fn new(extract: ExtractSettings, feeds: FeedSlot, metrics: Arc<Metrics>) -> Self {
        Self {
            extract: Arc::new(extract),
            feeds,
            metrics,
        }
    }

    pub fn extract_settings(&self) -> &ExtractSettings {
        &self.extract
    }

    /// Whether any offline feed entry is loaded: without one, an event no rule matched cannot
    /// become a finding and needs no extraction.
    pub fn has_feeds(&self) -> bool {
        !feeds::current(&self.feeds).is_empty()
    }

    /// The indicators of `event` (counted per kind) and the feed entries listing them.
    pub fn sight(&self, event: &Event) -> Sighting {
        let indicators = extract::indicators(event, &self.extract);
        let set = feeds::current(&self.feeds);
        let mut listed = Vec::new();
        for i in &indicators {
            self.metrics
                .intel
                .extracted
                .with_label_values(&[i.kind.as_str()])
                .inc();
            if set.is_empty() {
                continue;
            }
            let m = set.lookup(i);
            if !m.is_empty() {
                self.metrics.intel.feed_matches.inc();
                listed.push((i.clone(), m));
            }
        }
        Sighting { indicators, listed }
    }

    /// Offline feed entries matching `ind`.
    pub fn feed_matches(&self, ind: &Indicator) -> Vec<FeedMatch> {
        let m = feeds::current(&self.feeds).lookup(ind);
        if !m.is_empty() {
            self.metrics.intel.feed_matches.inc();
        }
        m
    }
}

/// How serious a feed listing is: the strongest entry's confidence (entries without one, like
/// Spamhaus DROP networks, are curated lists and count as high).
pub fn feed_level(matches: &[FeedMatch]) -> Level {
    let confidence = matches
        .iter()
        .map(|m| m.confidence.unwrap_or(100))
        .max()
        .unwrap_or(0);
    match confidence {
        75.. => Level::High,
        50.. => Level::Medium,
        _ => Level::Low,
    }
}

/// An indicator as verdicts cite it, not yet enriched.
pub fn indicator_ref(ind: &Indicator) -> IndicatorRef {
    IndicatorRef::bare(ind.kind.as_str(), ind.value.clone())
}

/// An indicator a case cites, as the enricher takes it (`None` for a kind it does not know).
/// Cases cite only external indicators, so it is never internal.
pub fn submission(r: &IndicatorRef) -> Option<Indicator> {
    let kind = IndicatorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == r.kind)?;
    Some(Indicator {
        kind,
        value: r.value.clone(),
        field: "case".to_owned(),
        internal: false,
    })
}

/// A consensus profile as verdicts cite it: tier, score and the per-source breakdown. An
/// `UNKNOWN` tier carries no score, so it neither raises nor lowers the verdict.
pub fn profile_ref(p: &Profile) -> IndicatorRef {
    IndicatorRef {
        kind: p.kind.as_str().to_owned(),
        value: p.indicator.clone(),
        tier: Some(p.tier.as_str().to_owned()),
        score: (p.tier != Tier::Unknown).then_some(p.score),
        sources: p
            .sources
            .iter()
            .map(|s| SourceOpinion {
                source: s.source.clone(),
                opinion: s.opinion.as_str().to_owned(),
                strength: s.strength,
                detail: s.detail.clone(),
                link: s.link.clone(),
                observed_at: s.observed_at,
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intel::Opinion;

    fn listing(confidence: Option<u8>) -> FeedMatch {
        FeedMatch {
            feed: "f".into(),
            indicator: "x".into(),
            threat: None,
            confidence,
            reference: None,
        }
    }

    #[test]
    fn feed_level_follows_the_strongest_confidence() {
        assert_eq!(feed_level(&[listing(Some(30))]), Level::Low);
        assert_eq!(
            feed_level(&[listing(Some(30)), listing(Some(60))]),
            Level::Medium
        );
        assert_eq!(feed_level(&[listing(Some(90))]), Level::High);
        assert_eq!(feed_level(&[listing(None)]), Level::High);
    }

    #[test]
    fn unknown_profiles_carry_no_score() {
        let p = crate::intel::consensus::combine(
            "203.0.113.9",
            IndicatorKind::Ipv4,
            vec![crate::intel::SourceOpinion::new(
                "virustotal",
                Opinion::Unknown,
                0.0,
                "",
            )],
            &Default::default(),
        );
        let r = profile_ref(&p);
        assert_eq!(r.tier.as_deref(), Some("UNKNOWN"));
        assert_eq!(r.score, None);
        assert!(r.is_profiled());
        assert_eq!(r.effective_score(), 50.0);
        assert_eq!(r.sources.len(), 1);
        assert_eq!(r.sources[0].opinion, "unknown");
    }

    #[test]
    fn sighting_lists_feed_entries_and_counts_kinds() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let mut b = feeds::FeedBuilder::new();
        feeds::load_text("evil.example.net\n", "plain", &mut b).unwrap();
        let slot: FeedSlot = Arc::new(std::sync::RwLock::new(Arc::new(b.finish())));
        let look = Lookout::new(ExtractSettings::default(), slot, metrics.clone());
        assert!(look.has_feeds());
        let event = crate::testutil::event_with(serde_json::json!({
            "QueryName": "evil.example.net",
            "DestinationIp": "8.8.8.8"
        }));
        let s = look.sight(&event);
        assert_eq!(s.indicators.len(), 2, "{:?}", s.indicators);
        assert_eq!(s.listed.len(), 1);
        assert_eq!(s.listed[0].0.value, "evil.example.net");
        assert_eq!(metrics.intel.feed_matches.get(), 1);
    }
}
