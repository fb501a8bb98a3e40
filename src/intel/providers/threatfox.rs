//! ThreatFox: `POST /api/v1/` with `Auth-Key` and a JSON body — `search_ioc` (exact match,
//! except bare IPs, stored as `ip:port`) or `search_hash`. The status is in the body:
//! `no_result` is unknown, `illegal_search_term` invalid, `unknown_auth_key` a bad key.

use serde_json::{Value, json};

use super::{Provider, ProviderError, abusech_status, error_text};
use crate::intel::{Indicator, IndicatorKind, Opinion, SourceOpinion};

pub(super) async fn lookup(p: &Provider, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
    let body = match ind.kind {
        IndicatorKind::Md5 | IndicatorKind::Sha256 => {
            json!({"query": "search_hash", "hash": ind.value})
        }
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => {
            json!({"query": "search_ioc", "search_term": ind.value, "exact_match": false})
        }
        _ => json!({"query": "search_ioc", "search_term": ind.value, "exact_match": true}),
    };
    let a = p
        .send(
            p.client
                .post(p.url("/api/v1/"))
                .header("Auth-Key", p.key())
                .json(&body),
        )
        .await?;
    let status = abusech_status(&a)?;
    match status {
        "ok" => {}
        "no_result" => return Ok(p.unknown("not in ThreatFox")),
        "illegal_search_term" | "illegal_hash" => {
            return Err(ProviderError::Invalid(status.into()));
        }
        "rate_limited" => return Err(ProviderError::RateLimited { retry_after: None }),
        _ => return Err(ProviderError::Unavailable(error_text(&a.body))),
    }
    let rows = a
        .body
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // For a bare IP the non-exact search may also return other IPs sharing the prefix.
    let rows: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            !ind.kind.is_ip()
                || r.get("ioc")
                    .and_then(Value::as_str)
                    .is_some_and(|i| i == ind.value || i.starts_with(&format!("{}:", ind.value)))
        })
        .collect();
    let Some(best) = rows.iter().max_by_key(|r| {
        r.get("confidence_level")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }) else {
        return Ok(p.unknown("not in ThreatFox"));
    };
    let confidence = best
        .get("confidence_level")
        .and_then(Value::as_u64)
        .unwrap_or(50)
        .min(100);
    let family = best
        .get("malware_printable")
        .and_then(Value::as_str)
        .unwrap_or("unknown malware");
    let threat = best
        .get("threat_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let detail = format!(
        "{family} {threat}, confidence {confidence}%, {} IOC rows",
        rows.len()
    );
    let mut o = p.opinion(Opinion::Malicious, confidence as f64 / 100.0, detail);
    if let Some(id) = best.get("id").and_then(|v| {
        v.as_str()
            .map(str::to_owned)
            .or(v.as_u64().map(|n| n.to_string()))
    }) {
        o.link = Some(format!("https://threatfox.abuse.ch/ioc/{id}/"));
    }
    Ok(o)
}
