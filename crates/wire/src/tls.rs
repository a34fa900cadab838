//! TLS for the servers verdict ships (`verdict serve --tls-cert/--tls-key`,
//! the sidecar): a rustls configuration from PEM files, with errors that
//! name the file and say what is wrong with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read or holds no PEM of the kind asked for.
    #[error("cannot read the {what} from {path}: {detail}")]
    Unreadable {
        /// `certificate chain` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The certificate and the key do not go together, or rustls refuses them.
    #[error("the certificate {cert} and the key {key} cannot serve TLS: {detail}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        detail: String,
    },
}

/// The certificates in a PEM file, in order (leaf first for a chain).
pub fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |detail: String| TlsError::Unreadable { what, path: path.to_owned(), detail };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable("no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

/// A server configuration from a PEM certificate chain and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1), speaking HTTP/1.1.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates(cert, "certificate chain")?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Unreadable {
        what: "private key",
        path: key.to_owned(),
        detail: e.to_string(),
    })?;
    let refused = |detail: String| TlsError::Refused { cert: cert.to_owned(), key: key.to_owned(), detail };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| refused(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
