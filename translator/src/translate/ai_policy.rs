//! A TrafficPolicy's `spec.ai` and `spec.rateLimit` → what the rules it
//! applies to get: the filter's route table and [`AiPolicy`] (carried by the
//! rule's copy of the AI cluster), and a request-count bucket for Envoy's
//! `local_ratelimit` on the rule's routes.
//!
//! kgateway's defaults are filled in here so the filter has one form: a
//! regex guard masks unless it says `REJECT`; a refusal is 403 "The request
//! was rejected due to inappropriate content"; a token budget counts
//! `Total` tokens and refills `maxTokens` per interval unless told.
//! A policy with anything llmgate cannot do applies nothing (see
//! `traffic_policies`), so every error here names its field.

use std::cmp::Reverse;

use llmgate_filter::guard_patterns::Patterns;
use llmgate_filter::policy_config::{
    self as filter, AiPolicy, Builtin, GuardAction, NamedPattern, Rejection, TokenBudget,
    TokenCount,
};
use llmgate_filter::route_type::{RouteRule, RouteType};

use crate::ir::{GlobalTokenBudget, RequestRateLimit};
use crate::source::Object;
use crate::traffic_policy::{
    ActionName, BuiltinName, CustomResponse, FieldDefault, LlmTokenBudget, PromptMessage,
    RegexGuard, RegexMatch, RequestGuard, ResponseGuard, RouteTypeName, TrafficPolicy,
};

use super::guard_callouts::{self, Lookup, Needs};
use super::routes::envoy_duration;

/// What a policy gives the rules it applies to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// The route table, longest suffix first, `*` last.
    pub routes: Vec<RouteRule>,
    pub policy: AiPolicy,
    pub request_limit: Option<RequestRateLimit>,
    /// The clusters and keys the policy's webhook and moderation guards
    /// call with.
    pub guard_needs: Needs,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self == &Applied::default()
    }

    /// What the filter on the rule's cluster copy carries.
    pub fn for_filter(&self) -> bool {
        !self.routes.is_empty() || !self.policy.is_empty()
    }
}

impl Applied {
    /// The budgets Envoy's `ratelimit` filter enforces on the rule's routes.
    pub fn global_budgets(&self) -> Vec<GlobalTokenBudget> {
        self.policy
            .token_budgets
            .iter()
            .filter(|b| b.global)
            .map(|b| GlobalTokenBudget {
                id: b.id.clone(),
                max_tokens: b.max_tokens,
                tokens_per_fill: b.tokens_per_fill,
                fill_interval_ms: b.fill_interval_ms,
                client_header: b.client_header.clone(),
                count: b.count,
            })
            .collect()
    }
}

/// `(field, why)` a policy applies nothing.
pub type Refusal = (String, String);

const REQUEST_MESSAGE: &str = "The request was rejected due to inappropriate content";
const RESPONSE_MESSAGE: &str = "The response was rejected due to inappropriate content";
const DEFAULT_STATUS: u16 = 403;

