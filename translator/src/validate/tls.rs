//! Certificates and keys as Envoy's TLS context loads them: a listener's
//! chain must hold PEM certificates that parse, its key must parse and belong
//! to the first certificate; a CA bundle must hold at least one certificate
//! and nothing that fails to parse. Errors never quote the key.

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let cert = cert.map_err(|e| format!("{what}: PEM block {i} cannot be read ({e})"))?;
        x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| format!("{what}: certificate {i} is no valid X.509 certificate ({e})"))?;
        out.push(cert);
    }
    if out.is_empty() {
        return Err(format!(
            "{what}: no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(out)
}

/// A listener's certificate chain (`tls.crt`) and private key (`tls.key`).
pub fn server_certificate(chain: &str, key: &str) -> Result<(), String> {
    let chain = certificates(chain, "tls.crt")?;
    // The key's own parser error could echo key material: say what, not how.
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|_| "tls.key: no PEM private key that can be read".to_string())?;
    CertifiedKey::from_der(chain, key, &default_provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            "tls.key does not belong to the first certificate of tls.crt".to_string()
        }
        _ => "tls.key: the private key cannot be used (unsupported or malformed)".to_string(),
    })?;
    Ok(())
}

/// PEM CA certificates (a BackendTLSPolicy's `ca.crt`).
pub fn ca_bundle(pem: &str) -> Result<(), String> {
    certificates(pem, "ca.crt").map(|_| ())
}

/// A self-signed certificate (PEM, trimmed) for tests that need one Envoy
/// would load.
#[cfg(test)]
pub(crate) fn test_certificate(name: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.into()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    cert.pem().trim().to_string()
}

/// A self-signed certificate and its key (PEM), for tests of HTTPS
/// listeners.
#[cfg(test)]
pub(crate) fn test_pair(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.into()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    (cert.pem(), key.serialize_pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["gw.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn server_certificates() {
        let (cert, key) = pair();
        let (other_cert, other_key) = pair();
        assert_eq!(server_certificate(&cert, &key), Ok(()));
        assert_eq!(
            server_certificate(&format!("{cert}{other_cert}"), &key),
            Ok(())
        );
        let garbage =
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        for (chain, key, why) in [
            (cert.as_str(), other_key.as_str(), "does not belong"),
            (other_cert.as_str(), key.as_str(), "does not belong"),
            (garbage, key.as_str(), "no valid X.509"),
            ("hello", key.as_str(), "no PEM certificate"),
            (
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                key.as_str(),
                "cannot be read",
            ),
            (
                cert.as_str(),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "cannot be used",
            ),
            (cert.as_str(), "no key", "no PEM private key"),
        ] {
            let err = server_certificate(chain, key).expect_err(why);
            assert!(err.contains(why), "{why}: {err}");
            assert!(!err.contains("PRIVATE KEY"), "{err}");
        }
    }

    #[test]
    fn ca_bundles() {
        let (cert, _) = pair();
        assert_eq!(ca_bundle(&cert), Ok(()));
        assert!(ca_bundle("").is_err());
        assert!(
            ca_bundle("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
