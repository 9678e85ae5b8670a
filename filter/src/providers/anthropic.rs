//! Anthropic Messages API.
//!
//! `anthropic-version` is required by the API. The configured `apiVersion`
//! always wins; without one, a version the client chose is kept (the client
//! may rely on that version's behaviour), and only a request without any gets
//! `2023-06-01`, the version every current model accepts.

use super::{AuthDefaults, Provider};
use crate::convert::{self, ChatConversion};
use crate::request::{Client, HeaderOp};
use crate::route_type::RouteType;
use crate::usage::UsageFormat;

pub const PATH: &str = "/v1/messages";
pub const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "x-api-key",
    prefix: None,
};

pub const VERSION_HEADER: &str = "anthropic-version";
pub const DEFAULT_VERSION: &str = "2023-06-01";

pub struct Anthropic<'a> {
    /// When set, overwrites the body's `model`.
    model: Option<&'a str>,
    api_version: Option<&'a str>,
}

impl<'a> Anthropic<'a> {
    pub fn new(model: Option<&'a str>, api_version: Option<&'a str>) -> Self {
        Anthropic { model, api_version }
    }
}

impl<'a> Provider<'a> for Anthropic<'a> {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn chat_conversion(&self) -> Option<&'static dyn ChatConversion> {
        Some(&convert::anthropic::ToAnthropic)
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::Anthropic
    }
    fn path(&self, _streaming: bool) -> String {
        PATH.to_owned()
    }
    fn model_override(&self) -> Option<&'a str> {
        self.model
    }
    fn endpoint(&self, route_type: RouteType, _streaming: bool) -> Option<String> {
        match route_type {
            RouteType::Completions | RouteType::Messages => Some(PATH.to_owned()),
            RouteType::AnthropicTokenCount => Some(COUNT_TOKENS_PATH.to_owned()),
            _ => None,
        }
    }
    fn headers(&self, client: &Client<'_>) -> Vec<HeaderOp> {
        let version = version(self.api_version, client.anthropic_version);
        vec![HeaderOp::Set(VERSION_HEADER.to_owned(), version.to_owned())]
    }
}

/// The `anthropic-version` to send.
pub fn version<'a>(configured: Option<&'a str>, client: Option<&'a str>) -> &'a str {
    configured
        .or(client.map(str::trim))
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_VERSION)
}

#[cfg(test)]
mod tests {
    use super::super::of;
    use super::*;
    use crate::config::ProviderConfig;
    use crate::usage::UsageFormat;

    #[test]
    fn version_header() {
        let cases = [
            (Some("2024-01-01"), Some("2023-01-01"), "2024-01-01"),
            (Some("2024-01-01"), None, "2024-01-01"),
            (None, Some("2023-01-01"), "2023-01-01"),
            (None, Some(" 2023-01-01 "), "2023-01-01"),
            (None, Some(""), DEFAULT_VERSION),
            (None, None, DEFAULT_VERSION),
        ];
        for (configured, client, want) in cases {
            assert_eq!(
                version(configured, client),
                want,
                "{configured:?} {client:?}"
            );
        }
    }

    #[test]
    fn path_auth_usage_and_model() {
        let cases = [
            (None, None),
            (Some("claude-sonnet-4-5"), Some("claude-sonnet-4-5")),
        ];
        for (model, want_override) in cases {
            let provider = ProviderConfig::Anthropic {
                model: model.map(Into::into),
                api_version: None,
            };
            for streaming in [false, true] {
                assert_eq!(of(&provider).path(streaming), "/v1/messages");
            }
            assert_eq!(of(&provider).auth(), AUTH);
            assert_eq!(AUTH.header, "x-api-key");
            assert_eq!(AUTH.prefix, None);
            assert_eq!(of(&provider).usage_format(), UsageFormat::Anthropic);
            assert_eq!(of(&provider).model_override(), want_override);
            assert!(!of(&provider).accepts_stream_options());
        }
    }
}
