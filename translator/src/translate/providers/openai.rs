//! OpenAI (and OpenAI-compatible servers, reached with `host`/`port`).

use llmgate_filter::config::ProviderConfig;

use super::{optional, Credentials, Provider};
use crate::backend::OpenAiProvider;

impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Token(&self.auth_token)
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        optional(&[("model", self.model.as_deref())])
    }
    fn default_host(&self) -> String {
        "api.openai.com".to_string()
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Openai {
            model: self.model.clone(),
        }
    }
}
