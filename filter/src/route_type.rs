//! What a request on an AI route asks for, from its path: chat completions,
//! Anthropic messages, embeddings, a model list, or a provider's own native
//! method. The provider then names its endpoint for that type
//! ([`crate::providers::Provider::endpoint`]), or the gateway answers itself.
//!
//! The names of the user-facing types are those of agentgateway's `routes`
//! (and kgateway's), so a `TrafficPolicy`'s `spec.ai.routes` reads the same.
//! A policy's rules come first (the translator orders them longest suffix
//! first, `*` last); what they do not match goes through [`DEFAULTS`]; any
//! other path is [`RouteType::Completions`], so a bare route prefix (the
//! `curl …/azure-openai` of the getting-started guide) is chat.

use serde::{Deserialize, Serialize};

use crate::usage::UsageFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RouteType {
    /// OpenAI chat completions (`/chat/completions`).
    Completions,
    /// Anthropic messages (`/messages`).
    Messages,
    /// Anthropic's `/messages/count_tokens`.
    AnthropicTokenCount,
    /// OpenAI Responses (`/responses`).
    Responses,
    Embeddings,
    /// A model list, in OpenAI's shape.
    Models,
    /// Forwarded as it is, credentials injected; no body edits, nothing read.
    Passthrough,
    /// Forwarded as it is, credentials injected; usage still read.
    Detect,
    /// Gemini / Vertex AI `:generateContent`.
    #[serde(skip)]
    GenerateContent,
    /// Gemini / Vertex AI `:streamGenerateContent`.
    #[serde(skip)]
    StreamGenerateContent,
    /// Gemini / Vertex AI `:countTokens`.
    #[serde(skip)]
    CountTokens,
    /// Bedrock `/converse`.
    #[serde(skip)]
    Converse,
    /// Bedrock `/converse-stream`.
    #[serde(skip)]
    ConverseStream,
}

impl RouteType {
    /// The name in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            RouteType::Completions => "Completions",
            RouteType::Messages => "Messages",
            RouteType::AnthropicTokenCount => "AnthropicTokenCount",
            RouteType::Responses => "Responses",
            RouteType::Embeddings => "Embeddings",
            RouteType::Models => "Models",
            RouteType::Passthrough => "Passthrough",
            RouteType::Detect => "Detect",
            RouteType::GenerateContent => "generateContent",
            RouteType::StreamGenerateContent => "streamGenerateContent",
            RouteType::CountTokens => "countTokens",
            RouteType::Converse => "converse",
            RouteType::ConverseStream => "converse-stream",
        }
    }

    /// Forwarded on the path the client (or the route) chose.
    pub fn keeps_path(self) -> bool {
        matches!(self, RouteType::Passthrough | RouteType::Detect)
    }

    /// How the reply reports usage, given the provider's format for chat;
    /// `None`: the reply carries none (a model list, a token count, a
    /// passthrough).
    pub fn usage_format(self, provider: UsageFormat) -> Option<UsageFormat> {
        match self {
            RouteType::Completions
            | RouteType::Detect
            | RouteType::GenerateContent
            | RouteType::StreamGenerateContent
            | RouteType::Converse
            | RouteType::ConverseStream => Some(provider),
            RouteType::Messages => Some(UsageFormat::Anthropic),
            RouteType::Responses => Some(UsageFormat::OpenAiResponses),
            RouteType::Embeddings => Some(UsageFormat::OpenAiChat),
            RouteType::AnthropicTokenCount
            | RouteType::CountTokens
            | RouteType::Models
            | RouteType::Passthrough => None,
        }
    }

    /// Whether the endpoint itself streams (no body field decides).
    pub fn streams_by_path(self) -> bool {
        matches!(
            self,
            RouteType::StreamGenerateContent | RouteType::ConverseStream
        )
    }
}

/// One rule of a route's table: paths ending in `suffix` (`*`: any path)
/// are `route_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteRule {
    pub suffix: String,
    #[serde(rename = "type")]
    pub route_type: RouteType,
}

