//! Webhook and moderation prompt guards: the filter's callouts name
//! clusters the configuration has, the moderation key reaches Envoy only as
//! a secret its injector writes on the rule's AI cluster, and what cannot
//! be served is refused naming the field.

use llmgate_filter::policy_config::{Callout, Guard, ModerationGuard, Rejection, WebhookGuard};
use serde_json::Value;

use super::upstream_tls::translate_text;
use super::{cluster, filter_config, injected, routes};

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
      anthropic: {authToken: {kind: Inline, inline: sk-chat}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: mod, namespace: guards}
spec:
  type: AI
  ai:
    llm:
      openai: {authToken: {kind: SecretRef, secretRef: {name: openai}}}
---
apiVersion: v1
kind: Secret
metadata: {name: openai, namespace: guards}
stringData: {Authorization: sk-moderation}
---
apiVersion: v1
kind: Secret
metadata: {name: own, namespace: ai}
stringData: {Authorization: Bearer sk-own}
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
"#;

const GRANT: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: guards}
spec:
  from: [{group: gateway.kgateway.dev, kind: TrafficPolicy, namespace: ai}]
  to: [{group: gateway.kgateway.dev, kind: Backend}, {group: '', kind: Service}]
"#;

fn with_guards(request: &str, extra: &str) -> String {
    format!(
        "{BASE}{extra}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: p, namespace: ai}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}}]\n  ai:\n    promptGuard:\n      request: {request}\n"
    )
}

fn chat_cluster(bootstrap: &Value) -> &Value {
    let routes = routes(bootstrap, 9000);
    let name = routes[0]["route"]["cluster"].as_str().unwrap().to_owned();
    cluster(bootstrap, &name)
}

fn rejected() -> Rejection {
    Rejection {
        status: 403,
        message: "The request was rejected due to inappropriate content".into(),
    }
}

#[test]
fn a_webhook_host_or_service_becomes_a_cluster_the_callout_names() {
    let out = translate_text(&with_guards(
        "[{webhook: {host: {host: guard.example, port: 8000}, forwardHeaders: [{name: X-User}], timeout: 750ms, failureMode: Open}}, {webhook: {backendRef: {name: hook, namespace: guards, port: 80}, forwardHeaderMatches: [{name: x-team, type: Exact}]}, response: {statusCode: 451, message: no}}]",
        GRANT,
    ));
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let chat = chat_cluster(&out.bootstrap);
    let guards = filter_config(chat).policy.request_guards;
    assert_eq!(
        guards,
        [
            Guard::Webhook(WebhookGuard {
                callout: Callout {
                    cluster: "guard_host_guard.example_8000".into(),
                    authority: "guard.example:8000".into(),
                    timeout_ms: 750,
                    fail_open: true,
                },
                forward_headers: vec!["x-user".into()],
                rejection: rejected(),
            }),
            Guard::Webhook(WebhookGuard {
                callout: Callout {
                    cluster: "service_guards_hook_80".into(),
                    authority: "hook.guards.svc:80".into(),
                    timeout_ms: 2000,
                    fail_open: false,
                },
                forward_headers: vec!["x-team".into()],
                rejection: Rejection {
                    status: 451,
                    message: "no".into(),
                },
            }),
        ]
    );
    let host = cluster(&out.bootstrap, "guard_host_guard.example_8000");
    assert_eq!(
        host["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"]["address"],
        "guard.example"
    );
    cluster(&out.bootstrap, "service_guards_hook_80");
    // No keys for webhooks: only the provider's own injector.
    assert_eq!(injected(&out.bootstrap, chat).len(), 1);
}

#[test]
fn moderation_through_an_ai_backend_gets_its_key_injected_never_configured() {
    let out = translate_text(&with_guards(
        "{openAIModeration: {backendRef: {name: mod, namespace: guards}}}",
        GRANT,
    ));
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let chat = chat_cluster(&out.bootstrap);
    let guards = filter_config(chat).policy.request_guards;
    assert_eq!(
        guards,
        [Guard::Moderation(ModerationGuard {
            callout: Callout {
                cluster: "guard_backend_guards_mod".into(),
                authority: "api.openai.com".into(),
                timeout_ms: 2000,
                fail_open: false,
            },
            path: "/v1/moderations".into(),
            model: "omni-moderation-latest".into(),
            key_header: Some("x-llmgate-credential-guard-0".into()),
            rejection: rejected(),
        })]
    );
    assert_eq!(
        injected(&out.bootstrap, chat),
        [
            ("x-llmgate-credential-0".to_owned(), "sk-chat".to_owned()),
            (
                "x-llmgate-credential-guard-0".to_owned(),
                "sk-moderation".to_owned()
            ),
        ]
    );
    // The provider without the filter, over TLS.
    let target = cluster(&out.bootstrap, "guard_backend_guards_mod");
    assert!(target.get("typed_extension_protocol_options").is_none());
    assert_eq!(
        target["transport_socket"]["typed_config"]["sni"],
        "api.openai.com"
    );
    // The key is in the secrets only.
    let config = chat["typed_extension_protocol_options"].to_string();
    assert!(!config.contains("sk-moderation"));
    assert!(!config.contains("sk-chat"));
}

