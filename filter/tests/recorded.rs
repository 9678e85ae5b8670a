#![allow(clippy::type_complexity)]
// A test file: its helpers panic to fail the test (clippy.toml allows that only
// inside #[test] functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Replays real recorded OpenAI / Azure OpenAI responses (go-vcr cassettes from
//! envoyproxy/ai-gateway, kept in `tests/fixtures/recorded/` with their licence) through the response reader
//! split at every byte position (a property test: the counts must not depend
//! on how Envoy cuts the body), and in chunks of several sizes.

use llmgate_filter::json_model;
use llmgate_filter::response::{is_event_stream, Outcome, ResponseReader};
use llmgate_filter::usage::{TokenUsage, UsageFormat};
use serde::Deserialize;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/recorded/");

#[derive(Deserialize)]
struct Cassette {
    interactions: Vec<Interaction>,
}

#[derive(Deserialize)]
struct Interaction {
    request: Message,
    response: Message,
}

#[derive(Deserialize)]
struct Message {
    body: String,
    headers: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    code: Option<u32>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

fn load(file: &str) -> Interaction {
    let path = format!("{FIXTURES}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cassette: Cassette =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    cassette
        .interactions
        .into_iter()
        .next()
        .expect("one interaction")
}

fn reader(event_stream: bool) -> ResponseReader {
    ResponseReader::new(UsageFormat::OpenAiChat, event_stream, false)
}

fn read_in_chunks(event_stream: bool, body: &[u8], chunk: usize) -> Outcome {
    let mut reader = reader(event_stream);
    for piece in body.chunks(chunk) {
        reader.feed(piece);
    }
    reader.finish()
}

fn read_split_at(event_stream: bool, body: &[u8], at: usize) -> Outcome {
    let mut reader = reader(event_stream);
    reader.feed(&body[..at]);
    reader.feed(&body[at..]);
    reader.finish()
}

/// Every byte position for streams (where cuts matter: the carry-over of
/// an unfinished event). A JSON body is only concatenated and parsed once at
/// the end, so long ones (embeddings: 36 KB) are cut at every byte near the
/// ends and at a stride in between, keeping this test at a few seconds.
fn split_points(event_stream: bool, len: usize) -> Vec<usize> {
    if event_stream || len <= 4096 {
        return (0..=len).collect();
    }
    (0..=len)
        .filter(|at| *at < 256 || len - at < 256 || at % 97 == 0)
        .collect()
}

fn tokens(input: u64, output: u64, total: u64, reasoning: u64) -> Option<TokenUsage> {
    Some(TokenUsage {
        input,
        output,
        total,
        reasoning,
        ..TokenUsage::default()
    })
}

#[test]
fn recorded_responses() {
    let cases: &[(&str, u32, bool, Option<&str>, Option<TokenUsage>)] = &[
        (
            "azure-chat-basic.yaml",
            200,
            false,
            Some("gpt-5-nano-2025-08-07"),
            tokens(8, 271, 279, 192),
        ),
        (
            "chat-basic.yaml",
            200,
            false,
            Some("gpt-5-nano-2025-08-07"),
            tokens(8, 377, 385, 320),
        ),
        (
            "chat-detailed-usage.yaml",
            200,
            false,
            Some("gpt-5-nano-2025-08-07"),
            tokens(12, 100, 112, 100),
        ),
        (
            "chat-reasoning.yaml",
            200,
            false,
            Some("gpt-5-nano-2025-08-07"),
            tokens(27, 267, 294, 192),
        ),
        (
            "chat-tools.yaml",
            200,
            false,
            Some("gpt-5-nano-2025-08-07"),
            tokens(162, 287, 449, 256),
        ),
        (
            "embeddings-basic.yaml",
            200,
            false,
            Some("text-embedding-3-small"),
            tokens(7, 0, 7, 0),
        ),
        (
            "chat-streaming-detailed-usage.yaml",
            200,
            true,
            Some("gpt-5-nano-2025-08-07"),
            tokens(12, 100, 112, 100),
        ),
        (
            "chat-streaming.yaml",
            200,
            true,
            Some("gpt-5-nano-2025-08-07"),
            None,
        ),
        (
            "chat-streaming-web-search.yaml",
            200,
            true,
            Some("gpt-4o-mini-search-preview-2025-03-11"),
            None,
        ),
        (
            "completion-streaming-usage.yaml",
            200,
            true,
            Some("babbage:2023-07-21-v2"),
            tokens(31, 25, 56, 0),
        ),
        ("chat-bad-request.yaml", 400, false, None, None),
        ("chat-unknown-model.yaml", 404, false, None, None),
        ("chat-no-messages.yaml", 400, false, None, None),
    ];
    for (file, code, streamed, model, usage) in cases {
        let interaction = load(file);
        let response = &interaction.response;
        assert_eq!(response.code, Some(*code), "{file}");
        let event_stream = is_event_stream(response.header("content-type").unwrap_or_default());
        assert_eq!(event_stream, *streamed, "{file}");
        let want = Outcome {
            model: model.map(str::to_owned),
            usage: *usage,
            streamed: *streamed,
            ..Outcome::default()
        };
        let body = response.body.as_bytes();
        for at in split_points(event_stream, body.len()) {
            assert_eq!(
                read_split_at(event_stream, body, at),
                want,
                "{file} split at {at}"
            );
        }
        for chunk in [4096, 100, 7, 1] {
            let got = read_in_chunks(event_stream, body, chunk);
            assert_eq!(got, want, "{file} in chunks of {chunk}");
        }
    }
}

#[test]
fn recorded_requests_model_is_read_and_replaced() {
    let cases = [
        ("azure-chat-basic.yaml", "gpt-5-nano"),
        ("chat-basic.yaml", "gpt-5-nano"),
        ("chat-tools.yaml", "gpt-5-nano"),
        (
            "chat-streaming-web-search.yaml",
            "gpt-4o-mini-search-preview",
        ),
        ("chat-unknown-model.yaml", "gpt-4.1-nano-wrong"),
    ];
    for (file, model) in cases {
        let request = load(file).request;
        let body = request.body.as_bytes();
        assert_eq!(
            json_model::read_model(body).as_deref(),
            Some(model),
            "{file}"
        );

        let rewritten = json_model::set_model(body, "forced").unwrap_or_else(|| panic!("{file}"));
        let mut before: serde_json::Value = serde_json::from_slice(body).unwrap();
        let after: serde_json::Value = serde_json::from_slice(&rewritten).unwrap();
        before["model"] = "forced".into();
        assert_eq!(after, before, "{file}");
        let grown = "forced".len() as isize - model.len() as isize;
        assert_eq!(
            rewritten.len() as isize,
            body.len() as isize + grown,
            "{file}: only the value changed"
        );
    }
}

/// The recorded stream with `include_usage`, as a client that did not ask
/// for usage gets it through the gateway: the usage chunk and every
/// `"usage":null` are gone, at every split, and each chunk then has exactly
/// the keys of the recorded stream without `include_usage`.
#[test]
fn recorded_usage_chunk_is_removed_at_every_split() {
    let with_usage = load("chat-streaming-detailed-usage.yaml").response.body;
    let without_usage = load("chat-streaming.yaml").response.body;
    let want: String = with_usage
        .split_inclusive("\n\n")
        .filter(|event| !event.contains("\"choices\":[],\"usage\":{"))
        .map(|event| event.replace(",\"usage\":null", ""))
        .collect();
    assert!(!want.contains("usage"));
    let keys = |event: &str| -> Vec<String> {
        let json = event.trim().strip_prefix("data: ").unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let first_without = without_usage.split("\n\n").next().unwrap();
    for event in want.split("\n\n").filter(|e| e.starts_with("data: {")) {
        assert_eq!(keys(event), keys(first_without), "{event}");
    }
    let body = with_usage.as_bytes();
    for at in 0..=body.len() {
        let mut reader = ResponseReader::new(UsageFormat::OpenAiChat, true, true);
        let mut out = reader.feed(&body[..at]).unwrap();
        out.extend(reader.feed(&body[at..]).unwrap());
        out.extend(reader.end().unwrap());
        assert_eq!(String::from_utf8_lossy(&out), want, "split at {at}");
        assert_eq!(
            reader.finish().usage,
            tokens(12, 100, 112, 100),
            "split at {at}"
        );
    }
}
