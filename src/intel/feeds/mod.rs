//! Offline threat feeds: local files loaded into a [`FeedSet`] that matches indicators at line
//! rate (one hash-map probe per indicator, plus one probe per CIDR prefix length for IPs), and
//! reloaded when the files change.
//!
//! Formats, one file each: abuse.ch CSV and JSON exports ([`abusech`]), Spamhaus DROP text and
//! NDJSON ([`spamhaus`]), plain one-per-line lists with defanged entries ([`plain`]), MISP feed
//! directories honouring `to_ids` ([`misp`]), STIX 2.1 bundles ([`stix`]). The format is
//! recognized from the content, not the file name; the feed's name is the file (or directory)
//! stem. This is the `offline_feeds` source of the consensus: it needs no key and no network.

pub mod abusech;
pub mod misp;
pub mod plain;
pub mod spamhaus;
pub mod stix;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::extract::{ExtractSettings, classify};
use super::{Indicator, IndicatorKind};
use crate::network::{self, IpNet};

/// Source name of the offline feeds in profiles and weights.
pub const SOURCE: &str = "offline_feeds";

/// One feed entry that matched an indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedMatch {
    /// Feed name (file or directory stem).
    pub feed: String,
    /// The feed's entry: the value, or the CIDR that contains the IP.
    pub indicator: String,
    /// Malware family or threat type, when the feed names one.
    pub threat: Option<String>,
    /// The feed's confidence, 0..=100.
    pub confidence: Option<u8>,
    pub reference: Option<String>,
}

/// Why a feed file could not be read (the other feeds still load).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feed {path}: {message}")]
    Format { path: PathBuf, message: String },
}

#[derive(Clone, Debug)]
struct Entry {
    feed: u16,
    confidence: Option<u8>,
    threat: Option<Arc<str>>,
    reference: Option<Arc<str>>,
    /// Next entry with the same key (`u32::MAX`: none).
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Every loaded feed, ready for lookups.
#[derive(Debug, Default)]
pub struct FeedSet {
    names: Vec<String>,
    sizes: Vec<usize>,
    entries: Vec<Entry>,
    /// Normalized value -> first entry.
    exact: HashMap<Box<str>, u32>,
    /// Per prefix length (longest first): masked network -> first entry.
    v4: Vec<(u8, HashMap<u32, u32>)>,
    v6: Vec<(u8, HashMap<u128, u32>)>,
    /// Entries skipped while loading (false-positive traps, unsupported patterns, bad lines).
    pub skipped: usize,
}

impl FeedSet {
    /// Loads every file under `paths` (directories recursively; a directory with a
    /// `manifest.json` is one MISP feed). Unreadable files are reported and skipped.
    pub fn load(paths: &[PathBuf]) -> (FeedSet, Vec<FeedError>) {
        let mut b = FeedBuilder::new();
        let mut errors = Vec::new();
        for p in paths {
            load_path(p, &mut b, &mut errors);
        }
        (b.finish(), errors)
    }

    /// The entries matching `indicator` (exact value; CIDR containment for IPs).
    pub fn lookup(&self, indicator: &Indicator) -> Vec<FeedMatch> {
        let mut out = Vec::new();
        if let Some(&first) = self.exact.get(indicator.value.as_str()) {
            self.collect(first, &indicator.value, &mut out);
        }
        if indicator.kind.is_ip() && !(self.v4.is_empty() && self.v6.is_empty()) {
            match indicator.value.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => {
                    for (prefix, nets) in &self.v4 {
                        let Ok(net) = Ipv4Net::new(a, *prefix).map(|n| n.trunc()) else {
                            continue;
                        };
                        if let Some(&first) = nets.get(&u32::from(net.network())) {
                            self.collect(first, &net.to_string(), &mut out);
                        }
                    }
                }
                Ok(IpAddr::V6(a)) => {
                    for (prefix, nets) in &self.v6 {
                        let Ok(net) = Ipv6Net::new(a, *prefix).map(|n| n.trunc()) else {
                            continue;
                        };
                        if let Some(&first) = nets.get(&u128::from(net.network())) {
                            self.collect(first, &net.to_string(), &mut out);
                        }
                    }
                }
                Err(_) => {}
            }
        }
        out
    }