#[test]
fn moderation_with_its_own_token_calls_openai() {
    let out = translate_text(&with_guards(
        "{moderation: {openAIModeration: {model: text-moderation-stable, authToken: {kind: SecretRef, secretRef: {name: own}}}}}",
        "",
    ));
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let chat = chat_cluster(&out.bootstrap);
    let Guard::Moderation(m) = &filter_config(chat).policy.request_guards[0] else {
        panic!("not moderation")
    };
    assert_eq!(m.model, "text-moderation-stable");
    assert_eq!(m.callout.cluster, "guard_openai");
    assert_eq!(
        injected(&out.bootstrap, chat)[1],
        (
            "x-llmgate-credential-guard-0".to_owned(),
            "sk-own".to_owned()
        )
    );
    cluster(&out.bootstrap, "guard_openai");
}

#[test]
fn what_cannot_be_called_is_refused_naming_the_field() {
    let field = "TrafficPolicy ai/p: spec.ai.promptGuard";
    let cases = [
        (
            "{webhook: {backendRef: {name: hook, namespace: guards, port: 80}}}",
            "",
            format!("{field}.request[0].webhook.backendRef: Service guards/hook is in another namespace and no ReferenceGrant there allows TrafficPolicies from ai"),
        ),
        (
            "{webhook: {}}",
            GRANT,
            format!("{field}.request[0].webhook: a webhook needs exactly one of host, backendRef"),
        ),
        (
            "{webhook: {host: {host: g, port: 80}, timeout: 2m}}",
            "",
            format!("{field}.request[0].webhook.timeout: 2m: must be from 1ms to 60s"),
        ),
        (
            "{webhook: {host: {host: g, port: 80}, forwardHeaders: [{name: x, type: RegularExpression}]}}",
            "",
            format!("{field}.request[0].webhook.forwardHeaders[0].type: only Exact header names"),
        ),
        (
            "{openAIModeration: {backendRef: {name: mod, namespace: guards}}}",
            "",
            format!("{field}.request[0].openAIModeration.backendRef: Backend guards/mod is in another namespace"),
        ),
        (
            "{openAIModeration: {backendRef: {name: b}}}",
            "",
            format!("{field}.request[0].openAIModeration.backendRef: Backend ai/b: moderation needs an openai provider, not anthropic"),
        ),
        (
            "{openAIModeration: {authToken: {kind: Passthrough}}}",
            "",
            format!("{field}.request[0].openAIModeration.authToken.kind: Passthrough"),
        ),
        (
            "{openAIModeration: {authToken: {kind: SecretRef, secretRef: {name: nope}}}}",
            "",
            format!("{field}.request[0].openAIModeration.authToken.secretRef: Secret ai/nope not found"),
        ),
    ];
    for (request, extra, want) in cases {
        let out = translate_text(&with_guards(request, extra));
        assert!(
            out.problems.iter().any(|p| p.contains(&want)),
            "{request}\nwant {want}\ngot {:?}",
            out.problems
        );
        // Nothing of the policy applies.
        let chat = chat_cluster(&out.bootstrap);
        assert!(filter_config(chat).policy.is_empty(), "{request}");
    }
    let out = translate_text(&format!(
        "{BASE}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: p, namespace: ai}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}}]\n  ai:\n    promptGuard:\n      response: {{webhook: {{host: {{host: g, port: 80}}}}}}\n"
    ));
    // A response webhook is served like a request one.
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let policy = filter_config(chat_cluster(&out.bootstrap)).policy;
    assert!(
        matches!(policy.response_guards.as_slice(), [Guard::Webhook(w)] if w.callout.authority == "g:80"),
        "{policy:?}"
    );
}
