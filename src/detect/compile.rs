//! Compiles a rule's `detection` (or a filter's `filter`) section into a [`CompiledDetection`]:
//! search identifiers become [`Selection`]s (OR over alternatives, each an AND of
//! [`FieldItem`]s) and the condition becomes a [`Cond`] over selection indices.
//!
//! Maps are AND, lists are OR, lists of maps are OR of ANDs, plain strings in a list are
//! keyword searches (substring over every string value of the event); a `'|all'` key makes a
//! keyword list AND. Field names are resolved once to interned field ids with their aliases.

use std::collections::HashMap;

use yaml_rust2::Yaml;

use super::condition::{self, Cond};
use super::logsource::{Aliases, FieldTable, KEYWORDS, RuleSource};
use super::matcher::{Matcher, StrSet};
use super::value::{Modifier, Scalar, compile_values};

/// One `field|modifiers: values` test.
#[derive(Debug)]
pub(crate) struct FieldItem {
    pub field: u32,
    pub matchers: Vec<Matcher>,
    /// AND over value groups instead of OR over matchers.
    pub all: bool,
    /// Per rule value: its range in `matchers` (one value may expand to several matchers).
    pub groups: Vec<(u32, u32)>,
    /// Negate the item's result (`neq`).
    pub neq: bool,
    /// For large OR-lists: the case-insensitive string matchers as one set, plus the rest.
    pub fast: Option<(StrSet, Vec<Matcher>)>,
}

/// Lists at least this long get a [`StrSet`].
const SET_THRESHOLD: usize = 8;

fn fast_list(matchers: &[Matcher], all: bool) -> Option<(StrSet, Vec<Matcher>)> {
    if all || matchers.len() < SET_THRESHOLD {
        return None;
    }
    let mut strs = Vec::new();
    let mut rest = Vec::new();
    for m in matchers {
        match m {
            Matcher::Str(p) if !p.cased && !p.text.is_empty() => strs.push(p),
            other => rest.push(other.clone()),
        }
    }
    if strs.len() < SET_THRESHOLD {
        return None;
    }
    Some((StrSet::build(&strs)?, rest))
}

/// A search identifier: OR over alternatives, each alternative an AND of items.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub alts: Vec<Vec<FieldItem>>,
}

/// A compiled detection section.
#[derive(Debug)]
pub(crate) struct CompiledDetection {
    /// Search identifier names, parallel to `selections` (kept for diagnostics).
    #[allow(dead_code)]
    pub names: Vec<String>,
    pub selections: Vec<Selection>,
    pub cond: Cond,
}

impl CompiledDetection {
    /// Every field id the detection reads (with `KEYWORDS` for keyword searches), sorted
    /// and without duplicates.
    pub(crate) fn field_ids(&self) -> Box<[u32]> {
        let mut ids: Vec<u32> = self
            .selections
            .iter()
            .flat_map(|s| s.alts.iter().flatten())
            .map(|item| item.field)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_boxed_slice()
    }
}

/// What compiling a detection needs from the loader.
pub(crate) struct CompileCtx<'a> {
    pub fields: &'a mut FieldTable,
    pub aliases: &'a Aliases,
    pub source: &'a RuleSource,
    pub placeholders: &'a HashMap<String, Vec<String>>,
}

impl CompileCtx<'_> {
    fn field_id(&mut self, name: &str) -> u32 {
        let cands = self.aliases.resolve(self.source, name);
        self.fields.intern(cands)
    }
}

pub(crate) fn scalar(y: &Yaml) -> Option<Scalar> {
    Some(match y {
        Yaml::String(s) => Scalar::Str(s.clone()),
        Yaml::Integer(i) => Scalar::Int(*i),
        Yaml::Real(r) => Scalar::Real(r.clone()),
        Yaml::Boolean(b) => Scalar::Bool(*b),
        Yaml::Null => Scalar::Null,
        _ => return None,
    })
}

