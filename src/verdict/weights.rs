//! The `[verdict.weights]` config section: every number the score is made of.
//!
//! Defaults are the values documented in the README ("Scoring"); a config file may override any
//! of them. Positive weights raise the score, the `false_positive_*` ones lower it.

use serde::Deserialize;

use crate::detect::Level;

/// Weights and thresholds of the verdict score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Weights {
    /// Score contribution of one matching rule, by level.
    pub informational: f64,
    pub low: f64,
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
    /// Each repeat of the same finding adds this fraction of its weight, up to `max_repeats`.
    pub repeat_bonus: f64,
    pub max_repeats: u64,
    /// Correlation findings weigh this many times a single match of the same level.
    pub correlation_factor: f64,
    /// Each distinct ATT&CK tactic beyond the first adds this, up to `max_breadth_bonus`.
    pub tactic_bonus: f64,
    pub max_breadth_bonus: f64,
    /// An offline-feed hit weighs this many times a rule match of the feed entry's level.
    pub feed_hit_factor: f64,
    /// An enrichment profile adds `enrichment_max * (score - 50) / 50`: +max for a score of 100,
    /// 0 at 50, -max for a benign 0.
    pub enrichment_max: f64,
    /// An indicator of this case was in a case an analyst confirmed as a true positive.
    pub history_confirmed_indicator: f64,
    /// An indicator of this case was in an earlier case concluded `incident`.
    pub history_prior_incident_indicator: f64,
    /// An indicator of this case was seen in earlier cases (none of them incidents).
    pub history_recurring_indicator: f64,
    /// The host (or user) of this case was in an earlier incident or confirmed case.
    pub history_compromised_entity: f64,
    /// An analyst confirmed this rule on this entity as a true positive before.
    pub feedback_true_positive: f64,
    /// Subtracted once per indicator an analyst marked false positive or benign.
    pub feedback_false_positive_indicator: f64,
    /// A rule an analyst marked false positive on this entity loses this fraction of its weight.
    pub feedback_false_positive_rule: f64,
    /// Evidence that matched no rule (feed hits, anomalies), once per case.
    pub unclassified: f64,
    /// Score at or above which a case can be an incident (with two agreeing kinds of evidence
    /// or one critical finding).
    pub incident_threshold: f64,
    pub suspicious_threshold: f64,
    /// Below this the case is benign; between it and `suspicious_threshold`, needs review.
    pub review_threshold: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            informational: 2.0,
            low: 8.0,
            medium: 15.0,
            high: 25.0,
            critical: 40.0,
            repeat_bonus: 0.1,
            max_repeats: 5,
            correlation_factor: 1.5,
            tactic_bonus: 5.0,
            max_breadth_bonus: 20.0,
            feed_hit_factor: 1.0,
            enrichment_max: 30.0,
            history_confirmed_indicator: 30.0,
            history_prior_incident_indicator: 15.0,
            history_recurring_indicator: 5.0,
            history_compromised_entity: 20.0,
            feedback_true_positive: 20.0,
            feedback_false_positive_indicator: 30.0,
            feedback_false_positive_rule: 1.0,
            unclassified: 5.0,
            incident_threshold: 60.0,
            suspicious_threshold: 35.0,
            review_threshold: 10.0,
        }
    }
}

impl Weights {
    /// Score contribution of one matching rule, by level.
    pub fn level(&self, level: Level) -> f64 {
        match level {
            Level::Informational => self.informational,
            Level::Low => self.low,
            Level::Medium => self.medium,
            Level::High => self.high,
            Level::Critical => self.critical,
        }
    }

    /// Problems with the values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let all = [
            ("informational", self.informational),
            ("low", self.low),
            ("medium", self.medium),
            ("high", self.high),
            ("critical", self.critical),
            ("repeat_bonus", self.repeat_bonus),
            ("correlation_factor", self.correlation_factor),
            ("tactic_bonus", self.tactic_bonus),
            ("max_breadth_bonus", self.max_breadth_bonus),
            ("feed_hit_factor", self.feed_hit_factor),
            ("enrichment_max", self.enrichment_max),
            (
                "history_confirmed_indicator",
                self.history_confirmed_indicator,
            ),
            (
                "history_prior_incident_indicator",
                self.history_prior_incident_indicator,
            ),
            (
                "history_recurring_indicator",
                self.history_recurring_indicator,
            ),
            (
                "history_compromised_entity",
                self.history_compromised_entity,
            ),
            ("feedback_true_positive", self.feedback_true_positive),
            (
                "feedback_false_positive_indicator",
                self.feedback_false_positive_indicator,
            ),
            (
                "feedback_false_positive_rule",
                self.feedback_false_positive_rule,
            ),
            ("unclassified", self.unclassified),
        ];
        for (k, v) in all {
            if !v.is_finite() || v < 0.0 {
                out.push((format!("verdict.{k}"), "must be a number ≥ 0".to_owned()));
            }
        }
        if !(self.review_threshold <= self.suspicious_threshold
            && self.suspicious_threshold <= self.incident_threshold
            && self.incident_threshold <= 100.0)
        {
            out.push((
                "verdict.incident_threshold".to_owned(),
                "thresholds must satisfy review ≤ suspicious ≤ incident ≤ 100".to_owned(),
            ));
        }
        out
    }
}
