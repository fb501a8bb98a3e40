//! Loading, overrides, unknown keys and validation of every table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::outputs::webhook::WebhookFormat;
use crate::outputs::{JsonlConfig, OutputFormat, StdoutConfig};

fn no_env() -> std::iter::Empty<(String, String)> {
    std::iter::empty()
}

#[test]
fn embedded_default_is_valid() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.validate(), vec![]);
    assert_eq!(c.api.listen, "127.0.0.1:8080");
    assert!(c.inputs.is_empty());
}

#[test]
fn every_unknown_key_is_reported_with_its_path() {
    let err = parse(
        "[api]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n[pipeline]\ncapacity = 2\n",
        "t.toml",
        no_env(),
    )
    .unwrap_err();
    let ConfigError::Invalid { problems, .. } = err else {
        panic!("expected invalid, got {err}")
    };
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"api.lisen"), "{keys:?}");
    assert!(keys.contains(&"pipeline.capacity"), "{keys:?}");
}

#[test]
fn environment_overrides_apply_with_types() {
    let env = vec![
        ("NIGHTWATCH__API__LISTEN".to_owned(), "0.0.0.0:9".to_owned()),
        (
            "NIGHTWATCH__PIPELINE__CHANNEL_CAPACITY".to_owned(),
            "7".to_owned(),
        ),
    ];
    let c = parse(DEFAULT_TOML, "t", env.into_iter()).unwrap();
    assert_eq!(c.api.listen, "0.0.0.0:9");
    assert_eq!(c.pipeline.channel_capacity, 7);
}

#[test]
fn unknown_environment_key_is_an_error() {
    let env = vec![("NIGHTWATCH__API__NOPE".to_owned(), "1".to_owned())];
    assert!(parse(DEFAULT_TOML, "t", env.into_iter()).is_err());
}

#[test]
fn validation_collects_every_problem() {
    let c = parse(
        "[pipeline]\nchannel_capacity = 0\n[api]\nlisten = \"nope\"\n[log]\nlevel = \"loud\"\n",
        "t",
        no_env(),
    )
    .unwrap();
    let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        vec!["api.listen", "pipeline.channel_capacity", "log.level"]
    );
}

#[test]
fn inputs_and_outputs_parse_by_type() {
    let dir = std::env::temp_dir();
    let c = parse(
        &format!(
            "[inputs.drop]\ntype = \"file\"\npaths = [{:?}]\n[outputs.out]\ntype = \"jsonl\"\npath = \"v.jsonl\"\n",
            dir.display().to_string()
        ),
        "t",
        no_env(),
    )
    .unwrap();
    assert!(matches!(c.inputs["drop"], InputConfig::File(_)));
    assert!(matches!(c.outputs["out"], OutputConfig::Jsonl { .. }));
    assert_eq!(c.validate(), vec![]);
}

#[test]
fn output_formats_are_selectable_per_sink() {
    let c = parse(
        "[outputs.a]\ntype = \"stdout\"\nformat = \"ocsf\"\n\
         [outputs.b]\ntype = \"jsonl\"\npath = \"v.jsonl\"\n\
         [outputs.c]\ntype = \"jsonl\"\npath = \"o.jsonl\"\nformat = \"ocsf\"\n\
         [outputs.d]\ntype = \"webhook\"\nurl = \"https://x.example/\"\nformat = \"ocsf\"\n\
         [outputs.e]\ntype = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"v\"\nformat = \"ocsf\"\n",
        "t",
        no_env(),
    )
    .unwrap();
    assert!(matches!(
        c.outputs["a"],
        OutputConfig::Stdout(StdoutConfig {
            format: OutputFormat::Ocsf
        })
    ));
    assert!(matches!(
        c.outputs["b"],
        OutputConfig::Jsonl(JsonlConfig {
            format: OutputFormat::Native,
            ..
        })
    ));
    assert!(matches!(
        c.outputs["c"],
        OutputConfig::Jsonl(JsonlConfig {
            format: OutputFormat::Ocsf,
            ..
        })
    ));
    assert!(matches!(&c.outputs["d"], OutputConfig::Webhook(w) if w.format == WebhookFormat::Ocsf));
    assert!(matches!(&c.outputs["e"], OutputConfig::Nats(n) if n.format == OutputFormat::Ocsf));
    assert!(
        parse(
            "[outputs.a]\ntype = \"stdout\"\nformat = \"xml\"\n",
            "t",
            no_env()
        )
        .is_err()
    );
}