/// `global_budgets`: the control plane serves the rate-limit service they
/// need; `lookup` finds the services guards call.
pub fn applied(
    policy: &Object<TrafficPolicy>,
    global_budgets: bool,
    lookup: &Lookup<'_>,
) -> Result<Applied, Refusal> {
    let spec = &policy.value.spec;
    let mut out = Applied::default();
    if let Some(ai) = &spec.ai {
        if ai.route_type.is_some() {
            return Err((
                "spec.ai.routeType".into(),
                "kgateway 2.0's routeType is not supported; use spec.ai.routes (e.g. {\"*\": \
                 Completions}) — llmgate detects streaming from the request itself"
                    .into(),
            ));
        }
        out.routes = routes(ai.routes.iter().flatten())?;
        if let Some(guard) = &ai.prompt_guard {
            for (i, g) in guard.request.iter().flat_map(|g| g.as_slice()).enumerate() {
                let field = format!("spec.ai.promptGuard.request[{i}]");
                let guard = request_guard(g, &field, i, policy, lookup, &mut out.guard_needs)?;
                out.policy.request_guards.push(guard);
            }
            for (i, g) in guard.response.iter().flat_map(|g| g.as_slice()).enumerate() {
                let field = format!("spec.ai.promptGuard.response[{i}]");
                let guard = response_guard(g, &field, policy, lookup, &mut out.guard_needs)?;
                out.policy.response_guards.push(guard);
            }
        }
        if let Some(enrichment) = &ai.prompt_enrichment {
            out.policy.prepend = messages(&enrichment.prepend, "spec.ai.promptEnrichment.prepend")?;
            out.policy.append = messages(&enrichment.append, "spec.ai.promptEnrichment.append")?;
        }
        out.policy.defaults = defaults(ai.defaults.iter().flatten())?;
    }
    if let Some(limit) = &spec.rate_limit {
        if let Some(local) = &limit.local {
            let bucket = &local.token_bucket;
            let field = "spec.rateLimit.local.tokenBucket";
            out.request_limit = Some(RequestRateLimit {
                max_tokens: positive(bucket.max_tokens, &format!("{field}.maxTokens"))?,
                tokens_per_fill: positive(
                    bucket.tokens_per_fill.unwrap_or(1),
                    &format!("{field}.tokensPerFill"),
                )?,
                fill_interval_ms: interval(&bucket.fill_interval, &format!("{field}.fillInterval"))
                    .and_then(|ms| envoy_fill_interval(ms, field))?,
            });
        }
        for (i, budget) in limit.llm_tokens.iter().enumerate() {
            let field = format!("spec.rateLimit.llmTokens[{i}]");
            let id = format!("{}/{}/{i}", policy.namespace, policy.name);
            let budget = token_budget(budget, id, &field)?;
            if budget.global && !global_budgets {
                return Err((
                    format!("{field}.global"),
                    "global budgets need the control plane's rate-limit service: run `llmgate \
                     serve`, `run` or `controller` with --redis"
                        .into(),
                ));
            }
            out.policy.token_budgets.push(budget);
        }
    }
    Ok(out)
}

fn routes<'a>(
    entries: impl Iterator<Item = (&'a String, &'a RouteTypeName)>,
) -> Result<Vec<RouteRule>, Refusal> {
    let mut table = Vec::new();
    for (suffix, name) in entries {
        let field = format!("spec.ai.routes[{}]", crate::validate::quote(suffix));
        if suffix.is_empty() {
            return Err((field, "an empty path suffix; use \"*\" for any path".into()));
        }
        let route_type = route_type(*name).ok_or_else(|| {
            (
                field.clone(),
                format!("{name:?} is not served by llmgate; supported: Completions, Messages, AnthropicTokenCount, Responses, Embeddings, Models, Passthrough, Detect"),
            )
        })?;
        table.push(RouteRule {
            suffix: suffix.clone(),
            route_type,
        });
    }
    // The filter takes the first match.
    table.sort_by(|a, b| {
        let key = |r: &RouteRule| (r.suffix == "*", Reverse(r.suffix.len()), r.suffix.clone());
        key(a).cmp(&key(b))
    });
    Ok(table)
}

fn route_type(name: RouteTypeName) -> Option<RouteType> {
    Some(match name {
        RouteTypeName::Completions => RouteType::Completions,
        RouteTypeName::Messages => RouteType::Messages,
        RouteTypeName::AnthropicTokenCount => RouteType::AnthropicTokenCount,
        RouteTypeName::Responses => RouteType::Responses,
        RouteTypeName::Embeddings => RouteType::Embeddings,
        RouteTypeName::Models => RouteType::Models,
        RouteTypeName::Passthrough => RouteType::Passthrough,
        RouteTypeName::Detect => RouteType::Detect,
        RouteTypeName::Realtime | RouteTypeName::Rerank => return None,
    })
}

fn request_guard(
    g: &RequestGuard,
    field: &str,
    index: usize,
    policy: &Object<TrafficPolicy>,
    lookup: &Lookup<'_>,
    needs: &mut Needs,
) -> Result<filter::Guard, Refusal> {
    let moderation = g.moderation.is_some() || g.open_ai_moderation.is_some();
    let kinds = [g.regex.is_some(), g.webhook.is_some(), moderation];
    exactly_one(&kinds, field, "regex, webhook or openAIModeration")?;
    let rejection = rejection(
        g.response.as_ref().or(g.custom_response.as_ref()),
        REQUEST_MESSAGE,
        field,
    )?;
    if let Some(regex) = &g.regex {
        return regex_guard(regex, rejection, &format!("{field}.regex"));
    }
    if let Some(webhook) = &g.webhook {
        let field = format!("{field}.webhook");
        return guard_callouts::webhook(webhook, rejection, policy, &field, lookup, needs);
    }
    let (moderation, field) = match (&g.open_ai_moderation, &g.moderation) {
        (Some(m), _) => (m, format!("{field}.openAIModeration")),
        (None, Some(m)) => (
            &m.open_ai_moderation,
            format!("{field}.moderation.openAIModeration"),
        ),
        (None, None) => return Err((field.into(), "a guard needs one kind".into())),
    };
    guard_callouts::moderation(moderation, rejection, policy, &field, index, lookup, needs)
}

