//! Named analysts and their console sessions.
//!
//! Analysts are configured under `[[api.analysts]]` with a name, a role and the SHA-256 of their
//! token (`nightwatch analyst NAME` prints a fresh token and the line to paste). Tokens are 256
//! random bits, so one unsalted hash is enough to keep them useless when the file leaks; what
//! the daemon holds in memory is that digest, never the token. A caller presents its token as a
//! bearer header (scripts, the MCP client of another analyst tool) or exchanges it once for a
//! session cookie (the console, `POST /api/session`). A session is 256 random bits too, kept
//! only as its digest, with its own CSRF token and an expiry of [`SESSION_HOURS`].
//!
//! Roles are ordered: a `viewer` reads, an `analyst` also changes cases (feedback, assign,
//! acknowledge, close, reopen), an `admin` may do everything an analyst may and whatever later
//! needs more (response approvals).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::Problem;

/// How long a console session lasts: one long SOC shift.
pub const SESSION_HOURS: u64 = 12;
/// Sessions kept at most; the oldest go first beyond it (a login flood cannot grow memory).
const MAX_SESSIONS: usize = 4096;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "nightwatch_session";

/// What an analyst may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may change cases.
    pub fn may_change(self) -> bool {
        self >= Role::Analyst
    }
}

/// One `[[api.analysts]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalystConfig {
    pub name: String,
    pub role: Role,
    /// Lower-case hex SHA-256 of the analyst's token.
    pub token_sha256: String,
}

/// An authenticated analyst.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analyst {
    pub name: String,
    pub role: Role,
}

/// Validation of `api.analysts`, each problem with its key path.
pub fn problems(analysts: &[AnalystConfig]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut digests = std::collections::HashSet::new();
    for (i, a) in analysts.iter().enumerate() {
        let key = |k: &str| format!("api.analysts[{i}].{k}");
        let name = a.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            out.push(Problem::new(
                key("name"),
                "must be 1 to 64 printable characters",
            ));
        } else if !names.insert(name.to_lowercase()) {
            out.push(Problem::new(
                key("name"),
                format!("`{name}` is configured twice"),
            ));
        }
        let hex = a.token_sha256.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(Problem::new(
                key("token_sha256"),
                "must be the 64 hex digits of the token's SHA-256 (`nightwatch analyst NAME` prints one)",
            ));
        } else if !digests.insert(hex.to_ascii_lowercase()) {
            out.push(Problem::new(
                key("token_sha256"),
                "two analysts share this token",
            ));
        }
    }
    out
}

/// A new random token: 32 bytes, base64url without padding.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The lower-case hex SHA-256 of a token, as `token_sha256` holds it.
pub fn token_sha256(token: &str) -> String {
    hex::encode(digest(token.as_bytes()))
}

struct Session {
    analyst: Arc<Analyst>,
    csrf: String,
    expires: Instant,
}