#[test]
fn webhook_outputs_parse_with_defaults_and_reject_typos() {
    let c = parse(
        "[outputs.soar]\ntype = \"webhook\"\nurl = \"https://hive.example/api/v1/alert\"\nformat = \"thehive\"\nhmac_secret = \"k\"\nheaders = { Authorization = \"Bearer x\" }\n",
        "t",
        no_env(),
    )
    .unwrap();
    let OutputConfig::Webhook(w) = &c.outputs["soar"] else {
        panic!("not a webhook: {:?}", c.outputs["soar"]);
    };
    assert_eq!(w.format, WebhookFormat::Thehive);
    assert_eq!(w.timeout_ms, 5_000);
    assert_eq!(w.max_retries, 5);
    assert_eq!(w.headers["Authorization"], "Bearer x");
    assert_eq!(c.validate(), vec![]);
    assert_eq!(c.api.ws_replay, 1024);
    // A misspelt key (here the secret's) is an error, not a silently unsigned webhook.
    assert!(
        parse(
            "[outputs.soar]\ntype = \"webhook\"\nurl = \"https://h/\"\nhmac_secert = \"k\"\n",
            "t",
            no_env(),
        )
        .is_err()
    );
}

#[test]
fn webhook_and_replay_validation_names_each_key() {
    let c = parse(
        "[api]\nws_replay = 0\n[outputs.a]\ntype = \"webhook\"\nurl = \"ftp://h/x\"\nhmac_secret = \"k\"\nhmac_secret_env = \"K\"\ntimeout_ms = 0\nheaders = { X-Nightwatch-Signature = \"forged\" }\n[outputs.b]\ntype = \"webhook\"\nurl = \"not a url\"\n",
        "t",
        no_env(),
    )
    .unwrap();
    let problems = c.validate();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "api.ws_replay",
            "outputs.a.url",
            "outputs.a.hmac_secret_env",
            "outputs.a.timeout_ms",
            "outputs.a.headers.X-Nightwatch-Signature",
            "outputs.b.url",
        ],
        "{problems:?}"
    );
}

#[test]
fn syslog_tls_keys_parse_and_are_checked() {
    let c = parse(
        "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"udp\"\ntls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\", client_ca = \"/nonexistent/ca.pem\" }\n",
        "t",
        no_env(),
    )
    .unwrap();
    let problems = c.validate();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "inputs.a.tls",
            "inputs.a.tls.cert",
            "inputs.a.tls.key",
            "inputs.a.tls.client_ca",
        ],
        "{problems:?}"
    );
    let typo = "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\ntls = { cert = \"c\", key = \"k\", ca = \"x\" }\n";
    assert!(parse(typo, "t", no_env()).is_err());
}

#[test]
fn syslog_limit_keys_default_and_are_checked() {
    let c = parse(
        "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n",
        "t",
        no_env(),
    )
    .unwrap();
    assert!(c.validate().is_empty());
    let InputConfig::Syslog(crate::inputs::syslog::SyslogInputConfig {
        max_connections_per_peer,
        idle_timeout_secs,
        receive_buffer_bytes,
        ..
    }) = &c.inputs["a"]
    else {
        panic!("{:?}", c.inputs["a"])
    };
    assert_eq!(
        (
            *max_connections_per_peer,
            *idle_timeout_secs,
            *receive_buffer_bytes
        ),
        (64, 300, 4 << 20)
    );
    let c = parse(
        "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\nmax_connections_per_peer = 0\nidle_timeout_secs = 0\nreceive_buffer_bytes = 4294967296\n",
        "t",
        no_env(),
    )
    .unwrap();
    let problems = c.validate();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "inputs.a.max_connections_per_peer",
            "inputs.a.idle_timeout_secs",
            "inputs.a.receive_buffer_bytes",
        ],
        "{problems:?}"
    );
}

