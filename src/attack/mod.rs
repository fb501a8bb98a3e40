//! MITRE ATT&CK Enterprise: a compact table of every tactic and technique, compiled in.
//!
//! `tactics.tsv` and `techniques.tsv` are generated from the official STIX bundle by
//! `generate.py` (ids, names and tactic membership only). Sigma rules tag techniques as
//! `attack.t1059.001` and tactics as `attack.execution`; [`from_tags`] turns a rule's tags into
//! technique references with their tactics.
//!
//! Attribution ([`of_rule`]) is the rule's tags plus the reviewed override table
//! `rules/mappings/attack-overrides.yml` (compiled in): rule id → techniques, with a reason each,
//! for third-party rules that carry no technique or only a parent one where the behaviour is
//! specific. Verdicts, `rules coverage` and dataset scoring all attribute through it.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tactic {
    pub id: &'static str,
    /// Short name as in ATT&CK, e.g. `credential-access`.
    pub shortname: &'static str,
    pub name: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: &'static str,
    pub name: &'static str,
    /// Tactic short names.
    pub tactics: Vec<&'static str>,
}

struct Tables {
    tactics: Vec<Tactic>,
    techniques: HashMap<&'static str, Technique>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let rows = |text: &'static str| {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split('\t').collect::<Vec<_>>())
    };
    let tactics = rows(include_str!("tactics.tsv"))
        .filter(|r| r.len() == 3)
        .map(|r| Tactic {
            id: r[0],
            shortname: r[1],
            name: r[2],
        })
        .collect();
    let techniques = rows(include_str!("techniques.tsv"))
        .filter(|r| r.len() >= 2)
        .map(|r| {
            let tactics = r
                .get(2)
                .map(|t| t.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            (
                r[0],
                Technique {
                    id: r[0],
                    name: r[1],
                    tactics,
                },
            )
        })
        .collect();
    Tables {
        tactics,
        techniques,
    }
});

/// A technique by id (`T1059.001`, case-insensitive).
pub fn technique(id: &str) -> Option<&'static Technique> {
    TABLES.techniques.get(id.to_ascii_uppercase().as_str())
}

/// Every technique and sub-technique, in id order.
pub fn techniques() -> impl Iterator<Item = &'static Technique> {
    static SORTED: LazyLock<Vec<&'static Technique>> = LazyLock::new(|| {
        let mut v: Vec<&'static Technique> = TABLES.techniques.values().collect();
        v.sort_by_key(|t| t.id);
        v
    });
    SORTED.iter().copied()
}

/// Every tactic, in ATT&CK id order.
pub fn tactics() -> &'static [Tactic] {
    &TABLES.tactics
}

/// A tactic by short name (`credential-access` or Sigma's `credential_access`).
pub fn tactic(shortname: &str) -> Option<&'static Tactic> {
    let wanted = shortname.replace('_', "-").to_ascii_lowercase();
    TABLES.tactics.iter().find(|t| t.shortname == wanted)
}

/// The techniques named by Sigma-style tags (`attack.t1003.001`), and the tactics named by tags
/// (`attack.credential_access`), in tag order without duplicates.
pub fn from_tags<'a>(
    tags: impl IntoIterator<Item = &'a str>,
) -> (Vec<&'static Technique>, Vec<&'static Tactic>) {
    let mut techniques: Vec<&'static Technique> = Vec::new();
    let mut tactics: Vec<&'static Tactic> = Vec::new();
    for tag in tags {
        let Some(rest) = tag.strip_prefix("attack.") else {
            continue;
        };
        if let Some(t) = technique(rest) {
            if !techniques.iter().any(|x| x.id == t.id) {
                techniques.push(t);
            }
        } else if let Some(t) = tactic(rest)
            && !tactics.iter().any(|x| x.id == t.id)
        {
            tactics.push(t);
        }
    }
    (techniques, tactics)
}

/// One reviewed attribution: a rule's techniques beyond its own tags.
#[derive(Debug)]
pub struct Override {
    pub techniques: Vec<&'static Technique>,
    pub reason: String,
}

static OVERRIDES: LazyLock<HashMap<String, Override>> =
    LazyLock::new(|| parse_overrides(include_str!("../../rules/mappings/attack-overrides.yml")));

