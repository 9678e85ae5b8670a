//! Response compression as real providers do it: gzip when the request's
//! `accept-encoding` allows it, or always ([`super::Compress::Always`], an
//! upstream that ignores what it was asked). The recorded response
//! ([`super::MockProvider::responses`]) stays the uncompressed bytes.
//!
//! A stream is compressed chunk by chunk with a sync flush after each, so
//! every event still goes out (decodable) as soon as it is produced.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures_util::StreamExt as _;

/// Whether `accept-encoding` lists `gzip` (or `*`) with a non-zero weight.
pub(super) fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let name = coding.split(';').next().unwrap_or_default().trim();
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero_weight(coding)
        })
}

/// `q=0`, `q=0.0`, `q=0.000`.
fn zero_weight(coding: &str) -> bool {
    coding.split(';').skip(1).any(|p| {
        let p = p.trim().to_ascii_lowercase();
        p.strip_prefix("q=")
            .is_some_and(|w| w.trim().parse::<f32>().is_ok_and(|w| w == 0.0))
    })
}

/// `response` gzipped, unless it already has a content coding.
pub(super) fn compress(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if parts.headers.contains_key(CONTENT_ENCODING) {
        return Response::from_parts(parts, body);
    }
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.remove(CONTENT_LENGTH);
    let encoder = Arc::new(Mutex::new(Some(GzEncoder::new(
        Vec::new(),
        Compression::default(),
    ))));
    let at_end = encoder.clone();
    let chunks = body.into_data_stream().map(move |chunk| {
        chunk.map(|bytes| {
            let mut guard = encoder.lock().unwrap_or_else(|e| e.into_inner());
            let Some(encoder) = guard.as_mut() else {
                return Bytes::new();
            };
            // `flush` is a sync flush: what was written so far decodes now.
            if encoder
                .write_all(&bytes)
                .and_then(|()| encoder.flush())
                .is_err()
            {
                return Bytes::new();
            }
            Bytes::from(std::mem::take(encoder.get_mut()))
        })
    });
    let trailer = futures_util::stream::once(async move {
        let encoder = at_end.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok::<_, axum::Error>(Bytes::from(
            encoder.and_then(|e| e.finish().ok()).unwrap_or_default(),
        ))
    });
    Response::from_parts(parts, Body::from_stream(chunks.chain(trailer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_accept_encoding() {
        let cases = [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("*", true),
            ("identity", false),
            ("br", false),
            ("gzip;q=0", false),
            ("gzip; q=0.000", false),
            ("", false),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert("accept-encoding", HeaderValue::from_str(value).unwrap());
            assert_eq!(accepted(&headers), want, "{value}");
        }
        assert!(!accepted(&HeaderMap::new()));
    }
}
