//! Per-provider facts: where the chat endpoint lives, how the key is sent and
//! which usage format the responses are in.

pub mod anthropic;
pub mod azureopenai;
pub mod bedrock;
pub mod gemini;
pub mod openai;
pub mod vertexai;

use crate::config::ProviderConfig;
use crate::usage::UsageFormat;

/// Where a provider expects the key when the Backend does not say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthDefaults {
    /// Lower case: Envoy's header map is case-insensitive but stores lower case.
    pub header: &'static str,
    pub prefix: Option<&'static str>,
}

/// The provider's chat endpoint. `streaming` matters only where the provider
/// streams from another method ([`path_depends_on_streaming`]).
pub fn upstream_path(provider: &ProviderConfig, streaming: bool) -> String {
    match provider {
        ProviderConfig::Openai { .. } => openai::PATH.to_owned(),
        ProviderConfig::Azureopenai {
            deployment_name,
            api_version,
        } => azureopenai::path(deployment_name, api_version),
        ProviderConfig::Anthropic { .. } => anthropic::PATH.to_owned(),
        ProviderConfig::Gemini { model, api_version } => {
            gemini::path(api_version, model, streaming)
        }
        ProviderConfig::Vertexai {
            model,
            api_version,
            project_id,
            location,
            model_path,
        } => vertexai::path(
            &vertexai::Target {
                api_version,
                project_id,
                location,
                model,
                model_path: model_path.as_deref(),
            },
            streaming,
        ),
        ProviderConfig::Bedrock { model, .. } => bedrock::path(model, streaming),
    }
}

/// Whether streaming is a different endpoint rather than a body field.
pub fn path_depends_on_streaming(provider: &ProviderConfig) -> bool {
    matches!(
        provider,
        ProviderConfig::Gemini { .. }
            | ProviderConfig::Vertexai { .. }
            | ProviderConfig::Bedrock { .. }
    )
}

/// Whether the client's own `:path` (before the gateway rewrites it) asks for
/// the provider's streaming endpoint.
pub fn client_path_streams(provider: &ProviderConfig, client_path: &str) -> bool {
    match provider {
        ProviderConfig::Gemini { .. } | ProviderConfig::Vertexai { .. } => {
            gemini::path_streams(client_path)
        }
        ProviderConfig::Bedrock { .. } => bedrock::path_streams(client_path),
        ProviderConfig::Openai { .. }
        | ProviderConfig::Azureopenai { .. }
        | ProviderConfig::Anthropic { .. } => false,
    }
}

pub fn auth_defaults(provider: &ProviderConfig) -> AuthDefaults {
    match provider {
        ProviderConfig::Openai { .. } => openai::AUTH,
        ProviderConfig::Azureopenai { .. } => azureopenai::AUTH,
        ProviderConfig::Anthropic { .. } => anthropic::AUTH,
        ProviderConfig::Gemini { .. } => gemini::AUTH,
        ProviderConfig::Vertexai { .. } => vertexai::AUTH,
        ProviderConfig::Bedrock { .. } => bedrock::AUTH,
    }
}

/// How the provider reports usage.
pub fn usage_format(provider: &ProviderConfig) -> UsageFormat {
    match provider {
        ProviderConfig::Openai { .. } | ProviderConfig::Azureopenai { .. } => {
            UsageFormat::OpenAiChat
        }
        ProviderConfig::Anthropic { .. } => UsageFormat::Anthropic,
        ProviderConfig::Gemini { .. } | ProviderConfig::Vertexai { .. } => UsageFormat::Gemini,
        ProviderConfig::Bedrock { .. } => UsageFormat::Bedrock,
    }
}

/// The model the gateway forces into the request body, if any.
pub fn model_override(provider: &ProviderConfig) -> Option<&str> {
    match provider {
        ProviderConfig::Openai { model } | ProviderConfig::Anthropic { model, .. } => {
            model.as_deref()
        }
        // The v1 API picks the deployment from the body; the classic API
        // from the path and ignores the body's model.
        ProviderConfig::Azureopenai {
            deployment_name,
            api_version,
        } => azureopenai::is_v1(api_version).then_some(deployment_name.as_str()),
        // The model is part of the path.
        ProviderConfig::Gemini { .. }
        | ProviderConfig::Vertexai { .. }
        | ProviderConfig::Bedrock { .. } => None,
    }
}

/// The model a provider's own path names (Gemini, Vertex AI, Bedrock): what
/// the request went to, when the body does not say.
pub fn path_model(provider: &ProviderConfig) -> Option<&str> {
    match provider {
        ProviderConfig::Gemini { model, .. }
        | ProviderConfig::Vertexai { model, .. }
        | ProviderConfig::Bedrock { model, .. } => Some(model),
        ProviderConfig::Openai { .. }
        | ProviderConfig::Azureopenai { .. }
        | ProviderConfig::Anthropic { .. } => None,
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
    fn configured_models_override_the_body() {
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

    #[test]
    fn which_client_paths_stream() {
        let gemini = ProviderConfig::Gemini {
            model: "m".into(),
            api_version: "v1beta".into(),
        };
        let bedrock = ProviderConfig::Bedrock {
            model: "m".into(),
            region: "us-east-1".into(),
            guardrail: None,
        };
        let openai = ProviderConfig::Openai { model: None };
        let cases = [
            (&gemini, "/x:streamGenerateContent", true),
            (&gemini, "/model/m/converse-stream", false),
            (&bedrock, "/model/m/converse-stream", true),
            (&bedrock, "/x:streamGenerateContent", false),
            (&openai, "/x:streamGenerateContent?alt=sse", false),
        ];
        for (provider, path, want) in cases {
            assert_eq!(
                client_path_streams(provider, path),
                want,
                "{} {path}",
                provider.name()
            );
        }
        assert!(path_depends_on_streaming(&gemini));
        assert!(path_depends_on_streaming(&bedrock));
        assert!(!path_depends_on_streaming(&openai));
    }
}
