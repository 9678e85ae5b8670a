//! What the provider-specific work costs per request, on the host (the wasm
//! build runs the same code under V8's JIT; docs/benchmarks.md):
//! - SigV4 signing of a Bedrock Converse request (SHA-256 of the body, four
//!   HMACs, the canonical request);
//! - the held-body edits (Gemini's `stream` removal, Bedrock's guardrail);
//! - reading usage from a Bedrock ConverseStream reply (AWS event-stream
//!   framing with both CRCs checked) in 16 KiB pieces.
//!
//! ```sh
//! cargo run --release -p llmgate-filter --example request_cost -- 20000
//! ```

use std::hint::black_box;
use std::time::Instant;

use llmgate_filter::body_edits::{self, Edit};
use llmgate_filter::response::{Framing, ResponseReader};
use llmgate_filter::sigv4::{self, Credentials, SignableRequest};
use llmgate_filter::usage::UsageFormat;

const PIECE: usize = 16 * 1024;

/// A Converse body of about 2 KiB, a typical chat turn.
fn converse_body() -> Vec<u8> {
    let text = "Summarise the following paragraph in one sentence. ".repeat(36);
    format!(
        r#"{{"messages":[{{"role":"user","content":[{{"text":"{text}"}}]}}],"inferenceConfig":{{"maxTokens":512,"temperature":0.2}},"stream":true}}"#
    )
    .into_bytes()
}

/// One event-stream message as AWS frames it.
fn frame(event_type: &str, payload: &str) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload.as_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A ConverseStream reply with `deltas` text deltas and the usage at the end.
fn converse_stream(deltas: usize) -> Vec<u8> {
    let mut out = frame("messageStart", r#"{"role":"assistant"}"#);
    for i in 0..deltas {
        out.extend(frame(
            "contentBlockDelta",
            &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"token {i} "}}}}"#),
        ));
    }
    out.extend(frame("contentBlockStop", r#"{"contentBlockIndex":0}"#));
    out.extend(frame("messageStop", r#"{"stopReason":"end_turn"}"#));
    out.extend(frame(
        "metadata",
        r#"{"usage":{"inputTokens":28,"outputTokens":19,"totalTokens":47},"metrics":{"latencyMs":812}}"#,
    ));
    out
}

fn per_op(label: &str, n: usize, mut op: impl FnMut() -> u64) {
    let start = Instant::now();
    let mut sink = 0u64;
    for _ in 0..n {
        sink = sink.wrapping_add(op());
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<48} {ns:>10.0} ns/op   (checksum {sink})");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let body = converse_body();
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: Some("session-token-example"),
    };
    let headers = [
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
    ];
    println!("body {} bytes, {n} iterations", body.len());
    per_op("sigv4::sign (2 KiB body, session token)", n, || {
        let req = SignableRequest {
            method: "POST",
            path_and_query: "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
            headers: &headers,
            body: black_box(&body),
        };
        sigv4::sign(&req, &creds, "us-east-1", "bedrock", 1_764_360_000).len() as u64
    });
    per_op("body_edits: remove stream + add guardrail", n, || {
        let edits = [
            Edit::RemoveStream,
            Edit::AddGuardrail {
                identifier: "gr-abc123",
                version: "1",
            },
        ];
        body_edits::apply(black_box(&body), &edits).map_or(0, |e| e.body.len() as u64)
    });
    let stream = converse_stream(1000);
    println!("ConverseStream reply: 1000 deltas, {} bytes", stream.len());
    per_op("event-stream usage read (1000 deltas)", n / 20, || {
        let mut reader =
            ResponseReader::with_framing(UsageFormat::Bedrock, Framing::AwsEventStream, false);
        for piece in black_box(&stream).chunks(PIECE) {
            reader.feed(piece);
        }
        reader.finish().usage.map_or(0, |u| u.total)
    });
}