/// The built-in table, checked in order (the longer `/messages/count_tokens`
/// before `/messages`).
pub const DEFAULTS: [(&str, RouteType); 12] = [
    ("/chat/completions", RouteType::Completions),
    ("/messages/count_tokens", RouteType::AnthropicTokenCount),
    ("/messages", RouteType::Messages),
    ("/responses", RouteType::Responses),
    ("/embeddings", RouteType::Embeddings),
    ("/models", RouteType::Models),
    (":generateContent", RouteType::GenerateContent),
    (":streamGenerateContent", RouteType::StreamGenerateContent),
    (":countTokens", RouteType::CountTokens),
    ("/converse", RouteType::Converse),
    ("/converse-stream", RouteType::ConverseStream),
    // OpenAI's legacy name for the same list.
    ("/engines", RouteType::Models),
];

/// The type of a request to `path` (query and fragment ignored; one
/// trailing `/` too, as clients differ there).
pub fn classify(path: &str, rules: &[RouteRule]) -> RouteType {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_suffix('/').unwrap_or(path);
    rules
        .iter()
        .find(|r| r.suffix == "*" || path.ends_with(r.suffix.as_str()))
        .map(|r| r.route_type)
        .or_else(|| {
            DEFAULTS
                .iter()
                .find(|(suffix, _)| path.ends_with(suffix))
                .map(|(_, t)| *t)
        })
        .unwrap_or(RouteType::Completions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(suffix: &str, route_type: RouteType) -> RouteRule {
        RouteRule {
            suffix: suffix.to_owned(),
            route_type,
        }
    }

    #[test]
    fn the_built_in_table() {
        use RouteType::*;
        let cases = [
            ("/openai/chat/completions", Completions),
            ("/openai/v1/chat/completions?x=1", Completions),
            ("/openai/chat/completions/", Completions),
            ("/azure-openai", Completions),
            ("/", Completions),
            ("", Completions),
            ("/openai/completions", Completions),
            ("/anthropic/v1/messages", Messages),
            ("/anthropic/v1/messages/count_tokens", AnthropicTokenCount),
            ("/anthropic/v1/messages/batches", Completions),
            ("/openai/responses", Responses),
            ("/openai/embeddings", Embeddings),
            ("/openai/models", Models),
            ("/openai/models/", Models),
            ("/openai/v1/engines", Models),
            (
                "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
                GenerateContent,
            ),
            (
                "/gemini/v1beta/models/m:streamGenerateContent?alt=sse",
                StreamGenerateContent,
            ),
            ("/gemini/v1beta/models/m:countTokens", CountTokens),
            ("/bedrock/model/anthropic.claude%3A0/converse", Converse),
            ("/bedrock/model/m/converse-stream", ConverseStream),
            // The query is not the path.
            ("/x?then=/embeddings", Completions),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path, &[]), want, "{path}");
        }
    }

    #[test]
    fn a_routes_rules_come_first() {
        use RouteType::*;
        let rules = [
            rule("/v1/chat/completions", Completions),
            rule("/embeddings", Passthrough),
            rule("*", Passthrough),
        ];
        let cases = [
            ("/x/v1/chat/completions", Completions),
            ("/x/embeddings", Passthrough),
            ("/x/messages", Passthrough),
            ("/x/anything", Passthrough),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path, &rules), want, "{path}");
        }
        // Without `*` the built-in table still applies to the rest.
        let rules = [rule("/special", Detect)];
        assert_eq!(classify("/x/special", &rules), Detect);
        assert_eq!(classify("/x/models", &rules), Models);
        assert_eq!(classify("/x/other", &rules), Completions);
    }

    #[test]
    fn rules_on_the_wire_name_types_as_agentgateway_does() {
        let rules: Vec<RouteRule> = serde_json::from_str(
            r#"[{"suffix": "/v1/messages", "type": "Messages"},
                {"suffix": "*", "type": "Passthrough"}]"#,
        )
        .unwrap();
        assert_eq!(rules[0].route_type, RouteType::Messages);
        assert_eq!(rules[1].route_type, RouteType::Passthrough);
        // Native methods are recognised, not configured.
        assert!(
            serde_json::from_str::<RouteRule>(r#"{"suffix": "x", "type": "GenerateContent"}"#)
                .is_err()
        );
        for t in [RouteType::Completions, RouteType::AnthropicTokenCount] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
    }
}
