//! The deployment files under `deploy/` are checked for what can be checked without docker or a
//! cluster: manifests parse and keep their security invariants, the systemd unit passes
//! `systemd-analyze verify` against the real binary, and the Dockerfile keeps its shape.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn kind_of<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn kubernetes_manifests_parse_and_keep_their_invariants() {
    let dir = deploy().join("kubernetes");
    let kustomization = &yaml_docs(&dir.join("kustomization.yaml"))[0];
    let mut all = Vec::new();
    for res in kustomization["resources"].as_vec().unwrap() {
        let file = dir.join(res.as_str().unwrap());
        assert!(file.exists(), "kustomization lists {}", file.display());
        all.extend(yaml_docs(&file));
    }
    for doc in &all {
        assert!(doc["apiVersion"].as_str().is_some(), "{doc:?}");
        assert!(doc["metadata"]["name"].as_str().is_some(), "{doc:?}");
    }

    let sts = kind_of(&all, "StatefulSet");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert!(
        container["resources"]["requests"]["memory"]
            .as_str()
            .is_some()
    );
    assert!(
        container["resources"]["limits"]["memory"]
            .as_str()
            .is_some()
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["path"].as_str(),
            Some("/health")
        );
    }
    // The embedded store lives on a per-replica volume mounted at the state directory.
    let claim = &sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"];
    let state_dir = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("NIGHTWATCH__STATE__DIR"))
        .and_then(|e| e["value"].as_str())
        .expect("state dir set");
    assert!(
        container["volumeMounts"]
            .as_vec()
            .unwrap()
            .iter()
            .any(|m| { m["name"] == *claim && m["mountPath"].as_str() == Some(state_dir) }),
        "the state dir is the claimed volume"
    );
    // Secrets are references, never literal values; optional but for the API token, without
    // which the daemon (listening beyond loopback) refuses to start.
    for e in container["env"].as_vec().unwrap() {
        if let Some(name) = e["name"].as_str()
            && (name.ends_with("_KEY") || name.ends_with("_TOKEN"))
        {
            assert!(e["value"].is_badvalue(), "{name} must come from a Secret");
            assert_eq!(
                e["valueFrom"]["secretKeyRef"]["optional"].as_bool(),
                Some(name != "NIGHTWATCH__API__TOKEN"),
                "{name}"
            );
        }
    }

    let selector = &sts["spec"]["selector"]["matchLabels"];
    for kind in ["PodDisruptionBudget", "ServiceMonitor"] {
        let doc = kind_of(&all, kind);
        assert_eq!(
            &doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            &selector["app.kubernetes.io/name"]
        );
    }
    assert_eq!(
        kind_of(&all, "ServiceMonitor")["spec"]["endpoints"][0]["path"].as_str(),
        Some("/metrics")
    );

    // The ConfigMap carries a config the daemon accepts.
    let cm = kind_of(&all, "ConfigMap");
    let toml_text = cm["data"]["nightwatch.toml"]
        .as_str()
        .expect("nightwatch.toml in ConfigMap");
    validate_with_and_without_the_token(toml_text);
}

/// A deployment config listening beyond loopback (its state directory moved to a temporary
/// volume, as the deployment mounts one): valid with the API token its deployment provides
/// from a secret, refused (exit 2, naming `api.token`) without it.
fn validate_with_and_without_the_token(config_text: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let path = tmp.path().join("nightwatch.toml");
    std::fs::write(
        &path,
        config_text.replace("/var/lib/nightwatch", volume.to_str().unwrap()),
    )
    .unwrap();
    let validate = |token: Option<&str>| {
        let mut c = crate::helpers::bin();
        c.args(["validate", "--config", path.to_str().unwrap()])
            .env_remove("NIGHTWATCH__API__TOKEN");
        if let Some(t) = token {
            c.env("NIGHTWATCH__API__TOKEN", t);
        }
        c.output().unwrap()
    };
    let out = validate(Some("from-the-secret"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("api.token"));
}

#[test]
fn systemd_unit_verifies_against_the_real_binary() {
    let unit = std::fs::read_to_string(deploy().join("systemd/nightwatch.service")).unwrap();
    for key in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=nightwatch",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(key), "unit keeps {key}");
    }
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        println!("note: systemd-analyze not installed; unit verified by content only");
        return;
    };
    assert!(out.status.success());
    // Point ExecStart at the binary under test so `verify` can check it is executable.
    let tmp = tempfile::tempdir().unwrap();
    let unit = unit.replace(
        "/usr/local/bin/nightwatch",
        env!("CARGO_BIN_EXE_nightwatch"),
    );
    let path = tmp.path().join("nightwatch.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about the host (no running systemd in a container) are not about the unit.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("nightwatch.service"))
        .collect();
    assert!(about_unit.is_empty(), "{stderr}");
}

#[test]
fn dockerfile_builds_in_stages_and_runs_unprivileged() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("FROM ")).count(), 2);
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "{user}"
    );
    assert!(text.contains("HEALTHCHECK"));
    assert!(text.contains("VOLUME [\"/var/lib/nightwatch\"]"));
    // The health check runs the image's own binary, so it must be a real subcommand.
    let out = crate::helpers::run(&["health", "--help"]);
    assert!(out.status.success());
}

#[test]
fn compose_stack_has_every_service_and_a_config_the_daemon_accepts() {
    let dir = deploy().join("compose");
    let compose = &yaml_docs(&dir.join("docker-compose.yml"))[0];
    let services = &compose["services"];
    for name in ["nightwatch", "kafka", "nats", "prometheus", "grafana"] {
        assert!(!services[name].is_badvalue(), "service {name}");
    }
    assert_eq!(services["nightwatch"]["read_only"].as_bool(), Some(true));
    // Every file the stack mounts from the repository exists.
    for service in ["nightwatch", "prometheus", "grafana"] {
        for volume in services[service]["volumes"].as_vec().unwrap() {
            let spec = volume.as_str().unwrap();
            let host = spec.split(':').next().unwrap();
            if host.starts_with('.') {
                assert!(dir.join(host).exists(), "{service} mounts {host}");
            }
        }
    }
    let env = services["nightwatch"]["environment"]["NIGHTWATCH__API__TOKEN"]
        .as_str()
        .unwrap();
    assert!(env.contains(":?"), "compose requires the token: {env}");
    validate_with_and_without_the_token(
        &std::fs::read_to_string(dir.join("nightwatch.toml")).unwrap(),
    );
}