#[test]
fn input_with_unknown_type_is_rejected() {
    assert!(parse("[inputs.x]\ntype = \"carrier-pigeon\"\n", "t", no_env()).is_err());
}

#[test]
fn nats_inputs_and_outputs_parse_with_defaults() {
    let c = parse(
        r#"
[inputs.core]
type = "nats"
url = "nats://127.0.0.1:4222"
subject = "logs.>"
queue_group = "nightwatch"
format = "syslog"
[inputs.durable]
type = "nats"
url = "nats://127.0.0.1:4222"
subject = "events.sysmon"
jetstream = { stream = "EVENTS", consumer = "nightwatch", create = true }
[outputs.bus]
type = "nats"
url = "tls://127.0.0.1:4443"
subject = "verdicts"
jetstream = true
"#,
        "t",
        no_env(),
    )
    .unwrap();
    assert_eq!(c.validate(), vec![]);
    let InputConfig::Nats(core) = &c.inputs["core"] else {
        panic!("{:?}", c.inputs["core"])
    };
    assert!(core.jetstream.is_none());
    assert_eq!(core.queue_group.as_deref(), Some("nightwatch"));
    let InputConfig::Nats(durable) = &c.inputs["durable"] else {
        panic!("{:?}", c.inputs["durable"])
    };
    let js = durable.jetstream.as_ref().unwrap();
    assert_eq!((js.ack_wait_secs, js.max_ack_pending), (60, 0));
    assert!(js.create && js.subjects.is_empty());
    let settings = crate::inputs::nats::NatsSettings::from_config("durable", durable, 512).unwrap();
    let js = settings.jetstream.unwrap();
    assert_eq!(js.max_ack_pending, 512, "tied to the pipeline bound");
    assert_eq!(js.subjects, vec!["events.sysmon".to_owned()]);
    assert_eq!(settings.format, crate::normalize::Format::Json);
    let OutputConfig::Nats(out) = &c.outputs["bus"] else {
        panic!("{:?}", c.outputs["bus"])
    };
    assert!(out.jetstream);
}

#[test]
fn nats_unknown_keys_are_rejected() {
    for text in [
        "[inputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nsubjekt = \"b\"\n",
        "[inputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\njetstream = { stream = \"S\", consumer = \"C\", ack_wait = 5 }\n",
        "[outputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nstream = \"S\"\n",
    ] {
        let err = parse(text, "t", no_env()).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{text}: {err}");
    }
}

#[test]
fn nats_validation_names_every_problem() {
    let c = parse(
        r#"
[inputs.n]
type = "nats"
url = "http://user:hunter2@h:1"
subject = "a..b"
queue_group = "g"
format = "evtx"
token_env = "NIGHTWATCH_TEST_SURELY_UNSET_TOKEN"
jetstream = { stream = "S.1", consumer = "", subjects = ["x"], ack_wait_secs = 0 }
[outputs.o]
type = "nats"
url = "nats://h:1"
subject = "verdicts.>"
user = "svc"
tls = { cert_file = "/nonexistent/cert.pem" }
"#,
        "t",
        no_env(),
    )
    .unwrap();
    let problems = c.validate();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "inputs.n.subject",
            "inputs.n.format",
            "inputs.n.queue_group",
            "inputs.n.jetstream.stream",
            "inputs.n.jetstream.consumer",
            "inputs.n.jetstream.subjects",
            "inputs.n.jetstream.ack_wait_secs",
            "inputs.n.url",
            "inputs.n.token_env",
            "outputs.o.subject",
            "outputs.o.password_env",
            "outputs.o.tls.key_file",
            "outputs.o.tls.cert_file",
        ],
        "{problems:#?}"
    );
    let all = format!("{problems:?}");
    assert!(!all.contains("hunter2"), "{all}");
}

/// A Kafka input (with a secret property) and a Kafka output, both valid.
const KAFKA_TABLES: &str = r#"
[inputs.k]
type = "kafka"
brokers = "127.0.0.1:9092"
group_id = "nightwatch"
topics = ["telemetry", "^edr-.*"]
[inputs.k.properties]
"sasl.password" = "hunter2"
"session.timeout.ms" = 6000
[outputs.v]
type = "kafka"
brokers = "127.0.0.1:9092"
topic = "verdicts"
"#;

