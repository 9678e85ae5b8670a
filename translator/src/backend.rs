//! The kgateway `Backend` resource (`gateway.kgateway.dev/v1alpha1`), AI type.
//!
//! Every struct denies unknown fields: a typo in a Backend must be an error that
//! names the field, not a silently ignored setting.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "gateway.kgateway.dev",
    version = "v1alpha1",
    kind = "Backend",
    namespaced
)]
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

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiBackend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_groups: Option<Vec<PriorityGroup>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriorityGroup {
    pub providers: Vec<NamedLlmProvider>,
}

// No deny_unknown_fields here: serde does not combine it with flatten; the
// flattened LlmProvider still rejects unknown fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamedLlmProvider {
    pub name: String,
    #[serde(flatten)]
    pub provider: LlmProvider,
}

/// One provider plus the optional connection overrides.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
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
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<AuthHeaderOverride>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathOverride {
    pub full: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthHeaderOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenAiProvider {
    pub auth_token: SingleAuthToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureOpenAiProvider {
    pub auth_token: SingleAuthToken,
    pub endpoint: String,
    pub deployment_name: String,
    pub api_version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnthropicProvider {
    pub auth_token: SingleAuthToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeminiProvider {
    pub auth_token: SingleAuthToken,
    pub model: String,
    pub api_version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VertexAiProvider {
    pub auth_token: SingleAuthToken,
    pub model: String,
    pub api_version: String,
    pub project_id: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    pub publisher: VertexPublisher,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum VertexPublisher {
    #[serde(rename = "GOOGLE")]
    Google,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<BedrockGuardrail>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAuth {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockGuardrail {
    pub identifier: String,
    pub version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SingleAuthToken {
    pub kind: AuthTokenKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AuthTokenKind {
    Inline,
    SecretRef,
    Passthrough,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectRef {
    pub name: String,
}
