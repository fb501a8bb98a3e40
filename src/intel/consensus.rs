//! Consensus: the per-source opinions of one indicator combined into a 0–100 score and a tier.
//!
//! Each responding source with evidence (malicious, suspicious or benign; unknown and error do
//! not count) contributes a value — malicious `100 × strength`, suspicious `50 × strength`,
//! benign 0 — weighted by the source's reliability. The score is the weighted mean. Tiers:
//! CRITICAL at 85 or when two sources hold a strong (≥ 0.8) malicious opinion, HIGH from 65,
//! MEDIUM from 40, LOW from 15 or whenever any source says malicious or suspicious; below that
//! CLEAN only with benign evidence from at least two sources, else UNKNOWN.

use std::collections::BTreeMap;

use chrono::Utc;

use super::providers::ProviderKind;
use super::{IndicatorKind, Opinion, Profile, SourceOpinion, Tier};

/// Reliability weight per source name.
#[derive(Clone, Debug)]
pub struct Weights(BTreeMap<String, f64>);

/// Default weight of the offline feeds: curated lists, but without per-entry recency.
pub const OFFLINE_FEEDS_WEIGHT: f64 = 0.8;

impl Default for Weights {
    fn default() -> Self {
        let mut m: BTreeMap<String, f64> = ProviderKind::ALL
            .iter()
            .map(|k| (k.name().to_owned(), k.defaults().weight))
            .collect();
        m.insert(super::feeds::SOURCE.to_owned(), OFFLINE_FEEDS_WEIGHT);
        Self(m)
    }
}

impl Weights {
    /// The defaults with configured overrides.
    pub fn with_overrides(overrides: &BTreeMap<String, f64>) -> Self {
        let mut w = Self::default();
        for (k, v) in overrides {
            w.0.insert(k.clone(), *v);
        }
        w
    }

    pub fn get(&self, source: &str) -> f64 {
        self.0.get(source).copied().unwrap_or(0.5)
    }
}

/// The profile of `indicator` from its sources' opinions.
pub fn combine(
    indicator: &str,
    kind: IndicatorKind,
    mut sources: Vec<SourceOpinion>,
    weights: &Weights,
) -> Profile {
    sources.sort_by(|a, b| a.source.cmp(&b.source));
    let (mut sum, mut total) = (0.0, 0.0);
    let (mut bad, mut strong, mut benign) = (0usize, 0usize, 0usize);
    for s in &sources {
        let value = match s.opinion {
            Opinion::Malicious => 100.0 * s.strength,
            Opinion::Suspicious => 50.0 * s.strength,
            Opinion::Benign => 0.0,
            Opinion::Unknown | Opinion::Error => continue,
        };
        let w = weights.get(&s.source);
        sum += w * value;
        total += w;
        match s.opinion {
            Opinion::Malicious if s.strength >= 0.8 => {
                bad += 1;
                strong += 1;
            }
            Opinion::Malicious | Opinion::Suspicious => bad += 1,
            _ => benign += 1,
        }
    }
    let score = if total > 0.0 {
        (sum / total).round().clamp(0.0, 100.0) as u8
    } else {
        0
    };
    let tier = if total == 0.0 {
        Tier::Unknown
    } else if score >= 85 || strong >= 2 {
        Tier::Critical
    } else if score >= 65 {
        Tier::High
    } else if score >= 40 {
        Tier::Medium
    } else if score >= 15 || bad > 0 {
        Tier::Low
    } else if benign >= 2 {
        Tier::Clean
    } else {
        Tier::Unknown
    };
    Profile {
        indicator: indicator.to_owned(),
        kind,
        tier,
        score,
        sources,
        updated_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(source: &str, opinion: Opinion, strength: f64) -> SourceOpinion {
        SourceOpinion::new(source, opinion, strength, "")
    }

    fn tier(sources: Vec<SourceOpinion>) -> (Tier, u8) {
        let p = combine("x", IndicatorKind::Ipv4, sources, &Weights::default());
        (p.tier, p.score)
    }

    #[test]
    fn no_evidence_is_unknown_never_clean() {
        assert_eq!(tier(vec![]).0, Tier::Unknown);
        assert_eq!(
            tier(vec![
                op("virustotal", Opinion::Unknown, 0.0),
                op("otx", Opinion::Error, 0.0)
            ])
            .0,
            Tier::Unknown
        );
        // one benign source is not enough for CLEAN
        assert_eq!(
            tier(vec![op("virustotal", Opinion::Benign, 0.9)]).0,
            Tier::Unknown
        );
    }

    #[test]
    fn clean_needs_two_benign_sources() {
        let (t, s) = tier(vec![
            op("virustotal", Opinion::Benign, 0.7),
            op("abuseipdb", Opinion::Benign, 0.8),
            op("offline_feeds", Opinion::Unknown, 0.0),
        ]);
        assert_eq!((t, s), (Tier::Clean, 0));
    }

    #[test]
    fn two_strong_malicious_sources_are_critical() {
        let (t, _) = tier(vec![
            op("threatfox", Opinion::Malicious, 0.9),
            op("malwarebazaar", Opinion::Malicious, 0.95),
            op("virustotal", Opinion::Benign, 0.4),
        ]);
        assert_eq!(t, Tier::Critical);
    }

    #[test]
    fn tiers_follow_the_weighted_score() {
        assert_eq!(
            tier(vec![op("offline_feeds", Opinion::Malicious, 0.7)]),
            (Tier::High, 70)
        );
        assert_eq!(
            tier(vec![op("otx", Opinion::Suspicious, 0.9)]),
            (Tier::Medium, 45)
        );
        // a weak signal outweighed by benign evidence is still LOW, not CLEAN
        let (t, s) = tier(vec![
            op("shodan", Opinion::Malicious, 0.5),
            op("virustotal", Opinion::Benign, 0.9),
            op("abuseipdb", Opinion::Benign, 0.8),
        ]);
        assert_eq!(t, Tier::Low);
        assert!(s < 15, "{s}");
    }

    #[test]
    fn weights_shift_the_score() {
        let sources = vec![
            op("offline_feeds", Opinion::Malicious, 1.0),
            op("virustotal", Opinion::Benign, 1.0),
        ];
        let a = combine(
            "x",
            IndicatorKind::Ipv4,
            sources.clone(),
            &Weights::default(),
        )
        .score;
        let w = Weights::with_overrides(&[("virustotal".to_owned(), 0.1)].into_iter().collect());
        let b = combine("x", IndicatorKind::Ipv4, sources, &w).score;
        assert!(b > a, "{a} {b}");
    }
}
