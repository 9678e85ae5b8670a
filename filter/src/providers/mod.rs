//! Per-provider facts: where the chat endpoint lives, how the key is sent,
//! which usage format the responses are in, and what a request needs on top.
//!
//! Each provider is one type in its own file, a borrowed view of its
//! [`ProviderConfig`] variant implementing [`Provider`]; [`of`] is the
//! registry that picks it. Adding a provider is a config variant, a file
//! here and one line in [`of`].

pub mod anthropic;
pub mod azureopenai;
pub mod bedrock;
pub mod gemini;
pub mod openai;
pub mod vertexai;

use crate::body_edits::Edit;
use crate::config::ProviderConfig;
use crate::convert::ChatConversion;
use crate::request::{Client, HeaderOp};
use crate::route_type::RouteType;
use crate::usage::UsageFormat;

/// Where a provider expects the key when the Backend does not say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthDefaults {
    /// Lower case: Envoy's header map is case-insensitive but stores lower case.
    pub header: &'static str,
    pub prefix: Option<&'static str>,
}

/// Region and service a provider's requests are signed for when the Backend
/// gives AWS credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing<'a> {
    pub region: &'a str,
    pub service: &'static str,
}

/// Everything the filter knows about one provider. `'a` is the lifetime of
/// the configuration the view borrows from. The upstream host comes from the
/// configuration (the translator resolves it), so it is not here.
pub trait Provider<'a> {
    /// The provider type as in metrics labels and logs, and as the
    /// configuration's `name`.
    fn name(&self) -> &'static str;
    /// Where the key goes unless the Backend's `authHeader` says otherwise.
    fn auth(&self) -> AuthDefaults;
    /// How responses report usage.
    fn usage_format(&self) -> UsageFormat;
    /// The chat endpoint. `streaming` matters only where the provider streams
    /// from another method ([`Provider::streams_by_path`]).
    fn path(&self, streaming: bool) -> String;
    /// The provider's path for a request of type `route_type`; `None` when
    /// it has no such endpoint (the gateway answers a `Models` request
    /// itself, and refuses anything else). `streaming` as for
    /// [`Provider::path`], the chat endpoint and the default here.
    fn endpoint(&self, route_type: RouteType, streaming: bool) -> Option<String> {
        (route_type == RouteType::Completions).then(|| self.path(streaming))
    }
    /// The models the Backend configures: what a `Models` request lists.
    fn models(&self) -> Vec<&'a str> {
        self.model_override()
            .or_else(|| self.path_model())
            .into_iter()
            .collect()
    }
    /// How an OpenAI chat request becomes this provider's own (and its reply
    /// OpenAI's again); `None` for providers that speak OpenAI's API.
    fn chat_conversion(&self) -> Option<&'static dyn ChatConversion> {
        None
    }
    /// Whether streaming is a different endpoint rather than a body field.
    fn streams_by_path(&self) -> bool {
        false
    }
    /// Whether the client's own `:path` (before the gateway rewrites it) asks
    /// for the provider's streaming endpoint.
    fn client_path_streams(&self, _client_path: &str) -> bool {
        false
    }
    /// The model the gateway forces into the request body, if any.
    fn model_override(&self) -> Option<&'a str> {
        None
    }
    /// The model the provider's own path names: what the request went to when
    /// the body does not say.
    fn path_model(&self) -> Option<&'a str> {
        None
    }
    /// Whether the API accepts `stream_options.include_usage` on chat
    /// completions (OpenAI-format streams report usage only when asked).
    fn accepts_stream_options(&self) -> bool {
        false
    }
    /// Request headers the provider needs besides the credential.
    fn headers(&self, _client: &Client<'_>) -> Vec<HeaderOp> {
        Vec::new()
    }
    /// A body edit the provider cannot go without (the request is held until
    /// its body is complete to apply it).
    fn required_edit(&self) -> Option<Edit<'a>> {
        None
    }
    /// SigV4 scope, for providers whose requests AWS credentials sign.
    fn signing(&self) -> Option<Signing<'a>> {
        None
    }
}

/// The registry: the provider type of a configuration.
pub fn of(cfg: &ProviderConfig) -> Box<dyn Provider<'_> + '_> {
    match cfg {
        ProviderConfig::Openai { model } => Box::new(openai::OpenAi::new(model.as_deref())),
        ProviderConfig::Azureopenai {
            deployment_name,
            api_version,
        } => Box::new(azureopenai::AzureOpenAi::new(deployment_name, api_version)),
        ProviderConfig::Anthropic { model, api_version } => Box::new(anthropic::Anthropic::new(
            model.as_deref(),
            api_version.as_deref(),
        )),
        ProviderConfig::Gemini { model, api_version } => {
            Box::new(gemini::Gemini::new(model, api_version))
        }
        ProviderConfig::Vertexai {
            model,
            api_version,
            project_id,
            location,
            model_path,
        } => Box::new(vertexai::VertexAi {
            api_version,
            project_id,
            location,
            model,
            model_path: model_path.as_deref(),
        }),
        ProviderConfig::Bedrock {
            model,
            region,
            guardrail,
        } => Box::new(bedrock::Bedrock::new(model, region, guardrail.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(of(&openai).model_override(), Some("gpt-4o"));
        assert_eq!(of(&plain).model_override(), None);
        assert_eq!(of(&azure).model_override(), None);
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
                of(provider).client_path_streams(path),
                want,
                "{} {path}",
                provider.name()
            );
        }
        assert!(of(&gemini).streams_by_path());
        assert!(of(&bedrock).streams_by_path());
        assert!(!of(&openai).streams_by_path());
    }

    #[test]
    fn the_registry_names_each_provider_as_its_configuration_does() {
        let cases = [
            ProviderConfig::Openai { model: None },
            ProviderConfig::Azureopenai {
                deployment_name: "d".into(),
                api_version: "v1".into(),
            },
            ProviderConfig::Anthropic {
                model: None,
                api_version: None,
            },
            ProviderConfig::Gemini {
                model: "m".into(),
                api_version: "v1".into(),
            },
            ProviderConfig::Vertexai {
                model: "m".into(),
                api_version: "v1".into(),
                project_id: "p".into(),
                location: "l".into(),
                model_path: None,
            },
            ProviderConfig::Bedrock {
                model: "m".into(),
                region: "r".into(),
                guardrail: None,
            },
        ];
        let mut seen = Vec::new();
        for cfg in &cases {
            let wire = serde_json::to_value(cfg).unwrap();
            assert_eq!(wire["name"], of(cfg).name());
            assert_eq!(cfg.name(), of(cfg).name());
            assert!(!seen.contains(&cfg.name()), "{} twice", cfg.name());
            seen.push(cfg.name());
        }
    }
}
