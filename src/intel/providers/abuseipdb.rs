//! AbuseIPDB v2: `GET /api/v2/check?ipAddress=…&maxAgeInDays=90` with `Key` and
//! `Accept: application/json`. No 404: score 0 with no reports is unknown; `isWhitelisted`
//! is the benign signal; 422 is an invalid address.

use serde_json::Value;

use super::{Provider, ProviderError, common_error, u64_at};
use crate::intel::{Indicator, Opinion, SourceOpinion};

pub(super) async fn lookup(p: &Provider, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
    let req = p
        .client
        .get(p.url("/api/v2/check"))
        .query(&[("ipAddress", ind.value.as_str()), ("maxAgeInDays", "90")])
        .header("Key", p.key())
        .header("Accept", "application/json");
    let a = p.send(req).await?;
    if a.status.as_u16() != 200 {
        return Err(common_error(&a));
    }
    let d = a.body.get("data").unwrap_or(&Value::Null);
    let score = u64_at(d, "/abuseConfidenceScore");
    let reports = u64_at(d, "/totalReports");
    let users = u64_at(d, "/numDistinctUsers");
    let whitelisted = d
        .get("isWhitelisted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tor = d.get("isTor").and_then(Value::as_bool).unwrap_or(false);
    let detail = format!(
        "abuse confidence {score}%, {reports} reports from {users} users{}{}",
        if whitelisted { ", whitelisted" } else { "" },
        if tor { ", tor exit" } else { "" }
    );
    let (opinion, strength) = if whitelisted {
        (Opinion::Benign, 0.8)
    } else if score >= 75 {
        (Opinion::Malicious, score as f64 / 100.0)
    } else if score >= 25 {
        (Opinion::Suspicious, score as f64 / 100.0)
    } else if score > 0 {
        (Opinion::Suspicious, 0.2)
    } else {
        (Opinion::Unknown, 0.0)
    };
    Ok(p.opinion(opinion, strength, detail)
        .with_link(format!("https://www.abuseipdb.com/check/{}", ind.value)))
}