#[cfg(feature = "kafka")]
#[test]
fn kafka_inputs_and_outputs_parse_validate_and_hide_secrets() {
    let c = parse(KAFKA_TABLES, "t", no_env()).unwrap();
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    let InputConfig::Kafka(k) = &c.inputs["k"] else {
        panic!("{:?}", c.inputs["k"])
    };
    assert_eq!(k.auto_offset_reset, "earliest");
    assert_eq!(k.statistics_interval_ms, 5000);
    let settings = crate::inputs::kafka::KafkaSettings::from_config(k, 512);
    assert_eq!(settings.max_in_flight, 512);
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let OutputConfig::Kafka(o) = &c.outputs["v"] else {
        panic!("{:?}", c.outputs["v"])
    };
    assert_eq!((o.max_retries, o.delivery_timeout_ms), (5, 30_000));

    let bad = parse(
        r#"
[inputs.k]
type = "kafka"
brokers = ""
group_id = " "
topics = ["^(unclosed"]
format = "evtx"
auto_offset_reset = "newest"
[inputs.k.properties]
"enable.auto.commit" = false
[outputs.v]
type = "kafka"
brokers = "h:1"
topic = ""
retry_backoff_ms = 0
[outputs.v.properties]
acks = "1"
"#,
        "t",
        no_env(),
    )
    .unwrap();
    let problems = bad.validate();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "inputs.k.brokers",
            "inputs.k.properties.enable.auto.commit",
            "inputs.k.group_id",
            "inputs.k.topics",
            "inputs.k.format",
            "inputs.k.auto_offset_reset",
            "outputs.v.properties.acks",
            "outputs.v.topic",
            "outputs.v.retry_backoff_ms",
        ],
        "{problems:#?}"
    );
    assert!(
        parse(
            "[outputs.v]\ntype = \"kafka\"\nbrokers = \"h:1\"\ntopic = \"t\"\ntopik = \"x\"\n",
            "t",
            no_env()
        )
        .is_err()
    );
}

#[test]
fn kafka_tables_parse_in_every_build_and_are_refused_without_the_kafka_feature() {
    let dead_letter =
        "[dead_letter]\npath = \"\"\nkafka = { brokers = \"h:9092\", topic = \"dead\" }\n";
    let c = parse(&format!("{KAFKA_TABLES}{dead_letter}"), "t", no_env()).unwrap();
    let problems = c.validate();
    assert!(!format!("{problems:?}").contains("hunter2"));
    if cfg!(feature = "kafka") {
        assert!(problems.is_empty(), "{problems:?}");
    } else {
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let missing = "this build has no Kafka support: rebuild with --features kafka";
        assert_eq!(
            shown,
            [
                format!("inputs.k: {missing}"),
                format!("outputs.v: {missing}"),
                format!("dead_letter.kafka: {missing}"),
            ],
        );
    }
}

