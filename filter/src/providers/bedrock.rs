//! Amazon Bedrock Converse API. Requests are signed with SigV4 (AWS
//! credentials) or carry a Bedrock API key as a bearer token.

use super::{encode_component, AuthDefaults};

/// Where a Bedrock API key goes; SigV4 credentials replace it with a signature.
pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

/// The SigV4 service name of the Bedrock runtime.
pub const SIGNING_SERVICE: &str = "bedrock";

pub fn path(model: &str, streaming: bool) -> String {
    let method = if streaming {
        "converse-stream"
    } else {
        "converse"
    };
    format!("/model/{}/{method}", encode_component(model))
}

/// Whether the client's own path asks for a stream.
pub fn path_streams(client_path: &str) -> bool {
    let path = client_path.split('?').next().unwrap_or_default();
    path.ends_with("/converse-stream")
}

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, model_override, upstream_path, usage_format};
    use super::*;
    use crate::config::ProviderConfig;
    use crate::usage::UsageFormat;

    #[test]
    fn paths() {
        let cases = [
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                false,
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
            ),
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                true,
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
            ),
            (
                "arn:aws:bedrock:us-east-1:123:inference-profile/us.amazon.nova-pro-v1:0",
                false,
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse",
            ),
        ];
        for (model, streaming, want) in cases {
            let provider = ProviderConfig::Bedrock {
                model: model.into(),
                region: "us-east-1".into(),
                guardrail: None,
            };
            assert_eq!(upstream_path(&provider, streaming), want);
            assert_eq!(auth_defaults(&provider), AUTH);
            assert_eq!(usage_format(&provider), UsageFormat::Bedrock);
            assert_eq!(model_override(&provider), None, "the model is in the path");
        }
    }

    #[test]
    fn client_paths_that_stream() {
        let cases = [
            ("/model/m/converse-stream", true),
            ("/model/m/converse-stream?x=1", true),
            ("/model/m/converse", false),
            ("/bedrock", false),
            ("/converse-stream-x", false),
            ("", false),
        ];
        for (path, want) in cases {
            assert_eq!(path_streams(path), want, "{path}");
        }
    }
}
