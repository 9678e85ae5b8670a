//! `spec.rateLimit`: kgateway's request-count bucket (`local.tokenBucket`,
//! Envoy's own `local_ratelimit`) and llmgate's budgets in LLM tokens
//! (`llmTokens`, agentgateway's `type: Tokens` limits), charged from the
//! usage the provider reports.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalRateLimit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub llm_tokens: Vec<LlmTokenBudget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalRateLimit {
    pub token_bucket: RequestBucket,
}

/// Requests: `maxTokens` of burst, `tokensPerFill` (1 unless set) added
/// every `fillInterval`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestBucket {
    #[schemars(range(min = 1))]
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tokens_per_fill: Option<u32>,
    pub fill_interval: String,
}

/// A budget in LLM tokens: `maxTokens` of burst, `tokensPerFill`
/// (`maxTokens` unless set) added every `fillInterval`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlmTokenBudget {
    #[schemars(range(min = 1))]
    pub max_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tokens_per_fill: Option<u64>,
    pub fill_interval: String,
    /// Which tokens are charged: `Total` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<TokenCountName>,
    /// One budget per value of this request header (e.g. `x-user-id`);
    /// without it, one for all clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub client_header: Option<String>,
    /// Shared by every Envoy (through the control plane's rate-limit
    /// service and its Redis) rather than by the workers of one Envoy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum TokenCountName {
    Input,
    Output,
    Total,
}
