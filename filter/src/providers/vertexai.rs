//! Vertex AI, Gemini models published by Google: a Gemini-format API whose path
//! names the project and region.

use super::{gemini, AuthDefaults, Provider};
use crate::convert::{self, ChatConversion};
use crate::route_type::RouteType;
use crate::uri;
use crate::usage::UsageFormat;

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

pub struct VertexAi<'a> {
    pub api_version: &'a str,
    pub project_id: &'a str,
    pub location: &'a str,
    pub model: &'a str,
    /// The non-streaming method; `None` is `generateContent`.
    pub model_path: Option<&'a str>,
}

impl<'a> Provider<'a> for VertexAi<'a> {
    fn name(&self) -> &'static str {
        "vertexai"
    }
    fn auth(&self) -> AuthDefaults {
        AUTH
    }
    fn chat_conversion(&self) -> Option<&'static dyn ChatConversion> {
        Some(&convert::gemini::ToGemini)
    }
    fn usage_format(&self) -> UsageFormat {
        UsageFormat::Gemini
    }
    /// Streaming replaces the method (including a configured `modelPath`)
    /// with `streamGenerateContent?alt=sse`.
    fn path(&self, streaming: bool) -> String {
        format!(
            "/{}/projects/{}/locations/{}/publishers/google/models/{}:{}",
            uri::encode(self.api_version),
            uri::encode(self.project_id),
            uri::encode(self.location),
            uri::encode(self.model),
            gemini::method(self.model_path, streaming)
        )
    }
    fn endpoint(&self, route_type: RouteType, streaming: bool) -> Option<String> {
        let method = gemini::native_method(route_type, streaming, self.model_path)?;
        Some(format!(
            "/{}/projects/{}/locations/{}/publishers/google/models/{}:{method}",
            uri::encode(self.api_version),
            uri::encode(self.project_id),
            uri::encode(self.location),
            uri::encode(self.model),
        ))
    }
    fn streams_by_path(&self) -> bool {
        true
    }
    fn client_path_streams(&self, client_path: &str) -> bool {
        gemini::path_streams(client_path)
    }
    fn path_model(&self) -> Option<&'a str> {
        Some(self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::super::of;
    use super::*;
    use crate::config::ProviderConfig;
    use crate::usage::UsageFormat;

    #[test]
    fn paths() {
        let base =
            "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-pro";
        let cases = [
            (None, false, format!("{base}:generateContent")),
            (None, true, format!("{base}:streamGenerateContent?alt=sse")),
            (Some("countTokens"), false, format!("{base}:countTokens")),
            (
                Some("countTokens"),
                true,
                format!("{base}:streamGenerateContent?alt=sse"),
            ),
        ];
        for (model_path, streaming, want) in cases {
            let provider = ProviderConfig::Vertexai {
                model: "gemini-2.5-pro".into(),
                api_version: "v1".into(),
                project_id: "my-proj".into(),
                location: "us-central1".into(),
                model_path: model_path.map(Into::into),
            };
            assert_eq!(of(&provider).path(streaming), want);
            assert_eq!(of(&provider).auth(), AUTH);
            assert_eq!(of(&provider).usage_format(), UsageFormat::Gemini);
            assert_eq!(of(&provider).model_override(), None);
            assert!(of(&provider).client_path_streams("/x:streamGenerateContent"));
        }
    }

    #[test]
    fn values_cannot_change_the_url_structure() {
        let provider = ProviderConfig::Vertexai {
            model: "m".into(),
            api_version: "v1".into(),
            project_id: "p/../x".into(),
            location: "global?".into(),
            model_path: None,
        };
        assert_eq!(
            of(&provider).path(false),
            "/v1/projects/p%2F..%2Fx/locations/global%3F/publishers/google/models/m:generateContent"
        );
    }
}
