//! How big a request body an AI Backend takes: the Backend annotation
//! `llmgate.io/max-request-bytes` (bytes, or with a `Ki`/`Mi` suffix),
//! 32 MiB without it. The llmgate filter answers a body over it 413 where it
//! holds the body (to set the model, convert it, add a guardrail, sign it) or
//! Envoy buffers it (priority groups, for failover); the routes to the
//! Backend let Envoy buffer [`envoy_buffer_limit`] of it. Bodies the gateway
//! neither edits nor retries stream through at any size.

pub use llmgate_filter::config::envoy_buffer_limit;
use llmgate_filter::config::DEFAULT_MAX_REQUEST_BYTES;

use crate::backend::Backend;
use crate::problem::{Problem, Unavailable};
use crate::source::Object;

pub const MAX_REQUEST_BYTES_ANNOTATION: &str = "llmgate.io/max-request-bytes";

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// The smallest limit: a chat request's JSON with a short question.
pub const MIN_MAX_REQUEST_BYTES: u64 = KIB;
/// The largest limit: the filter holds a copy of the body, and of its
/// rewrite, in its VM's memory while it edits it.
pub const MAX_MAX_REQUEST_BYTES: u64 = 128 * MIB;

/// The Backend's limit, or why the annotation cannot be used (the Backend
/// is then not served: a limit silently replaced by another would either
/// refuse requests the owner meant to allow or hold more than meant).
pub fn of(backend: &Object<Backend>) -> Result<u64, Unavailable> {
    let value = backend
        .value
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MAX_REQUEST_BYTES_ANNOTATION));
    let Some(value) = value else {
        return Ok(DEFAULT_MAX_REQUEST_BYTES);
    };
    parse(value).map_err(|message| {
        Box::new(
            Problem::error(message)
                .at(&backend.origin)
                .object(backend.object_ref("Backend"))
                .field(format!(
                    "metadata.annotations[{MAX_REQUEST_BYTES_ANNOTATION}]"
                )),
        )
    })
}

/// `33554432`, `32Mi`, `512Ki` → bytes, within
/// [`MIN_MAX_REQUEST_BYTES`]..=[`MAX_MAX_REQUEST_BYTES`].
pub fn parse(value: &str) -> Result<u64, String> {
    let v = value.trim();
    let (digits, unit) = if let Some(n) = v.strip_suffix("Mi") {
        (n, MIB)
    } else if let Some(n) = v.strip_suffix("Ki") {
        (n, KIB)
    } else {
        (v, 1)
    };
    let bytes = Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u64>().ok())
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!(
                "{value:?} is not a size: write bytes (33554432) or a number with Ki or Mi (32Mi)"
            )
        })?;
    if !(MIN_MAX_REQUEST_BYTES..=MAX_MAX_REQUEST_BYTES).contains(&bytes) {
        return Err(format!(
            "{value} is out of range: {MIN_MAX_REQUEST_BYTES} bytes (1Ki) to \
             {MAX_MAX_REQUEST_BYTES} bytes (128Mi)"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Result<u64, &str>)] = &[
            ("33554432", Ok(32 * MIB)),
            ("32Mi", Ok(32 * MIB)),
            (" 512Ki ", Ok(512 * KIB)),
            ("1Ki", Ok(KIB)),
            ("1024", Ok(KIB)),
            ("128Mi", Ok(128 * MIB)),
            ("1023", Err("out of range")),
            ("129Mi", Err("out of range")),
            ("0", Err("out of range")),
            ("99999999999999999999Mi", Err("is not a size")),
            ("18014398509481984Mi", Err("is not a size")),
            ("32MB", Err("is not a size")),
            ("32M", Err("is not a size")),
            ("-1", Err("is not a size")),
            ("1.5Mi", Err("is not a size")),
            ("Mi", Err("is not a size")),
            ("", Err("is not a size")),
        ];
        for (value, want) in cases {
            match (parse(value), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{value}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{value}: {got}"),
                (got, want) => panic!("{value}: {got:?}, want {want:?}"),
            }
        }
    }
}
