//! Gemini and Vertex AI: `usageMetadata.{promptTokenCount,
//! candidatesTokenCount, totalTokenCount, cachedContentTokenCount,
//! thoughtsTokenCount}`. The prompt count includes the cached part; the
//! output is candidates + thoughts (thinking is billed as output).
//!
//! Streams (`?alt=sse`, CRLF framing) put `usageMetadata` on chunks, the last
//! one with the totals; each one replaces the previous. Without `alt=sse` a
//! stream is one JSON array of the same objects: the body parser accepts an
//! array and takes the last element that has usage.

use super::{non_empty, scan, EventReport, Report, TokenUsage, Unreadable};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow, default)]
    model_version: Option<Cow<'a, str>>,
    #[serde(default)]
    usage_metadata: Option<UsageWire>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageWire {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    total_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
}

impl From<UsageWire> for TokenUsage {
    fn from(u: UsageWire) -> Self {
        let input = u.prompt_token_count.unwrap_or(0);
        let thoughts = u.thoughts_token_count.unwrap_or(0);
        let output = u
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(thoughts);
        TokenUsage {
            input,
            output,
            total: u.total_token_count.unwrap_or(input.saturating_add(output)),
            cached_input: u.cached_content_token_count.unwrap_or(0),
            cache_creation_input: 0,
            reasoning: thoughts,
        }
    }
}

pub fn parse_body(json: &[u8]) -> Result<Report, Unreadable> {
    let first = json
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let chunks: Vec<Wire<'_>> = if first == Some(&b'[') {
        serde_json::from_slice(json)?
    } else {
        vec![serde_json::from_slice(json)?]
    };
    let mut report = Report::default();
    for chunk in chunks {
        if report.model.is_none() {
            report.model = non_empty(chunk.model_version);
        }
        if let Some(usage) = chunk.usage_metadata {
            report.usage = Some(usage.into());
        }
    }
    Ok(report)
}

pub fn stream_event(data: &[u8], need_model: bool) -> Result<Option<EventReport>, Unreadable> {
    let interesting = scan::has_non_null_member(data, b"\"usageMetadata\"")
        || (need_model && scan::contains(data, b"\"modelVersion\""))
        || scan::has_non_null_member(data, b"\"error\"");
    if !interesting {
        return Ok(None);
    }
    let wire: Wire<'_> = serde_json::from_slice(data)?;
    Ok(Some(EventReport {
        model: non_empty(wire.model_version),
        usage: wire.usage_metadata.map(TokenUsage::from),
        anthropic: None,
        error: wire.error.is_some(),
    }))
}
