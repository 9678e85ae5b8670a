//! Azure OpenAI. The classic deployments API selects the model by the
//! deployment in the path and needs a dated api-version in the query; the v1
//! API (`apiVersion` `v1` or `preview`) has one path for every deployment and
//! selects it by the body's `model`.

use super::{encode_component, AuthDefaults};

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "api-key",
    prefix: None,
};

/// The v1 API: the deployment goes into the body's `model`.
pub fn is_v1(api_version: &str) -> bool {
    matches!(api_version, "v1" | "preview")
}

pub fn path(deployment_name: &str, api_version: &str) -> String {
    match api_version {
        "v1" => return "/openai/v1/chat/completions".to_owned(),
        "preview" => return "/openai/v1/chat/completions?api-version=preview".to_owned(),
        _ => {}
    }
    format!(
        "/openai/deployments/{}/chat/completions?api-version={}",
        encode_component(deployment_name),
        encode_component(api_version)
    )
}

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, model_override, upstream_path};
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
                assert_eq!(upstream_path(&provider, streaming), want);
            }
        }
    }

    #[test]
    fn auth_is_api_key_without_prefix() {
        let provider = ProviderConfig::Azureopenai {
            deployment_name: "d".into(),
            api_version: "v".into(),
        };
        let auth = auth_defaults(&provider);
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
            assert_eq!(model_override(&provider), want, "{version}");
        }
    }
}
