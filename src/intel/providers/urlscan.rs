//! urlscan.io: search (`GET /api/v1/search/?q=…`, header `API-Key`), then the newest hit's
//! result (`GET /api/v1/result/{uuid}/`) for its verdict — search rows carry none. No hit, or a
//! result still pending, is unknown.

use serde_json::Value;

use super::{Provider, ProviderError, common_error};
use crate::intel::{Indicator, IndicatorKind, Opinion, SourceOpinion};

fn query(ind: &Indicator) -> Option<String> {
    let v = &ind.value;
    Some(match ind.kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => format!("ip:\"{v}\""),
        IndicatorKind::Domain => format!("domain:{v}"),
        IndicatorKind::Url => format!("page.url:\"{v}\""),
        IndicatorKind::Sha256 => format!("hash:{v}"),
        _ => return None,
    })
}

pub(super) async fn lookup(p: &Provider, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
    let Some(q) = query(ind) else {
        return Ok(p.unknown("not searchable on urlscan"));
    };
    let req = p
        .client
        .get(p.url("/api/v1/search/"))
        .query(&[("q", q.as_str()), ("size", "100")])
        .header("API-Key", p.key());
    let a = p.send(req).await?;
    if a.status.as_u16() != 200 {
        return Err(common_error(&a));
    }
    let total = a.body.get("total").and_then(Value::as_u64).unwrap_or(0);
    let Some(uuid) = a
        .body
        .pointer("/results/0/task/uuid")
        .or_else(|| a.body.pointer("/results/0/_id"))
        .and_then(Value::as_str)
        .filter(|u| u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
    else {
        return Ok(p.unknown("no urlscan scans"));
    };
    let r = p
        .send(
            p.client
                .get(p.url(&format!("/api/v1/result/{uuid}/")))
                .header("API-Key", p.key()),
        )
        .await?;
    let link = format!("https://urlscan.io/result/{uuid}/");
    match r.status.as_u16() {
        200 => {}
        404 => {
            let msg = r.body.get("message").and_then(Value::as_str).unwrap_or("");
            let why = if msg.to_ascii_lowercase().contains("not finished") {
                "latest scan still running"
            } else {
                "scan result not found"
            };
            return Ok(p.unknown(why).with_link(link));
        }
        _ => return Err(common_error(&r)),
    }
    let overall = r.body.pointer("/verdicts/overall").unwrap_or(&Value::Null);
    let malicious = overall
        .get("malicious")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let has = overall
        .get("hasVerdicts")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let score = overall.get("score").and_then(Value::as_i64).unwrap_or(0);
    let cats: Vec<&str> = overall
        .get("categories")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let detail = format!(
        "{total} scans; latest verdict score {score}{}",
        if cats.is_empty() {
            String::new()
        } else {
            format!(" ({})", cats.join(", "))
        }
    );
    let (opinion, strength) = if malicious {
        (Opinion::Malicious, (score as f64 / 100.0).max(0.7))
    } else if has && score > 0 {
        (Opinion::Suspicious, score as f64 / 100.0)
    } else if has && score < 0 {
        (Opinion::Benign, (-score) as f64 / 100.0)
    } else {
        (Opinion::Unknown, 0.0)
    };
    Ok(p.opinion(opinion, strength, detail).with_link(link))
}
