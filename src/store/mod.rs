//! The embedded store: one sled database under `<state.dir>/db`, shared by every component that
//! must remember something across restarts (case history, the enrichment cache, LLM summaries).
//!
//! Each component owns named trees in the one database; [`Store`] is cheap to clone (sled's
//! handles are reference counted) and is opened once by the daemon or a CLI command. sled takes
//! an exclusive lock on the directory, so a second process gets [`StoreError::Open`] naming it.
//!
//! **Memory.** sled keeps the pages it reads and writes in its own page cache up to a capacity
//! (its default is 1 GiB, the whole of a typical container limit). The daemon passes
//! `state.cache_bytes`; CLI commands and tests use [`DEFAULT_CACHE_BYTES`]. The capacity is a
//! soft bound: sled weighs it per shard of pages, after some traffic, by each page's size in
//! its log; a page whose update exceeds ~128 KiB (a tree node holding large values, such as
//! verdict versions) is written as a separate blob and weighed as a pointer, so it stays
//! resident however small the cache. What holds large values must therefore bound them itself,
//! as the history does with `history.max_versions_per_case` (bench/README.md, "Memory soak").

use std::path::{Path, PathBuf};

/// sled page cache capacity unless configured (`state.cache_bytes`): 64 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Smallest accepted `state.cache_bytes` (1 MiB): below it sled re-reads pages it just wrote.
pub const MIN_CACHE_BYTES: u64 = 1024 * 1024;

/// The embedded database, opened once per process.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    cache_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the embedded store at {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("embedded store tree {tree}: {source}")]
    Tree { tree: String, source: sled::Error },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("cache_bytes", &self.cache_bytes)
            .finish()
    }
}

impl Store {
    /// Opens (creating when absent) the database in `<state_dir>/db` with the default cache.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(state_dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens the database in `<state_dir>/db` with a page cache of `cache_bytes`.
    pub fn open_with_cache(state_dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let path = state_dir.join("db");
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            db,
            path,
            cache_bytes,
        })
    }

    /// A store that lives in memory only (tests, `scan` without persistence).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(DEFAULT_CACHE_BYTES)
            .open()
            .map_err(|source| StoreError::Open {
                path: PathBuf::from("<temporary>"),
                source,
            })?;
        Ok(Self {
            db,
            path: PathBuf::from("<temporary>"),
            cache_bytes: DEFAULT_CACHE_BYTES,
        })
    }

    /// The page cache capacity the store was opened with.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_bytes
    }

    /// The named tree, created when absent.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(|source| StoreError::Tree {
            tree: name.to_owned(),
            source,
        })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes on disk, for the `nightwatch_store_size_bytes` gauge.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn trees_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.tree("t").unwrap().insert(b"k", b"v").unwrap();
            store.db().flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let got = store.tree("t").unwrap().get(b"k").unwrap();
        assert_eq!(got.as_deref(), Some(&b"v"[..]));
    }

    /// Resident bytes of this process.
    fn rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
            * 1024
    }

    /// Values written by the probe: 98,304 × 512 bytes = 48 MiB, small enough that sled keeps
    /// its pages inline (see the module doc on values over ~128 KiB per page).
    const PROBE_VALUES: u32 = 98_304;
    const PROBE_VALUE_BYTES: usize = 512;

    /// Run by `the_page_cache_is_bounded_by_its_capacity` in a process of its own (an RSS
    /// figure needs a process that runs nothing else): opens a store with the cache capacity
    /// in `NIGHTWATCH_CACHE_PROBE`, writes 48 MiB and prints its RSS growth.
    #[test]
    #[ignore = "helper, run in a child process by the_page_cache_is_bounded_by_its_capacity"]
    fn cache_probe() {
        let cache: u64 = std::env::var("NIGHTWATCH_CACHE_PROBE")
            .expect("run by the_page_cache_is_bounded_by_its_capacity")
            .parse()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_cache(dir.path(), cache).unwrap();
        let tree = store.tree("probe").unwrap();
        let before = rss();
        // Distinct, incompressible-looking values (a xorshift stream).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..PROBE_VALUES {
            let mut v = Vec::with_capacity(PROBE_VALUE_BYTES);
            while v.len() < PROBE_VALUE_BYTES {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(&x.to_le_bytes());
            }
            tree.insert(i.to_be_bytes(), v).unwrap();
        }
        store.db().flush().unwrap();
        let growth = rss().saturating_sub(before);
        // Checked after measuring: counting reads every page back in.
        assert_eq!(tree.len(), PROBE_VALUES as usize);
        println!("rss_growth_bytes={growth}");
    }

    fn probe(cache: u64) -> u64 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "store::tests::cache_probe", "--ignored"])
            .args(["--nocapture", "--test-threads", "1"])
            .env("NIGHTWATCH_CACHE_PROBE", cache.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe failed: {text}");
        // The harness prints the test's name on the same line, before the figure.
        text.split("rss_growth_bytes=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no figure in the probe's output: {text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn the_page_cache_is_bounded_by_its_capacity() {
        const MIB: u64 = 1024 * 1024;
        let data = u64::from(PROBE_VALUES) * PROBE_VALUE_BYTES as u64;
        // sled's own default (1 GiB): everything written stays cached.
        let unbounded = probe(1024 * MIB);
        // A 4 MiB cache: resident memory grows by far less than the data.
        let bounded = probe(4 * MIB);
        assert!(
            unbounded >= data * 3 / 4,
            "with a 1 GiB cache the probe should hold most of its {data} bytes: grew {unbounded}"
        );
        assert!(
            bounded <= data / 2 && bounded * 2 <= unbounded,
            "a 4 MiB cache grew RSS by {bounded} bytes over {data} bytes of data (1 GiB cache: {unbounded})"
        );
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("db"), "{err}");
    }
}
