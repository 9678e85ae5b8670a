//! The per-backend configuration the translator writes into the plugin's
//! `configuration` on each AI backend's cluster. Shared with the translator so
//! both sides agree on the wire format.
//!
//! The filter never reads Kubernetes. The translator never writes a key
//! here (Envoy shows this configuration in `/config_dump`): keys arrive in
//! request headers Envoy's `credential_injector` writes ([`crate::injected`]).
//! `Value` and `Aws` are what those resolve to for one attempt.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy_config::AiPolicy;
use crate::route_type::RouteRule;

/// Set by the route (never by the client: the translator strips it from every
/// request first) when an HTTPRoute URLRewrite chose the path; the filter then
/// keeps that path instead of the provider's, and removes the header.
pub const PATH_REWRITTEN_HEADER: &str = "x-llmgate-path-rewritten";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterConfig {
    /// `namespace/name` of the Backend: a metrics label.
    pub backend: String,
    pub provider: ProviderConfig,
    /// Value for the upstream `Host` (`:authority`) header.
    pub host: String,
    pub auth: AuthConfig,
    /// `path.full`: replaces the provider's path (query included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_full: Option<String>,
    /// The `name` of a priority-group provider: the `provider_name` metrics
    /// label and access-log field say which provider served a request. For a
    /// single `llm` provider it is absent and the provider type is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// The route types of request paths (a `TrafficPolicy`'s
    /// `spec.ai.routes`), checked before the built-in table
    /// ([`crate::route_type`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteRule>,
    /// The largest request body the gateway holds or buffers for this
    /// Backend (the annotation `llmgate.io/max-request-bytes`); a body over
    /// it is answered 413 by the filter. Envoy's own buffer limit on the
    /// routes to the Backend is [`envoy_buffer_limit`] of it.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u64,
    /// `modelAliases`: a model name the client may ask for → the model the
    /// provider gets ([`crate::model_names`]). Never overrides a configured
    /// model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_aliases: BTreeMap<String, String>,
    /// The AI policy (prompt guards, enrichment, defaults, token budgets) of
    /// the routes this cluster serves ([`crate::policy_config`]).
    #[serde(default, skip_serializing_if = "AiPolicy::is_empty")]
    pub policy: AiPolicy,
}

/// [`FilterConfig::max_request_bytes`] unless the Backend says otherwise.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 32 * 1024 * 1024;

fn default_max_request_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BYTES
}

