//! TrafficPolicy prompt guards, enrichment, defaults and rate limits: what
//! the filter on the rule's cluster gets (kgateway's defaults filled in),
//! the request limit on the rule's Envoy routes, and each mistake refused
//! with the field that holds it.

use llmgate_filter::policy_config::{
    AiPolicy, Builtin, FieldDefault, Guard, GuardAction, NamedPattern, PromptMessage, RegexGuard,
    Rejection, TokenBudget, TokenCount,
};
use serde_json::{json, Value};

use super::upstream_tls::{translate_text, translate_with};
use super::{cluster, filter_config, routes};
use crate::translate::Options;

const BASE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ai}
spec:
  gatewayClassName: x
  listeners: [{name: http, port: 9000, protocol: HTTP}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: b, namespace: ai}
spec:
  type: AI
  ai:
    llm:
      openai: {authToken: {kind: Inline, inline: sk-1}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: chat
    matches: [{path: {type: PathPrefix, value: /chat}}]
    backendRefs: [{name: b, group: gateway.kgateway.dev, kind: Backend}]
  - name: plain
    matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: b, group: gateway.kgateway.dev, kind: Backend}]
"#;

/// A TrafficPolicy on rule `chat` with `spec` (YAML, indented by 2).
fn with_policy(spec: &str) -> String {
    format!(
        "{BASE}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: p, namespace: ai}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: chat}}]\n{spec}"
    )
}

fn route_for<'a>(routes: &'a [Value], prefix: &str) -> &'a Value {
    routes
        .iter()
        .find(|r| r["match"]["path_separated_prefix"] == prefix || r["match"]["prefix"] == prefix)
        .unwrap_or_else(|| panic!("no route for {prefix}"))
}

fn policy_of(bootstrap: &Value, prefix: &str) -> AiPolicy {
    let routes = routes(bootstrap, 9000);
    let name = route_for(&routes, prefix)["route"]["cluster"]
        .as_str()
        .unwrap()
        .to_owned();
    filter_config(cluster(bootstrap, &name)).policy
}

fn reject(status: u16, message: &str) -> Rejection {
    Rejection {
        status,
        message: message.into(),
    }
}

const REQUEST_MESSAGE: &str = "The request was rejected due to inappropriate content";

