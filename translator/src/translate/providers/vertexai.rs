//! Vertex AI: a regional host named by the location.

use llmgate_filter::config::ProviderConfig;

use super::{dns_label, optional, Credentials, Provider};
use crate::backend::VertexAiProvider;

impl Provider for VertexAiProvider {
    fn name(&self) -> &'static str {
        "vertexai"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Token(&self.auth_token)
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![
            ("model", self.model.as_str()),
            ("apiVersion", self.api_version.as_str()),
            ("projectId", self.project_id.as_str()),
            ("location", self.location.as_str()),
        ];
        fields.extend(optional(&[("modelPath", self.model_path.as_deref())]));
        fields
    }
    fn check_values(&self) -> Result<(), (String, String)> {
        dns_label("location", &self.location)
    }
    fn default_host(&self) -> String {
        host(&self.location)
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Vertexai {
            model: self.model.clone(),
            api_version: self.api_version.clone(),
            project_id: self.project_id.clone(),
            location: self.location.clone(),
            model_path: self.model_path.clone(),
        }
    }
}

/// Vertex AI's regional endpoint; the `global` location has no region prefix.
fn host(location: &str) -> String {
    if location == "global" {
        "aiplatform.googleapis.com".to_string()
    } else {
        format!("{location}-aiplatform.googleapis.com")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts() {
        assert_eq!(super::host("global"), "aiplatform.googleapis.com");
        assert_eq!(
            super::host("europe-west4"),
            "europe-west4-aiplatform.googleapis.com"
        );
    }
}
