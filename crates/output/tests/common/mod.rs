//! Shared by the output tests: hand-built alerts with real fields, and test certificates.

#![allow(dead_code, reason = "each test file uses a part of the helpers")]
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaudit_engine::Priority;
use kaudit_engine::alert::{Alert, FieldValue};
use kaudit_output::testing::ReceiverTls;

/// The alert Falco's "Attach/Exec Pod" rule gives for `kubectl exec` number `n`.
pub(crate) fn exec_alert(n: u64) -> Alert {
    let time_ns = 1_733_000_000_000_000_000 + n;
    let pod = format!("web-{n}");
    let user = "kubernetes-admin";
    Alert {
        hostname: "kaudit-test".into(),
        output: format!(
            "20:53:20.{:09}: Notice Attach/Exec to pod (user={user} pod={pod} resource=pods \
             ns=default action=exec command=sh)",
            n
        ),
        output_fields: [
            ("evt.time".to_owned(), FieldValue::Uint(time_ns)),
            ("ka.target.name".to_owned(), FieldValue::Str(pod)),
            (
                "ka.target.namespace".to_owned(),
                FieldValue::Str("default".into()),
            ),
            (
                "ka.target.resource".to_owned(),
                FieldValue::Str("pods".into()),
            ),
            (
                "ka.target.subresource".to_owned(),
                FieldValue::Str("exec".into()),
            ),
            (
                "ka.uri.param[command]".to_owned(),
                FieldValue::Str("sh".into()),
            ),
            ("ka.user.name".to_owned(), FieldValue::Str(user.into())),
        ]
        .into(),
        priority: Priority::Notice,
        rule: "Attach/Exec Pod".into(),
        source: "k8s_audit".into(),
        tags: vec!["k8s".into()],
        time_ns,
    }
}

/// `exec_alert(0..n)`, shared as the pipeline hands them out.
pub(crate) fn exec_alerts(n: u64) -> Vec<Arc<Alert>> {
    (0..n).map(|i| Arc::new(exec_alert(i))).collect()
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA, as
/// PEM, plus the files they are written to.
pub(crate) struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kaudit test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server_params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kaudit");
        client_params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        };
        std::fs::write(pki.ca_file(), &pki.ca_pem).unwrap();
        std::fs::write(pki.client_cert_file(), &pki.client_cert_pem).unwrap();
        std::fs::write(pki.client_key_file(), &pki.client_key_pem).unwrap();
        pki
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn ca_file(&self) -> PathBuf {
        self.file("ca.pem")
    }

    pub(crate) fn client_cert_file(&self) -> PathBuf {
        self.file("client.pem")
    }

    pub(crate) fn client_key_file(&self) -> PathBuf {
        self.file("client-key.pem")
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The receiver's TLS: the server certificate, and with `mtls` the CA for client
    /// certificates.
    pub(crate) fn receiver(&self, mtls: bool) -> ReceiverTls {
        ReceiverTls {
            cert_pem: self.server_cert_pem.clone(),
            key_pem: self.server_key_pem.clone(),
            client_ca_pem: mtls.then(|| self.ca_pem.clone()),
        }
    }
}
