//! Plain lists: one indicator per line, `#` comments and blank lines ignored, defanged entries
//! refanged, every line classified like free text. Lines that are false-positive traps
//! (special-range IPs, file names, versions) are skipped and counted.

use super::{EntryInfo, FeedBuilder};

pub fn load(text: &str, name: &str, b: &mut FeedBuilder) {
    let feed = b.feed(name);
    let info = EntryInfo::default();
    for line in text.lines() {
        let v = line.split(" #").next().unwrap_or("").trim();
        if v.starts_with('#') {
            continue;
        }
        if v.is_empty() {
            continue;
        }
        if v.contains('/') && !v.contains("://") && v.parse::<std::net::IpAddr>().is_err() {
            b.add_cidr(feed, v, &info);
        } else {
            b.add_value(feed, v, &info);
        }
    }
}
