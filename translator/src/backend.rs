//! The kgateway `Backend` resource (`gateway.kgateway.dev/v1alpha1`), AI type.
//!
//! Every struct denies unknown fields: a typo in a Backend must be an error that
//! names the field, not a silently ignored setting.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "gateway.kgateway.dev",
    version = "v1alpha1",
    kind = "Backend",
    namespaced,
    status = "BackendStatus"
)]
#[x_kube(validation = Rule::new("self.type != 'AI' || has(self.ai)").message("ai is required when type is AI"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendSpec {
    #[serde(rename = "type")]
    pub type_: BackendType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiBackend>,
    // Other backend types are accepted as shapes so the error can say
    // "unsupported backend type" instead of "unknown field".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub aws: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "static")]
    #[schemars(skip)]
    pub static_: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub dynamic_forward_proxy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub mcp: Option<serde_json::Value>,
}

/// Written by `llmgate controller`: whether the Backend is served and why not
/// (its own status subresource, so the controller can write it without
/// touching the spec).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum BackendType {
    #[serde(rename = "AI")]
    Ai,
    #[serde(rename = "AWS")]
    Aws,
    Static,
    DynamicForwardProxy,
    #[serde(rename = "MCP")]
    Mcp,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.llm) != has(self.priorityGroups)").message("exactly one of llm, priorityGroups"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiBackend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub priority_groups: Option<Vec<PriorityGroup>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriorityGroup {
    #[schemars(length(min = 1, max = 32))]
    pub providers: Vec<NamedLlmProvider>,
}

// No deny_unknown_fields here: serde does not combine it with flatten; the
// flattened LlmProvider still rejects unknown fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamedLlmProvider {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(flatten)]
    pub provider: LlmProvider,
}

/// One provider plus the optional connection overrides.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "[has(self.openai), has(self.azureopenai), has(self.anthropic), has(self.gemini), has(self.vertexai), has(self.bedrock)].filter(x, x).size() == 1"
).message("exactly one provider: openai, azureopenai, anthropic, gemini, vertexai or bedrock"))]
#[x_kube(validation = Rule::new("has(self.host) == has(self.port)").message("host and port must be set together"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlmProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai: Option<OpenAiProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azureopenai: Option<AzureOpenAiProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic: Option<AnthropicProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemini: Option<GeminiProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertexai: Option<VertexAiProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrock: Option<BedrockProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<AuthHeaderOverride>,
    /// A model name clients may ask for, and the model this provider gets
    /// (agentgateway's `modelAliases`): `{"fast": "gpt-4o-mini"}` sends a
    /// request for `fast` to `gpt-4o-mini`. A model the provider fixes
    /// (`model`, Azure's deployment, Gemini's, Vertex AI's and Bedrock's
    /// `model`) always wins; the aliases are listed by the model list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_MODEL_ALIASES))]
    pub model_aliases: BTreeMap<String, String>,
}

/// Most entries in one provider's `modelAliases`.
pub const MAX_MODEL_ALIASES: usize = 64;
/// Longest alias or model name in `modelAliases`, in bytes.
pub const MAX_MODEL_NAME_BYTES: usize = 256;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathOverride {
    #[schemars(length(min = 1))]
    pub full: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.headerName) || has(self.prefix)").message("set headerName, prefix, or both"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthHeaderOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub header_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub prefix: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenAiProvider {
    pub auth_token: SingleAuthToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub model: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureOpenAiProvider {
    pub auth_token: SingleAuthToken,
    #[schemars(length(min = 1))]
    pub endpoint: String,
    #[schemars(length(min = 1))]
    pub deployment_name: String,
    #[schemars(length(min = 1))]
    pub api_version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnthropicProvider {
    pub auth_token: SingleAuthToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub model: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeminiProvider {
    pub auth_token: SingleAuthToken,
    #[schemars(length(min = 1))]
    pub model: String,
    #[schemars(length(min = 1))]
    pub api_version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VertexAiProvider {
    pub auth_token: SingleAuthToken,
    #[schemars(length(min = 1))]
    pub model: String,
    #[schemars(length(min = 1))]
    pub api_version: String,
    #[schemars(length(min = 1))]
    pub project_id: String,
    #[schemars(length(min = 1))]
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    pub publisher: VertexPublisher,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum VertexPublisher {
    #[serde(rename = "GOOGLE")]
    Google,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    #[schemars(length(min = 1))]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9-]+$"))]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<BedrockGuardrail>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAuth {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockGuardrail {
    #[schemars(length(min = 1))]
    pub identifier: String,
    #[schemars(length(min = 1))]
    pub version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.kind != 'Inline' || has(self.inline)").message("inline is required when kind is Inline"))]
#[x_kube(validation = Rule::new("self.kind != 'SecretRef' || has(self.secretRef)").message("secretRef is required when kind is SecretRef"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SingleAuthToken {
    pub kind: AuthTokenKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AuthTokenKind {
    Inline,
    SecretRef,
    Passthrough,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectRef {
    #[schemars(length(min = 1))]
    pub name: String,
}

/// The CustomResourceDefinition, as `kubectl apply` takes it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt as _;
    let crd = Backend::crd();
    format!(
        "# Generated by `llmgate crds` from translator/src/backend.rs; do not edit.\n{}",
        crate::yaml::to_string(&crd)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD_FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifests/crds/backend.yaml"
    );

    /// `manifests/crds/backend.yaml` is what users apply; it must match the types.
    /// `LLMGATE_UPDATE_CRDS=1 cargo test -p llmgate-translator crd` rewrites it.
    #[test]
    fn crd_file_is_up_to_date() {
        let generated = crd_yaml();
        if std::env::var_os("LLMGATE_UPDATE_CRDS").is_some() {
            std::fs::create_dir_all(std::path::Path::new(CRD_FILE).parent().unwrap()).unwrap();
            std::fs::write(CRD_FILE, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(CRD_FILE).unwrap_or_default();
        assert!(
            on_disk == generated,
            "manifests/crds/backend.yaml is stale: run `target/release/llmgate crds > manifests/crds/backend.yaml` \
             (or LLMGATE_UPDATE_CRDS=1 cargo test -p llmgate-translator crd)"
        );
    }

    #[test]
    fn crd_carries_the_validation_rules() {
        let crd = crd_yaml();
        for rule in [
            "has(self.llm) != has(self.priorityGroups)",
            "has(self.host) == has(self.port)",
            "].filter(x, x).size() == 1",
            "self.kind != 'SecretRef' || has(self.secretRef)",
            "^[a-z0-9-]+$",
        ] {
            assert!(crd.contains(rule), "missing {rule}");
        }
        // Structural: the whole spec is typed, except the non-AI shapes kept
        // only for their error message.
        let crd: serde_json::Value = crate::yaml::from_str(&crd).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"][0], "type");
        let azure = &spec["properties"]["ai"]["properties"]["llm"]["properties"]["azureopenai"];
        assert_eq!(azure["properties"]["apiVersion"]["type"], "string");
        assert_eq!(azure["properties"]["apiVersion"]["minLength"], 1);
    }
}
