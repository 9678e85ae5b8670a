//! What the translator needs to know about each provider of a Backend's
//! `llm`: its required fields, default endpoint, TLS name, Host header,
//! credentials and the filter configuration. One file per provider; adding
//! one is a file, its tests and a line in [`of`]. (What happens to each
//! request is the filter's side: `filter/src/providers/`.)

mod anthropic;
mod azureopenai;
mod bedrock;
mod gemini;
mod openai;
mod vertexai;

use llmgate_filter::config::ProviderConfig;

use crate::backend::{AwsAuth, LlmProvider, SingleAuthToken};

/// Where a provider's credentials are in its Backend fields.
pub enum Credentials<'a> {
    Token(&'a SingleAuthToken),
    /// Bedrock: AWS credentials or a Bedrock API key; `None` = the client's.
    Aws(Option<&'a AwsAuth>),
}

pub trait Provider {
    /// The provider's field under `llm` (and its metric label).
    fn name(&self) -> &'static str;
    fn credentials(&self) -> Credentials<'_>;
    /// Fields that must not be empty: the required ones, and the optional
    /// ones when set (the CRD says min length 1; a folder has no API server).
    fn required_strings(&self) -> Vec<(&'static str, &str)>;
    /// Values that become part of a host name must be one DNS label.
    fn check_values(&self) -> Result<(), (String, String)> {
        Ok(())
    }
    fn default_host(&self) -> String;
    /// SNI and expected certificate name unless a BackendTLSPolicy says
    /// otherwise: the host connected to.
    fn server_name(&self, connected_host: &str) -> String {
        connected_host.to_string()
    }
    /// The Host header when it is not the host connected to.
    fn fixed_authority(&self) -> Option<String> {
        None
    }
    fn filter_config(&self) -> ProviderConfig;
}

/// The one provider set in `llm`.
pub fn of(llm: &LlmProvider) -> Result<&dyn Provider, String> {
    let found: Vec<&dyn Provider> = [
        llm.openai.as_ref().map(|p| p as &dyn Provider),
        llm.azureopenai.as_ref().map(|p| p as &dyn Provider),
        llm.anthropic.as_ref().map(|p| p as &dyn Provider),
        llm.gemini.as_ref().map(|p| p as &dyn Provider),
        llm.vertexai.as_ref().map(|p| p as &dyn Provider),
        llm.bedrock.as_ref().map(|p| p as &dyn Provider),
    ]
    .into_iter()
    .flatten()
    .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err("no provider set: exactly one of openai, azureopenai, anthropic, gemini, vertexai, bedrock".into()),
        many => Err(format!(
            "exactly one provider must be set, found {}",
            many.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The optional fields that are set.
fn optional<'a>(fields: &[(&'static str, Option<&'a str>)]) -> Vec<(&'static str, &'a str)> {
    fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)))
        .collect()
}

/// `^[a-z0-9-]+$`, 1–63 characters: the CRD's rule for Bedrock's region, and
/// what keeps a Vertex location from changing the host it is part of.
fn dns_label(field: &str, value: &str) -> Result<(), (String, String)> {
    let valid = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err((
            field.to_string(),
            "must be 1-63 characters of a-z, 0-9 and -".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for (value, ok) in [
            ("us-east-1", true),
            ("a", true),
            ("", false),
            ("US-EAST-1", false),
            ("evil.com/x", false),
            (&"a".repeat(64), false),
        ] {
            assert_eq!(dns_label("f", value).is_ok(), ok, "{value:?}");
        }
    }

    #[test]
    fn exactly_one_provider() {
        let none = LlmProvider::default();
        assert!(matches!(of(&none), Err(e) if e.starts_with("no provider set")));
    }
}
