//! OpenAI chat completions (Azure OpenAI, OpenAI-compatible servers, legacy
//! completions and embeddings share it): `usage.{prompt_tokens,
//! completion_tokens, total_tokens}` with `prompt_tokens_details.cached_tokens`
//! and `completion_tokens_details.reasoning_tokens`.
//!
//! Streams carry usage only with `stream_options.include_usage`: one chunk
//! with `"choices":[]` and a non-null `usage`, while every other chunk has
//! `"usage":null`. Azure may send content-filter chunks (empty `id`) after
//! it, so every chunk is scanned — position is not trusted.

use super::{non_empty, scan, EventReport, Report, TokenUsage, Unreadable};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<UsageWire> for TokenUsage {
    fn from(u: UsageWire) -> Self {
        let input = u.prompt_tokens.unwrap_or(0);
        let output = u.completion_tokens.unwrap_or(0);
        TokenUsage {
            input,
            output,
            total: u.total_tokens.unwrap_or(input.saturating_add(output)),
            cached_input: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_creation_input: 0,
            reasoning: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

pub fn parse_body(json: &[u8]) -> Result<Report, Unreadable> {
    let wire: Wire<'_> = serde_json::from_slice(json)?;
    Ok(Report {
        model: non_empty(wire.model),
        usage: wire.usage.map(TokenUsage::from),
    })
}

#[derive(Deserialize)]
struct TextWire<'a> {
    #[serde(borrow, default)]
    choices: Vec<ChoiceWire<'a>>,
}

#[derive(Deserialize)]
struct ChoiceWire<'a> {
    #[serde(borrow, default)]
    delta: Option<TextPart<'a>>,
    #[serde(borrow, default)]
    message: Option<TextPart<'a>>,
}

#[derive(Deserialize)]
struct TextPart<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
}

/// Characters of generated text in a chunk (`delta`) or a whole reply
/// (`message`): what an estimate of unreported output goes by. 0 for
/// anything unreadable (an estimate, not a count).
pub fn text_chars(data: &[u8]) -> u64 {
    let Ok(wire) = serde_json::from_slice::<TextWire<'_>>(data) else {
        return 0;
    };
    let chars = |t: &Option<Cow<'_, str>>| t.as_deref().map_or(0, |t| t.chars().count());
    let total: usize = wire
        .choices
        .iter()
        .filter_map(|c| c.delta.as_ref().or(c.message.as_ref()))
        .map(|part| chars(&part.content) + chars(&part.reasoning_content))
        .sum();
    u64::try_from(total).unwrap_or(u64::MAX)
}

/// `Ok(None)`: nothing of interest, not parsed.
pub fn stream_event(data: &[u8], need_model: bool) -> Result<Option<EventReport>, Unreadable> {
    if data == b"[DONE]" {
        return Ok(None);
    }
    let interesting = need_model
        || scan::has_non_null_member(data, b"\"usage\"")
        || scan::has_non_null_member(data, b"\"error\"");
    if !interesting {
        return Ok(None);
    }
    let wire: Wire<'_> = serde_json::from_slice(data)?;
    Ok(Some(EventReport {
        model: non_empty(wire.model),
        usage: wire.usage.map(TokenUsage::from),
        anthropic: None,
        error: wire.error.is_some(),
    }))
}
