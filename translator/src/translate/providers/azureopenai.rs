//! Azure OpenAI. The resource is identified by its endpoint: the Host header
//! and SNI stay the endpoint even when `host` connects elsewhere (a private
//! endpoint, an egress proxy).

use llmgate_filter::config::ProviderConfig;

use super::{Credentials, Provider};
use crate::backend::AzureOpenAiProvider;

impl Provider for AzureOpenAiProvider {
    fn name(&self) -> &'static str {
        "azureopenai"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Token(&self.auth_token)
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("endpoint", endpoint_host(&self.endpoint)),
            ("deploymentName", self.deployment_name.as_str()),
            ("apiVersion", self.api_version.as_str()),
        ]
    }
    fn default_host(&self) -> String {
        endpoint_host(&self.endpoint).to_string()
    }
    fn server_name(&self, _connected_host: &str) -> String {
        self.default_host()
    }
    fn fixed_authority(&self) -> Option<String> {
        Some(self.default_host())
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Azureopenai {
            deployment_name: self.deployment_name.clone(),
            api_version: self.api_version.clone(),
        }
    }
}

/// kgateway accepted `https://name.openai.azure.com/` as well as the bare host.
fn endpoint_host(endpoint: &str) -> &str {
    let without_scheme = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    without_scheme.split('/').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_hosts() {
        for (endpoint, host) in [
            ("my.openai.azure.com", "my.openai.azure.com"),
            ("https://my.openai.azure.com/", "my.openai.azure.com"),
            ("http://my.openai.azure.com/x", "my.openai.azure.com"),
        ] {
            assert_eq!(super::endpoint_host(endpoint), host);
        }
    }
}
