//! OpenAI / Azure Responses API: `usage.{input_tokens, output_tokens,
//! total_tokens, input_tokens_details.cached_tokens,
//! output_tokens_details.reasoning_tokens}` on the response object — the
//! whole body, or in a stream the `response` of the `response.completed`
//! (also `response.incomplete` / `response.failed`) event.

use super::{non_empty, scan, EventReport, Report, TokenUsage, Unreadable};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct ResponseWire<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct EventWire<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response: Option<ResponseWire<'a>>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<UsageWire> for TokenUsage {
    fn from(u: UsageWire) -> Self {
        let input = u.input_tokens.unwrap_or(0);
        let output = u.output_tokens.unwrap_or(0);
        TokenUsage {
            input,
            output,
            total: u.total_tokens.unwrap_or(input.saturating_add(output)),
            cached_input: u
                .input_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_creation_input: 0,
            reasoning: u
                .output_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

pub fn parse_body(json: &[u8]) -> Result<Report, Unreadable> {
    let wire: ResponseWire<'_> = serde_json::from_slice(json)?;
    Ok(Report {
        model: non_empty(wire.model),
        usage: wire.usage.map(TokenUsage::from),
    })
}

pub fn stream_event(data: &[u8], need_model: bool) -> Result<Option<EventReport>, Unreadable> {
    if data == b"[DONE]" {
        return Ok(None);
    }
    let interesting = scan::has_non_null_member(data, b"\"usage\"")
        || (need_model && scan::contains(data, b"\"model\""))
        || scan::contains(data, b"\"error\"")
        || scan::contains(data, b"\"response.failed\"");
    if !interesting {
        return Ok(None);
    }
    let wire: EventWire<'_> = serde_json::from_slice(data)?;
    let error = matches!(wire.kind.as_deref(), Some("error" | "response.failed"));
    let (model, usage) = match wire.response {
        Some(r) => (non_empty(r.model), r.usage.map(TokenUsage::from)),
        None => (None, None),
    };
    Ok(Some(EventReport {
        model,
        usage,
        anthropic: None,
        error,
    }))
}
