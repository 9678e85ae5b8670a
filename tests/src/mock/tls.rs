//! HTTPS for the mock: a certificate authority made afresh at every start, a leaf
//! certificate for one DNS name issued by it, and an axum listener that completes
//! the TLS handshake before handing a connection to the router.
//!
//! Nothing on the machine trusts the CA, so a client only gets through when it is
//! given [`MockTls::ca_pem`] (or skips verification): exactly what upstream TLS
//! validation tests need.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A peer that opens a connection and says nothing must not stall the accept loop.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server side of the mock's TLS: its acceptor and the CA that issued its certificate.
#[derive(Clone)]
pub(crate) struct MockTls {
    acceptor: TlsAcceptor,
    ca_pem: String,
    dns_name: String,
    failed_handshakes: Arc<AtomicUsize>,
}

impl MockTls {
    /// A new CA and a leaf for `dns_name` (also valid for nothing else), signed by it.
    pub(crate) fn generate(dns_name: &str) -> io::Result<MockTls> {
        let (ca_pem, chain, key) = issue(dns_name).map_err(io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        // The router speaks HTTP/1.1 only: never let ALPN pick h2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(MockTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem,
            dns_name: dns_name.to_owned(),
            failed_handshakes: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The CA certificate, PEM: what a client must trust to reach the mock.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The name the certificate is for.
    pub(crate) fn dns_name(&self) -> &str {
        &self.dns_name
    }

    pub(crate) fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::Relaxed)
    }

    pub(crate) fn listener(&self, tcp: TcpListener) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: self.acceptor.clone(),
            failed_handshakes: self.failed_handshakes.clone(),
        }
    }
}

type Issued = (
    String,
    Vec<rustls::pki_types::CertificateDer<'static>>,
    PrivateKeyDer<'static>,
);

fn issue(dns_name: &str) -> Result<Issued, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "llmgate mock CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut leaf_params = CertificateParams::new(vec![dns_name.to_owned()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, dns_name);
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain = vec![leaf.der().clone(), ca.der().clone()];
    Ok((ca.pem(), chain, key))
}

/// A TCP listener whose connections come out TLS-terminated. A failed handshake
/// (the client rejected the certificate, or spoke plaintext) drops that connection
/// and waits for the next one: those never reach the router, so they are never
/// recorded as requests.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    failed_handshakes: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors and the like: back off, like axum's own loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(_)) | Err(_) => {
                    self.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
