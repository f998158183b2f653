//! Authentication: the bearer token (constant-time comparison, re-read when its file changes)
//! and the TLS server configuration (with client-certificate verification).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use subtle::ConstantTimeEq;

use super::{TlsFiles, WebhookError};

/// Re-read the token file at least this often, even when its metadata looks unchanged (a
/// rewrite within the file system's timestamp granularity keeping the same length).
const RECHECK: Duration = Duration::from_secs(10);

/// What identifies one version of the token file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    ino: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(meta),
        }
    }
}

#[derive(Debug)]
struct Current {
    token: Arc<[u8]>,
    stamp: Stamp,
    read_at: Instant,
}

/// A bearer token kept in a file (a mounted Secret): checked on every request, re-read when the
/// file's modification time, size or inode changes, so a rotated Secret takes effect without a
/// restart. When the file cannot be read any more, the last token stays in use.
#[derive(Debug)]
pub(super) struct TokenFile {
    path: PathBuf,
    current: Mutex<Current>,
}

fn file_error(what: &'static str, path: &Path, message: impl ToString) -> WebhookError {
    WebhookError::File {
        what,
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn read_token(path: &Path) -> Result<(Arc<[u8]>, Stamp), WebhookError> {
    let meta = std::fs::metadata(path).map_err(|e| file_error("token file", path, e))?;
    let text = std::fs::read(path).map_err(|e| file_error("token file", path, e))?;
    let token = text.trim_ascii();
    if token.is_empty() {
        return Err(file_error("token file", path, "it is empty"));
    }
    if token
        .iter()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(file_error(
            "token file",
            path,
            "the token contains whitespace or control characters",
        ));
    }
    Ok((Arc::from(token), Stamp::of(&meta)))
}

impl TokenFile {
    /// Reads the token once (start-up fails when it cannot).
    pub(super) fn load(path: PathBuf) -> Result<TokenFile, WebhookError> {
        let (token, stamp) = read_token(&path)?;
        Ok(TokenFile {
            path,
            current: Mutex::new(Current {
                token,
                stamp,
                read_at: Instant::now(),
            }),
        })
    }

    /// The token in force now: re-read when the file changed (one `stat` per call otherwise).
    fn token(&self) -> Arc<[u8]> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp::of(&m));
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = stamp.as_ref().is_some_and(|s| *s != current.stamp);
        if changed || current.read_at.elapsed() >= RECHECK {
            match read_token(&self.path) {
                Ok((token, stamp)) => {
                    if token != current.token {
                        tracing::info!(path = %self.path.display(), "webhook token file changed; using the new token");
                    }
                    *current = Current {
                        token,
                        stamp,
                        read_at: Instant::now(),
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-read the webhook token file; keeping the previous token");
                    current.read_at = Instant::now();
                }
            }
        }
        Arc::clone(&current.token)
    }

    /// Whether an `Authorization` header value carries the token (`Bearer <token>`, the scheme
    /// case-insensitive). The comparison takes the same time wherever the first difference is.
    pub(super) fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, presented)) = split_once(value, b' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        let expected = self.token();
        bool::from(presented.trim_ascii().ct_eq(&expected))
    }
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|b| *b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// The rustls server configuration for `files`: its certificate and key, and, with a client CA,
/// a verifier that requires a client certificate chaining to it.
pub(super) fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, WebhookError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| file_error("TLS certificate", &files.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error("TLS certificate", &files.cert, e))?;
    if certs.is_empty() {
        return Err(file_error(
            "TLS certificate",
            &files.cert,
            "no PEM certificate in it",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| file_error("TLS key", &files.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Tls(e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(ca).map_err(|e| file_error("client CA", ca, e))?;
            for cert in certs {
                let cert = cert.map_err(|e| file_error("client CA", ca, e))?;
                roots
                    .add(cert)
                    .map_err(|e| file_error("client CA", ca, e))?;
            }
            if roots.is_empty() {
                return Err(file_error("client CA", ca, "no PEM certificate in it"));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| WebhookError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| file_error("TLS certificate and key", &files.cert, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_compared_whole_and_re_read_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let t = TokenFile::load(path.clone()).unwrap();
        assert!(t.accepts(Some(b"Bearer s3cret")));
        assert!(t.accepts(Some(b"bearer s3cret")));
        assert!(!t.accepts(Some(b"Bearer s3cre")));
        assert!(!t.accepts(Some(b"Bearer s3cret2")));
        assert!(!t.accepts(Some(b"Basic s3cret")));
        assert!(!t.accepts(Some(b"s3cret")));
        assert!(!t.accepts(None));
        std::fs::write(&path, "rotated-token-longer").unwrap();
        assert!(t.accepts(Some(b"Bearer rotated-token-longer")));
        assert!(!t.accepts(Some(b"Bearer s3cret")));
        // An unreadable (removed) file keeps the last token.
        std::fs::remove_file(&path).unwrap();
        assert!(t.accepts(Some(b"Bearer rotated-token-longer")));
    }

    #[test]
    fn an_empty_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, " \n").unwrap();
        let err = TokenFile::load(path.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("token file `{}`: it is empty", path.display())
        );
    }
}
