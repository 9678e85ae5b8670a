//! OpenAI (and OpenAI-compatible) chat completions.

use super::{AuthDefaults, Provider};
use crate::route_type::RouteType;
use crate::usage::UsageFormat;

pub const PATH: &str = "/v1/chat/completions";

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

pub struct OpenAi<'a> {
    /// When set, overwrites the body's `model`.
    model: Option<&'a str>,
}

impl<'a> OpenAi<'a> {
    pub fn new(model: Option<&'a str>) -> Self {
        OpenAi { model }
    }
}

impl<'a> Provider<'a> for OpenAi<'a> {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::OpenAiChat
    }
    fn path(&self, _streaming: bool) -> String {
        PATH.to_owned()
    }
    fn model_override(&self) -> Option<&'a str> {
        self.model
    }
    /// A Backend without a model lists what the provider itself offers
    /// (OpenAI-compatible servers answer `/v1/models` in the same shape).
    fn endpoint(&self, route_type: RouteType, _streaming: bool) -> Option<String> {
        let path = match route_type {
            RouteType::Completions => PATH,
            RouteType::Responses => "/v1/responses",
            RouteType::Embeddings => "/v1/embeddings",
            RouteType::Models if self.model.is_none() => "/v1/models",
            _ => return None,
        };
        Some(path.to_owned())
    }
    fn accepts_stream_options(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::of;
    use crate::config::ProviderConfig;

    #[test]
    fn path_and_auth() {
        let cases = [
            ProviderConfig::Openai { model: None },
            ProviderConfig::Openai {
                model: Some("gpt-4o-mini".into()),
            },
        ];
        for provider in cases {
            for streaming in [false, true] {
                assert_eq!(of(&provider).path(streaming), "/v1/chat/completions");
            }
            let auth = of(&provider).auth();
            assert_eq!(auth.header, "authorization");
            assert_eq!(auth.prefix, Some("Bearer"));
            assert!(of(&provider).accepts_stream_options());
        }
    }
}
