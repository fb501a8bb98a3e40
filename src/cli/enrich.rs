//! `nightwatch enrich VALUE...`: the threat-intel profile of each value, from the offline
//! feeds, the cache in the store under `state.dir`, and the configured providers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::BadInput;
use crate::config;
use crate::intel::{Indicator, Profile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnrichFormat {
    /// One profile JSON per line.
    Json,
    /// A table of tiers, scores and per-source opinions.
    Table,
}

pub fn enrich(
    config_path: Option<PathBuf>,
    format: EnrichFormat,
    values: &[String],
) -> anyhow::Result<ExitCode> {
    let config = config::load(config_path.as_deref())?;
    let problems = config.validate();
    super::init_logging(&config.log.level);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(BadInput(format!("invalid configuration:\n{}", list.join("\n"))).into());
    }
    let store =
        crate::store::Store::open_with_cache(&config.state.dir, config.state.cache_bytes)
            .with_context(|| format!("opening the store under {}", config.state.dir.display()))?;
    let metrics = Arc::new(crate::metrics::Metrics::new()?);
    let runtime = super::runtime()?;
    let profiles: Vec<Result<Profile, String>> = runtime.block_on(async {
        let mut intel = config.intel.clone();
        intel.feeds_watch = false;
        let running = crate::intel::start(&intel, Some(&store), metrics)?;
        let settings = running.enricher.extract_settings().clone();
        let mut out = Vec::new();
        for v in values {
            match Indicator::parse(v, &settings) {
                Some(ind) => out.push(Ok(running.enricher.profile(&ind).await)),
                None => out.push(Err(v.clone())),
            }
        }
        Ok::<_, crate::intel::enrich::IntelError>(out)
    })?;
    let _ = store.db().flush();
    let mut bad = Vec::new();
    for p in profiles {
        match p {
            Ok(p) => match format {
                EnrichFormat::Json => println!("{}", serde_json::to_string(&p)?),
                EnrichFormat::Table => print_table(&p),
            },
            Err(v) => bad.push(v),
        }
    }
    if bad.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(BadInput(format!("not an indicator: {}", bad.join(", "))).into())
    }
}

fn print_table(p: &Profile) {
    println!(
        "{} ({})  {}  score {}",
        p.indicator,
        p.kind,
        p.tier.as_str(),
        p.score
    );
    for s in &p.sources {
        println!(
            "  {:<14} {:<10} {:>4.2}  {}{}",
            s.source,
            s.opinion.as_str(),
            s.strength,
            s.detail,
            s.link
                .as_deref()
                .map(|l| format!("  <{l}>"))
                .unwrap_or_default()
        );
    }
}
