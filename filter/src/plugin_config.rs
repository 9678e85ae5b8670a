//! What a plugin's `configuration` holds: the one provider of a Backend with
//! `spec.ai.llm`, or every provider of a Backend with `spec.ai.priorityGroups`.
//!
//! A priority-group Backend is one Envoy cluster whose endpoints are its
//! providers (one priority level per group), so one upstream filter serves all
//! of them. Envoy has chosen the endpoint before the upstream filters run; the
//! endpoint's metadata `llmgate.provider` names the provider, and the filter
//! picks that provider's configuration per attempt.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, FilterConfig};

/// Endpoint metadata (`filter_metadata`) namespace and key naming the provider.
pub const HOST_METADATA_NAMESPACE: &str = "llmgate";
pub const HOST_METADATA_KEY: &str = "provider";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Members {
    /// Each with `provider_name` set; names are unique.
    pub members: Vec<FilterConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginConfig {
    Single(Box<FilterConfig>),
    Members(Vec<FilterConfig>),
}

impl PluginConfig {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        // Peek at the top-level keys only; each shape then gets serde's own
        // precise errors (an untagged enum would only say "no variant matched").
        #[derive(Deserialize)]
        struct Peek {
            #[serde(default)]
            members: Option<serde::de::IgnoredAny>,
        }
        let is_members = serde_json::from_slice::<Peek>(bytes)
            .map(|p| p.members.is_some())
            .unwrap_or(false);
        if !is_members {
            return FilterConfig::from_json(bytes).map(|c| PluginConfig::Single(Box::new(c)));
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawMembers {
            members: Vec<serde_json::Value>,
        }
        let raw: RawMembers =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::MembersShape {
                line: e.line(),
                column: e.column(),
            })?;
        // Each member through FilterConfig's own (redacting) error messages.
        let mut list = Vec::with_capacity(raw.members.len());
        for (i, value) in raw.members.iter().enumerate() {
            let text = serde_json::to_vec(value).unwrap_or_default();
            let cfg = FilterConfig::from_json(&text).map_err(|e| ConfigError::Member {
                index: i,
                error: Box::new(e),
            })?;
            list.push(cfg);
        }
        let members = Members { members: list };
        if members.members.is_empty() {
            return Err(ConfigError::EmptyMembers);
        }
        if let Some(unnamed) = members
            .members
            .iter()
            .position(|m| m.provider_name.is_none())
        {
            return Err(ConfigError::UnnamedMember(unnamed));
        }
        Ok(PluginConfig::Members(members.members))
    }

    /// Every provider this plugin may serve, in configuration order.
    pub fn providers(&self) -> &[FilterConfig] {
        match self {
            PluginConfig::Single(cfg) => std::slice::from_ref(cfg.as_ref()),
            PluginConfig::Members(members) => members,
        }
    }

    /// The provider Envoy chose for this attempt. A single provider serves
    /// whatever the endpoint says; a member list needs the endpoint's name.
    pub fn index_of(&self, endpoint_provider: Option<&str>) -> Option<usize> {
        match self {
            PluginConfig::Single(_) => Some(0),
            PluginConfig::Members(members) => {
                let name = endpoint_provider?;
                members
                    .iter()
                    .position(|m| m.provider_name.as_deref() == Some(name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE: &str = r#"{"backend":"ns/b","provider":{"name":"openai"},"host":"h","auth":{"token":{"kind":"passthrough"}}}"#;

    fn member(name: &str) -> String {
        format!(
            r#"{{"backend":"ns/b","provider":{{"name":"openai"}},"host":"{name}.example","auth":{{"token":{{"kind":"passthrough"}}}},"providerName":"{name}"}}"#
        )
    }

    #[test]
    fn single_and_members_shapes() {
        let single = PluginConfig::from_json(SINGLE.as_bytes()).unwrap();
        assert!(matches!(single, PluginConfig::Single(_)));
        let json = format!(
            r#"{{"members":[{},{}]}}"#,
            member("primary"),
            member("backup")
        );
        let members = PluginConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(members.providers().len(), 2);
        let cases = [
            (Some("primary"), Some(0)),
            (Some("backup"), Some(1)),
            (Some("other"), None),
            (None, None),
        ];
        for (endpoint, want) in cases {
            assert_eq!(members.index_of(endpoint), want, "{endpoint:?}");
            assert_eq!(single.index_of(endpoint), Some(0), "{endpoint:?}");
        }
    }

    #[test]
    fn bad_member_lists_are_rejected() {
        let unnamed = SINGLE;
        let cases = [
            (r#"{"members":[]}"#.to_string(), "members is empty"),
            (
                format!(r#"{{"members":[{unnamed}]}}"#),
                "members[0] has no providerName",
            ),
            (
                format!(r#"{{"members":[{}],"x":1}}"#, member("a")),
                "expected only `members`",
            ),
            (
                r#"{"members":[{"backend":"ns/b"}]}"#.to_string(),
                "members[0]: invalid llmgate filter configuration: missing field",
            ),
        ];
        for (json, want) in cases {
            let err = PluginConfig::from_json(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