#[test]
fn both_api_generations_reach_the_filter_in_one_form() {
    // (policy spec, the filter's policy on /chat)
    let cases: Vec<(&str, AiPolicy)> = vec![
        (
            // kgateway 2.x: one guard, `customResponse`, named matches.
            "  ai:\n    promptGuard:\n      request:\n        customResponse: {message: no cards, statusCode: 422}\n        regex:\n          action: REJECT\n          builtins: [CREDIT_CARD]\n          matches: [{pattern: 'falcon', name: CODE}]\n",
            AiPolicy {
                request_guards: vec![Guard::Regex(RegexGuard {
                    matches: vec![NamedPattern {
                        pattern: "falcon".into(),
                        name: Some("CODE".into()),
                    }],
                    builtins: vec![Builtin::CreditCard],
                    action: GuardAction::Reject,
                    rejection: reject(422, "no cards"),
                })],
                ..AiPolicy::default()
            },
        ),
        (
            // Later: a list, `response`, plain-string matches, MASK by default.
            "  ai:\n    promptGuard:\n      request:\n      - regex: {matches: ['\\d{4}'], builtins: [SSN, EMAIL]}\n      - response: {statusCode: 400}\n        regex: {builtins: [PHONE_NUMBER], action: REJECT}\n      response:\n        regex: {builtins: [EMAIL]}\n",
            AiPolicy {
                request_guards: vec![
                    Guard::Regex(RegexGuard {
                        matches: vec![NamedPattern {
                            pattern: r"\d{4}".into(),
                            name: None,
                        }],
                        builtins: vec![Builtin::Ssn, Builtin::Email],
                        action: GuardAction::Mask,
                        rejection: reject(403, REQUEST_MESSAGE),
                    }),
                    Guard::Regex(RegexGuard {
                        matches: vec![],
                        builtins: vec![Builtin::PhoneNumber],
                        action: GuardAction::Reject,
                        rejection: reject(400, REQUEST_MESSAGE),
                    }),
                ],
                response_guards: vec![Guard::Regex(RegexGuard {
                    matches: vec![],
                    builtins: vec![Builtin::Email],
                    action: GuardAction::Mask,
                    rejection: reject(
                        403,
                        "The response was rejected due to inappropriate content",
                    ),
                })],
                ..AiPolicy::default()
            },
        ),
        (
            "  ai:\n    promptEnrichment:\n      prepend: [{role: SYSTEM, content: Be brief.}]\n      append: [{role: user, content: Answer in French.}]\n    defaults:\n    - {field: temperature, value: 0.2}\n    - {field: max_tokens, value: 100, override: true}\n    - {field: metadata, value: {team: a}}\n",
            AiPolicy {
                prepend: vec![PromptMessage {
                    role: "SYSTEM".into(),
                    content: "Be brief.".into(),
                }],
                append: vec![PromptMessage {
                    role: "USER".into(),
                    content: "Answer in French.".into(),
                }],
                defaults: vec![
                    FieldDefault {
                        field: "temperature".into(),
                        value: json!(0.2),
                        override_: false,
                    },
                    FieldDefault {
                        field: "max_tokens".into(),
                        value: json!(100),
                        override_: true,
                    },
                    FieldDefault {
                        field: "metadata".into(),
                        value: json!({"team": "a"}),
                        override_: false,
                    },
                ],
                ..AiPolicy::default()
            },
        ),
        (
            "  rateLimit:\n    llmTokens:\n    - {maxTokens: 1000, fillInterval: 1m}\n    - {maxTokens: 50, tokensPerFill: 5, fillInterval: 500ms, count: Output, clientHeader: X-User-Id}\n",
            AiPolicy {
                token_budgets: vec![
                    TokenBudget {
                        id: "ai/p/0".into(),
                        max_tokens: 1000,
                        tokens_per_fill: 1000,
                        fill_interval_ms: 60_000,
                        count: TokenCount::Total,
                        client_header: None,
                        global: false,
                    },
                    TokenBudget {
                        id: "ai/p/1".into(),
                        max_tokens: 50,
                        tokens_per_fill: 5,
                        fill_interval_ms: 500,
                        count: TokenCount::Output,
                        client_header: Some("x-user-id".into()),
                        global: false,
                    },
                ],
                ..AiPolicy::default()
            },
        ),
    ];
    for (spec, want) in cases {
        let out = translate_text(&with_policy(spec));
        assert!(out.problems.is_empty(), "{spec}\n{:?}", out.problems);
        assert_eq!(policy_of(&out.bootstrap, "/chat"), want, "{spec}");
        // The rule the policy does not target keeps the Backend's cluster.
        assert!(policy_of(&out.bootstrap, "/plain").is_empty(), "{spec}");
    }
}

#[test]
fn a_request_limit_is_envoys_local_rate_limit_on_the_rules_routes() {
    let out = translate_text(&with_policy(
        "  rateLimit:\n    local:\n      tokenBucket: {maxTokens: 5, tokensPerFill: 2, fillInterval: 1500ms}\n",
    ));
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let routes = routes(&out.bootstrap, 9000);
    let limit = &route_for(&routes, "/chat")["typed_per_filter_config"]
        ["envoy.filters.http.local_ratelimit"];
    assert_eq!(
        limit["token_bucket"],
        json!({"max_tokens": 5, "tokens_per_fill": 2, "fill_interval": "1.500s"})
    );
    assert_eq!(limit["filter_enforced"]["default_value"]["numerator"], 100);
    assert!(route_for(&routes, "/plain")
        .get("typed_per_filter_config")
        .is_none());
    // A request limit alone does not copy the cluster.
    assert_eq!(
        route_for(&routes, "/chat")["route"]["cluster"],
        "backend_ai_b"
    );
}

