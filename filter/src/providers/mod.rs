//! Per-provider facts: where the chat endpoint lives, how the key is sent and
//! which usage format the responses are in.

pub mod azureopenai;
pub mod openai;

use crate::config::ProviderConfig;
use crate::usage::UsageFormat;

/// Where a provider expects the key when the Backend does not say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthDefaults {
    /// Lower case: Envoy's header map is case-insensitive but stores lower case.
    pub header: &'static str,
    pub prefix: Option<&'static str>,
}

pub fn upstream_path(provider: &ProviderConfig) -> String {
    match provider {
        ProviderConfig::Openai { .. } => openai::PATH.to_owned(),
        ProviderConfig::Azureopenai {
            deployment_name,
            api_version,
        } => azureopenai::path(deployment_name, api_version),
    }
}

pub fn auth_defaults(provider: &ProviderConfig) -> AuthDefaults {
    match provider {
        ProviderConfig::Openai { .. } => openai::AUTH,
        ProviderConfig::Azureopenai { .. } => azureopenai::AUTH,
    }
}

/// How the provider reports usage. Adding a provider (Anthropic, Gemini,
/// Vertex AI…) maps it here; the parsers already exist.
pub fn usage_format(provider: &ProviderConfig) -> UsageFormat {
    match provider {
        ProviderConfig::Openai { .. } | ProviderConfig::Azureopenai { .. } => {
            UsageFormat::OpenAiChat
        }
    }
}

/// The model the gateway forces into the request body, if any.
pub fn model_override(provider: &ProviderConfig) -> Option<&str> {
    match provider {
        ProviderConfig::Openai { model } => model.as_deref(),
        // Azure picks the model from the deployment; the body's model is ignored.
        ProviderConfig::Azureopenai { .. } => None,
    }
}

/// Percent-encodes everything outside RFC 3986 "unreserved", so a value can sit
/// in a path segment or a query value without changing the URL's structure.
/// Real deployment names and api-versions pass through unchanged.
pub(crate) fn encode_component(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_only_what_would_break_the_url() {
        let cases = [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("2024-02-15-preview", "2024-02-15-preview"),
            ("a.b_c~d", "a.b_c~d"),
            ("a/b", "a%2Fb"),
            ("a b?c&d#e", "a%20b%3Fc%26d%23e"),
            ("é", "%C3%A9"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(encode_component(input), want, "{input:?}");
        }
    }

    #[test]
    fn only_openai_overrides_the_model() {
        let openai = ProviderConfig::Openai {
            model: Some("gpt-4o".into()),
        };
        let plain = ProviderConfig::Openai { model: None };
        let azure = ProviderConfig::Azureopenai {
            deployment_name: "d".into(),
            api_version: "v".into(),
        };
        assert_eq!(model_override(&openai), Some("gpt-4o"));
        assert_eq!(model_override(&plain), None);
        assert_eq!(model_override(&azure), None);
    }
}