    fn collect(&self, mut i: u32, value: &str, out: &mut Vec<FeedMatch>) {
        while let Some(e) = self.entries.get(i as usize) {
            out.push(FeedMatch {
                feed: self.names[usize::from(e.feed)].clone(),
                indicator: value.to_owned(),
                threat: e.threat.as_deref().map(str::to_owned),
                confidence: e.confidence,
                reference: e.reference.as_deref().map(str::to_owned),
            });
            i = e.next;
        }
    }

    /// (feed name, entries) per loaded feed.
    pub fn sizes(&self) -> impl Iterator<Item = (&str, usize)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.sizes.iter().copied())
    }

    /// Entries over all feeds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Threat, confidence and reference of a feed entry.
#[derive(Clone, Debug, Default)]
pub struct EntryInfo {
    pub threat: Option<Arc<str>>,
    pub confidence: Option<u8>,
    pub reference: Option<Arc<str>>,
}

/// Accumulates entries from the format readers.
pub struct FeedBuilder {
    set: FeedSet,
    settings: ExtractSettings,
    strings: HashMap<String, Arc<str>>,
    v4: HashMap<u8, HashMap<u32, u32>>,
    v6: HashMap<u8, HashMap<u128, u32>>,
}

impl Default for FeedBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl FeedBuilder {
    pub fn new() -> Self {
        Self {
            set: FeedSet::default(),
            // Feeds are matched locally: documentation ranges are ordinary addresses here.
            settings: ExtractSettings::default(),
            strings: HashMap::new(),
            v4: HashMap::new(),
            v6: HashMap::new(),
        }
    }

    /// Registers a feed and returns its index.
    pub fn feed(&mut self, name: &str) -> u16 {
        if let Some(i) = self.set.names.iter().position(|n| n == name) {
            return i as u16;
        }
        self.set.names.push(name.to_owned());
        self.set.sizes.push(0);
        (self.set.names.len() - 1) as u16
    }

    /// Shares repeated strings (family names, references) between entries.
    pub fn intern(&mut self, s: &str) -> Option<Arc<str>> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("n/a") {
            return None;
        }
        if let Some(a) = self.strings.get(s) {
            return Some(a.clone());
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(s.to_owned(), a.clone());
        Some(a)
    }

    fn entry(&mut self, feed: u16, info: &EntryInfo, next: u32) -> u32 {
        self.set.entries.push(Entry {
            feed,
            confidence: info.confidence,
            threat: info.threat.clone(),
            reference: info.reference.clone(),
            next,
        });
        self.set.sizes[usize::from(feed)] += 1;
        (self.set.entries.len() - 1) as u32
    }

    /// Adds a raw value (refanged and classified like a plain-list line; `ip:port` accepted).
    /// Returns false when the value is no indicator or a false-positive trap (special-range
    /// IP, file-name lookalike).
    pub fn add_value(&mut self, feed: u16, value: &str, info: &EntryInfo) -> bool {
        let v = value.trim();
        match classify(v, &self.settings, "feed") {
            Some(ind) if !ind.internal => {
                self.add(feed, ind.kind, &ind.value, info);
                true
            }
            _ => {
                self.set.skipped += 1;
                false
            }
        }
    }

    /// Adds an already normalized value of a known kind.
    pub fn add(&mut self, feed: u16, _kind: IndicatorKind, value: &str, info: &EntryInfo) {
        let next = self.set.exact.get(value).copied().unwrap_or(NONE);
        let i = self.entry(feed, info, next);
        self.set.exact.insert(value.into(), i);
    }