#[test]
fn each_mistake_is_refused_naming_its_field() {
    // (policy spec, the field and the start of the reason)
    let cases = [
        (
            "  ai:\n    promptGuard:\n      request: {regex: {matches: ['(unclosed']}}\n",
            "spec.ai.promptGuard.request[0].regex.matches[0]",
            "regex parse error",
        ),
        (
            "  ai:\n    promptGuard:\n      request: [{regex: {builtins: [SSN]}}, {regex: {matches: ['a*']}}]\n",
            "spec.ai.promptGuard.request[1].regex.matches[0]",
            "the pattern matches the empty text",
        ),
        (
            "  ai:\n    promptGuard:\n      request: {regex: {}}\n",
            "spec.ai.promptGuard.request[0].regex",
            "a regex guard needs matches or builtins",
        ),
        (
            "  ai:\n    promptGuard:\n      request: {regex: {builtins: [SSN]}, webhook: {host: {host: g, port: 80}}}\n",
            "spec.ai.promptGuard.request[0]",
            "a guard has exactly one of",
        ),
        (
            "  ai:\n    promptGuard:\n      request: {customResponse: {statusCode: 700}, regex: {builtins: [SSN]}}\n",
            "spec.ai.promptGuard.request[0].response.statusCode",
            "700 is not an HTTP status",
        ),
        (
            "  ai:\n    promptGuard:\n      response: {regex: {builtins: [SSN], action: REJECT}}\n",
            "spec.ai.promptGuard.response[0].regex.action",
            "a response guard masks",
        ),
        (
            "  ai:\n    promptGuard:\n      request: {openAIModeration: {model: omni-moderation-latest}}\n",
            "spec.ai.promptGuard.request[0].openAIModeration",
            "needs exactly one of backendRef (an AI Backend with an openai provider) or authToken",
        ),
        (
            "  ai:\n    promptEnrichment: {prepend: [{role: tool, content: x}]}\n",
            "spec.ai.promptEnrichment.prepend[0].role",
            "\"tool\" is not a role",
        ),
        (
            "  ai:\n    defaults: [{field: a.b, value: 1}]\n",
            "spec.ai.defaults[0].field",
            "\"a.b\" is not a top-level field name",
        ),
        (
            "  ai:\n    defaults: [{field: messages, value: []}]\n",
            "spec.ai.defaults[0].field",
            "messages is the conversation",
        ),
        (
            "  ai:\n    defaults: [{field: t, value: 1}, {field: t, value: 2}]\n",
            "spec.ai.defaults[1].field",
            "t has two defaults",
        ),
        (
            "  rateLimit:\n    llmTokens: [{maxTokens: 0, fillInterval: 1s}]\n",
            "spec.rateLimit.llmTokens[0].maxTokens",
            "must be at least 1",
        ),
        (
            "  rateLimit:\n    llmTokens: [{maxTokens: 5, fillInterval: soon}]\n",
            "spec.rateLimit.llmTokens[0].fillInterval",
            "invalid duration",
        ),
        (
            "  rateLimit:\n    llmTokens: [{maxTokens: 5, fillInterval: 0s}]\n",
            "spec.rateLimit.llmTokens[0].fillInterval",
            "the fill interval must be longer than 0",
        ),
        (
            "  rateLimit:\n    llmTokens: [{maxTokens: 5, fillInterval: 1s, clientHeader: 'x user'}]\n",
            "spec.rateLimit.llmTokens[0].clientHeader",
            "\"x user\" is not an HTTP header name",
        ),
        (
            "  rateLimit:\n    local: {tokenBucket: {maxTokens: 5, fillInterval: 10ms}}\n",
            "spec.rateLimit.local.tokenBucket.fillInterval",
            "Envoy's local rate limit needs",
        ),
    ];
    for (spec, field, why) in cases {
        let out = translate_text(&with_policy(spec));
        let want = format!("TrafficPolicy ai/p: {field}: {why}");
        assert!(
            out.problems.iter().any(|p| p.contains(&want)),
            "{spec}\nwant {want}\ngot {:?}",
            out.problems
        );
        // Nothing of it applies; the rest is served.
        assert!(policy_of(&out.bootstrap, "/chat").is_empty(), "{spec}");
        let routes = routes(&out.bootstrap, 9000);
        assert!(route_for(&routes, "/chat")
            .get("typed_per_filter_config")
            .is_none());
    }
}

