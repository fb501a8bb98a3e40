//! AlienVault OTX: `GET /api/v1/indicators/{IPv4|IPv6|hostname|url|file}/{value}/general`
//! with `X-OTX-API-KEY`. `pulse_info.count` (with malware families) is the malicious signal,
//! a `validation` whitelist the benign one; count 0 is unknown. 403 is a bad key.

use serde_json::Value;

use super::{Provider, ProviderError, common_error};
use crate::intel::{Indicator, IndicatorKind, Opinion, SourceOpinion};

pub(super) async fn lookup(p: &Provider, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
    let section = match ind.kind {
        IndicatorKind::Ipv4 => "IPv4",
        IndicatorKind::Ipv6 => "IPv6",
        IndicatorKind::Domain => "hostname",
        IndicatorKind::Url => "url",
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => "file",
        IndicatorKind::Email => return Ok(p.unknown("email addresses are not covered")),
    };
    let a = p
        .send(
            p.client
                .get(p.url(&format!(
                    "/api/v1/indicators/{section}/{}/general",
                    ind.value
                )))
                .header("X-OTX-API-KEY", p.key()),
        )
        .await?;
    if a.status.as_u16() != 200 {
        return Err(common_error(&a));
    }
    let count = a
        .body
        .pointer("/pulse_info/count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut families: Vec<&str> = a
        .body
        .pointer("/pulse_info/pulses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("malware_families").and_then(Value::as_array))
        .flatten()
        .filter_map(|f| {
            f.get("display_name")
                .or_else(|| f.get("id"))
                .and_then(Value::as_str)
        })
        .collect();
    families.sort_unstable();
    families.dedup();
    let whitelisted = a
        .body
        .get("validation")
        .and_then(Value::as_array)
        .is_some_and(|v| {
            v.iter()
                .any(|x| x.get("source").and_then(Value::as_str) == Some("whitelist"))
        });
    let detail = format!(
        "{count} pulses{}{}",
        if families.is_empty() {
            String::new()
        } else {
            format!(", families {}", families.join(", "))
        },
        if whitelisted { ", whitelisted" } else { "" }
    );
    let (opinion, strength) = if count >= 3 || (count >= 1 && !families.is_empty()) {
        (Opinion::Malicious, (0.5 + 0.1 * count as f64).min(0.9))
    } else if count >= 1 {
        (Opinion::Suspicious, 0.4)
    } else if whitelisted {
        (Opinion::Benign, 0.7)
    } else {
        (Opinion::Unknown, 0.0)
    };
    let link_type = match ind.kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => "ip",
        IndicatorKind::Domain => "hostname",
        IndicatorKind::Url => "url",
        _ => "file",
    };
    Ok(p.opinion(opinion, strength, detail).with_link(format!(
        "https://otx.alienvault.com/indicator/{link_type}/{}",
        ind.value
    )))
}
