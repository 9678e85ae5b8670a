//! Amazon Bedrock Converse API. Requests are signed with SigV4 (AWS
//! credentials) or carry a Bedrock API key as a bearer token.

use super::{AuthDefaults, Provider, Signing};
use crate::body_edits::Edit;
use crate::config::BedrockGuardrail;
use crate::convert::{self, ChatConversion};
use crate::route_type::RouteType;
use crate::uri;
use crate::usage::UsageFormat;

/// Where a Bedrock API key goes; SigV4 credentials replace it with a signature.
pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

/// The SigV4 service name of the Bedrock runtime.
pub const SIGNING_SERVICE: &str = "bedrock";

pub struct Bedrock<'a> {
    /// As the user wrote it, not yet URL-encoded.
    model: &'a str,
    region: &'a str,
    guardrail: Option<&'a BedrockGuardrail>,
}

impl<'a> Bedrock<'a> {
    pub fn new(model: &'a str, region: &'a str, guardrail: Option<&'a BedrockGuardrail>) -> Self {
        Bedrock {
            model,
            region,
            guardrail,
        }
    }
}

impl<'a> Provider<'a> for Bedrock<'a> {
    fn name(&self) -> &'static str {
        "bedrock"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn chat_conversion(&self) -> Option<&'static dyn ChatConversion> {
        Some(&convert::bedrock::ToBedrock)
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::Bedrock
    }
    fn path(&self, streaming: bool) -> String {
        let method = if streaming {
            "converse-stream"
        } else {
            "converse"
        };
        format!("/model/{}/{method}", uri::encode(self.model))
    }
    fn endpoint(&self, route_type: RouteType, streaming: bool) -> Option<String> {
        match route_type {
            RouteType::Completions | RouteType::Converse => Some(self.path(streaming)),
            RouteType::ConverseStream => Some(self.path(true)),
            _ => None,
        }
    }
    fn streams_by_path(&self) -> bool {
        true
    }
    fn client_path_streams(&self, client_path: &str) -> bool {
        path_streams(client_path)
    }
    fn path_model(&self) -> Option<&'a str> {
        Some(self.model)
    }
    /// The configured guardrail, unless the client chose one.
    fn required_edit(&self) -> Option<Edit<'a>> {
        self.guardrail.map(|g| Edit::AddGuardrail {
            identifier: &g.identifier,
            version: &g.version,
        })
    }
    fn signing(&self) -> Option<Signing<'a>> {
        Some(Signing {
            region: self.region,
            service: SIGNING_SERVICE,
        })
    }
}

/// Whether the client's own path asks for a stream.
pub fn path_streams(client_path: &str) -> bool {
    let path = client_path.split('?').next().unwrap_or_default();
    path.ends_with("/converse-stream")
}

#[cfg(test)]
mod tests {
    use super::super::of;
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
            assert_eq!(of(&provider).path(streaming), want);
            assert_eq!(of(&provider).auth(), AUTH);
            assert_eq!(of(&provider).usage_format(), UsageFormat::Bedrock);
            assert_eq!(
                of(&provider).model_override(),
                None,
                "the model is in the path"
            );
            assert_eq!(of(&provider).required_edit(), None);
            assert_eq!(
                of(&provider).signing(),
                Some(Signing {
                    region: "us-east-1",
                    service: "bedrock"
                })
            );
        }
    }

    #[test]
    fn a_configured_guardrail_is_a_required_edit() {
        let provider = ProviderConfig::Bedrock {
            model: "m".into(),
            region: "us-east-1".into(),
            guardrail: Some(BedrockGuardrail {
                identifier: "gr-1".into(),
                version: "2".into(),
            }),
        };
        assert_eq!(
            of(&provider).required_edit(),
            Some(Edit::AddGuardrail {
                identifier: "gr-1",
                version: "2"
            })
        );
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
