//! Mutual TLS for the control plane's port: xDS carries every provider key,
//! so only Envoys holding a certificate issued by the control plane's CA are
//! served. Handshakes are done here, not inside tonic, so that each rejected
//! peer is logged with its address and counted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The files of one side's credentials, as `llmgate certs` writes them and a
/// Kubernetes TLS Secret mounts them.
pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

/// A peer that connects and says nothing must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate and key, and the CA its clients must be signed by.
pub fn server_config(dir: &Path) -> Result<rustls::ServerConfig, String> {
    let read_certs = |file: PathBuf| -> Result<Vec<CertificateDer<'static>>, String> {
        let certs = CertificateDer::pem_file_iter(&file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate", file.display()));
        }
        Ok(certs)
    };
    let chain = read_certs(dir.join(CERT_FILE))?;
    let key_file = dir.join(KEY_FILE);
    // The key's own error text never includes the key.
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(dir.join(CA_FILE))? {
        roots
            .add(ca)
            .map_err(|e| format!("{}: {e}", dir.join(CA_FILE).display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("{}: {e}", dir.join(CA_FILE).display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", dir.join(CERT_FILE).display()))?;
    // gRPC (ADS) is HTTP/2; the module and health endpoints also answer 1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Connections on `listener` that completed the mutual-TLS handshake; every
/// other one is logged, counted in `rejected` and dropped.
pub fn incoming(
    listener: TcpListener,
    config: rustls::ServerConfig,
    rejected: Arc<AtomicU64>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (accepted, stream) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, accepted, rejected) =
                (acceptor.clone(), accepted.clone(), rejected.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let subject = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first())
                            .and_then(|cert| common_name(cert));
                        tracing::info!(%peer, subject = subject.as_deref().unwrap_or("?"), "xDS client authenticated");
                        let _ = accepted.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => reject(&rejected, peer, &e.to_string()),
                    Err(_) => reject(&rejected, peer, "no TLS handshake within 10 s"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(stream)
}

fn reject(rejected: &AtomicU64, peer: SocketAddr, why: &str) {
    rejected.fetch_add(1, Relaxed);
    tracing::warn!(%peer, "rejected a connection to the control plane: {why}");
}

/// The certificate's subject common name: the node's identity.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let name = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(name.to_string())
}
