//! Helpers for the conversions' tests: golden files, stream feeding, and
//! reading an OpenAI SSE stream back.

use super::{ChatConversion, NativeRequest, Target};
use serde_json::Value;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conversion/");

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Compares `got` with the golden file, or (with `LLMGATE_BLESS=1`) writes
/// it, for a person to review.
pub fn golden(path: &str, got: &[u8]) {
    if std::env::var_os("LLMGATE_BLESS").is_some() {
        std::fs::write(format!("{FIXTURES}{path}"), got).unwrap();
        return;
    }
    let want = fixture(path);
    if path.ends_with(".sse") {
        assert_eq!(events(got), events(&want), "{path}");
    } else {
        let got: Value = serde_json::from_slice(got).unwrap();
        let want: Value = serde_json::from_slice(&want).unwrap();
        assert_eq!(got, want, "{path}");
    }
}

/// Pretty JSON for a golden file.
pub fn pretty(json: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(json).unwrap();
    let mut out = serde_json::to_vec_pretty(&value).unwrap();
    out.push(b'\n');
    out
}

/// An OpenAI stream's events: each `data:` JSON, `[DONE]` as a string.
/// Panics unless the bytes are exactly `data: …\n\n` events.
pub fn events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text:?}");
    text.split_terminator("\n\n")
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("{event:?}"));
            if data == "[DONE]" {
                Value::String(data.into())
            } else {
                serde_json::from_str(data).unwrap_or_else(|e| panic!("{data:?}: {e}"))
            }
        })
        .collect()
}

/// Converts a whole stream fed in the given pieces.
pub fn stream_in(
    conversion: &dyn ChatConversion,
    request: &NativeRequest,
    pieces: &[&[u8]],
) -> Vec<u8> {
    let mut stream = conversion.stream(request);
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(stream.feed(piece));
    }
    out.extend(stream.end());
    out
}

/// The stream converted whole, after checking that every split into two
/// pieces gives the same bytes.
pub fn stream_every_split(
    conversion: &dyn ChatConversion,
    request: &NativeRequest,
    native: &[u8],
) -> Vec<u8> {
    let whole = stream_in(conversion, request, &[native]);
    for at in 0..=native.len() {
        let (a, b) = native.split_at(at);
        assert_eq!(
            stream_in(conversion, request, &[a, b]),
            whole,
            "split at {at}"
        );
    }
    whole
}

/// A request with only the stream settings that matter to a stream.
pub fn stream_request(model: &str, include_usage: bool) -> NativeRequest {
    NativeRequest {
        body: Vec::new(),
        stream: true,
        include_usage,
        model: model.into(),
    }
}

pub const NO_TARGET: Target<'static> = Target { model: None };

/// Deterministic pseudo-random bytes (xorshift), for garbage inputs.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// Inputs no conversion should panic on.
pub fn garbage() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = [
        "", "null", "[]", "{}", "[{}]", "[[]]", "\"x\"", "1", "{\"messages\":1}",
        "{\"messages\":[null,1,\"x\",{}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[null,{},{\"type\":1}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[null,{},{\"function\":null}]}]}",
        "{\"messages\":[{\"role\":\"tool\"}],\"tools\":[null],\"tool_choice\":{}}",
        "{\"candidates\":[null,1,{\"content\":null},{\"content\":{\"parts\":[null,{\"text\":1},{\"functionCall\":1}]}}]}",
        "{\"output\":{\"message\":{\"content\":[null,{},{\"toolUse\":1},{\"reasoningContent\":[]}]}},\"usage\":[]}",
        "{\"error\":null}", "{\"error\":{\"message\":1}}", "[{\"error\":\"x\"}]",
        "data: {}\n\n", "data: [\n\n", "data: {\"error\":1}\r\n\r\n",
        "data: {\"candidates\":[{\"index\":-1,\"finishReason\":1}]}\n\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for seed in 1..40 {
        inputs.push(noise(seed, (seed as usize) * 7));
    }
    inputs
}
