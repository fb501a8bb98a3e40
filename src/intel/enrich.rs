//! The enrichment facade: [`Enricher::profile`] answers from the cache and the offline feeds
//! and fans out to the providers for the rest; [`Enricher::submit`] queues an indicator for
//! background enrichment without ever blocking (a full queue drops and counts), the profiles
//! arriving on the receiver returned at construction.
//!
//! One lookup per indicator at a time: concurrent requests for the same indicator share one
//! fan-out. Internal indicators are matched against the offline feeds only, never sent out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore, mpsc};

use super::consensus::{self, Weights};
use super::extract::ExtractSettings;
use super::fanout::{Fanout, Limits, Rate, Slot};
use super::feeds::{self, FeedSlot};
use super::lookout::Lookout;
use super::providers::{Provider, ProviderKind};
use super::settings::IntelConfig;
use super::{Indicator, IndicatorKind, Profile, SourceOpinion};
use crate::base::Secret;
use crate::flow::retry::{Backoff, Jitter};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Why the enricher could not start.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("intel cache: {0}")]
    Store(#[from] StoreError),
    #[error("intel http client: {0}")]
    Client(String),
}

type Key = (IndicatorKind, String);

struct Inner {
    lookout: Lookout,
    fanout: Fanout,
    cache: Option<super::cache::Cache>,
    weights: Weights,
    inflight: Mutex<HashMap<Key, Arc<OnceCell<Profile>>>>,
    queue: mpsc::Sender<Indicator>,
    metrics: Arc<Metrics>,
}