    /// Adds a network (`a.b.c.d/n`); a host network is added as an exact IP.
    pub fn add_cidr(&mut self, feed: u16, cidr: &str, info: &EntryInfo) -> bool {
        let Some(c) = network::parse(cidr) else {
            self.set.skipped += 1;
            return false;
        };
        match c {
            IpNet::V4(n) if n.prefix_len() == n.max_prefix_len() => {
                self.add(feed, IndicatorKind::Ipv4, &n.addr().to_string(), info);
            }
            IpNet::V6(n) if n.prefix_len() == n.max_prefix_len() => {
                self.add(feed, IndicatorKind::Ipv6, &n.addr().to_string(), info);
            }
            IpNet::V4(n) => {
                let (net, prefix) = (u32::from(n.network()), n.prefix_len());
                let next = self
                    .v4
                    .get(&prefix)
                    .and_then(|m| m.get(&net))
                    .copied()
                    .unwrap_or(NONE);
                let i = self.entry(feed, info, next);
                self.v4.entry(prefix).or_default().insert(net, i);
            }
            IpNet::V6(n) => {
                let (net, prefix) = (u128::from(n.network()), n.prefix_len());
                let next = self
                    .v6
                    .get(&prefix)
                    .and_then(|m| m.get(&net))
                    .copied()
                    .unwrap_or(NONE);
                let i = self.entry(feed, info, next);
                self.v6.entry(prefix).or_default().insert(net, i);
            }
        }
        true
    }

    /// Counts an entry skipped by a reader (unsupported pattern, `to_ids = false`, bad line).
    pub fn skip(&mut self) {
        self.set.skipped += 1;
    }

    pub fn finish(mut self) -> FeedSet {
        let mut v4: Vec<_> = self.v4.into_iter().collect();
        v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut v6: Vec<_> = self.v6.into_iter().collect();
        v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        self.set.v4 = v4;
        self.set.v6 = v6;
        self.set.exact.shrink_to_fit();
        self.set.entries.shrink_to_fit();
        self.set
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn load_path(path: &Path, b: &mut FeedBuilder, errors: &mut Vec<FeedError>) {
    if path.is_dir() {
        if path.join("manifest.json").is_file() {
            if let Err(e) = misp::load(path, &stem(path), b) {
                errors.push(e);
            }
            return;
        }
        let mut children: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(source) => {
                errors.push(FeedError::Io {
                    path: path.to_owned(),
                    source,
                });
                return;
            }
        };
        children.sort();
        for c in children {
            load_path(&c, b, errors);
        }
        return;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            errors.push(FeedError::Io {
                path: path.to_owned(),
                source,
            });
            return;
        }
    };
    let name = stem(path);
    let result = load_text(&text, &name, b);
    if let Err(message) = result {
        errors.push(FeedError::Format {
            path: path.to_owned(),
            message,
        });
    }
}

/// Recognizes the format of one file's text and loads it as feed `name`.
pub fn load_text(text: &str, name: &str, b: &mut FeedBuilder) -> Result<(), String> {
    let head = text.trim_start();
    if head.starts_with('{') || head.starts_with('[') {
        if spamhaus::is_ndjson(head) {
            return spamhaus::load_ndjson(text, name, b);
        }
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if doc.get("type").and_then(|t| t.as_str()) == Some("bundle") {
            return stix::load(&doc, name, b);
        }
        return abusech::load_json(&doc, name, b);
    }
    if spamhaus::is_drop_text(text) {
        return spamhaus::load_text(text, name, b);
    }
    if let Some(header) = abusech::csv_header(text) {
        return abusech::load_csv(text, &header, name, b);
    }
    plain::load(text, name, b);
    Ok(())
}

/// The current feed set, swapped whole on reload.
pub type FeedSlot = Arc<RwLock<Arc<FeedSet>>>;

