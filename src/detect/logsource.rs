//! Logsource routing and field-name resolution.
//!
//! * [`RuleSource`] decides whether a rule's logsource can apply to an event's: unclassified
//!   events (no product, category or service known) reach every rule; otherwise each of
//!   product/category/service the rule names must equal the event's (ASCII case-insensitive),
//!   with the `registry_event` family. An event that knows only its category (a web access log
//!   line, `category: webserver`) therefore never meets rules of a product it is not.
//! * [`FieldTable`] interns every field a rule set refers to as the ordered list of event paths
//!   to try (the Sigma name, then its aliases from `rules/mappings/fields.yml`), split into
//!   segments once, so evaluation never parses a field name.

use std::collections::HashMap;
use std::sync::OnceLock;

use yaml_rust2::{Yaml, YamlLoader};

use super::index::FastHash;
use crate::event::LogSource;

/// The rule side of logsource routing, lower-cased once.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleSource {
    pub product: Option<Box<str>>,
    pub category: Option<Box<str>>,
    pub service: Option<Box<str>>,
}

const REGISTRY_FAMILY: [&str; 5] = [
    "registry_event",
    "registry_add",
    "registry_delete",
    "registry_set",
    "registry_rename",
];

/// Whether a rule category covers an event category.
pub(crate) fn category_applies(rule: &str, event: &str) -> bool {
    rule.eq_ignore_ascii_case(event)
        || (rule == "registry_event"
            && REGISTRY_FAMILY
                .iter()
                .any(|c| c.eq_ignore_ascii_case(event)))
}

impl RuleSource {
    pub(crate) fn from_logsource(ls: &LogSource) -> Self {
        let low = |s: &Option<std::sync::Arc<str>>| {
            s.as_deref()
                .map(|s| s.to_ascii_lowercase().into_boxed_str())
        };
        Self {
            product: low(&ls.product),
            category: low(&ls.category),
            service: low(&ls.service),
        }
    }

    /// Whether a rule with this logsource may apply to an event with `ev`.
    pub(crate) fn applies(&self, ev: &LogSource) -> bool {
        if !ev.is_known() {
            return true;
        }
        if let Some(p) = &self.product {
            match ev.product.as_deref() {
                Some(ep) if p.eq_ignore_ascii_case(ep) => {}
                _ => return false,
            }
        }
        if let Some(c) = &self.category {
            match ev.category.as_deref() {
                Some(ec) if category_applies(c, ec) => {}
                _ => return false,
            }
        }
        if let Some(s) = &self.service {
            match ev.service.as_deref() {
                Some(es) if s.eq_ignore_ascii_case(es) => {}
                _ => return false,
            }
        }
        true
    }
}

/// One event path: the full (possibly dotted) name and its pre-split segments.
#[derive(Clone, Debug)]
pub(crate) struct FieldPath {
    pub full: Box<str>,
    pub segs: Vec<Box<str>>,
}

/// Field id reserved for field-less keyword search (all string values of the event).
pub(crate) const KEYWORDS: u32 = 0;

/// Interned field specs: id → ordered candidate paths.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    pub specs: Vec<Vec<FieldPath>>,
    pub names: Vec<String>,
    map: HashMap<Vec<String>, u32>,
    /// Built on first use, once interning is over.
    keys: OnceLock<KeyTable>,
}

/// Event key name → the fields that read it, so an event's keys are resolved in one pass
/// (hashing each key once with a fast hash) instead of one map probe per field and path.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    /// Flat key → `(field id, position of the path in the field's spec)`.
    pub by_name: HashMap<Box<str>, Vec<(u32, u16)>, FastHash>,
    /// Per field: whether a path has several segments (may also resolve by nested descent).
    pub nested: Vec<bool>,
}

impl FieldTable {
    pub(crate) fn new() -> Self {
        Self {
            specs: vec![Vec::new()],
            names: vec!["<keywords>".into()],
            map: HashMap::new(),
            keys: OnceLock::new(),
        }
    }

    pub(crate) fn intern(&mut self, candidates: Vec<String>) -> u32 {
        if let Some(id) = self.map.get(&candidates) {
            return *id;
        }
        let id = self.specs.len() as u32;
        self.specs.push(
            candidates
                .iter()
                .map(|c| FieldPath {
                    full: c.as_str().into(),
                    segs: c.split('.').map(Box::from).collect(),
                })
                .collect(),
        );
        self.names
            .push(candidates.first().cloned().unwrap_or_default());
        self.map.insert(candidates, id);
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.specs.len()
    }

    /// The key table over all interned fields.
    pub(crate) fn keys(&self) -> &KeyTable {
        self.keys.get_or_init(|| {
            let mut by_name: HashMap<Box<str>, Vec<(u32, u16)>, FastHash> = HashMap::default();
            let mut nested = Vec::with_capacity(self.specs.len());
            for (id, spec) in self.specs.iter().enumerate() {
                for (pos, p) in spec.iter().enumerate().take(usize::from(u16::MAX)) {
                    by_name
                        .entry(p.full.clone())
                        .or_default()
                        .push((id as u32, pos as u16));
                }
                nested.push(spec.iter().any(|p| p.segs.len() >= 2));
            }
            KeyTable { by_name, nested }
        })
    }
}

