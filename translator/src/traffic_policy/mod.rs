//! The kgateway `TrafficPolicy` resource (`gateway.kgateway.dev/v1alpha1`),
//! the part llmgate implements: `spec.ai` (route types, prompt guards,
//! prompt enrichment, field defaults) and `spec.rateLimit` (requests per
//! route, and budgets in LLM tokens).
//!
//! kgateway's own shapes are read as its API generations write them (one
//! guard or a list, `customResponse` or `response`); `translate::ai_policy`
//! turns them into the one form the filter takes. Everything denies unknown
//! fields, like `Backend`.

mod prompt_guard;
mod rate_limit;

pub use prompt_guard::*;
pub use rate_limit::*;

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "gateway.kgateway.dev",
    version = "v1alpha1",
    kind = "TrafficPolicy",
    namespaced,
    status = "TrafficPolicyStatus"
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicySpec {
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub target_refs: Vec<PolicyTargetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// Gateway API `LocalPolicyTargetReferenceWithSectionName`: the policy's
/// own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetRef {
    pub group: String,
    #[schemars(length(min = 1))]
    pub kind: String,
    #[schemars(length(min = 1))]
    pub name: String,
    /// An HTTPRoute rule's `name` (or, not supported, a Gateway listener's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub section_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiPolicy {
    /// Path suffix (`*`: any path) → the route type of requests on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<BTreeMap<String, RouteTypeName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_guard: Option<PromptGuard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_enrichment: Option<PromptEnrichment>,
    /// Top-level request body fields set when missing (or always, with
    /// `override`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub defaults: Option<Vec<FieldDefault>>,
    /// kgateway 2.0's `CHAT` / `CHAT_STREAMING`: superseded by `routes`
    /// (read so the status can say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_string")]
    pub route_type: Option<serde_json::Value>,
}

fn any_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string" })
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptEnrichment {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub prepend: Vec<PromptMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub append: Vec<PromptMessage>,
}

/// kgateway's `{role, content}`; roles as its docs write them (`SYSTEM`,
/// `USER`, `ASSISTANT`), in any case.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptMessage {
    #[schemars(length(min = 1))]
    pub role: String,
    pub content: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldDefault {
    #[schemars(length(min = 1))]
    pub field: String,
    /// Any JSON value.
    #[schemars(schema_with = "any_value")]
    pub value: serde_json::Value,
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<bool>,
}

fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// agentgateway's route type names. `Realtime` and `Rerank` are read so the
/// status can say llmgate does not serve them (rather than "unknown variant").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum RouteTypeName {
    Completions,
    Messages,
    AnthropicTokenCount,
    Responses,
    Embeddings,
    Models,
    Passthrough,
    Detect,
    Realtime,
    Rerank,
}

/// Written by `llmgate controller`: the Gateway API's policy status
/// (`status.ancestors`), the same shape as BackendTLSPolicy's.
pub type TrafficPolicyStatus = gateway_api::backendtlspolicies::BackendTlsPolicyStatus;

/// The CustomResourceDefinition, as `kubectl apply` takes it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt as _;
    let crd = TrafficPolicy::crd();
    format!(
        "# Generated by `llmgate crds` from translator/src/traffic_policy.rs; do not edit.\n{}",
        crate::yaml::to_string(&crd)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD_FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifests/crds/trafficpolicy.yaml"
    );

    /// `manifests/crds/trafficpolicy.yaml` is what users apply; it must match
    /// the types. `LLMGATE_UPDATE_CRDS=1 cargo test -p llmgate-translator crd`
    /// rewrites it.
    #[test]
    fn crd_file_is_up_to_date() {
        let generated = crd_yaml();
        if std::env::var_os("LLMGATE_UPDATE_CRDS").is_some() {
            std::fs::write(CRD_FILE, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(CRD_FILE).unwrap_or_default();
        assert!(
            on_disk == generated,
            "manifests/crds/trafficpolicy.yaml is stale: \
             LLMGATE_UPDATE_CRDS=1 cargo test -p llmgate-translator crd"
        );
    }

    #[test]
    fn crd_lists_the_route_types() {
        let crd: serde_json::Value = crate::yaml::from_str(&crd_yaml()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let routes = &spec["properties"]["ai"]["properties"]["routes"];
        let types = routes["additionalProperties"]["enum"].as_array().unwrap();
        assert!(types.contains(&"Passthrough".into()), "{routes}");
        assert!(types.contains(&"Realtime".into()), "{routes}");
        // kgateway writes one guard or a list: neither form is pruned.
        let request =
            &spec["properties"]["ai"]["properties"]["promptGuard"]["properties"]["request"];
        assert_eq!(
            request["x-kubernetes-preserve-unknown-fields"], true,
            "{request}"
        );
    }
}