#[test]
fn a_guard_of_the_wrong_shape_is_an_error_naming_what_is_wrong() {
    let out = translate_text(&with_policy(
        "  ai:\n    promptGuard:\n      request: [{regex: {builtins: [SSN]}}, {regex: {colour: red}}]\n",
    ));
    assert!(
        out.problems
            .iter()
            .any(|p| p.contains("TrafficPolicy ai/p") && p.contains("[1]: unknown field `colour`")),
        "{:?}",
        out.problems
    );
}

#[test]
fn a_global_budget_is_asked_of_the_rate_limit_service_before_and_charged_after() {
    let spec = "  rateLimit:\n    llmTokens:\n    - {maxTokens: 50, tokensPerFill: 5, fillInterval: 2s, count: Output, clientHeader: x-user-id, global: true}\n";
    // Without the service (`llmgate translate`, or no --redis): refused.
    let out = translate_text(&with_policy(spec));
    assert!(
        out.problems.iter().any(|p| p.contains(
            "TrafficPolicy ai/p: spec.rateLimit.llmTokens[0].global: global budgets need the control plane's rate-limit service"
        )),
        "{:?}",
        out.problems
    );
    let out = translate_with(
        &with_policy(spec),
        Options {
            filter: crate::ir::FilterCode::Local("/f.wasm".into()),
            rate_limit_service: Some("llmgate_xds".into()),
            ..Options::default()
        },
    );
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let routes = routes(&out.bootstrap, 9000);
    let generic =
        |k: &str, v: &str| json!({"generic_key": {"descriptor_key": k, "descriptor_value": v}});
    let actions = |phase: &str| {
        json!([
            generic("llmgate_budget", "ai/p/0"),
            generic("llmgate_bucket", "50/5/2000"),
            {"request_headers": {"header_name": "x-user-id", "descriptor_key": "llmgate_client", "skip_if_absent": true}},
            generic("llmgate_phase", phase),
        ])
    };
    let per_route =
        &route_for(&routes, "/chat")["typed_per_filter_config"]["envoy.filters.http.ratelimit"];
    assert_eq!(
        per_route["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute"
    );
    assert_eq!(
        per_route["rate_limits"],
        json!([
            {"actions": actions("admit")},
            {
                "actions": actions("charge"),
                "apply_on_stream_done": true,
                "hits_addend": {"format": "%FILTER_STATE(wasm.llmgate_tokens_output:PLAIN)%"}
            }
        ])
    );
    assert!(route_for(&routes, "/plain")
        .get("typed_per_filter_config")
        .is_none());
    // The filter publishes the tokens (its policy has the budget).
    assert!(policy_of(&out.bootstrap, "/chat").token_budgets[0].global);
    let listener = &out.bootstrap["static_resources"]["listeners"][0];
    let filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = filters
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.compressor",
            "envoy.filters.http.local_ratelimit",
            "envoy.filters.http.ratelimit",
            "envoy.filters.http.router"
        ]
    );
    let service = &filters[2]["typed_config"];
    assert_eq!(service["domain"], "llmgate");
    assert_eq!(service["failure_mode_deny"], false);
    assert_eq!(
        service["rate_limit_service"]["grpc_service"]["envoy_grpc"]["cluster_name"],
        "llmgate_xds"
    );
}