/// Field aliases per category (`*` = all rules, `service:<name>` = by service).
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    by_scope: HashMap<String, HashMap<String, Vec<String>>>,
}

const FIELDS_YML: &str = include_str!("../../rules/mappings/fields.yml");

impl Aliases {
    fn parse(text: &str) -> Self {
        let mut by_scope: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        let docs = match YamlLoader::load_from_str(text) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "field alias mapping is not valid yaml; no aliases used");
                return Self::default();
            }
        };
        let Some(Yaml::Hash(top)) = docs.into_iter().next() else {
            return Self::default();
        };
        for (scope, fields) in top {
            let (Some(scope), Yaml::Hash(fields)) = (scope.as_str(), fields) else {
                continue;
            };
            let entry = by_scope.entry(scope.to_ascii_lowercase()).or_default();
            for (name, alts) in fields {
                let Some(name) = name.as_str() else { continue };
                let alts: Vec<String> = match alts {
                    Yaml::Array(a) => a
                        .iter()
                        .filter_map(|y| y.as_str().map(String::from))
                        .collect(),
                    Yaml::String(s) => vec![s],
                    _ => continue,
                };
                entry.entry(name.to_string()).or_default().extend(alts);
            }
        }
        Self { by_scope }
    }

    /// The built-in mapping from `rules/mappings/fields.yml`.
    pub(crate) fn builtin() -> &'static Aliases {
        static A: OnceLock<Aliases> = OnceLock::new();
        A.get_or_init(|| Aliases::parse(FIELDS_YML))
    }

    /// `[field, aliases...]` for a rule with this logsource.
    pub(crate) fn resolve(&self, src: &RuleSource, field: &str) -> Vec<String> {
        let mut out = vec![field.to_string()];
        let mut scopes: Vec<String> = Vec::with_capacity(3);
        if let Some(c) = &src.category {
            scopes.push(c.to_string());
        }
        if let Some(s) = &src.service {
            scopes.push(format!("service:{s}"));
        }
        scopes.push("*".into());
        for s in scopes {
            if let Some(alts) = self.by_scope.get(&s).and_then(|m| m.get(field)) {
                for a in alts {
                    if !out.contains(a) {
                        out.push(a.clone());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn routing_policy() {
        let rule = RuleSource::from_logsource(&LogSource::new(
            Some("windows"),
            Some("registry_event"),
            None,
        ));
        assert!(rule.applies(&LogSource::default()));
        assert!(rule.applies(&LogSource::new(
            Some("Windows"),
            Some("registry_set"),
            Some("sysmon")
        )));
        assert!(rule.applies(&LogSource::new(
            Some("windows"),
            Some("registry_event"),
            None
        )));
        assert!(!rule.applies(&LogSource::new(
            Some("windows"),
            Some("process_creation"),
            None
        )));
        assert!(!rule.applies(&LogSource::new(Some("linux"), Some("registry_set"), None)));
        assert!(!rule.applies(&LogSource::new(Some("windows"), None, None)));
        // Classified by category alone: a rule naming a product does not apply.
        let zeek = RuleSource::from_logsource(&LogSource::new(Some("zeek"), None, Some("rdp")));
        assert!(!zeek.applies(&LogSource::new(None, Some("webserver"), None)));
        let web = RuleSource::from_logsource(&LogSource::new(None, Some("webserver"), None));
        assert!(web.applies(&LogSource::new(None, Some("webserver"), None)));
        let svc =
            RuleSource::from_logsource(&LogSource::new(Some("windows"), None, Some("security")));
        assert!(svc.applies(&LogSource::new(
            Some("windows"),
            Some("process_creation"),
            Some("security")
        )));
        assert!(!svc.applies(&LogSource::new(
            Some("windows"),
            Some("process_creation"),
            Some("sysmon")
        )));
        let set = RuleSource::from_logsource(&LogSource::new(
            Some("windows"),
            Some("registry_set"),
            None,
        ));
        assert!(!set.applies(&LogSource::new(
            Some("windows"),
            Some("registry_event"),
            None
        )));
    }

    #[test]
    fn builtin_aliases() {
        let a = Aliases::builtin();
        let src = RuleSource::from_logsource(&LogSource::new(
            Some("windows"),
            Some("process_creation"),
            None,
        ));
        assert_eq!(
            a.resolve(&src, "Image"),
            vec!["Image".to_string(), "NewProcessName".to_string()]
        );
        assert_eq!(a.resolve(&src, "Foo"), vec!["Foo".to_string()]);
        let other =
            RuleSource::from_logsource(&LogSource::new(Some("windows"), Some("file_event"), None));
        assert_eq!(a.resolve(&other, "Image"), vec!["Image".to_string()]);
    }
}
