//! A minimal HTTPS/1.1 client with a client certificate, for the control
//! plane's port under mutual TLS (ureq is built without TLS here: everything
//! else the tests fetch is plaintext on loopback).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// `GET path` from `127.0.0.1:port`, presenting `client/tls.crt` and trusting
/// `client/ca.crt` for a server named `localhost`: the status and body.
pub fn get(port: u16, path: &str, client: &Path) -> Result<(u16, String), String> {
    let config = client_config(client)?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A peer that closes without close_notify still sent a whole response.
    if let Err(e) = tls.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(e.to_string());
        }
    }
    parse_response(&raw)
}

fn client_config(dir: &Path) -> Result<rustls::ClientConfig, String> {
    let certs = |file: &str| -> Result<Vec<CertificateDer<'static>>, String> {
        CertificateDer::pem_file_iter(dir.join(file))
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{file}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs("ca.crt")? {
        roots.add(ca).map_err(|e| e.to_string())?;
    }
    let key = PrivateKeyDer::from_pem_file(dir.join("tls.key")).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs("tls.crt")?, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let cases: [(&str, (u16, &str)); 3] = [
            ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", (200, "ok")),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                (200, "abcde"),
            ),
            ("HTTP/1.1 404 Not Found\r\n\r\n", (404, "")),
        ];
        for (raw, (status, body)) in cases {
            assert_eq!(
                parse_response(raw.as_bytes()).unwrap(),
                (status, body.to_string()),
                "{raw:?}"
            );
        }
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }
}
