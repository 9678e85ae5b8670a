//! `spec.ai.promptGuard` as kgateway's API generations write it: 2.x has
//! one guard per direction with `customResponse` and `moderation.
//! openAIModeration`; later versions a list of guards with `response` and
//! `openAIModeration`, and plain strings in `regex.matches`. Both read.

use kube::KubeSchema;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptGuard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "one_or_list")]
    pub request: Option<OneOrList<RequestGuard>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "one_or_list")]
    pub response: Option<OneOrList<ResponseGuard>>,
}

/// One guard (kgateway 2.x) or a list (later). Kubernetes' structural
/// schemas cannot say "object or array", so the CRD keeps the field as
/// written and the translator checks it.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum OneOrList<T> {
    One(T),
    List(Vec<T>),
}

impl<T> OneOrList<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrList::One(one) => std::slice::from_ref(one),
            OneOrList::List(list) => list,
        }
    }
}

// By hand rather than `#[serde(untagged)]`: untagged errors only say "did
// not match any variant"; this keeps the guard's own error (an unknown
// field, a bad action).
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    serde_json::from_value(item)
                        .map_err(|e| serde::de::Error::custom(format!("[{i}]: {e}")))
                })
                .collect::<Result<_, _>>()
                .map(OneOrList::List),
            other => serde_json::from_value(other)
                .map(OneOrList::One)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn one_or_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Exactly one of `regex`, `webhook`, `moderation` / `openAIModeration`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestGuard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexGuard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// kgateway 2.x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Moderation>,
    #[serde(
        default,
        rename = "openAIModeration",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_ai_moderation: Option<OpenAiModeration>,
    /// kgateway 2.x's name of `response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_response: Option<CustomResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<CustomResponse>,
}

/// Exactly one of `regex`, `webhook`. A response guard masks; it never
/// rejects a reply already on its way.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseGuard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexGuard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_response: Option<CustomResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<CustomResponse>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexGuard {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub matches: Vec<RegexMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtins: Vec<BuiltinName>,
    /// `MASK` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionName>,
}

/// `{pattern, name}` (kgateway 2.x) or the pattern alone (later).
#[derive(Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
#[schemars(schema_with = "string_or_pattern")]
pub enum RegexMatch {
    Pattern(String),
    Named {
        pattern: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl<'de> Deserialize<'de> for RegexMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Named {
            pattern: String,
            #[serde(default)]
            name: Option<String>,
        }
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(pattern) => Ok(RegexMatch::Pattern(pattern)),
            other => serde_json::from_value::<Named>(other)
                .map(|n| RegexMatch::Named {
                    pattern: n.pattern,
                    name: n.name,
                })
                .map_err(serde::de::Error::custom),
        }
    }
}

fn string_or_pattern(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum BuiltinName {
    SSN,
    #[serde(rename = "CREDIT_CARD")]
    CreditCard,
    #[serde(rename = "PHONE_NUMBER")]
    PhoneNumber,
    EMAIL,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ActionName {
    MASK,
    REJECT,
}

/// A guard service: `host` (kgateway 2.x: `{host, port}`) or `backendRef`
/// (a Service or Backend), and the client headers sent along.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<WebhookHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<ServiceRef>,
    /// Gateway API header matches naming the headers to forward.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub forward_headers: Vec<HeaderName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub forward_header_matches: Vec<HeaderName>,
    /// llmgate: how long to wait for the guard (a Gateway API duration);
    /// 2s unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// llmgate: `Open` lets requests through when the guard cannot be
    /// asked or answers nonsense; `Closed` (the default) refuses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum FailureMode {
    Open,
    Closed,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookHost {
    #[schemars(length(min = 1))]
    pub host: String,
    pub port: u16,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A Gateway API header match; only the name matters here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderName {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub match_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Moderation {
    #[serde(rename = "openAIModeration")]
    pub open_ai_moderation: OpenAiModeration,
}

/// OpenAI's moderation endpoint. `backendRef` names an AI Backend whose
/// provider and key are used (llmgate's way); kgateway 2.x's `authToken`
/// (a Secret) and `model` are read too.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenAiModeration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub auth_token: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<ServiceRef>,
}

fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// The refusal: `message` and `statusCode` (200–599).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 200, max = 599))]
    pub status_code: Option<u16>,
}
