//! Building the SDK client: credentials, region, endpoint, TLS roots, self-test (R11).
//!
//! TLS: the SDK's default HTTPS client (hyper 1 + rustls with aws-lc) trusts the *system* roots
//! (`rustls-native-certs`, which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`). In an image without
//! a CA bundle that store is empty and every handshake fails, STS (IRSA) first. So before
//! connecting we count the system roots: if there are none, a build with the `bundled-roots`
//! feature (on by default) uses Mozilla's roots compiled in (`webpki-root-certs`), and a build
//! without it stops with a message saying what to install. Plain `http://` endpoints (emulators)
//! skip the check.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};

use super::{CloudWatchConfig, CloudWatchSource, SdkLogsClient, SystemClock};
use crate::source::{SourceError, SourceErrorKind};

/// Which root certificates HTTPS calls will trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRoots {
    /// The system store, with this many certificates.
    Native(usize),
    /// The system store is empty; Mozilla's roots compiled into kaudit, this many.
    Bundled(usize),
    /// No usable roots at all.
    Missing,
}

/// Counts the system roots and picks what HTTPS will trust (see the module docs).
pub fn tls_roots() -> TlsRoots {
    let native = rustls_native_certs::load_native_certs().certs.len();
    if native > 0 {
        return TlsRoots::Native(native);
    }
    #[cfg(feature = "bundled-roots")]
    {
        TlsRoots::Bundled(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len())
    }
    #[cfg(not(feature = "bundled-roots"))]
    {
        TlsRoots::Missing
    }
}

#[cfg(feature = "bundled-roots")]
fn bundled_pem() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = Vec::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

fn config_error(name: &str, message: String) -> SourceError {
    SourceError::new(
        format!("cloudwatch:{name}"),
        SourceErrorKind::Config(message),
        true,
    )
}

pub(super) async fn connect(config: CloudWatchConfig) -> Result<CloudWatchSource, SourceError> {
    let group = config.log_group.clone();
    config
        .validate()
        .map_err(|e| config_error(&group, e.to_string()))?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // The source classifies, backs off and reports by itself.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(r) = &config.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &config.profile {
        if let Some(files) = profile_missing(p) {
            return Err(config_error(
                &group,
                format!(
                    "the AWS profile `{p}` is not defined in {files} (check --profile / AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)"
                ),
            ));
        }
        loader = loader.profile_name(p);
    }
    if let Some(u) = &config.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    if let Some((id, secret)) = &config.static_credentials {
        loader =
            loader.credentials_provider(Credentials::new(id, secret, None, None, "kaudit-static"));
    }
    let plain_http = config
        .endpoint_url
        .as_deref()
        .is_some_and(|u| u.starts_with("http://"));
    if !plain_http {
        match tls_roots() {
            TlsRoots::Native(n) => {
                tracing::debug!(target: "kaudit_source::cloudwatch", roots = n, "TLS: using the system root certificates");
            }
            #[cfg(feature = "bundled-roots")]
            TlsRoots::Bundled(n) => {
                use aws_smithy_http_client::tls;
                tracing::info!(target: "kaudit_source::cloudwatch", roots = n, "TLS: the system has no root certificates; using the bundled Mozilla roots");
                let ctx = tls::TlsContext::builder()
                    .with_trust_store(
                        tls::TrustStore::empty()
                            .with_native_roots(false)
                            .with_pem_certificate(bundled_pem()),
                    )
                    .build()
                    .map_err(|e| config_error(&group, format!("TLS set-up failed: {e}")))?;
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .tls_context(ctx)
                    .build_https();
                loader = loader.http_client(http);
            }
            _ => {
                return Err(config_error(
                    &group,
                    "no root CA certificates found on this system, so HTTPS to AWS cannot be verified: install the `ca-certificates` package (apt-get install ca-certificates / apk add ca-certificates), or set SSL_CERT_FILE to a PEM bundle, or build kaudit with the `bundled-roots` feature".into(),
                ));
            }
        }
    }
    let sdk = loader.load().await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return Err(config_error(
            &group,
            "no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)"
                .into(),
        ));
    };
    let mut logs = aws_sdk_cloudwatchlogs::config::Builder::from(&sdk);
    if let Some(arn) = &config.role_arn {
        let provider = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
            .session_name("kaudit")
            .configure(&sdk)
            .build()
            .await;
        logs = logs.credentials_provider(provider);
    }
    let client = aws_sdk_cloudwatchlogs::Client::from_conf(logs.build());
    let self_test = config.self_test;
    let source = CloudWatchSource::with_client(
        config,
        &region,
        Arc::new(SdkLogsClient::new(client)),
        Arc::new(SystemClock),
    );
    if self_test {
        let first = source.self_test().await?;
        tracing::info!(
            target: "kaudit_source::cloudwatch",
            log_group = %source.config.log_group,
            region = %region,
            first_stream = first.as_deref().unwrap_or("<none yet>"),
            "self-test passed: credentials, region, permissions and the log group are fine"
        );
    }
    Ok(source)
}

/// When no shared config or credentials file defines `profile`: the files looked at, for the
/// message. (The SDK would otherwise report only that no credentials were found.)
fn profile_missing(profile: &str) -> Option<String> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let files: Vec<std::path::PathBuf> = [
        file("AWS_CONFIG_FILE", ".aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let defined = files.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.lines().any(|l| {
                let l = l.trim();
                l.strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .map(str::trim)
                    .is_some_and(|h| {
                        h == profile
                            || h.strip_prefix("profile").is_some_and(|n| {
                                n.starts_with(char::is_whitespace) && n.trim() == profile
                            })
                    })
            })
        })
    });
    if defined {
        return None;
    }
    Some(
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    )
}

#[cfg(all(test, feature = "bundled-roots"))]
mod tests {
    use super::*;

    #[test]
    fn r11_bundled_roots_are_valid_pem() {
        let pem = bundled_pem();
        let text = String::from_utf8(pem).unwrap();
        let n = text.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(n, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(n > 100, "{n} bundled roots");
        // The trust store accepts them.
        use aws_smithy_http_client::tls;
        let ctx = tls::TlsContext::builder()
            .with_trust_store(
                tls::TrustStore::empty()
                    .with_native_roots(false)
                    .with_pem_certificate(text.into_bytes()),
            )
            .build();
        assert!(ctx.is_ok());
    }
}