/// Room above the limit in Envoy's buffer: at least one read's worth (Envoy
/// hands a body over in pieces of up to its per-connection buffer limit,
/// 1 MiB by default), so the filter sees a body pass the limit before Envoy
/// does, and a quarter of the limit for the gateway's own edits (a model
/// name, `include_usage`, a conversion to the provider's API) to fit.
pub const fn envoy_buffer_limit(max_request_bytes: u64) -> u64 {
    max_request_bytes
        .saturating_add(max_request_bytes / 4)
        .saturating_add(1024 * 1024)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum ProviderConfig {
    Openai {
        /// When set, overwrites the `model` field of the request body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    Azureopenai {
        #[serde(rename = "deploymentName")]
        deployment_name: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
    },
    Anthropic {
        /// When set, overwrites the `model` field of the request body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Sent as `anthropic-version`; `None` means the provider default.
        #[serde(
            rename = "apiVersion",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        api_version: Option<String>,
    },
    Gemini {
        model: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
    },
    Vertexai {
        model: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
        #[serde(rename = "projectId")]
        project_id: String,
        location: String,
        /// The method after `:`; `None` means `generateContent`.
        #[serde(rename = "modelPath", default, skip_serializing_if = "Option::is_none")]
        model_path: Option<String>,
    },
    Bedrock {
        /// The model id as the user wrote it (not yet URL-encoded).
        model: String,
        region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guardrail: Option<BedrockGuardrail>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockGuardrail {
    pub identifier: String,
    pub version: String,
}

impl ProviderConfig {
    /// The provider's name as used in metrics labels and logs (the `name`
    /// tag above; [`crate::providers`] checks they agree).
    pub fn name(&self) -> &'static str {
        crate::providers::of(self).name()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthConfig {
    /// `authHeader.headerName`: overrides the provider's auth header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// `authHeader.prefix`: overrides the provider's prefix (e.g. `Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub token: TokenSource,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TokenSource {
    /// The key itself (without `Bearer `): an injected key once read.
    Value { value: String },
    /// Use the client's own `Authorization` header (without `Bearer `).
    Passthrough,
    /// AWS credentials: the filter signs each final request with SigV4
    /// (Bedrock). From the Secret keys `accessKey`, `secretKey`, `sessionToken`.
    /// The key is in the request header `header`, written there by Envoy's
    /// `credential_injector` from an SDS secret ([`crate::injected`]).
    Injected { header: String },
    /// AWS credentials in request headers written by Envoy's
    /// `credential_injector` ([`crate::injected`]); the filter signs with them.
    AwsInjected {
        #[serde(rename = "accessKeyIdHeader")]
        access_key_id_header: String,
        #[serde(rename = "secretAccessKeyHeader")]
        secret_access_key_header: String,
        #[serde(
            rename = "sessionTokenHeader",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        session_token_header: Option<String>,
    },
    Aws {
        #[serde(rename = "accessKeyId")]
        access_key_id: String,
        #[serde(rename = "secretAccessKey")]
        secret_access_key: String,
        #[serde(
            rename = "sessionToken",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        session_token: Option<String>,
    },
}

// Hand-written so that a key never reaches a log line through `{:?}`.
impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Value { .. } => f.write_str("Value { value: <redacted> }"),
            TokenSource::Passthrough => f.write_str("Passthrough"),
            TokenSource::Aws { .. } => f.write_str("Aws { <redacted> }"),
            TokenSource::Injected { header } => write!(f, "Injected {{ header: {header:?} }}"),
            TokenSource::AwsInjected { .. } => f.write_str("AwsInjected { .. }"),
        }
    }
}

impl FilterConfig {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        serde_json::from_slice(bytes).map_err(|e| ConfigError::Invalid(redacted(&e)))
    }
}

/// Why a plugin configuration was rejected. Messages never quote values (a
/// key may sit in the wrong field); [`ConfigError::label`] is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Not a configuration: serde's message, with any value it echoed removed.
    Invalid(String),
    /// A member list with other top-level keys, or `members` not a list.
    MembersShape {
        line: usize,
        column: usize,
    },
    EmptyMembers,
    /// `members[i]` has no `providerName` to be chosen by.
    UnnamedMember(usize),
    /// `members[i]` is not a configuration.
    Member {
        index: usize,
        error: Box<ConfigError>,
    },
}

impl ConfigError {
    /// A short name for the kind of error, fit for a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            ConfigError::Invalid(_) => "invalid",
            ConfigError::MembersShape { .. } => "members_shape",
            ConfigError::EmptyMembers => "empty_members",
            ConfigError::UnnamedMember(_) => "unnamed_member",
            ConfigError::Member { .. } => "invalid_member",
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const PREFIX: &str = "invalid llmgate filter configuration";
        match self {
            ConfigError::Invalid(reason) => write!(f, "{PREFIX}: {reason}"),
            ConfigError::MembersShape { line, column } => write!(
                f,
                "{PREFIX}: expected only `members` at line {line} column {column}"
            ),
            ConfigError::EmptyMembers => write!(f, "{PREFIX}: members is empty"),
            ConfigError::UnnamedMember(i) => {
                write!(f, "{PREFIX}: members[{i}] has no providerName")
            }
            ConfigError::Member { index, error } => write!(f, "members[{index}]: {error}"),
        }
    }
}

