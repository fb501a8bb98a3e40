//! A throw-away NATS operator for decentralized-auth tests: operator, account and user nkeys
//! generated at test time, the JWTs they sign (NATS JWT v2, `ed25519-nkey`), a server config in
//! operator mode with a memory resolver (and the system account JetStream needs), and `.creds` files as `nsc` writes them.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Files of one operator: the server config that trusts it and two user credentials.
pub struct Operator {
    /// `nats-server -c` config: operator JWT, memory resolver preloaded with the account.
    pub server_config: PathBuf,
    /// A user of the trusted account.
    pub creds: PathBuf,
    /// A user of an account the operator never signed: well-formed, refused by the server.
    pub untrusted_creds: PathBuf,
    /// The trusted user's nkey seed and JWT (to check they never reach a log).
    pub seed: String,
    pub user_jwt: String,
}

/// `header.claims.signature`, signed by `issuer`.
fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let mut claims = json!({
        "iat": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let id = Sha256::digest(claims.to_string().as_bytes());
    claims["jti"] = json!(
        id.iter()
            .take(16)
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    );
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An account with no limits; `jetstream` = non-zero storage limits, which enable JetStream
/// (the system account must have none).
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let storage = if jetstream { -1 } else { 0 };
    let unlimited = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": storage, "disk_storage": storage, "streams": storage, "consumer": storage,
    });
    sign(
        operator,
        &account.public_key(),
        name,
        json!({"limits": unlimited, "type": "account", "version": 2}),
    )
}

/// Writes a user of `account` as a `.creds` file; returns (seed, JWT).
fn write_creds(path: &Path, account: &KeyPair) -> (String, String) {
    let user = KeyPair::new_user();
    let jwt = sign(
        account,
        &user.public_key(),
        "nightwatch",
        json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
               "type": "user", "version": 2}),
    );
    let seed = user.seed().unwrap();
    std::fs::write(
        path,
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        ),
    )
    .unwrap();
    (seed, jwt)
}

impl Operator {
    /// Generates the keys, JWTs, server config and credentials into `dir`.
    pub fn generate(dir: &Path) -> Operator {
        let operator = KeyPair::new_operator();
        let operator_jwt = sign(
            &operator,
            &operator.public_key(),
            "nightwatch-test",
            json!({"type": "operator", "version": 2}),
        );
        let account = KeyPair::new_account();
        // JetStream in operator mode needs a system account for its internal subscriptions.
        let system = KeyPair::new_account();
        let server_config = dir.join("operator.conf");
        std::fs::write(
            &server_config,
            format!(
                "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
                 resolver_preload: {{\n  {sys}: \"{}\"\n  {acc}: \"{}\"\n}}\n",
                account_jwt(&operator, &system, "SYS", false),
                account_jwt(&operator, &account, "NIGHTWATCH", true),
                sys = system.public_key(),
                acc = account.public_key(),
            ),
        )
        .unwrap();
        let creds = dir.join("nightwatch.creds");
        let (seed, user_jwt) = write_creds(&creds, &account);
        let untrusted_creds = dir.join("untrusted.creds");
        write_creds(&untrusted_creds, &KeyPair::new_account());
        Operator {
            server_config,
            creds,
            untrusted_creds,
            seed,
            user_jwt,
        }
    }
}
