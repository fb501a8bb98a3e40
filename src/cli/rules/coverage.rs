//! `rules coverage`: which ATT&CK techniques a rule set covers, per tactic of the project's
//! technique subset (`rules/attack-subset.yml`), and an ATT&CK Navigator layer for it.
//!
//! A rule covers a technique when one of its tags names the technique or one of its
//! sub-techniques (`attack.t1003.001` covers `T1003.001` and counts for `T1003`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use yaml_rust2::YamlLoader;

use crate::attack;
use crate::detect::RuleSet;

/// One technique of the subset.
#[derive(Debug, Clone, Serialize)]
pub struct SubsetTechnique {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    /// Rule ids the subset file lists for it.
    pub rules: Vec<String>,
}

/// Reads `attack-subset.yml`.
pub fn load_subset(path: &Path) -> Result<Vec<SubsetTechnique>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = docs
        .first()
        .and_then(|d| d["techniques"].as_vec())
        .ok_or_else(|| format!("{}: no `techniques` list", path.display()))?;
    let strs = |y: &yaml_rust2::Yaml| -> Vec<String> {
        y.as_vec()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(SubsetTechnique {
                id: t["id"]
                    .as_str()
                    .ok_or_else(|| format!("{}: techniques[{i}] has no id", path.display()))?
                    .to_owned(),
                name: t["name"].as_str().unwrap_or_default().to_owned(),
                tactics: strs(&t["tactics"]),
                rules: strs(&t["rules"]),
            })
        })
        .collect()
}

/// Technique id → titles of the rules tagging it (exactly).
pub fn techniques_of(rules: &RuleSet) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rules.rules() {
        let (techs, _) = attack::of_rule(&r.id, r.tags.iter().map(String::as_str));
        for t in techs {
            out.entry(t.id.to_owned())
                .or_default()
                .insert(r.title.clone());
        }
    }
    out
}

/// Rules covering `id`: tagged with it or with one of its sub-techniques.
fn covering<'a>(tagged: &'a BTreeMap<String, BTreeSet<String>>, id: &str) -> BTreeSet<&'a str> {
    let prefix = format!("{id}.");
    tagged
        .iter()
        .filter(|(t, _)| *t == id || t.starts_with(&prefix))
        .flat_map(|(_, titles)| titles.iter().map(String::as_str))
        .collect()
}

/// Per-tactic coverage of the subset.
#[derive(Debug, Serialize)]
pub struct TacticCoverage {
    pub tactic: String,
    pub name: String,
    pub techniques: usize,
    pub covered: usize,
    pub missing: Vec<String>,
}

/// The coverage report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub rules: usize,
    pub techniques_tagged: usize,
    pub subset_size: usize,
    pub subset_covered: usize,
    pub tactics: Vec<TacticCoverage>,
}

pub fn report(rules: &RuleSet, subset: &[SubsetTechnique]) -> Report {
    let tagged = techniques_of(rules);
    let covered: BTreeSet<&str> = subset
        .iter()
        .filter(|t| !covering(&tagged, &t.id).is_empty())
        .map(|t| t.id.as_str())
        .collect();
    let tactics = attack::tactics()
        .iter()
        .filter_map(|tac| {
            let in_tactic: Vec<&SubsetTechnique> = subset
                .iter()
                .filter(|t| t.tactics.iter().any(|x| x == tac.shortname))
                .collect();
            (!in_tactic.is_empty()).then(|| TacticCoverage {
                tactic: tac.shortname.to_owned(),
                name: tac.name.to_owned(),
                techniques: in_tactic.len(),
                covered: in_tactic
                    .iter()
                    .filter(|t| covered.contains(t.id.as_str()))
                    .count(),
                missing: in_tactic
                    .iter()
                    .filter(|t| !covered.contains(t.id.as_str()))
                    .map(|t| format!("{} {}", t.id, t.name))
                    .collect(),
            })
        })
        .collect();
    Report {
        rules: rules.len(),
        techniques_tagged: tagged.len(),
        subset_size: subset.len(),
        subset_covered: covered.len(),
        tactics,
    }
}