/// The configured analysts and the open console sessions.
pub struct Directory {
    analysts: Vec<([u8; 32], Arc<Analyst>)>,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field(
                "analysts",
                &self.analysts.iter().map(|(_, a)| a).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A session just opened: the cookie value and the CSRF token pages send back.
pub struct NewSession {
    pub cookie: String,
    pub csrf: String,
}

impl Directory {
    /// The analysts of a validated configuration (entries whose digest does not decode are
    /// skipped: validation has refused them already).
    pub fn new(analysts: &[AnalystConfig]) -> Self {
        let analysts = analysts
            .iter()
            .filter_map(|a| {
                let mut d = [0u8; 32];
                hex::decode_to_slice(a.token_sha256.trim(), &mut d).ok()?;
                Some((
                    d,
                    Arc::new(Analyst {
                        name: a.name.trim().to_owned(),
                        role: a.role,
                    }),
                ))
            })
            .collect();
        Self {
            analysts,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.analysts.is_empty()
    }

    /// The analyst holding this token. Every entry is compared, in constant time each.
    pub fn by_token(&self, token: &[u8]) -> Option<Arc<Analyst>> {
        let d = digest(token);
        let mut found = None;
        for (known, a) in &self.analysts {
            if super::guard::constant_time_eq(known, &d) {
                found = Some(a.clone());
            }
        }
        found
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for an analyst.
    pub fn open_session(
        &self,
        analyst: Arc<Analyst>,
        now: Instant,
    ) -> Result<NewSession, getrandom::Error> {
        let cookie = new_token()?;
        let csrf = new_token()?;
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest(cookie.as_bytes()),
            Session {
                analyst,
                csrf: csrf.clone(),
                expires: now + Duration::from_secs(SESSION_HOURS * 3600),
            },
        );
        Ok(NewSession { cookie, csrf })
    }

    /// The analyst and CSRF token of a live session.
    pub fn session(&self, cookie: &str, now: Instant) -> Option<(Arc<Analyst>, String)> {
        let sessions = self.sessions();
        let s = sessions.get(&digest(cookie.as_bytes()))?;
        (s.expires > now).then(|| (s.analyst.clone(), s.csrf.clone()))
    }

    /// Ends a session (logout).
    pub fn close_session(&self, cookie: &str) {
        self.sessions().remove(&digest(cookie.as_bytes()));
    }
}

/// The session cookie's value in a request's `Cookie` headers.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, token: &str) -> AnalystConfig {
        AnalystConfig {
            name: name.into(),
            role,
            token_sha256: token_sha256(token),
        }
    }

    #[test]
    fn tokens_map_to_their_analyst_and_nothing_else() {
        let d = Directory::new(&[
            entry("alice", Role::Analyst, "tok-a"),
            entry("victor", Role::Viewer, "tok-v"),
        ]);
        assert_eq!(d.by_token(b"tok-a").unwrap().name, "alice");
        assert_eq!(d.by_token(b"tok-v").unwrap().role, Role::Viewer);
        assert!(d.by_token(b"tok-x").is_none());
        assert!(d.by_token(b"").is_none());
        // Debug shows names and roles, never the token digests.
        let dbg = format!("{d:?}");
        assert!(dbg.contains("alice") && !dbg.contains(&token_sha256("tok-a")));
    }

    #[test]
    fn sessions_expire_and_close() {
        let d = Directory::new(&[entry("alice", Role::Analyst, "tok-a")]);
        let now = Instant::now();
        let a = d.by_token(b"tok-a").unwrap();
        let s = d.open_session(a, now).unwrap();
        assert_ne!(s.cookie, s.csrf);
        let (who, csrf) = d.session(&s.cookie, now).unwrap();
        assert_eq!(
            (who.name.as_str(), csrf.as_str()),
            ("alice", s.csrf.as_str())
        );
        let later = now + Duration::from_secs(SESSION_HOURS * 3600 + 1);
        assert!(d.session(&s.cookie, later).is_none(), "expired");
        assert!(d.session("forged", now).is_none());
        d.close_session(&s.cookie);
        assert!(d.session(&s.cookie, now).is_none(), "closed");
    }

    #[test]
    fn validation_names_each_bad_entry() {
        let mut bad = entry("alice", Role::Admin, "x");
        bad.token_sha256 = "abc".into();
        let p = problems(&[
            entry("alice", Role::Analyst, "t1"),
            entry("Alice", Role::Viewer, "t2"),
            bad,
            entry("bob", Role::Viewer, "t1"),
            entry(" ", Role::Viewer, "t3"),
        ]);
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "api.analysts[1].name",
                "api.analysts[2].name",
                "api.analysts[2].token_sha256",
                "api.analysts[3].token_sha256",
                "api.analysts[4].name"
            ]
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.append(
            axum::http::header::COOKIE,
            "a=1; nightwatch_session=abc ; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        assert!(session_cookie(&axum::http::HeaderMap::new()).is_none());
    }
}