/// Extraction, feed matching and enrichment behind one cheap-to-clone handle.
#[derive(Clone)]
pub struct Enricher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field(
                "providers",
                &self
                    .inner
                    .fanout
                    .slots
                    .iter()
                    .map(|s| s.provider.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The key of a provider: `api_key`, else the variable `api_key_env` (or the provider's
/// default variable) names, looked up with `env`.
fn provider_key(
    kind: ProviderKind,
    c: Option<&super::settings::ProviderConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Secret> {
    if let Some(k) = c.and_then(|c| c.api_key.clone()).filter(|k| !k.is_empty()) {
        return Some(k);
    }
    let var = c
        .and_then(|c| c.api_key_env.clone())
        .unwrap_or_else(|| kind.defaults().key_env.to_owned());
    if var.is_empty() {
        return None;
    }
    env(&var).filter(|v| !v.is_empty()).map(Secret::new)
}

/// The configured providers: keyed ones when a key is available (or explicitly disabled),
/// keyless InternetDB only when enabled.
pub fn providers(
    config: &IntelConfig,
    client: &reqwest::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Slot> {
    let mut out = Vec::new();
    for kind in ProviderKind::ALL {
        let d = kind.defaults();
        let c = config.providers.get(kind.name());
        let key = provider_key(kind, c, env);
        let enabled = c
            .and_then(|c| c.enabled)
            .unwrap_or(d.needs_key && key.is_some());
        if !enabled || (d.needs_key && key.is_none()) {
            if enabled {
                tracing::warn!(
                    provider = kind.name(),
                    "intel provider enabled but has no API key; skipped"
                );
            }
            continue;
        }
        let base = c.and_then(|c| c.base_url.as_deref()).unwrap_or(d.base_url);
        let rate = Rate {
            per_minute: c
                .and_then(|c| c.requests_per_minute)
                .unwrap_or(d.requests_per_minute),
            burst: c.and_then(|c| c.burst).unwrap_or(d.burst),
            daily_quota: c.and_then(|c| c.daily_quota).unwrap_or(d.daily_quota),
        };
        out.push(Slot::new(
            Provider::new(kind, client.clone(), base, key.unwrap_or_default()),
            rate,
        ));
    }
    out
}

impl Enricher {
    /// Builds the enricher and starts its background worker (call inside a Tokio runtime).
    /// `store` holds the cache (`None`: no cache); `feeds` is the current offline feed set.
    /// Keys are read from the configuration or the process environment.
    pub fn new(
        config: &IntelConfig,
        store: Option<&Store>,
        feeds: FeedSlot,
        metrics: Arc<Metrics>,
    ) -> Result<(Enricher, mpsc::Receiver<Profile>), IntelError> {
        Self::with_env(config, store, feeds, metrics, &|v| std::env::var(v).ok())
    }

    /// [`Enricher::new`] with the environment given (tests).
    pub fn with_env(
        config: &IntelConfig,
        store: Option<&Store>,
        feeds: FeedSlot,
        metrics: Arc<Metrics>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Enricher, mpsc::Receiver<Profile>), IntelError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .user_agent(concat!("nightwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IntelError::Client(e.to_string()))?;
        let limits = Limits {
            max_concurrency: config.max_concurrency,
            timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            backoff: Backoff::new(
                Duration::from_millis(config.retry_backoff_ms),
                Duration::from_millis(config.retry_backoff_max_ms),
            )
            .max_doublings(16)
            .jitter(Jitter::UpperHalf)
            .hint_replaces(Duration::from_millis(config.retry_backoff_max_ms)),
            breaker_failures: config.breaker_failures.max(1),
            breaker_open: Duration::from_secs(config.breaker_open_secs),
            daily_budget: config.daily_budget,
        };
        let slots = providers(config, &client, env);
        let cache = match store {
            Some(s) => Some(super::cache::Cache::open(s, config.cache_ttl_secs)?),
            None => None,
        };
        let (queue, queued) = mpsc::channel(config.queue_capacity.max(1));
        let (profiles_tx, profiles) = mpsc::channel(config.queue_capacity.max(1));
        metrics.intel.register_provider(feeds::SOURCE);
        let inner = Arc::new(Inner {
            lookout: Lookout::new(ExtractSettings::from_config(config), feeds, metrics.clone()),
            fanout: Fanout::new(slots, limits, metrics.clone()),
            cache,
            weights: Weights::with_overrides(&config.weights),
            inflight: Mutex::new(HashMap::new()),
            queue,
            metrics,
        });
        let enricher = Enricher { inner };
        tokio::spawn(worker(
            enricher.clone(),
            queued,
            profiles_tx,
            config.max_concurrency.max(1) * 4,
        ));
        Ok((enricher, profiles))
    }

    /// The names of the active external providers.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.inner
            .fanout
            .slots
            .iter()
            .map(|s| s.provider.name())
            .collect()
    }

    pub fn extract_settings(&self) -> &ExtractSettings {
        self.inner.lookout.extract_settings()
    }

    /// Extraction and offline feed matching, for the detect stage.
    pub fn lookout(&self) -> &Lookout {
        &self.inner.lookout
    }

    /// The profile of `ind`: offline feeds, then each applicable provider from the cache or by
    /// asking it. Concurrent calls for one indicator share one lookup.
    pub async fn profile(&self, ind: &Indicator) -> Profile {
        let key = (ind.kind, ind.value.clone());
        let cell = {
            let mut m = lock(&self.inner.inflight);
            m.entry(key.clone()).or_default().clone()
        };
        let profile = cell.get_or_init(|| self.compute(ind)).await.clone();
        let mut m = lock(&self.inner.inflight);
        if m.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            m.remove(&key);
        }
        profile
    }

    async fn compute(&self, ind: &Indicator) -> Profile {
        let inner = &self.inner;
        let mut sources = vec![feeds::opinion(&inner.lookout.feed_matches(ind))];
        if !ind.internal {
            let asks = inner
                .fanout
                .slots
                .iter()
                .filter(|s| s.provider.kind.supports(ind.kind))
                .map(|slot| self.ask_cached(slot, ind));
            sources.extend(futures_util::future::join_all(asks).await);
        }
        consensus::combine(&ind.value, ind.kind, sources, &inner.weights)
    }

    async fn ask_cached(&self, slot: &Slot, ind: &Indicator) -> SourceOpinion {
        let inner = &self.inner;
        let name = slot.provider.name();
        if let Some(cache) = &inner.cache {
            if let Some(o) = cache.get(name, ind) {
                inner
                    .metrics
                    .intel
                    .cache
                    .with_label_values(&[name, crate::metrics::intel::cache::HIT])
                    .inc();
                return o;
            }
            inner
                .metrics
                .intel
                .cache
                .with_label_values(&[name, crate::metrics::intel::cache::MISS])
                .inc();
        }
        let o = inner.fanout.ask(slot, ind).await;
        if let Some(cache) = &inner.cache {
            cache.put(ind, &o);
        }
        o
    }

    /// Queues `ind` for background enrichment; never waits. Returns false when it was dropped
    /// (queue full, or the same indicator already being looked up).
    pub fn submit(&self, ind: Indicator) -> bool {
        let busy = lock(&self.inner.inflight).contains_key(&(ind.kind, ind.value.clone()));
        let reason = if busy {
            "in_flight"
        } else {
            match self.inner.queue.try_send(ind) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Full(_)) => "queue_full",
                Err(mpsc::error::TrySendError::Closed(_)) => "closed",
            }
        };
        self.inner
            .metrics
            .intel
            .dropped
            .with_label_values(&[reason])
            .inc();
        false
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes queued indicators and enriches up to `parallel` at once; stops when every
/// [`Enricher`] handle is gone or the profile receiver is dropped.
async fn worker(
    enricher: Enricher,
    mut queued: mpsc::Receiver<Indicator>,
    profiles: mpsc::Sender<Profile>,
    parallel: usize,
) {
    // Hold only a weak reference so dropping every handle ends the worker.
    let weak = Arc::downgrade(&enricher.inner);
    drop(enricher);
    let permits = Arc::new(Semaphore::new(parallel));
    loop {
        let Some(ind) = queued.recv().await else {
            return;
        };
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let e = Enricher { inner };
        let tx = profiles.clone();
        tokio::spawn(async move {
            let p = e.profile(&ind).await;
            drop(e);
            let _ = tx.send(p).await;
            drop(permit);
        });
        if profiles.is_closed() {
            return;
        }
    }
}

/// A started intel subsystem: the enricher, its profile stream, the feed slot and the feed
/// watcher (kept alive with this value).
pub struct Running {
    pub enricher: Enricher,
    /// Taken by whoever consumes background enrichment (the case stage).
    pub profiles: Option<mpsc::Receiver<Profile>>,
    pub feeds: FeedSlot,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Loads the offline feeds (watching them when `feeds_watch`), and builds the enricher with
/// the cache in `store`. Call inside a Tokio runtime.
pub fn start(
    config: &IntelConfig,
    store: Option<&Store>,
    metrics: Arc<Metrics>,
) -> Result<Running, IntelError> {
    let slot: FeedSlot = Arc::default();
    feeds::reload(&config.feeds, &slot, &metrics);
    let watcher = if config.feeds_watch && !config.feeds.is_empty() {
        match feeds::watch(config.feeds.clone(), slot.clone(), metrics.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "offline feeds not watched; changes need a restart");
                None
            }
        }
    } else {
        None
    };
    let (enricher, profiles) = Enricher::new(config, store, slot.clone(), metrics)?;
    Ok(Running {
        enricher,
        profiles: Some(profiles),
        feeds: slot,
        _watcher: watcher,
    })
}

/// True when at least one external provider would be active with `config` and the process
/// environment (the daemon opens the store for the cache only then).
pub fn has_external_providers(config: &IntelConfig) -> bool {
    // Only hands the providers a client to hold; this check sends no request.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    !providers(config, &client, &|v| std::env::var(v).ok()).is_empty()
}
