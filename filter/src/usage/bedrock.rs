//! Bedrock Converse: `usage.{inputTokens, outputTokens, totalTokens,
//! cacheReadInputTokens, cacheWriteInputTokens}`. With prompt caching,
//! `inputTokens` counts only the tokens neither read from nor written to the
//! cache (AWS prompt-caching guide: total input = inputTokens +
//! cacheReadInputTokens + cacheWriteInputTokens) — Anthropic's split, under
//! other names. `totalTokens` is the provider's own sum. The response names
//! no model: the model label comes from the request.
//!
//! Streams (ConverseStream) are AWS event-stream messages, not SSE: only the
//! `metadata` event carries usage, `{"usage":{…},"metrics":{"latencyMs":…}}`;
//! `messageStart`, `contentBlockStart`, `contentBlockDelta`,
//! `contentBlockStop` and `messageStop` carry none. Errors after the 200 are
//! exception messages, counted by the reader from their message type.

use super::{EventReport, Report, TokenUsage, Unreadable};
use serde::Deserialize;

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageWire {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_write_input_tokens: Option<u64>,
}

impl From<UsageWire> for TokenUsage {
    fn from(u: UsageWire) -> Self {
        let cached_input = u.cache_read_input_tokens.unwrap_or(0);
        let cache_creation_input = u.cache_write_input_tokens.unwrap_or(0);
        let input = u
            .input_tokens
            .unwrap_or(0)
            .saturating_add(cached_input)
            .saturating_add(cache_creation_input);
        let output = u.output_tokens.unwrap_or(0);
        TokenUsage {
            input,
            output,
            total: u.total_tokens.unwrap_or(input.saturating_add(output)),
            cached_input,
            cache_creation_input,
            reasoning: 0,
        }
    }
}

pub fn parse_body(json: &[u8]) -> Result<Report, Unreadable> {
    let wire: Wire = serde_json::from_slice(json)?;
    Ok(Report {
        model: None,
        usage: wire.usage.map(TokenUsage::from),
    })
}

/// One ConverseStream event: its `:event-type` and JSON payload.
pub fn stream_event(event_type: &[u8], payload: &[u8]) -> Result<Option<EventReport>, Unreadable> {
    if event_type != b"metadata" {
        return Ok(None);
    }
    let wire: Wire = serde_json::from_slice(payload)?;
    Ok(Some(EventReport {
        usage: wire.usage.map(TokenUsage::from),
        ..EventReport::default()
    }))
}