/// An ATT&CK Navigator layer (layer format 4.5, Navigator 5.x, ATT&CK 18): one entry per
/// (technique, tactic) the rules tag, scored by the number of rules, commented with their titles.
pub fn navigator_layer(rules: &RuleSet, name: &str) -> Value {
    let tagged = techniques_of(rules);
    let mut techniques = Vec::new();
    let mut max = 1usize;
    for (id, titles) in &tagged {
        let Some(t) = attack::technique(id) else {
            continue;
        };
        max = max.max(titles.len());
        let comment: Vec<&str> = titles.iter().map(String::as_str).collect();
        for tactic in &t.tactics {
            techniques.push(json!({
                "techniqueID": t.id,
                "tactic": tactic,
                "score": titles.len(),
                "color": "",
                "comment": comment.join("; "),
                "enabled": true,
                "metadata": [],
                "links": [],
                "showSubtechniques": false,
            }));
        }
    }
    json!({
        "name": name,
        "versions": {"attack": "18", "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": format!("{} rules tagging {} techniques (generated by nightwatch rules coverage)", rules.len(), tagged.len()),
        "filters": {"platforms": ["Windows", "Linux", "macOS", "Network Devices", "IaaS", "Identity Provider", "Office Suite", "SaaS", "Containers", "ESXi"]},
        "sorting": 3,
        "layout": {"layout": "side", "aggregateFunction": "average", "showID": true, "showName": true, "showAggregateScores": false, "countUnscored": false, "expandedSubtechniques": "annotated"},
        "hideDisabled": false,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766ff", "#8ec843ff"], "minValue": 0, "maxValue": max},
        "legendItems": [],
        "metadata": [],
        "links": [],
        "showTacticRowBackground": false,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
        "selectVisibleTechniques": false,
    })
}

/// Structural checks of a Navigator layer (what the Navigator needs to load it); the problems.
pub fn layer_problems(layer: &Value) -> Vec<String> {
    let mut p = Vec::new();
    for k in ["name", "domain"] {
        if !layer[k].is_string() {
            p.push(format!("`{k}` must be a string"));
        }
    }
    if layer["domain"] != "enterprise-attack" {
        p.push("`domain` must be enterprise-attack".into());
    }
    if layer["versions"]["layer"] != "4.5" || !layer["versions"]["attack"].is_string() {
        p.push("`versions` must name layer 4.5 and an attack version".into());
    }
    let Some(techs) = layer["techniques"].as_array() else {
        p.push("`techniques` must be an array".into());
        return p;
    };
    let mut seen = BTreeSet::new();
    for (i, t) in techs.iter().enumerate() {
        let id = t["techniqueID"].as_str().unwrap_or_default();
        let tactic = t["tactic"].as_str().unwrap_or_default();
        match attack::technique(id) {
            None => p.push(format!("techniques[{i}]: unknown technique {id:?}")),
            Some(known) if !known.tactics.contains(&tactic) => {
                p.push(format!("techniques[{i}]: {id} is not in tactic {tactic:?}"))
            }
            Some(_) => {}
        }
        if !t["score"].is_number() {
            p.push(format!("techniques[{i}]: score must be a number"));
        }
        if !seen.insert((id.to_owned(), tactic.to_owned())) {
            p.push(format!("techniques[{i}]: duplicate {id}/{tactic}"));
        }
    }
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::detect::{LoadOptions, compile_str, load};

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn layer_of_a_small_set_is_valid_and_scored() {
        let rep = compile_str(
            "title: A\nid: a\ntags: [attack.t1003.001, attack.t1218.011]\nlogsource: {product: windows}\ndetection: {s: {x: 1}, condition: s}\n---\ntitle: B\nid: b\ntags: [attack.t1003.001, attack.t9999]\nlogsource: {product: windows}\ndetection: {s: {x: 2}, condition: s}\n",
            &LoadOptions::default(),
        );
        let layer = navigator_layer(&rep.rules, "t");
        assert!(
            layer_problems(&layer).is_empty(),
            "{:?}",
            layer_problems(&layer)
        );
        let techs = layer["techniques"].as_array().unwrap();
        let lsass = techs
            .iter()
            .find(|t| t["techniqueID"] == "T1003.001")
            .unwrap();
        assert_eq!(lsass["score"], 2);
        assert_eq!(lsass["tactic"], "credential-access");
        assert_eq!(lsass["comment"], "A; B");
        // T1218.011 is in defense-evasion only; T9999 does not exist and is left out.
        assert_eq!(techs.len(), 2);
        let mut broken = layer.clone();
        broken["techniques"][0]["tactic"] = json!("impact");
        assert_eq!(layer_problems(&broken).len(), 1);
    }

    /// The subset file holds ATT&CK facts and the rule lists that the pack's tags imply, and the
    /// pack covers at least 60 of its 80 techniques.
    #[test]
    fn subset_agrees_with_attack_and_the_pack() {
        let subset = load_subset(&repo().join("rules/attack-subset.yml")).unwrap();
        assert_eq!(subset.len(), 80);
        let rep = load(&[repo().join("rules/behavioral")], &LoadOptions::default());
        let by_title: BTreeMap<&str, &str> = rep
            .rules
            .rules()
            .map(|r| (r.title.as_str(), r.id.as_str()))
            .collect();
        let tagged = techniques_of(&rep.rules);
        for t in &subset {
            let known = attack::technique(&t.id).unwrap_or_else(|| panic!("{} unknown", t.id));
            assert_eq!(known.name, t.name, "{}", t.id);
            let tactics: Vec<&str> = t.tactics.iter().map(String::as_str).collect();
            assert_eq!(known.tactics, tactics, "{}", t.id);
            let mut want: Vec<&str> = covering(&tagged, &t.id)
                .into_iter()
                .map(|title| by_title[title])
                .collect();
            want.sort_unstable();
            let mut have: Vec<&str> = t.rules.iter().map(String::as_str).collect();
            have.sort_unstable();
            assert_eq!(
                have, want,
                "rules listed for {} (re-run rules/tools/subset.py)",
                t.id
            );
        }
        let r = report(&rep.rules, &subset);
        assert!(
            r.subset_covered >= 60,
            "only {} of 80 covered",
            r.subset_covered
        );
        let layer = navigator_layer(&rep.rules, "nightwatch");
        assert!(
            layer_problems(&layer).is_empty(),
            "{:?}",
            layer_problems(&layer)
        );
    }
}
