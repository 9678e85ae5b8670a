//! Provider-reported token usage, from a whole JSON body or from the events of
//! a stream's events (SSE, or AWS event-stream for Bedrock). The parser is picked by [`UsageFormat`]; a provider only
//! says which format it speaks (`providers::usage_format`).
//!
//! How each format maps onto [`TokenUsage`] (every field is a count the
//! provider reported, never an estimate):
//!
//! | field | OpenAI chat / Azure | OpenAI Responses | Anthropic | Gemini / Vertex | Bedrock Converse |
//! |---|---|---|---|---|---|
//! | `input` | `prompt_tokens` | `input_tokens` | `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` | `promptTokenCount` (includes cached) | `inputTokens + cacheReadInputTokens + cacheWriteInputTokens` |
//! | `output` | `completion_tokens` | `output_tokens` | `output_tokens` | `candidatesTokenCount + thoughtsTokenCount` | `outputTokens` |
//! | `total` | `total_tokens` | `total_tokens` | `input + output` | `totalTokenCount` | `totalTokens` |
//! | `cached_input` | `prompt_tokens_details.cached_tokens` | `input_tokens_details.cached_tokens` | `cache_read_input_tokens` | `cachedContentTokenCount` | `cacheReadInputTokens` |
//! | `cache_creation_input` | 0 | 0 | `cache_creation_input_tokens` | 0 | `cacheWriteInputTokens` |
//! | `reasoning` | `completion_tokens_details.reasoning_tokens` | `output_tokens_details.reasoning_tokens` | 0 (not reported) | `thoughtsTokenCount` | 0 (not reported) |
//!
//! `cached_input`, `cache_creation_input` are parts of `input`; `reasoning` is
//! part of `output`. A missing `total` is `input + output`.
//!
//! Parsing is typed and borrowing (serde skips content without building a
//! tree), and in streams an event is only handed to serde when a cheap byte
//! scan says it can carry something we need ([`scan`]).

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
pub mod openai;
pub mod responses;
pub mod scan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFormat {
    /// OpenAI chat completions (and legacy completions, embeddings); Azure
    /// OpenAI; OpenAI-compatible servers.
    OpenAiChat,
    /// OpenAI / Azure Responses API (`/v1/responses`).
    OpenAiResponses,
    /// Anthropic Messages API.
    Anthropic,
    /// Gemini and Vertex AI `generateContent` / `streamGenerateContent`.
    Gemini,
    /// Bedrock `converse` / `converse-stream` (an AWS event stream).
    Bedrock,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    /// Every prompt token, cached or not.
    pub input: u64,
    /// Every generated token, reasoning included.
    pub output: u64,
    pub total: u64,
    /// Part of `input` read from the provider's prompt cache.
    pub cached_input: u64,
    /// Part of `input` written to the prompt cache (Anthropic).
    pub cache_creation_input: u64,
    /// Part of `output` spent on reasoning / thinking.
    pub reasoning: u64,
}

/// What one response (or one stream event) says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Non-empty model name, if any (Azure's first stream chunk has `""`).
    pub model: Option<String>,
    /// `None` when `usage` is absent or `null`.
    pub usage: Option<TokenUsage>,
}

/// The body is not a JSON document of the format's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

impl Unreadable {
    /// A short name for the error, fit for a metric label.
    pub fn label(self) -> &'static str {
        "unreadable_usage"
    }
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the body is not a JSON document of the usage format's shape")
    }
}

impl From<serde_json::Error> for Unreadable {
    fn from(_: serde_json::Error) -> Self {
        Unreadable
    }
}

/// A whole (non-streaming) response body.
pub fn parse_body(format: UsageFormat, json: &[u8]) -> Result<Report, Unreadable> {
    match format {
        UsageFormat::OpenAiChat => openai::parse_body(json),
        UsageFormat::OpenAiResponses => responses::parse_body(json),
        UsageFormat::Anthropic => anthropic::parse_body(json),
        UsageFormat::Gemini => gemini::parse_body(json),
        UsageFormat::Bedrock => bedrock::parse_body(json),
    }
}

/// Usage accumulated over the events of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUsage {
    format: UsageFormat,
    model: Option<String>,
    usage: Option<TokenUsage>,
    /// Anthropic sends usage in two events; its parts are kept here.
    anthropic: anthropic::Parts,
    /// Error events after the 200 (OpenAI `{"error":…}`, Anthropic
    /// `event: error`, Responses `response.failed`, Gemini `{"error":…}`,
    /// Bedrock exception messages).
    pub errors: u32,
    /// An event that looked like it carried usage or a model could not be read.
    pub bad_event: bool,
    /// Counting generated text for an estimate (OpenAI chat streams the
    /// provider will not report usage for).
    count_text: bool,
    /// Characters of generated text seen while counting.
    pub text_chars: u64,
}

/// What one event contributed; the format modules return it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventReport {
    pub model: Option<String>,
    /// Replaces what was seen before: every format's later usage is complete
    /// (OpenAI sends one; Gemini's last chunk has the totals).
    pub usage: Option<TokenUsage>,
    pub anthropic: Option<anthropic::Parts>,
    pub error: bool,
}

impl StreamUsage {
    pub fn new(format: UsageFormat) -> Self {
        StreamUsage {
            format,
            model: None,
            usage: None,
            anthropic: anthropic::Parts::default(),
            errors: 0,
            bad_event: false,
            count_text: false,
            text_chars: 0,
        }
    }

    /// Count generated text from here on (OpenAI chat only: the one format
    /// whose usage is optional in streams).
    pub fn count_text(&mut self) {
        self.count_text = self.format == UsageFormat::OpenAiChat;
    }

    pub fn on_event(&mut self, name: &[u8], data: &[u8]) {
        if self.count_text && self.usage.is_none() {
            self.text_chars = self.text_chars.saturating_add(openai::text_chars(data));
        }
        let need_model = self.model.is_none();
        let result = match self.format {
            UsageFormat::OpenAiChat => openai::stream_event(data, need_model),
            UsageFormat::OpenAiResponses => responses::stream_event(data, need_model),
            UsageFormat::Anthropic => anthropic::stream_event(name, data, need_model),
            UsageFormat::Gemini => gemini::stream_event(data, need_model),
            UsageFormat::Bedrock => bedrock::stream_event(name, data),
        };
        let report = match result {
            Ok(Some(report)) => report,
            Ok(None) => return,
            Err(Unreadable) => {
                self.bad_event = true;
                return;
            }
        };
        if need_model {
            self.model = report.model;
        }
        if report.usage.is_some() {
            self.usage = report.usage;
        }
        if let Some(parts) = report.anthropic {
            self.anthropic.update(parts);
            self.usage = Some(self.anthropic.usage());
        }
        if report.error {
            self.errors = self.errors.saturating_add(1);
        }
    }

    /// An error the stream's framing marks as such rather than its JSON
    /// (Bedrock's `exception` messages).
    pub fn on_error_message(&mut self) {
        self.errors = self.errors.saturating_add(1);
    }

    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    pub fn into_report(self) -> Report {
        Report {
            model: self.model,
            usage: self.usage,
        }
    }
}

/// `Some(model)` when it is a non-empty string.
pub(crate) fn non_empty(model: Option<std::borrow::Cow<'_, str>>) -> Option<String> {
    model
        .filter(|m| !m.is_empty())
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests;
