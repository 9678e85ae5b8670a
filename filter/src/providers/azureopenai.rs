//! Azure OpenAI. The classic deployments API selects the model by the
//! deployment in the path and needs a dated api-version in the query; the v1
//! API (`apiVersion` `v1` or `preview`) has one path for every deployment and
//! selects it by the body's `model`.

use super::{AuthDefaults, Provider};
use crate::route_type::RouteType;
use crate::uri;
use crate::usage::UsageFormat;

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "api-key",
    prefix: None,
};

/// The first api-version date that accepts `stream_options`
/// (`2024-09-01-preview`); older versions answer 400 `unknown_parameter`.
const STREAM_OPTIONS_SINCE: &str = "2024-09-01";

pub struct AzureOpenAi<'a> {
    deployment_name: &'a str,
    api_version: &'a str,
}

impl<'a> AzureOpenAi<'a> {
    pub fn new(deployment_name: &'a str, api_version: &'a str) -> Self {
        AzureOpenAi {
            deployment_name,
            api_version,
        }
    }
}

impl<'a> Provider<'a> for AzureOpenAi<'a> {
    fn name(&self) -> &'static str {
        "azureopenai"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::OpenAiChat
    }
    fn path(&self, _streaming: bool) -> String {
        path(self.deployment_name, self.api_version)
    }
    fn endpoint(&self, route_type: RouteType, _streaming: bool) -> Option<String> {
        let operation = match route_type {
            RouteType::Completions => "chat/completions",
            RouteType::Embeddings => "embeddings",
            RouteType::Responses => "responses",
            _ => return None,
        };
        Some(endpoint_path(
            self.deployment_name,
            self.api_version,
            operation,
        ))
    }
    fn models(&self) -> Vec<&'a str> {
        vec![self.deployment_name]
    }
    /// The v1 API picks the deployment from the body; the classic API from
    /// the path and ignores the body's model.
    fn model_override(&self) -> Option<&'a str> {
        is_v1(self.api_version).then_some(self.deployment_name)
    }
    /// The classic API's path names the deployment.
    fn path_model(&self) -> Option<&'a str> {
        (!is_v1(self.api_version)).then_some(self.deployment_name)
    }
    fn accepts_stream_options(&self) -> bool {
        accepts_stream_options(self.api_version)
    }
}

/// The v1 API: the deployment goes into the body's `model`.
pub fn is_v1(api_version: &str) -> bool {
    matches!(api_version, "v1" | "preview")
}

pub fn path(deployment_name: &str, api_version: &str) -> String {
    endpoint_path(deployment_name, api_version, "chat/completions")
}

/// `operation` of a deployment. The classic API's Responses endpoint is not
/// per deployment: the body's `model` names the deployment there.
fn endpoint_path(deployment_name: &str, api_version: &str, operation: &str) -> String {
    match api_version {
        "v1" => return format!("/openai/v1/{operation}"),
        "preview" => return format!("/openai/v1/{operation}?api-version=preview"),
        _ => {}
    }
    let version = uri::encode(api_version);
    if operation == "responses" {
        return format!("/openai/responses?api-version={version}");
    }
    format!(
        "/openai/deployments/{}/{operation}?api-version={version}",
        uri::encode(deployment_name),
    )
}

/// `v1`, `preview`, `latest`, or a dated version (`YYYY-MM-DD[-preview]`) from
/// 2024-09-01 on. Anything unrecognised is treated as not accepting: a missed
/// count is better than a request the provider refuses.
fn accepts_stream_options(api_version: &str) -> bool {
    if matches!(api_version, "v1" | "preview" | "latest") {
        return true;
    }
    let date = api_version.strip_suffix("-preview").unwrap_or(api_version);
    let dated = date.len() == 10
        && date.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    // ISO dates compare correctly as strings.
    dated && date >= STREAM_OPTIONS_SINCE
}

#[cfg(test)]
mod tests {
    use super::super::of;
    use crate::config::ProviderConfig;

    #[test]
    fn paths() {
        let cases = [
            (
                "gpt-4o-mini",
                "2024-02-15-preview",
                "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-02-15-preview",
            ),
            (
                "gpt-5-nano",
                "2024-12-01-preview",
                "/openai/deployments/gpt-5-nano/chat/completions?api-version=2024-12-01-preview",
            ),
            ("gpt-4o", "v1", "/openai/v1/chat/completions"),
            (
                "gpt-4o",
                "preview",
                "/openai/v1/chat/completions?api-version=preview",
            ),
            (
                "my deployment/x",
                "v1&x=y",
                "/openai/deployments/my%20deployment%2Fx/chat/completions?api-version=v1%26x%3Dy",
            ),
        ];
        for (deployment, version, want) in cases {
            let provider = ProviderConfig::Azureopenai {
                deployment_name: deployment.into(),
                api_version: version.into(),
            };
            for streaming in [false, true] {
                assert_eq!(of(&provider).path(streaming), want);
            }
        }
    }

    #[test]
    fn auth_is_api_key_without_prefix() {
        let provider = ProviderConfig::Azureopenai {
            deployment_name: "d".into(),
            api_version: "v".into(),
        };
        let auth = of(&provider).auth();
        assert_eq!(auth.header, "api-key");
        assert_eq!(auth.prefix, None);
    }

    #[test]
    fn only_the_v1_api_takes_the_deployment_in_the_body() {
        let cases = [
            ("v1", Some("gpt-4o-mini")),
            ("preview", Some("gpt-4o-mini")),
            ("2024-10-21", None),
            ("2025-04-01-preview", None),
        ];
        for (version, want) in cases {
            let provider = ProviderConfig::Azureopenai {
                deployment_name: "gpt-4o-mini".into(),
                api_version: version.into(),
            };
            assert_eq!(of(&provider).model_override(), want, "{version}");
        }
    }

    #[test]
    fn which_apis_accept_stream_options() {
        let cases = [
            ("2024-02-15-preview", false),
            ("2024-06-01", false),
            ("2024-08-01-preview", false),
            ("2024-09-01-preview", true),
            ("2024-09-01", true),
            ("2024-10-21", true),
            ("2025-04-01-preview", true),
            ("v1", true),
            ("preview", true),
            ("latest", true),
            ("2024-10-2", false),
            ("2024-1x-21", false),
            ("", false),
            ("v2", false),
        ];
        for (version, want) in cases {
            let provider = ProviderConfig::Azureopenai {
                deployment_name: "d".into(),
                api_version: version.into(),
            };
            assert_eq!(of(&provider).accepts_stream_options(), want, "{version}");
        }
        assert!(of(&ProviderConfig::Openai { model: None }).accepts_stream_options());
    }
}
