//! Azure OpenAI, classic deployments API: the deployment in the path selects
//! the model, the api-version is a required query parameter.

use super::{encode_component, AuthDefaults};

pub const AUTH: AuthDefaults = AuthDefaults {
    header: "api-key",
    prefix: None,
};

pub fn path(deployment_name: &str, api_version: &str) -> String {
    format!(
        "/openai/deployments/{}/chat/completions?api-version={}",
        encode_component(deployment_name),
        encode_component(api_version)
    )
}

#[cfg(test)]
mod tests {
    use super::super::{auth_defaults, upstream_path};
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
            assert_eq!(upstream_path(&provider), want);
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
}
