//! MITRE ATT&CK Enterprise: a compact table of every tactic and technique, compiled in.
//!
//! `tactics.tsv` and `techniques.tsv` are generated from the official STIX bundle by
//! `generate.py` (ids, names and tactic membership only). Sigma rules tag techniques as
//! `attack.t1059.001` and tactics as `attack.execution`; [`from_tags`] turns a rule's tags into
//! technique references with their tactics.

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
}
