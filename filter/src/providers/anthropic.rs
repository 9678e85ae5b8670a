//! Anthropic Messages API.
//!
//! `anthropic-version` is required by the API. The configured `apiVersion`
//! always wins; without one, a version the client chose is kept (the client
//! may rely on that version's behaviour), and only a request without any gets
//! `2023-06-01`, the version every current model accepts.

use super::AuthDefaults;

pub const PATH: &str = "/v1/messages";

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "x-api-key",
    prefix: None,
};

pub const VERSION_HEADER: &str = "anthropic-version";
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The `anthropic-version` to send.
pub fn version<'a>(configured: Option<&'a str>, client: Option<&'a str>) -> &'a str {
    configured
        .or(client.map(str::trim))
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_VERSION)
}

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, model_override, upstream_path, usage_format};
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
                assert_eq!(upstream_path(&provider, streaming), "/v1/messages");
            }
            assert_eq!(auth_defaults(&provider), AUTH);
            assert_eq!(AUTH.header, "x-api-key");
            assert_eq!(AUTH.prefix, None);
            assert_eq!(usage_format(&provider), UsageFormat::Anthropic);
            assert_eq!(model_override(&provider), want_override);
        }
    }
}