/// The current set (cheap: clones an `Arc`).
pub fn current(slot: &FeedSlot) -> Arc<FeedSet> {
    match slot.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn replace(slot: &FeedSlot, set: FeedSet) {
    let set = Arc::new(set);
    match slot.write() {
        Ok(mut g) => *g = set,
        Err(poisoned) => *poisoned.into_inner() = set,
    }
}

/// Loads `paths` into `slot`, logging each unreadable file once, and updates the feed metrics.
pub fn reload(paths: &[PathBuf], slot: &FeedSlot, metrics: &crate::metrics::Metrics) {
    let (set, errors) = FeedSet::load(paths);
    for e in &errors {
        tracing::warn!(error = %e, "offline feed not loaded");
    }
    for (feed, n) in set.sizes() {
        metrics
            .intel
            .feed_indicators
            .with_label_values(&[feed])
            .set(n as i64);
    }
    let result = if errors.is_empty() {
        crate::metrics::intel::feed_reload::OK
    } else {
        crate::metrics::intel::feed_reload::ERROR
    };
    metrics
        .intel
        .feed_reloads
        .with_label_values(&[result])
        .inc();
    tracing::info!(
        entries = set.len(),
        feeds = set.names.len(),
        skipped = set.skipped,
        "offline feeds loaded"
    );
    replace(slot, set);
}

/// Watches `paths` and reloads the feeds (after a short quiet period) when anything under them
/// changes. The watcher stops when the returned handle is dropped.
pub fn watch(
    paths: Vec<PathBuf>,
    slot: FeedSlot,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    use notify::Watcher;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    for p in &paths {
        watcher.watch(p, notify::RecursiveMode::Recursive)?;
    }
    std::thread::Builder::new()
        .name("intel-feeds".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Quiet period: a feed update writes many events; reload once after them.
                while rx
                    .recv_timeout(std::time::Duration::from_millis(300))
                    .is_ok()
                {}
                reload(&paths, &slot, &metrics);
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}

/// The offline feeds' opinion of one indicator: malicious when any feed lists it, with the
/// strongest confidence; unknown otherwise (absence from a feed is no evidence of good).
pub fn opinion(matches: &[FeedMatch]) -> super::SourceOpinion {
    use super::{Opinion, SourceOpinion};
    if matches.is_empty() {
        return SourceOpinion::new(SOURCE, Opinion::Unknown, 0.0, "not in any offline feed");
    }
    let strength = matches
        .iter()
        .map(|m| f64::from(m.confidence.unwrap_or(80)) / 100.0)
        .fold(0.0, f64::max);
    let mut feeds: Vec<&str> = matches.iter().map(|m| m.feed.as_str()).collect();
    feeds.dedup();
    let threat = matches.iter().find_map(|m| m.threat.as_deref());
    let detail = match threat {
        Some(t) => format!("listed in {} ({t})", feeds.join(", ")),
        None => format!("listed in {}", feeds.join(", ")),
    };
    let mut o = SourceOpinion::new(SOURCE, Opinion::Malicious, strength, detail);
    o.link = matches.iter().find_map(|m| m.reference.clone());
    o
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ind(kind: IndicatorKind, v: &str) -> Indicator {
        Indicator {
            kind,
            value: v.into(),
            field: "t".into(),
            internal: false,
        }
    }

    fn feeds_of(set: &FeedSet, kind: IndicatorKind, v: &str) -> Vec<String> {
        let mut f: Vec<String> = set
            .lookup(&ind(kind, v))
            .into_iter()
            .map(|m| m.feed)
            .collect();
        f.sort();
        f
    }

    #[test]
    fn every_format_loads_and_matches() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intel/feeds");
        let (set, errors) = FeedSet::load(&[dir]);
        assert!(errors.is_empty(), "{errors:?}");
        use IndicatorKind as K;
        let cases: &[(K, &str, &[&str])] = &[
            (K::Ipv4, "203.0.113.10", &["feodo"]),
            (K::Ipv4, "203.0.113.12", &["feodo"]),
            (K::Url, "http://203.0.113.10:8080/bins/a.exe", &["urlhaus"]),
            (K::Domain, "c2.test-threat.com", &["threatfox"]),
            (K::Ipv4, "203.0.113.13", &["threatfox"]),
            (
                K::Sha256,
                "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
                &["threatfox"],
            ),
            (K::Md5, "098f6bcd4621d373cade4e832627b4f6", &["bazaar"]),
            (
                K::Sha1,
                "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
                &["bazaar"],
            ),
            (K::Ipv4, "192.0.2.77", &["drop"]),
            (K::Ipv4, "198.51.100.130", &["drop_v4"]),
            (K::Ipv4, "203.0.113.14", &["plain"]),
            (K::Url, "http://bad-site.com/login.php", &["plain"]),
            (K::Email, "victim-lure@bad-site.com", &["plain"]),
            (K::Domain, "misp-c2.com", &["misp_feed"]),
            (K::Ipv4, "203.0.113.15", &["misp_feed"]),
            (
                K::Sha1,
                "a94a8fe5ccb19ba61c4c0873d391e987982fbbd4",
                &["misp_feed"],
            ),
            (K::Domain, "stix-c2.com", &["stix"]),
            (K::Url, "http://stix-c2.com/x", &["stix"]),
            (K::Email, "stix-sender@stix-c2.com", &["stix"]),
            (K::Ipv4, "198.51.100.200", &["stix"]),
        ];
        for (k, v, want) in cases {
            assert_eq!(feeds_of(&set, *k, v), *want, "{v}");
        }
        // to_ids = false, unsupported and expired STIX patterns, and plain-list traps: absent
        for (k, v) in [
            (K::Ipv4, "203.0.113.16"),
            (K::Ipv4, "203.0.113.99"),
            (K::Domain, "expired-c2.com"),
            (K::Ipv4, "10.0.0.5"),
            (K::Domain, "readme.md"),
            (K::Ipv4, "0.9.8.1"),
            (K::Ipv4, "198.51.100.20"),
        ] {
            assert!(feeds_of(&set, k, v).is_empty(), "{v}");
        }
        let m = &set.lookup(&ind(K::Ipv4, "203.0.113.13"))[0];
        assert_eq!(m.threat.as_deref(), Some("TestLoader"));
        assert_eq!(m.confidence, Some(100));
        assert_eq!(m.reference.as_deref(), Some("https://example.org/r"));
        let m = &set.lookup(&ind(K::Ipv4, "192.0.2.77"))[0];
        assert_eq!(m.indicator, "192.0.2.0/25");
        assert_eq!(m.reference.as_deref(), Some("SBL000010"));
        assert!(set.skipped >= 6, "{}", set.skipped);
    }

    #[test]
    fn the_shared_reference_feeds_load_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/feeds");
        if !dir.is_dir() {
            return;
        }
        let (set, errors) = FeedSet::load(&[dir]);
        assert!(errors.is_empty(), "{errors:?}");
        use IndicatorKind as K;
        let ip = feeds_of(&set, K::Ipv4, "203.0.113.66");
        for f in [
            "et_compromised-ips",
            "feodo_ipblocklist",
            "misp",
            "plain_iocs",
            "spamhaus_drop",
            "spamhaus_drop_v4",
            "threatfox_export_recent",
        ] {
            assert!(ip.iter().any(|x| x == f), "{f} in {ip:?}");
        }
        let sha = "9c67ca220fed18a37b3ac62fe307b26c783cb1ff2c8e31c82026df1adf9e9037";
        assert!(feeds_of(&set, K::Sha256, sha).contains(&"malwarebazaar_csv_recent".to_owned()));
        assert!(!feeds_of(&set, K::Domain, "malware-c2.example.net").is_empty());
        assert!(!feeds_of(&set, K::Email, "phish-sender@example.net").is_empty());
        assert!(feeds_of(&set, K::Ipv4, "10.0.0.5").is_empty());
        assert!(feeds_of(&set, K::Domain, "readme.md").is_empty());
        // the bundle's indicators carry valid_until 2024-08-30: expired, skipped
        assert!(set.sizes().any(|(f, n)| f == "stix21_bundle" && n == 0));
    }

    #[test]
    fn a_changed_feed_file_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("list.txt");
        std::fs::write(&file, "203.0.113.1\n").unwrap();
        let metrics = Arc::new(crate::metrics::Metrics::new().unwrap());
        let slot: FeedSlot = Arc::default();
        reload(&[dir.path().to_owned()], &slot, &metrics);
        let _w = watch(vec![dir.path().to_owned()], slot.clone(), metrics.clone()).unwrap();
        let probe = ind(IndicatorKind::Ipv4, "203.0.113.2");
        assert!(current(&slot).lookup(&probe).is_empty());
        std::fs::write(&file, "203.0.113.1\n203.0.113.2\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while current(&slot).lookup(&probe).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(current(&slot).lookup(&probe).len(), 1);
        assert!(
            metrics
                .intel
                .feed_reloads
                .with_label_values(&[crate::metrics::intel::feed_reload::OK])
                .get()
                >= 2
        );
    }
}
