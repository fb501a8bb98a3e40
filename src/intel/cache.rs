//! The enrichment cache: each provider's opinion of each indicator, in the store's
//! `intel_cache` tree (so a restart keeps it), with a lifetime per outcome (malicious, benign,
//! unknown, error; suspicious counts as malicious).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::settings::CacheTtl;
use super::{Indicator, Opinion, SourceOpinion};
use crate::store::{Store, StoreError};

pub const TREE: &str = "intel_cache";

#[derive(Serialize, Deserialize)]
struct Stored {
    /// Unix seconds after which the entry is stale.
    expires: i64,
    opinion: SourceOpinion,
}

/// Cached opinions, keyed by provider, kind and value.
#[derive(Clone)]
pub struct Cache {
    tree: sled::Tree,
    ttl: CacheTtl,
}

fn key(source: &str, ind: &Indicator) -> Vec<u8> {
    format!("{source}\0{}\0{}", ind.kind.as_str(), ind.value).into_bytes()
}

impl Cache {
    pub fn open(store: &Store, ttl: CacheTtl) -> Result<Self, StoreError> {
        Ok(Self {
            tree: store.tree(TREE)?,
            ttl,
        })
    }

    /// The fresh cached opinion, if any (stale entries are removed).
    pub fn get(&self, source: &str, ind: &Indicator) -> Option<SourceOpinion> {
        let k = key(source, ind);
        let bytes = self.tree.get(&k).ok()??;
        match serde_json::from_slice::<Stored>(&bytes) {
            Ok(s) if s.expires > Utc::now().timestamp() => Some(s.opinion),
            _ => {
                let _ = self.tree.remove(&k);
                None
            }
        }
    }

    pub fn put(&self, ind: &Indicator, opinion: &SourceOpinion) {
        let ttl = match opinion.opinion {
            Opinion::Malicious | Opinion::Suspicious => self.ttl.malicious,
            Opinion::Benign => self.ttl.benign,
            Opinion::Unknown => self.ttl.unknown,
            Opinion::Error => self.ttl.error,
        };
        if ttl == 0 {
            return;
        }
        let stored = Stored {
            expires: Utc::now().timestamp() + ttl as i64,
            opinion: opinion.clone(),
        };
        match serde_json::to_vec(&stored) {
            Ok(v) => {
                if let Err(e) = self.tree.insert(key(&opinion.source, ind), v) {
                    tracing::warn!(error = %e, "intel cache write failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "intel cache encode failed"),
        }
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intel::IndicatorKind;

    fn ind() -> Indicator {
        Indicator {
            kind: IndicatorKind::Ipv4,
            value: "203.0.113.66".into(),
            field: "x".into(),
            internal: false,
        }
    }

    #[test]
    fn survives_reopen_and_expires_by_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = CacheTtl {
            malicious: 3600,
            benign: 3600,
            unknown: 3600,
            error: 0,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let c = Cache::open(&store, ttl).unwrap();
            c.put(
                &ind(),
                &SourceOpinion::new("virustotal", Opinion::Malicious, 0.9, "x"),
            );
            c.put(
                &ind(),
                &SourceOpinion::new("otx", Opinion::Error, 0.0, "down"),
            );
            store.db().flush().unwrap();
        }
        let store = crate::testutil::reopen_store(dir.path());
        let c = Cache::open(&store, ttl).unwrap();
        assert_eq!(
            c.get("virustotal", &ind()).unwrap().opinion,
            Opinion::Malicious
        );
        assert!(c.get("otx", &ind()).is_none(), "error ttl 0 is not cached");
        assert!(c.get("abuseipdb", &ind()).is_none());
    }
}