fn response_guard(
    g: &ResponseGuard,
    field: &str,
    policy: &Object<TrafficPolicy>,
    lookup: &Lookup<'_>,
    needs: &mut Needs,
) -> Result<filter::Guard, Refusal> {
    exactly_one(
        &[g.regex.is_some(), g.webhook.is_some()],
        field,
        "regex or webhook",
    )?;
    let rejection = rejection(
        g.response.as_ref().or(g.custom_response.as_ref()),
        RESPONSE_MESSAGE,
        field,
    )?;
    match &g.regex {
        Some(regex) => {
            if regex.action == Some(ActionName::REJECT) {
                return Err((
                    format!("{field}.regex.action"),
                    "a response guard masks (a streamed reply cannot be taken back); use MASK"
                        .into(),
                ));
            }
            regex_guard(regex, rejection, &format!("{field}.regex"))
        }
        None => match &g.webhook {
            Some(webhook) => {
                let field = format!("{field}.webhook");
                guard_callouts::webhook(webhook, rejection, policy, &field, lookup, needs)
            }
            None => Err((field.into(), "a guard needs one of regex or webhook".into())),
        },
    }
}

fn exactly_one(kinds: &[bool], field: &str, names: &str) -> Result<(), Refusal> {
    match kinds.iter().filter(|k| **k).count() {
        1 => Ok(()),
        0 => Err((field.into(), format!("a guard needs one of {names}"))),
        _ => Err((
            field.into(),
            format!("a guard has exactly one of {names}; write several guards in a list"),
        )),
    }
}

fn rejection(
    custom: Option<&CustomResponse>,
    message: &str,
    field: &str,
) -> Result<Rejection, Refusal> {
    let status = custom.and_then(|c| c.status_code).unwrap_or(DEFAULT_STATUS);
    if !(200..=599).contains(&status) {
        return Err((
            format!("{field}.response.statusCode"),
            format!("{status} is not an HTTP status from 200 to 599"),
        ));
    }
    Ok(Rejection {
        status,
        message: custom
            .and_then(|c| c.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| message.to_owned()),
    })
}

fn regex_guard(
    regex: &RegexGuard,
    rejection: Rejection,
    field: &str,
) -> Result<filter::Guard, Refusal> {
    let matches: Vec<NamedPattern> = regex
        .matches
        .iter()
        .map(|m| match m {
            RegexMatch::Pattern(pattern) => NamedPattern {
                pattern: pattern.clone(),
                name: None,
            },
            RegexMatch::Named { pattern, name } => NamedPattern {
                pattern: pattern.clone(),
                name: name.clone().filter(|n| !n.is_empty()),
            },
        })
        .collect();
    let builtins: Vec<Builtin> = regex
        .builtins
        .iter()
        .map(|b| match b {
            BuiltinName::SSN => Builtin::Ssn,
            BuiltinName::CreditCard => Builtin::CreditCard,
            BuiltinName::PhoneNumber => Builtin::PhoneNumber,
            BuiltinName::EMAIL => Builtin::Email,
        })
        .collect();
    if matches.is_empty() && builtins.is_empty() {
        return Err((
            field.into(),
            "a regex guard needs matches or builtins".into(),
        ));
    }
    // The filter compiles them the same way: refuse here what it would.
    Patterns::new(&matches, &builtins)
        .map_err(|e| (format!("{field}.matches[{}]", e.index), e.message))?;
    Ok(filter::Guard::Regex(filter::RegexGuard {
        matches,
        builtins,
        action: match regex.action {
            Some(ActionName::REJECT) => GuardAction::Reject,
            Some(ActionName::MASK) | None => GuardAction::Mask,
        },
        rejection,
    }))
}

