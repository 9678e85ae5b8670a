//! `llmgate certs`: a CA for the control plane's port and the two
//! certificates it signs — the control plane's (server) and the Envoys'
//! (client; its common name is the node's identity). As files, or as the
//! Kubernetes TLS Secrets the deploy manifests mount.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::json;

use crate::xds::tls::{CA_FILE, CERT_FILE, KEY_FILE};

/// One side's credentials, PEM.
pub struct Credentials {
    pub cert: String,
    pub key: String,
}

pub struct Issued {
    pub ca_cert: String,
    pub ca_key: String,
    pub server: Credentials,
    pub envoy: Credentials,
}

/// A fresh CA; a server certificate for `server_names` (plus loopback); a
/// client certificate whose common name is `envoy_name`.
pub fn issue(server_names: &[String], envoy_name: &str) -> Result<Issued, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "llmgate control plane CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut names: Vec<String> = server_names.to_vec();
    for loopback in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == loopback) {
            names.push(loopback.to_string());
        }
    }
    let leaf = |names: Vec<String>, common_name: &str, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok::<_, rcgen::Error>(Credentials {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    };
    let server_name = names.first().cloned().unwrap_or_default();
    let server = leaf(names, &server_name, ExtendedKeyUsagePurpose::ServerAuth)?;
    let envoy = leaf(Vec::new(), envoy_name, ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(Issued {
        ca_cert: ca.pem(),
        ca_key: ca_key_pem,
        server,
        envoy,
    })
}

/// `dir/ca.crt`, `dir/ca.key`, and `dir/server/` and `dir/envoy/` each with
/// `ca.crt`, `tls.crt`, `tls.key` (what `serve --tls-dir` and `bootstrap
/// --tls-dir` read). Keys are owner-only.
pub fn write(issued: &Issued, dir: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let put = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        file.write_all(text.as_bytes())
    };
    std::fs::create_dir_all(dir)?;
    put(&dir.join(CA_FILE), &issued.ca_cert, 0o644)?;
    put(&dir.join("ca.key"), &issued.ca_key, 0o600)?;
    for (side, credentials) in [("server", &issued.server), ("envoy", &issued.envoy)] {
        let side = dir.join(side);
        std::fs::create_dir_all(&side)?;
        put(&side.join(CA_FILE), &issued.ca_cert, 0o644)?;
        put(&side.join(CERT_FILE), &credentials.cert, 0o644)?;
        put(&side.join(KEY_FILE), &credentials.key, 0o600)?;
    }
    Ok(())
}

/// The Secrets `manifests/deploy/` mounts: `llmgate-xds-server` into the
/// controller, `llmgate-xds-client` into the Envoys (the CA key is not kept:
/// to rotate, issue everything anew).
pub fn kubernetes_secrets(issued: &Issued, namespace: &str) -> String {
    let secret = |name: &str, credentials: &Credentials| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": { "name": name, "namespace": namespace },
            "stringData": {
                CA_FILE: issued.ca_cert,
                CERT_FILE: credentials.cert,
                KEY_FILE: credentials.key,
            }
        })
    };
    format!(
        "---\n{}---\n{}",
        crate::yaml::to_string(&secret("llmgate-xds-server", &issued.server)),
        crate::yaml::to_string(&secret("llmgate-xds-client", &issued.envoy)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn the_client_certificate_names_the_node_and_files_are_where_serve_reads_them() {
        let issued = issue(&["cp.example".into()], "envoy-a").unwrap();
        let cert = CertificateDer::from_pem_slice(issued.envoy.cert.as_bytes()).unwrap();
        assert_eq!(
            crate::xds::tls::common_name(&cert).as_deref(),
            Some("envoy-a")
        );
        let dir = tempfile::tempdir().unwrap();
        write(&issued, dir.path()).unwrap();
        crate::xds::tls::server_config(&dir.path().join("server")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        for key in ["ca.key", "server/tls.key", "envoy/tls.key"] {
            let mode = std::fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        // Never overwrites: a second run into the same folder fails.
        assert!(write(&issued, dir.path()).is_err());
        let secrets = kubernetes_secrets(&issued, "llmgate-system");
        assert!(secrets.contains("name: llmgate-xds-client"));
        assert!(!secrets.contains(&issued.ca_key));
    }
}
