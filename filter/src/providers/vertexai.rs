//! Vertex AI, Gemini models published by Google: a Gemini-format API whose path
//! names the project and region.

use super::{encode_component, gemini, AuthDefaults};

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "authorization",
    prefix: Some("Bearer"),
};

pub struct Target<'a> {
    pub api_version: &'a str,
    pub project_id: &'a str,
    pub location: &'a str,
    pub model: &'a str,
    /// The non-streaming method; `None` is `generateContent`.
    pub model_path: Option<&'a str>,
}

/// Streaming replaces the method (including a configured `modelPath`) with
/// `streamGenerateContent?alt=sse`.
pub fn path(t: &Target<'_>, streaming: bool) -> String {
    format!(
        "/{}/projects/{}/locations/{}/publishers/google/models/{}:{}",
        encode_component(t.api_version),
        encode_component(t.project_id),
        encode_component(t.location),
        encode_component(t.model),
        gemini::method(t.model_path, streaming)
    )
}

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, model_override, upstream_path, usage_format};
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
            assert_eq!(upstream_path(&provider, streaming), want);
            assert_eq!(auth_defaults(&provider), AUTH);
            assert_eq!(usage_format(&provider), UsageFormat::Gemini);
            assert_eq!(model_override(&provider), None);
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
            upstream_path(&provider, false),
            "/v1/projects/p%2F..%2Fx/locations/global%3F/publishers/google/models/m:generateContent"
        );
    }
}
