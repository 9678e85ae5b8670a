//! Amazon Bedrock: a regional host; AWS credentials (the filter signs with
//! SigV4) or a Bedrock API key.

use llmgate_filter::config::{BedrockGuardrail, ProviderConfig};

use super::{dns_label, Credentials, Provider};
use crate::backend::BedrockProvider;

const DEFAULT_REGION: &str = "us-east-1";

impl Provider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }
    fn credentials(&self) -> Credentials<'_> {
        Credentials::Aws(self.auth.as_ref())
    }
    fn required_strings(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![("model", self.model.as_str())];
        if let Some(g) = &self.guardrail {
            fields.push(("guardrail.identifier", g.identifier.as_str()));
            fields.push(("guardrail.version", g.version.as_str()));
        }
        fields
    }
    fn check_values(&self) -> Result<(), (String, String)> {
        match &self.region {
            Some(region) => dns_label("region", region),
            None => Ok(()),
        }
    }
    fn default_host(&self) -> String {
        format!("bedrock-runtime.{}.amazonaws.com", region(self))
    }
    fn filter_config(&self) -> ProviderConfig {
        ProviderConfig::Bedrock {
            model: self.model.clone(),
            region: region(self).to_string(),
            guardrail: self.guardrail.as_ref().map(|g| BedrockGuardrail {
                identifier: g.identifier.clone(),
                version: g.version.clone(),
            }),
        }
    }
}

fn region(p: &BedrockProvider) -> &str {
    p.region.as_deref().unwrap_or(DEFAULT_REGION)
}
