//! TLS on a syslog TCP listener (RFC 5425): the rustls server built from the input's PEM
//! files, and the bounded reason label of a refused handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// `tls = { cert = "...", key = "...", client_ca = "..." }` of a TCP syslog input: PEM files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates a client certificate must chain to; when set, clients must present one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// How long a connection may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A file problem: (config key, path, message).
pub type TlsFileError = (&'static str, PathBuf, String);

/// The rustls server of a `tls` table (ring provider, TLS 1.2 and 1.3).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsFileError> {
    let certs = read_certs("cert", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| ("key", files.key.clone(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("cert", files.cert.clone(), e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let problem = |e: &dyn std::fmt::Display| ("client_ca", ca.clone(), e.to_string());
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs("client_ca", ca)? {
                roots.add(cert).map_err(|e| problem(&e))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| problem(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key", files.key.clone(), e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate of a PEM file; at least one.
fn read_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let problem = |e: &dyn std::fmt::Display| (key, path.to_owned(), e.to_string());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| problem(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(&e))?;
    if certs.is_empty() {
        return Err(problem(&"no CERTIFICATE block in the PEM file"));
    }
    Ok(certs)
}

/// The bounded reason label of a failed handshake.
pub fn handshake_failure_reason(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
    ) {
        return "closed";
    }
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidMessage(_)) => "not_tls",
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "bad_certificate",
        Some(rustls::Error::AlertReceived(_)) => "alert",
        _ => "other",
    }
}