fn key_str(k: &Yaml) -> Option<String> {
    match k {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

fn compile_item(key: &str, value: &Yaml, ctx: &mut CompileCtx<'_>) -> Result<FieldItem, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("").trim();
    let mut mods = Vec::new();
    for m in parts {
        mods.push(Modifier::parse(m).ok_or_else(|| format!("unknown modifier '{m}' in '{key}'"))?);
    }
    let values: Vec<Scalar> = match value {
        Yaml::Array(a) => a
            .iter()
            .map(|y| {
                scalar(y).ok_or_else(|| format!("'{key}': nested structures are not valid values"))
            })
            .collect::<Result<_, _>>()?,
        y => vec![scalar(y).ok_or_else(|| format!("'{key}': a map is not a valid value"))?],
    };
    if values.is_empty() {
        return Err(format!("'{key}': empty value list"));
    }
    let field_id = if field.is_empty() {
        let typed = mods.iter().any(|m| {
            matches!(
                m,
                Modifier::Contains
                    | Modifier::StartsWith
                    | Modifier::EndsWith
                    | Modifier::Re
                    | Modifier::Cidr
            )
        });
        if !typed {
            mods.insert(0, Modifier::Contains);
        }
        KEYWORDS
    } else {
        ctx.field_id(field)
    };
    let placeholders = ctx.placeholders;
    let mut resolve = |name: &str| ctx.field_id(name);
    let cv = compile_values(&mods, &values, placeholders, &mut resolve)
        .map_err(|e| format!("'{key}': {e}"))?;
    let fast = fast_list(&cv.matchers, cv.all);
    Ok(FieldItem {
        field: field_id,
        matchers: cv.matchers,
        groups: cv.groups,
        all: cv.all,
        neq: cv.neq,
        fast,
    })
}

fn compile_map(
    map: &yaml_rust2::yaml::Hash,
    ctx: &mut CompileCtx<'_>,
) -> Result<Vec<FieldItem>, String> {
    let mut items = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = key_str(k).ok_or("selection key must be a string")?;
        items.push(compile_item(&key, v, ctx)?);
    }
    Ok(items)
}

fn compile_selection(name: &str, y: &Yaml, ctx: &mut CompileCtx<'_>) -> Result<Selection, String> {
    let mut sel = Selection::default();
    match y {
        Yaml::Hash(h) => sel.alts.push(compile_map(h, ctx)?),
        Yaml::Array(a) => {
            let mut keywords = Vec::new();
            for el in a {
                match el {
                    Yaml::Hash(h) => sel.alts.push(compile_map(h, ctx)?),
                    Yaml::Array(_) => {
                        return Err(format!("selection '{name}': nested lists are not allowed"));
                    }
                    other => keywords.push(other.clone()),
                }
            }
            if !keywords.is_empty() {
                let item = compile_item("", &Yaml::Array(keywords), ctx)
                    .map_err(|e| format!("selection '{name}': {e}"))?;
                sel.alts.push(vec![item]);
            }
        }
        Yaml::Null => return Err(format!("selection '{name}' is empty")),
        other => {
            let item =
                compile_item("", other, ctx).map_err(|e| format!("selection '{name}': {e}"))?;
            sel.alts.push(vec![item]);
        }
    }
    if sel.alts.is_empty() {
        return Err(format!("selection '{name}' is empty"));
    }
    Ok(sel)
}

/// Compiles a detection-like section; keys in `skip` (e.g. a filter's `rules`) are ignored.
pub(crate) fn compile_detection(
    det: &Yaml,
    ctx: &mut CompileCtx<'_>,
    skip: &[&str],
) -> Result<CompiledDetection, String> {
    let Yaml::Hash(h) = det else {
        return Err("detection must be a map".into());
    };
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut cond_src: Option<&Yaml> = None;
    for (k, v) in h {
        let Some(key) = key_str(k) else {
            return Err("detection keys must be strings".into());
        };
        if key == "condition" {
            cond_src = Some(v);
            continue;
        }
        if key == "timeframe" || skip.contains(&key.as_str()) {
            continue;
        }
        selections.push(compile_selection(&key, v, ctx)?);
        names.push(key);
    }
    let cond = match cond_src {
        None => return Err("detection has no condition".into()),
        Some(Yaml::String(s)) => condition::parse(s, &names)?,
        Some(Yaml::Array(a)) => {
            let mut alts = Vec::new();
            for c in a {
                let s = c.as_str().ok_or("condition list entries must be strings")?;
                alts.push(condition::parse(s, &names)?);
            }
            if alts.is_empty() {
                return Err("empty condition list".into());
            }
            if alts.len() == 1 {
                alts.remove(0)
            } else {
                Cond::Or(alts)
            }
        }
        Some(_) => return Err("condition must be a string or a list of strings".into()),
    };
    Ok(CompiledDetection {
        names,
        selections,
        cond,
    })
}