fn messages(list: &[PromptMessage], field: &str) -> Result<Vec<filter::PromptMessage>, Refusal> {
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m.role.to_ascii_uppercase();
            if !matches!(role.as_str(), "SYSTEM" | "USER" | "ASSISTANT") {
                return Err((
                    format!("{field}[{i}].role"),
                    format!(
                        "{} is not a role llmgate can map to every API; use SYSTEM, USER or \
                         ASSISTANT",
                        crate::validate::quote(&m.role)
                    ),
                ));
            }
            Ok(filter::PromptMessage {
                role,
                content: m.content.clone(),
            })
        })
        .collect()
}

/// Fields the gateway itself decides: a default for them would be silently
/// overridden (or would break the request), so it is refused.
const GATEWAY_FIELDS: [&str; 2] = ["stream_options", "messages"];

fn defaults<'a>(
    list: impl Iterator<Item = &'a FieldDefault>,
) -> Result<Vec<filter::FieldDefault>, Refusal> {
    let mut out: Vec<filter::FieldDefault> = Vec::new();
    for (i, d) in list.enumerate() {
        let field = format!("spec.ai.defaults[{i}].field");
        if d.field.is_empty() || d.field.contains('.') {
            return Err((
                field,
                format!(
                    "{} is not a top-level field name (defaults set top-level request fields)",
                    crate::validate::quote(&d.field)
                ),
            ));
        }
        if GATEWAY_FIELDS.contains(&d.field.as_str()) {
            return Err((
                field,
                format!(
                    "{} is the conversation or the gateway's own; use promptEnrichment for \
                     messages",
                    d.field
                ),
            ));
        }
        if out.iter().any(|o| o.field == d.field) {
            return Err((field, format!("{} has two defaults", d.field)));
        }
        out.push(filter::FieldDefault {
            field: d.field.clone(),
            value: d.value.clone(),
            override_: d.override_.unwrap_or(false),
        });
    }
    Ok(out)
}

fn token_budget(b: &LlmTokenBudget, id: String, field: &str) -> Result<TokenBudget, Refusal> {
    Ok(TokenBudget {
        id,
        max_tokens: positive(b.max_tokens, &format!("{field}.maxTokens"))?,
        tokens_per_fill: positive(
            b.tokens_per_fill.unwrap_or(b.max_tokens),
            &format!("{field}.tokensPerFill"),
        )?,
        fill_interval_ms: interval(&b.fill_interval, &format!("{field}.fillInterval"))?,
        count: match b.count {
            Some(crate::traffic_policy::TokenCountName::Input) => TokenCount::Input,
            Some(crate::traffic_policy::TokenCountName::Output) => TokenCount::Output,
            Some(crate::traffic_policy::TokenCountName::Total) | None => TokenCount::Total,
        },
        client_header: match &b.client_header {
            Some(h) if !is_header_name(h) => {
                return Err((
                    format!("{field}.clientHeader"),
                    format!("{} is not an HTTP header name", crate::validate::quote(h)),
                ))
            }
            Some(h) => Some(h.to_ascii_lowercase()),
            None => None,
        },
        global: b.global.unwrap_or(false),
    })
}

fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with(':')
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn positive<T: PartialOrd + Default + Copy>(n: T, field: &str) -> Result<T, Refusal> {
    if n > T::default() {
        Ok(n)
    } else {
        Err((field.into(), "must be at least 1".into()))
    }
}

/// A fill interval in milliseconds: at least 1ms (Envoy's local rate limit
/// wants at least 50ms; the filter's budgets take any).
fn interval(d: &str, field: &str) -> Result<u64, Refusal> {
    let envoy = envoy_duration(d).map_err(|e| (field.to_owned(), e))?;
    let (seconds, millis) = envoy
        .trim_end_matches('s')
        .split_once('.')
        .unwrap_or(("0", "0"));
    let ms = seconds
        .parse::<u64>()
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(millis.parse::<u64>().unwrap_or(0));
    if ms == 0 {
        return Err((
            field.into(),
            "the fill interval must be longer than 0".into(),
        ));
    }
    Ok(ms)
}

/// Envoy refuses a `local_ratelimit` fill interval under 50ms.
fn envoy_fill_interval(ms: u64, field: &str) -> Result<u64, Refusal> {
    if ms < 50 {
        return Err((
            format!("{field}.fillInterval"),
            "Envoy's local rate limit needs a fill interval of at least 50ms".into(),
        ));
    }
    Ok(ms)
}
