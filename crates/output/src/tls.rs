//! The rustls client configuration of the HTTP outputs.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::target::{BuildError, OutputOptions};

fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(|source| BuildError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn tls_error(path: &Path, reason: impl Into<String>) -> BuildError {
    BuildError::Tls {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(path, "no CERTIFICATE in the PEM file"));
    }
    Ok(certs)
}

/// System roots (bundled roots when there are none), the CA file and the client identity of
/// `options`.
pub(crate) fn client_config(
    options: &OutputOptions,
    system_roots: bool,
) -> Result<rustls::ClientConfig, BuildError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    if system_roots {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        #[cfg(feature = "webpki-roots")]
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
    }
    if let Some(ca) = &options.ca_file {
        for cert in certificates(ca)? {
            roots
                .add(cert)
                .map_err(|e| tls_error(ca, format!("unusable CA certificate: {e}")))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Options(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (&options.client_cert, &options.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let pem = read(key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| tls_error(key, format!("no usable private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_error(cert, format!("unusable client certificate/key: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(BuildError::Options(
                "a client certificate needs its key (client_key)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(BuildError::Options(
                "a client key needs its certificate (client_cert)".into(),
            ));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
