//! HTTPS for every client verdict ships (`verdict pep`, `verdict log
//! verify`, the CLI's `--server`): rustls with the system's roots, plus the
//! certificates of a private CA when `--ca-file` names one.

use std::path::Path;

use crate::PepError;

/// A client builder that trusts the system's roots and, if given, every
/// certificate in the PEM file `ca_file`.
pub fn client_builder(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder, PepError> {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(path) = ca_file {
        let bad = |detail: String| PepError::Tls { path: path.display().to_string(), detail };
        let certificates = verdict_wire::tls::certificates(path, "CA certificates").map_err(|e| bad(e.to_string()))?;
        for der in certificates {
            let certificate = reqwest::Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}
