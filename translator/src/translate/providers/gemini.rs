//! Google Gemini API (`generativelanguage.googleapis.com`).

use llmgate_filter::config::ProviderConfig;

use super::{Credentials, Provider};
use crate::backend::GeminiProvider;

impl Provider for GeminiProvider {
    fn name(&self) -> &'static str {
        "gemini"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Token(&self.auth_token)
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("model", self.model.as_str()),
            ("apiVersion", self.api_version.as_str()),
        ]
    }
    fn default_host(&self) -> String {
        "generativelanguage.googleapis.com".to_string()
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Gemini {
            model: self.model.clone(),
            api_version: self.api_version.clone(),
        }
    }
}
