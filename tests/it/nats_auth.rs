//! NATS authentication and TLS against a real `nats-server` that requires them: the daemon
//! connects with the right user/password, token, `.creds` file (operator mode, JWT + nkey) or
//! client certificate and reads events; with
//! wrong ones it is refused with a clear error, keeps running, and never prints the secret.
//!
//! Each test owns its server (started with the options under test); without `nats-server` on
//! PATH a test is skipped with a note, and fails when `CI` is set.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::{self, Daemon, demo_lines, in_ci, runtime, unique, wait_for};
use crate::nats::{
    CONNECTED, OwnedServer, PARSED, metric, nats_server_on_path, publish, wait_for_stream,
};
use crate::nats_jwt::Operator;
use crate::pki::Pki;

/// A server started with `options`; `None` = skip.
fn server(test: &str, options: &[&str]) -> Option<OwnedServer> {
    if nats_server_on_path() {
        return Some(OwnedServer::start_with(options));
    }
    assert!(!in_ci(), "CI is set but nats-server is not on PATH");
    println!("note: {test}: no nats-server on PATH; skipping");
    None
}

/// A config with a core NATS input on `subject` and a core verdict output, `auth` being the
/// extra keys of both (TOML inline-table-free lines, repeated per section).
fn write_config(dir: &Path, url: &str, subject: &str, auth: &str) -> String {
    helpers::write_config(
        dir,
        &format!(
            "[inputs.bus]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\n{auth}\n\
             [outputs.live]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}.verdicts\"\n{auth}\n",
        ),
    )
    .display()
    .to_string()
}

