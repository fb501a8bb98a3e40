//! The embedded store: one sled database under `<state.dir>/db`, shared by every component that
//! must remember something across restarts (case history, the enrichment cache, LLM summaries).
//!
//! Each component owns named trees in the one database; [`Store`] is cheap to clone (sled's
//! handles are reference counted) and is opened once by the daemon or a CLI command. sled takes
//! an exclusive lock on the directory, so a second process gets [`StoreError::Open`] naming it.

use std::path::{Path, PathBuf};

/// The embedded database, opened once per process.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
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
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating when absent) the database in `<state_dir>/db`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join("db");
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self { db, path })
    }

    /// A store that lives in memory only (tests, `scan` without persistence).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|source| StoreError::Open {
                path: PathBuf::from("<temporary>"),
                source,
            })?;
        Ok(Self {
            db,
            path: PathBuf::from("<temporary>"),
        })
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

    #[test]
    fn a_second_open_of_the_same_dir_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("db"), "{err}");
    }
}
