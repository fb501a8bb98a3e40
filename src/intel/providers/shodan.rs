//! Shodan: `GET /shodan/host/{ip}?key=…` (the key travels as a query parameter), or the
//! keyless InternetDB `GET /{ip}`. Shodan has no reputation verdict: the tags `c2`, `malware`,
//! `compromised` are a weak malicious signal; anything else is unknown (exposure is not
//! maliciousness). 404 is unknown.

use super::{Provider, ProviderError, common_error, str_list};
use crate::intel::{Indicator, Opinion, SourceOpinion};

const BAD_TAGS: &[&str] = &["c2", "malware", "compromised", "botnet"];

pub(super) async fn lookup(
    p: &Provider,
    ind: &Indicator,
    keyless: bool,
) -> Result<SourceOpinion, ProviderError> {
    let req = if keyless {
        p.client.get(p.url(&format!("/{}", ind.value)))
    } else {
        p.client
            .get(p.url(&format!("/shodan/host/{}", ind.value)))
            .query(&[("key", p.key()), ("minify", "true")])
    };
    let a = p.send(req).await?;
    match a.status.as_u16() {
        200 => {}
        404 => return Ok(p.unknown("no information available for that IP")),
        _ => return Err(common_error(&a)),
    }
    let tags = str_list(a.body.get("tags"));
    let ports: Vec<String> = a
        .body
        .get("ports")
        .and_then(|v| v.as_array())
        .map(|v| v.iter().map(|p| p.to_string()).collect())
        .unwrap_or_default();
    let vulns = match a.body.get("vulns") {
        Some(serde_json::Value::Array(v)) => v.len(),
        Some(serde_json::Value::Object(o)) => o.len(),
        _ => 0,
    };
    let detail = format!(
        "tags [{}], ports [{}], {vulns} known vulns",
        tags.join(", "),
        ports.join(", ")
    );
    let bad: Vec<&str> = tags
        .iter()
        .copied()
        .filter(|t| BAD_TAGS.contains(t))
        .collect();
    let (opinion, strength) = if bad.is_empty() {
        (Opinion::Unknown, 0.0)
    } else {
        (Opinion::Malicious, 0.5)
    };
    Ok(p.opinion(opinion, strength, detail)
        .with_link(format!("https://www.shodan.io/host/{}", ind.value)))
}