/// Every log line the daemon printed until `until` matches one or `within` passes.
fn log_until(daemon: &Daemon, within: Duration, until: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut lines = Vec::new();
    while let Ok(line) = daemon
        .log
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        let done = until(&line);
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

/// Publishes 100 demo events (5 per message) with `client` and waits until all are parsed.
fn events_flow(dir: &Path, daemon: &Daemon, client: &async_nats::Client, subject: &str) {
    let rt = runtime();
    // Core NATS: only what is published after the subscription exists arrives.
    wait_for("both clients to connect", Duration::from_secs(30), || {
        metric(daemon, CONNECTED) >= 2.0
    });
    std::thread::sleep(Duration::from_millis(300));
    let lines = demo_lines(dir, 100, 9);
    rt.block_on(async {
        for chunk in lines.chunks(5) {
            client
                .publish(subject.to_owned(), chunk.join("\n").into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    wait_for("every event parsed", Duration::from_secs(60), || {
        metric(daemon, PARSED) >= 100.0
    });
}

/// Stops the daemon and asserts none of `secrets` is anywhere in what it printed.
fn assert_no_secret(daemon: Daemon, mut seen: Vec<String>, secrets: &[&str]) -> Vec<String> {
    let (code, rest) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{rest:#?}");
    seen.extend(rest);
    for secret in secrets {
        let leaked: Vec<&String> = seen.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "secret in the daemon's log: {leaked:#?}");
    }
    seen
}

/// The daemon refused by the server: the log says why, nothing connected, nothing parsed.
fn assert_refused(daemon: &Daemon) -> Vec<String> {
    let lines = log_until(daemon, Duration::from_secs(20), |l| {
        l.to_lowercase().contains("authorization violation")
    });
    assert!(
        lines
            .iter()
            .any(|l| l.contains("nats") && l.to_lowercase().contains("authorization violation")),
        "no clear refusal in the log: {lines:#?}"
    );
    assert_eq!(metric(daemon, CONNECTED), 0.0);
    lines
}

#[test]
fn nats_user_and_password_connect_and_a_wrong_password_is_refused_without_leaking() {
    const PASSWORD: &str = "Pw-3f9c1e-correct";
    const WRONG: &str = "Pw-77aa02-wrong";
    let Some(server) = server(
        "nats_user_and_password",
        &["--user", "nightwatch", "--pass", PASSWORD],
    ) else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let subject = format!("{}.events", unique("nw"));
    let auth = "user = \"nightwatch\"\npassword_env = \"NW_TEST_NATS_PASSWORD\"";
    let config = write_config(dir.path(), &url, &subject, auth);

    // Right password (from the environment): connected, events flow.
    let daemon = Daemon::start(
        &["--config", &config],
        &[("NW_TEST_NATS_PASSWORD", PASSWORD)],
    );
    let rt = runtime();
    let client = rt
        .block_on(
            async_nats::ConnectOptions::with_user_and_password(
                "nightwatch".into(),
                PASSWORD.into(),
            )
            .connect(url.as_str()),
        )
        .unwrap();
    events_flow(dir.path(), &daemon, &client, &subject);
    assert_no_secret(daemon, Vec::new(), &[PASSWORD]);

    // Wrong password: refused, retried in the background, the daemon keeps running.
    let daemon = Daemon::start(&["--config", &config], &[("NW_TEST_NATS_PASSWORD", WRONG)]);
    let seen = assert_refused(&daemon);
    assert_no_secret(daemon, seen, &[PASSWORD, WRONG]);

    // Credentials in the URL are redacted the same way.
    let url_with_creds = format!("nats://nightwatch:{WRONG}@127.0.0.1:{}", server.port);
    let config = write_config(dir.path(), &url_with_creds, &subject, "");
    let daemon = Daemon::start(&["--config", &config], &[]);
    let seen = assert_refused(&daemon);
    let seen = assert_no_secret(daemon, seen, &[WRONG]);
    assert!(
        seen.iter().any(|l| l.contains("***@127.0.0.1")),
        "the URL is shown redacted: {seen:#?}"
    );
}

#[test]
fn nats_token_connects_and_a_wrong_token_is_refused_without_leaking() {
    const TOKEN: &str = "tok-51c0ffee-correct";
    const WRONG: &str = "tok-0badf00d-wrong";
    let Some(server) = server("nats_token", &["--auth", TOKEN]) else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let subject = format!("{}.events", unique("nw"));
    let config = write_config(
        dir.path(),
        &url,
        &subject,
        "token_env = \"NW_TEST_NATS_TOKEN\"",
    );
    let daemon = Daemon::start(&["--config", &config], &[("NW_TEST_NATS_TOKEN", TOKEN)]);
    let rt = runtime();
    let client = rt
        .block_on(async_nats::ConnectOptions::with_token(TOKEN.into()).connect(url.as_str()))
        .unwrap();
    events_flow(dir.path(), &daemon, &client, &subject);
    assert_no_secret(daemon, Vec::new(), &[TOKEN]);

    let daemon = Daemon::start(&["--config", &config], &[("NW_TEST_NATS_TOKEN", WRONG)]);
    let seen = assert_refused(&daemon);
    assert_no_secret(daemon, seen, &[TOKEN, WRONG]);
}

#[test]
fn nats_mutual_tls_with_a_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let path = |p: &Path| p.display().to_string();
    let (cert, key, ca) = (path(&pki.server_cert), path(&pki.server_key), path(&pki.ca));
    let Some(server) = server(
        "nats_mutual_tls",
        &[
            "--tls",
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "--tlsverify",
            "--tlscacert",
            &ca,
        ],
    ) else {
        return;
    };
    let url = format!("tls://127.0.0.1:{}", server.port);
    let subject = format!("{}.events", unique("nw"));
    let tls = format!(
        "tls = {{ ca_file = {ca:?}, cert_file = {:?}, key_file = {:?} }}",
        path(&pki.client_cert),
        path(&pki.client_key)
    );
    let config = write_config(dir.path(), &url, &subject, &tls);
    let daemon = Daemon::start(&["--config", &config], &[]);
    let rt = runtime();
    let client = rt
        .block_on(
            async_nats::ConnectOptions::new()
                .add_root_certificates(pki.ca.clone())
                .add_client_certificate(pki.client_cert.clone(), pki.client_key.clone())
                .connect(url.as_str()),
        )
        .unwrap();
    events_flow(dir.path(), &daemon, &client, &subject);
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:#?}");

    // Trusting the CA but without a client certificate: the server refuses the handshake.
    let config = write_config(
        dir.path(),
        &url,
        &subject,
        &format!("tls = {{ ca_file = {ca:?} }}"),
    );
    let daemon = Daemon::start(&["--config", &config], &[]);
    let seen = log_until(&daemon, Duration::from_secs(20), |l| {
        l.contains("nats cannot connect")
    });
    assert!(
        seen.iter().any(|l| l.contains("nats cannot connect")),
        "{seen:#?}"
    );
    assert_eq!(metric(&daemon, CONNECTED), 0.0);
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn nats_credentials_file_reads_jetstream_and_an_untrusted_user_is_refused_without_leaking() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Operator::generate(dir.path());
    let server_config = operator.server_config.display().to_string();
    let Some(server) = server("nats_credentials_file", &["-c", &server_config]) else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", server.port);
    let subject = format!("{}.events", unique("nw"));
    let stream = unique("NW_CREDS");
    let config = |creds: &Path| {
        let creds = creds.display().to_string();
        helpers::write_config(
            dir.path(),
            &format!(
                "[inputs.bus]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\n\
                 jetstream = {{ stream = \"{stream}\", consumer = \"nightwatch\", create = true }}\n\
                 credentials_file = {creds:?}\n\
                 [outputs.live]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}.verdicts\"\n\
                 credentials_file = {creds:?}\n",
            ),
        )
        .display()
        .to_string()
    };

    // A user of the account the operator signed: both clients connect, the daemon creates its
    // durable consumer (JetStream enabled by the account's limits) and reads every event.
    let daemon = Daemon::start(&["--config", &config(&operator.creds)], &[]);
    let rt = runtime();
    let _in_runtime = rt.enter(); // the JetStream context spawns a task
    let client = rt
        .block_on(async {
            async_nats::ConnectOptions::with_credentials_file(&operator.creds)
                .await?
                .connect(url.as_str())
                .await
                .map_err(std::io::Error::other)
        })
        .unwrap();
    let js = async_nats::jetstream::new(client);
    wait_for("both clients to connect", Duration::from_secs(30), || {
        metric(&daemon, CONNECTED) >= 2.0
    });
    wait_for_stream(&rt, &js, &stream);
    publish(&rt, &js, &subject, &demo_lines(dir.path(), 100, 11), 5);
    wait_for("every event parsed", Duration::from_secs(60), || {
        metric(&daemon, PARSED) >= 100.0
    });
    let secrets = [operator.seed.as_str(), operator.user_jwt.as_str()];
    assert_no_secret(daemon, Vec::new(), &secrets);

    // A well-formed user whose account the operator never signed: refused, the daemon keeps
    // running, neither the user's nor the trusted user's secrets are printed.
    let untrusted = std::fs::read_to_string(&operator.untrusted_creds).unwrap();
    let daemon = Daemon::start(&["--config", &config(&operator.untrusted_creds)], &[]);
    let seen = assert_refused(&daemon);
    let untrusted_seed = untrusted
        .lines()
        .find(|l| l.starts_with("SU"))
        .unwrap()
        .to_owned();
    assert_no_secret(
        daemon,
        seen,
        &[&secrets[..], &[untrusted_seed.as_str()]].concat(),
    );
}