/// serde_json names fields and positions, but "invalid type/value/length"
/// errors also quote the offending value — which may be a key put in the
/// wrong place. Those keep only what was expected and where.
fn redacted(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let echoes_value = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|p| msg.starts_with(p));
    if !echoes_value {
        return msg;
    }
    let kind = msg.split(':').next().unwrap_or("invalid");
    let expected = msg
        .find(", expected")
        .and_then(|at| msg.get(at..))
        .and_then(|rest| rest.rsplit_once(" at line").map(|(head, _)| head))
        .unwrap_or_default();
    format!(
        "{kind}{expected} at line {} column {}",
        e.line(),
        e.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_redacts_the_key() {
        let cfg = FilterConfig {
            backend: "default/azure-openai".into(),
            provider: ProviderConfig::Azureopenai {
                deployment_name: "gpt-4o-mini".into(),
                api_version: "2024-02-15-preview".into(),
            },
            host: "my-endpoint.openai.azure.com".into(),
            auth: AuthConfig {
                header_name: None,
                prefix: None,
                token: TokenSource::Value {
                    value: "sk-secret".into(),
                },
            },
            path_full: None,
            provider_name: None,
            routes: vec![crate::route_type::RouteRule {
                suffix: "*".into(),
                route_type: crate::route_type::RouteType::Passthrough,
            }],
            max_request_bytes: 5 * 1024 * 1024,
            model_aliases: [("fast".to_owned(), "gpt-4o-mini".to_owned())].into(),
            policy: Default::default(),
        };
        let json = serde_json::to_vec(&cfg).unwrap();
        assert_eq!(FilterConfig::from_json(&json).unwrap(), cfg);
        assert!(!format!("{cfg:?}").contains("sk-secret"));
    }

    #[test]
    fn the_limit_defaults_to_32_mib_and_envoy_keeps_room_above_it() {
        let cfg = FilterConfig::from_json(
            br#"{"backend":"a/b","provider":{"name":"openai"},"host":"h","auth":{"token":{"kind":"passthrough"}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.max_request_bytes, 32 * 1024 * 1024);
        let mib = 1024 * 1024;
        // (limit, Envoy's buffer limit)
        let cases = [
            (0, mib),
            (64 * 1024, 64 * 1024 + 16 * 1024 + mib),
            (32 * mib, 41 * mib),
            (u64::MAX, u64::MAX),
        ];
        for (limit, envoy) in cases {
            assert_eq!(envoy_buffer_limit(limit), envoy, "{limit}");
        }
    }

    #[test]
    fn rejects_unknown_fields_without_echoing_values() {
        let err = FilterConfig::from_json(
            br#"{"backend":"a/b","provider":{"name":"openai"},"host":"h","auth":{"token":{"kind":"value","value":"sk-secret"}},"bogus":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(!err.contains("sk-secret"));
    }

    #[test]
    fn type_errors_do_not_echo_values() {
        let cases = [
            r#"{"backend":"a/b","provider":{"name":"openai"},"host":"h","auth":{"token":"sk-secret"}}"#,
            r#"{"backend":"a/b","provider":{"name":"openai"},"host":"h","auth":{"token":{"kind":"value","value":["sk-secret"]}}}"#,
            r#"{"backend":"a/b","provider":{"name":"openai"},"host":"h","auth":{"headerName":"sk-secret","token":{"kind":"value","value":7}}}"#,
        ];
        for json in cases {
            let err = FilterConfig::from_json(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(!err.contains("sk-secret"), "{err}");
            assert!(
                err.contains("invalid type") && err.contains("line 1 column"),
                "{err}"
            );
        }
        let err = FilterConfig::from_json(cases[0].as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected"),
            "still says what was expected: {err}"
        );
    }

    #[test]
    fn error_labels_are_distinct_metric_labels() {
        let errors = [
            ConfigError::Invalid("x".into()),
            ConfigError::MembersShape { line: 1, column: 2 },
            ConfigError::EmptyMembers,
            ConfigError::UnnamedMember(0),
            ConfigError::Member {
                index: 0,
                error: Box::new(ConfigError::EmptyMembers),
            },
        ];
        let mut seen = Vec::new();
        for e in &errors {
            let label = e.label();
            assert_eq!(crate::metrics::sanitize_label(label), label);
            assert!(!seen.contains(&label), "{label} twice");
            seen.push(label);
        }
    }
}