#[test]
fn nats_config_debug_hides_url_credentials() {
    let c = parse(
        "[outputs.o]\ntype = \"nats\"\nurl = \"nats://svc:hunter2@h:4222\"\nsubject = \"v\"\n",
        "t",
        no_env(),
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("nats://***@h:4222"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn tail_checkpoint_policy_keys_have_defaults_and_are_checked() {
    let c = parse(
        "[inputs.app]\ntype = \"tail\"\npaths = [\"/var/log/app/*.log\"]\n",
        "t",
        no_env(),
    )
    .unwrap();
    let Some(InputConfig::Tail(crate::inputs::tail::TailInputConfig {
        checkpoint_every,
        checkpoint_interval_ms,
        max_in_flight,
        ..
    })) = c.inputs.get("app")
    else {
        panic!("expected a tail input")
    };
    assert_eq!(
        (*checkpoint_every, *checkpoint_interval_ms, *max_in_flight),
        (1000, 250, 0)
    );
    let c = parse(
        "[inputs.app]\ntype = \"tail\"\npaths = [\"/var/log/app/*.log\"]\n\
         checkpoint_every = 0\ncheckpoint_interval_ms = 0\n",
        "t",
        no_env(),
    )
    .unwrap();
    let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        vec![
            "inputs.app.checkpoint_every",
            "inputs.app.checkpoint_interval_ms"
        ]
    );
}

#[test]
fn memory_bounds_default_for_a_1_gib_container_and_are_validated() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.state.cache_bytes, crate::store::DEFAULT_CACHE_BYTES);
    assert_eq!(c.state.cache_bytes, 64 * 1024 * 1024);
    assert_eq!(c.api.ws_replay_bytes, 16 * 1024 * 1024);

    let c = parse(
        "[state]\ncache_bytes = 1048575\n[api]\nws_replay_bytes = 0\n",
        "t",
        no_env(),
    )
    .unwrap();
    let problems = c.validate();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["api.ws_replay_bytes", "state.cache_bytes"],
        "{problems:?}"
    );
    assert!(problems[1].message.contains("1 MiB"), "{problems:?}");

    // The smallest accepted cache, and an override from the environment.
    let c = parse("[state]\ncache_bytes = 1048576\n", "t", no_env()).unwrap();
    assert_eq!(c.validate(), vec![]);
    let env = vec![(
        "NIGHTWATCH__STATE__CACHE_BYTES".to_owned(),
        "268435456".to_owned(),
    )];
    let c = parse(DEFAULT_TOML, "t", env.into_iter()).unwrap();
    assert_eq!(c.state.cache_bytes, 256 * 1024 * 1024);

    // A size with a unit is not a number of bytes: rejected, naming the key.
    let err = parse("[state]\ncache_bytes = \"64MiB\"\n", "t", no_env()).unwrap_err();
    assert!(err.to_string().contains("cache_bytes"), "{err}");
}

#[test]
fn a_misspelt_key_in_any_input_or_output_is_an_error_at_its_table() {
    let cases = [
        (
            "[inputs.a]\ntype = \"file\"\npaths = [\"/tmp\"]\nmax_lne_bytes = 5\n",
            "inputs.a",
        ),
        (
            "[inputs.b]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\nprotocl = \"tcp\"\n",
            "inputs.b",
        ),
        (
            "[inputs.c]\ntype = \"tail\"\npaths = [\"/x/*.log\"]\ncheckpoint_evry = 5\n",
            "inputs.c",
        ),
        ("[inputs.d]\ntype = \"stdin\"\nmax_line = 5\n", "inputs.d"),
        (
            "[outputs.e]\ntype = \"jsonl\"\npath = \"v.jsonl\"\nfromat = \"ocsf\"\n",
            "outputs.e",
        ),
        (
            "[outputs.f]\ntype = \"stdout\"\nformt = \"ocsf\"\n",
            "outputs.f",
        ),
        (
            "[outputs.g]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\ntls = { ca = \"x\" }\n",
            "outputs.g",
        ),
        (
            "[inputs.h]\ntype = \"fiel\"\npaths = [\"/tmp\"]\n",
            "inputs.h",
        ),
    ];
    for (text, key) in cases {
        let Err(ConfigError::Invalid { problems, .. }) = parse(text, "t", no_env()) else {
            panic!("{text} parsed")
        };
        assert!(
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains("unknown")),
            "{text}: {problems:?}"
        );
    }
    // Every bad table of a file is listed, not only the first.
    let both = format!("{}{}", cases[0].0, cases[4].0);
    let Err(ConfigError::Invalid { problems, .. }) = parse(&both, "t", no_env()) else {
        panic!("parsed")
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["inputs.a", "outputs.e"], "{problems:?}");
}

#[test]
fn a_value_of_the_wrong_type_is_one_problem_at_its_key_path() {
    let Err(ConfigError::Invalid { problems, .. }) =
        parse("[cases]\nwindow_secs = \"abc\"\n", "t", no_env())
    else {
        panic!("a string where a number belongs parsed")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "cases.window_secs");
    assert!(!problems[0].message.contains('\n'), "{problems:?}");
    assert!(problems[0].message.contains("expected u64"), "{problems:?}");
}
