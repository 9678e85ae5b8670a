//! The AI policy of the requests a cluster serves — a `TrafficPolicy`'s
//! `spec.ai.promptGuard`, `promptEnrichment`, `defaults` and
//! `spec.rateLimit.llmTokens` — as the translator writes it into
//! [`crate::config::FilterConfig::policy`]. The translator resolves kgateway's
//! shapes (one guard or a list, 2.x and later spellings, defaults of messages
//! and status codes); the filter gets one form only.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiPolicy {
    /// Checked in order on the prompt; the first that rejects answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_guards: Vec<Guard>,
    /// Applied in order to the reply (response guards mask, never reject a
    /// stream already under way; a webhook may reject a whole reply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_guards: Vec<Guard>,
    /// `promptEnrichment.prepend`: before the client's messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prepend: Vec<PromptMessage>,
    /// `promptEnrichment.append`: after the client's messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub append: Vec<PromptMessage>,
    /// `defaults`: top-level request fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<FieldDefault>,
    /// Budgets in LLM tokens; a request needs room in every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_budgets: Vec<TokenBudget>,
}

impl AiPolicy {
    pub fn is_empty(&self) -> bool {
        self == &AiPolicy::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Guard {
    Regex(RegexGuard),
    Webhook(WebhookGuard),
    Moderation(ModerationGuard),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexGuard {
    /// User patterns (RE2 syntax, the `regex` crate's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<NamedPattern>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtins: Vec<Builtin>,
    pub action: GuardAction,
    /// The answer when `action` is `Reject`.
    pub rejection: Rejection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedPattern {
    pub pattern: String,
    /// Masks read `<name>`; unnamed patterns mask as `<MASKED>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// kgateway's builtins; a match masks as `<NAME>` (e.g. `<CREDIT_CARD>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Builtin {
    Ssn,
    CreditCard,
    PhoneNumber,
    Email,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Ssn => "SSN",
            Builtin::CreditCard => "CREDIT_CARD",
            Builtin::PhoneNumber => "PHONE_NUMBER",
            Builtin::Email => "EMAIL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardAction {
    Mask,
    Reject,
}

/// `customResponse`: the status and message of a refusal, sent as an
/// OpenAI-style JSON error (Anthropic-style to Messages clients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

/// An HTTP service the filter calls (proxy-wasm `dispatch_http_call`): the
/// Envoy cluster the translator made for the Service/Backend, and what to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Callout {
    pub cluster: String,
    /// `:authority` of the call.
    pub authority: String,
    pub timeout_ms: u32,
    /// On a timeout, a failed call or an unreadable answer: let the request
    /// through (`true`) or refuse it with 503 (`false`, the default).
    #[serde(default)]
    pub fail_open: bool,
}

/// A guard service following the Guardrail Webhook API (kgateway's): the
/// prompt is POSTed to `/request` (replies to `/response`), the answer says
/// pass, mask (with replacement messages) or reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookGuard {
    pub callout: Callout,
    /// Client request headers sent along (lower-case names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    pub rejection: Rejection,
}

/// OpenAI's moderation endpoint (`POST /v1/moderations`) through a
/// Backend's cluster; a flagged prompt is refused with `rejection`. The key
/// is never in this configuration: Envoy's `credential_injector` writes it
/// into request header `key_header`, which the filter reads and removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModerationGuard {
    pub callout: Callout,
    /// `:path` of the call, e.g. `/v1/moderations`.
    pub path: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_header: Option<String>,
    pub rejection: Rejection,
}

/// `{role, content}` in kgateway's words; the role is mapped to the
/// request format's own (`SYSTEM` → Anthropic's `system`, Gemini's
/// `systemInstruction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldDefault {
    /// A top-level field of the request body.
    pub field: String,
    pub value: serde_json::Value,
    /// Replace the client's value too (otherwise only set when missing).
    #[serde(default, rename = "override")]
    pub override_: bool,
}

/// A token bucket in LLM tokens: `max_tokens` of burst, refilled by
/// `tokens_per_fill` every `fill_interval_ms`. A request is let in while the
/// bucket holds more than zero; its usage is charged when the reply ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenBudget {
    /// Unique per policy and budget (`namespace/name/index`): the key of
    /// the bucket in the Envoy-wide shared data, and a metrics label.
    pub id: String,
    pub max_tokens: u64,
    pub tokens_per_fill: u64,
    pub fill_interval_ms: u64,
    pub count: TokenCount,
    /// One bucket per value of this client request header (e.g.
    /// `x-user-id`); requests without it share one bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_header: Option<String>,
    /// The budget is global (Envoy's rate-limit service): the filter only
    /// publishes the tokens to charge, Envoy's `ratelimit` filter enforces.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenCount {
    Input,
    Output,
    Total,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_empty_is_default() {
        let policy = AiPolicy {
            request_guards: vec![Guard::Regex(RegexGuard {
                matches: vec![NamedPattern {
                    pattern: r"\bproject-x\b".into(),
                    name: Some("PROJECT".into()),
                }],
                builtins: vec![Builtin::CreditCard],
                action: GuardAction::Reject,
                rejection: Rejection {
                    status: 403,
                    message: "no".into(),
                },
            })],
            response_guards: vec![],
            prepend: vec![PromptMessage {
                role: "SYSTEM".into(),
                content: "Be brief.".into(),
            }],
            append: vec![],
            defaults: vec![FieldDefault {
                field: "temperature".into(),
                value: serde_json::json!(0.2),
                override_: true,
            }],
            token_budgets: vec![TokenBudget {
                id: "ns/p/0".into(),
                max_tokens: 100,
                tokens_per_fill: 10,
                fill_interval_ms: 1000,
                count: TokenCount::Total,
                client_header: Some("x-user-id".into()),
                global: false,
            }],
        };
        let json = serde_json::to_string(&policy).unwrap();
        assert!(json.contains(r#""kind":"regex""#), "{json}");
        assert!(json.contains(r#""builtins":["CREDIT_CARD"]"#), "{json}");
        assert!(json.contains(r#""override":true"#), "{json}");
        assert_eq!(serde_json::from_str::<AiPolicy>(&json).unwrap(), policy);
        assert!(AiPolicy::default().is_empty());
        assert_eq!(serde_json::to_string(&AiPolicy::default()).unwrap(), "{}");
    }
}