/// Parses the override table; entries naming no known technique are dropped (the table's own
/// test checks that none is).
fn parse_overrides(text: &str) -> HashMap<String, Override> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).unwrap_or_default();
    let mut out = HashMap::new();
    let Some(rows) = docs.first().and_then(|d| d["overrides"].as_vec()) else {
        return out;
    };
    for row in rows {
        let Some(rule) = row["rule"].as_str() else {
            continue;
        };
        let techniques: Vec<&'static Technique> = row["techniques"]
            .as_vec()
            .map(|v| {
                v.iter()
                    .filter_map(|t| t.as_str().and_then(technique))
                    .collect()
            })
            .unwrap_or_default();
        if techniques.is_empty() {
            continue;
        }
        out.insert(
            rule.to_owned(),
            Override {
                techniques,
                reason: row["reason"].as_str().unwrap_or_default().to_owned(),
            },
        );
    }
    out
}

/// The reviewed override for a rule id, if any.
pub fn override_for(rule_id: &str) -> Option<&'static Override> {
    OVERRIDES.get(rule_id)
}

/// A rule's ATT&CK attribution: its tags, then the techniques the override table adds.
pub fn of_rule<'a>(
    rule_id: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> (Vec<&'static Technique>, Vec<&'static Tactic>) {
    let (mut techniques, tactics) = from_tags(tags);
    if let Some(o) = override_for(rule_id) {
        for t in &o.techniques {
            if !techniques.iter().any(|x| x.id == t.id) {
                techniques.push(t);
            }
        }
    }
    (techniques, tactics)
}

/// Whether a detection attributed `fired` counts for behaviour labelled `labelled`: the same
/// technique, its parent (a rule tagged `T1003` for an `T1003.001` label), or one of its
/// sub-techniques (a rule more specific than the label).
pub fn attributes_to(fired: &str, labelled: &str) -> bool {
    let parent = |id: &str| id.split('.').next().unwrap_or(id).to_ascii_uppercase();
    let (f, l) = (fired.to_ascii_uppercase(), labelled.to_ascii_uppercase());
    f == l || (!f.contains('.') && f == parent(&l)) || (!l.contains('.') && parent(&f) == l)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        assert_eq!(tactics().len(), 14);
        assert!(TABLES.techniques.len() > 600);
        let t = technique("t1003.001").unwrap();
        assert_eq!(t.name, "LSASS Memory");
        assert_eq!(t.tactics, vec!["credential-access"]);
    }

    #[test]
    fn tags_resolve() {
        let (techs, tacs) = from_tags([
            "attack.credential_access",
            "attack.t1003.001",
            "attack.t1003.001",
            "cve.2021",
        ]);
        assert_eq!(techs.len(), 1);
        assert_eq!(tacs[0].id, "TA0006");
    }

    #[test]
    fn override_table_names_known_techniques_with_reasons() {
        let text = include_str!("../../rules/mappings/attack-overrides.yml");
        let docs = yaml_rust2::YamlLoader::load_from_str(text).unwrap();
        let rows = docs[0]["overrides"].as_vec().unwrap();
        assert!(!rows.is_empty());
        for row in rows {
            let id = row["rule"].as_str().unwrap();
            let o = override_for(id).unwrap_or_else(|| panic!("{id}: no known technique"));
            let named = row["techniques"].as_vec().unwrap().len();
            assert_eq!(o.techniques.len(), named, "{id}: an unknown technique id");
            assert!(o.reason.len() > 20, "{id}: a reason is required");
        }
    }

    #[test]
    fn attribution_merges_tags_and_overrides() {
        let (techs, _) = of_rule("no-such-rule", ["attack.t1059.001"]);
        assert_eq!(techs.len(), 1);
        let text = "overrides:\n  - rule: r1\n    techniques: [T1562.002, T9999]\n    reason: x\n";
        let table = parse_overrides(text);
        assert_eq!(table["r1"].techniques.len(), 1);
    }

    #[test]
    fn parents_and_children_attribute() {
        assert!(attributes_to("T1003.001", "t1003.001"));
        assert!(attributes_to("T1003", "T1003.001"));
        assert!(attributes_to("T1003.002", "T1003"));
        assert!(!attributes_to("T1003.002", "T1003.001"));
        assert!(!attributes_to("T1059", "T1003"));
    }
}
