//! `[inputs.NAME] type = "syslog"`: its table, defaults and checks, and the listener settings
//! they resolve to.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{Protocol, SyslogSettings, TlsFiles};
use crate::base::Problem;

/// `[inputs.NAME] type = "syslog"`: a syslog listener, UDP or TCP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogInputConfig {
    pub listen: String,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// TCP: open connections from one IP address at most.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: usize,
    /// TCP: a connection silent this long is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// UDP: `SO_RCVBUF` to ask for; 0 keeps the system default.
    #[serde(default = "default_receive_buffer_bytes")]
    pub receive_buffer_bytes: usize,
    /// TLS on a TCP listener (certificate, key, optional client CA for mutual TLS).
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

fn default_protocol() -> String {
    "udp".into()
}
fn default_max_message_bytes() -> usize {
    65_536
}
fn default_max_connections() -> usize {
    1024
}
/// One address may hold 1/16 of the default total: a relay or a NAT gateway has room, a
/// single host cannot lock the others out.
fn default_max_connections_per_peer() -> usize {
    64
}
/// Five minutes: far longer than a live sender's gap between messages or reconnects, short
/// enough that connections left open by crashed or hostile senders do not pile up.
fn default_idle_timeout_secs() -> u64 {
    300
}
/// 4 MiB: a burst of ~10k typical datagrams; Linux grants at most twice `net.core.rmem_max`.
fn default_receive_buffer_bytes() -> usize {
    4 * 1024 * 1024
}

impl SyslogInputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let key = |k: &str| format!("{table}.{k}");
        let mut p = Vec::new();
        if let Some(tls) = &self.tls {
            if self.protocol != "tcp" {
                p.push(Problem::new(key("tls"), "tls needs protocol = \"tcp\""));
            }
            let files = [("cert", Some(&tls.cert)), ("key", Some(&tls.key))];
            for (k, path) in files
                .into_iter()
                .chain([("client_ca", tls.client_ca.as_ref())])
            {
                if let Some(path) = path
                    && !path.is_file()
                {
                    p.push(Problem::new(
                        key(&format!("tls.{k}")),
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
        }
        if let Err(e) = self.listen.parse::<SocketAddr>() {
            p.push(Problem::new(
                key("listen"),
                format!("not a socket address: {e}"),
            ));
        }
        if !matches!(self.protocol.as_str(), "udp" | "tcp") {
            p.push(Problem::new(
                key("protocol"),
                format!("`{}` is not one of udp, tcp", self.protocol),
            ));
        }
        p.extend(crate::base::at_least_one(
            table,
            &[
                ("max_message_bytes", self.max_message_bytes as u64),
                ("max_connections", self.max_connections as u64),
                (
                    "max_connections_per_peer",
                    self.max_connections_per_peer as u64,
                ),
                ("idle_timeout_secs", self.idle_timeout_secs),
            ],
        ));
        if self.receive_buffer_bytes > i32::MAX as usize {
            p.push(Problem::new(
                key("receive_buffer_bytes"),
                format!("must be at most {}", i32::MAX),
            ));
        }
        p
    }

    /// The listener settings; `Err` when `listen` is not a socket address.
    pub fn settings(&self, table: &str) -> Result<SyslogSettings, Problem> {
        Ok(SyslogSettings {
            listen: self.listen.parse().map_err(|e| {
                Problem::new(
                    format!("{table}.listen"),
                    format!("`{}` is not a socket address: {e}", self.listen),
                )
            })?,
            protocol: if self.protocol == "tcp" {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            max_message_bytes: self.max_message_bytes,
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            receive_buffer_bytes: self.receive_buffer_bytes,
            tls: self.tls.clone(),
        })
    }
}
