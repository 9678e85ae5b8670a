//! Anthropic Messages API: `usage.{input_tokens, output_tokens,
//! cache_creation_input_tokens, cache_read_input_tokens}`, where
//! `input_tokens` excludes both cache counts — the total input is the sum of
//! the three.
//!
//! Streams: `message_start` carries `message.usage` (input and cache counts,
//! a first `output_tokens`); each `message_delta` carries a `usage` whose
//! counts are cumulative, so the last value of each field wins — deltas are
//! never added. Errors arrive as `event: error` / `{"type":"error"}`.

use super::{non_empty, scan, EventReport, Report, TokenUsage, Unreadable};
use serde::Deserialize;
use std::borrow::Cow;

/// The usage fields seen so far in a stream, each the latest value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Parts {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl Parts {
    /// Cumulative counts: a field present in `later` replaces ours.
    pub fn update(&mut self, later: Parts) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }

    pub fn usage(&self) -> TokenUsage {
        let uncached = self.input_tokens.unwrap_or(0);
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let cache_creation = self.cache_creation_input_tokens.unwrap_or(0);
        let input = uncached
            .saturating_add(cache_read)
            .saturating_add(cache_creation);
        let output = self.output_tokens.unwrap_or(0);
        TokenUsage {
            input,
            output,
            total: input.saturating_add(output),
            cached_input: cache_read,
            cache_creation_input: cache_creation,
            reasoning: 0,
        }
    }
}

#[derive(Deserialize)]
struct MessageWire<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<Parts>,
}

#[derive(Deserialize)]
struct EventWire<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    /// `message_start`.
    #[serde(borrow, default)]
    message: Option<MessageWire<'a>>,
    /// `message_delta`.
    #[serde(default)]
    usage: Option<Parts>,
}

pub fn parse_body(json: &[u8]) -> Result<Report, Unreadable> {
    let wire: MessageWire<'_> = serde_json::from_slice(json)?;
    Ok(Report {
        model: non_empty(wire.model),
        usage: wire.usage.map(|p| p.usage()),
    })
}

pub fn stream_event(
    name: &[u8],
    data: &[u8],
    _need_model: bool,
) -> Result<Option<EventReport>, Unreadable> {
    // The model is in `message_start`, which also has usage: one check serves both.
    let interesting = name == b"error"
        || scan::has_non_null_member(data, b"\"usage\"")
        || scan::contains(data, b"\"error\"");
    if !interesting {
        return Ok(None);
    }
    let wire: EventWire<'_> = serde_json::from_slice(data)?;
    let error = name == b"error" || wire.kind.as_deref() == Some("error");
    let (model, start_usage) = match wire.message {
        Some(m) => (non_empty(m.model), m.usage),
        None => (None, None),
    };
    Ok(Some(EventReport {
        model,
        usage: None,
        anthropic: start_usage.or(wire.usage),
        error,
    }))
}
