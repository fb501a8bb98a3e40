//! VirusTotal API v3: `GET /api/v3/{ip_addresses|domains|urls|files}/{id}` with `x-apikey`.
//! URL ids are the unpadded base64url of the URL. 404 `NotFoundError` is unknown.

use base64::Engine;
use serde_json::Value;

use super::{Answer, Provider, ProviderError, common_error, u64_at};
use crate::intel::{Indicator, IndicatorKind, Opinion, SourceOpinion};

pub(super) async fn lookup(p: &Provider, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
    let v = &ind.value;
    let path = match ind.kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => format!("/api/v3/ip_addresses/{v}"),
        IndicatorKind::Domain => format!("/api/v3/domains/{v}"),
        IndicatorKind::Url => format!(
            "/api/v3/urls/{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
        ),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            format!("/api/v3/files/{v}")
        }
        IndicatorKind::Email => return Ok(p.unknown("email addresses are not covered")),
    };
    let a = p
        .send(p.client.get(p.url(&path)).header("x-apikey", p.key()))
        .await?;
    match a.status.as_u16() {
        200 => Ok(interpret(p, ind.kind, &a)),
        404 => Ok(p.unknown("not in VirusTotal")),
        _ => Err(common_error(&a)),
    }
}

fn interpret(p: &Provider, kind: IndicatorKind, a: &Answer) -> SourceOpinion {
    let attrs = a.body.pointer("/data/attributes").unwrap_or(&Value::Null);
    let stat = |k: &str| u64_at(attrs, &format!("/last_analysis_stats/{k}"));
    let (m, s, h, u) = (
        stat("malicious"),
        stat("suspicious"),
        stat("harmless"),
        stat("undetected"),
    );
    let total = m + s + h + u + stat("timeout");
    let reputation = attrs.get("reputation").and_then(Value::as_i64).unwrap_or(0);
    let detail = format!(
        "{m}/{total} engines malicious, {s} suspicious, {h} harmless; reputation {reputation}"
    );
    let (opinion, strength) = if m >= 5 {
        (Opinion::Malicious, (0.6 + m as f64 / 50.0).min(1.0))
    } else if m >= 1 {
        (Opinion::Suspicious, 0.3 + 0.1 * m as f64)
    } else if s >= 1 {
        (Opinion::Suspicious, 0.3)
    } else if h > 0 && h >= u {
        (Opinion::Benign, h as f64 / (h + u) as f64)
    } else if kind.is_hash() && u >= 10 && reputation >= 0 {
        // AV engines do not say "harmless" of files: no detection by many is the benign signal.
        (Opinion::Benign, 0.4)
    } else {
        (Opinion::Unknown, 0.0)
    };
    let mut o = p.opinion(opinion, strength, detail);
    let id = a.body.pointer("/data/id").and_then(Value::as_str);
    let gui = match a.body.pointer("/data/type").and_then(Value::as_str) {
        Some("ip_address") => Some("ip-address"),
        Some("domain") => Some("domain"),
        Some("file") => Some("file"),
        Some("url") => Some("url"),
        _ => None,
    };
    if let (Some(id), Some(gui)) = (id, gui) {
        o.link = Some(format!("https://www.virustotal.com/gui/{gui}/{id}"));
    }
    o
}
