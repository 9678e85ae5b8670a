//! Anthropic Messages API.

use llmgate_filter::config::ProviderConfig;

use super::{optional, Credentials, Provider};
use crate::backend::AnthropicProvider;

impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Token(&self.auth_token)
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        optional(&[
            ("apiVersion", self.api_version.as_deref()),
            ("model", self.model.as_deref()),
        ])
    }
    fn default_host(&self) -> String {
        "api.anthropic.com".to_string()
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Anthropic {
            model: self.model.clone(),
            api_version: self.api_version.clone(),
        }
    }
}
