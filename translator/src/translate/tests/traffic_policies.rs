//! TrafficPolicy `spec.ai.routes`: which policy's table each AI route rule
//! gets (most specific, then oldest, then name), the cluster copies that
//! carry the tables, and the policies' status.

use llmgate_filter::plugin_config::PluginConfig;
use serde_json::Value;

use super::upstream_tls::translate_text;
use super::{cluster, plugin_configuration, routes};
use crate::status::{ObjectStatus, Status};

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
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: g, namespace: ai}
spec:
  type: AI
  ai:
    priorityGroups:
    - providers:
      - {name: one, openai: {authToken: {kind: Inline, inline: sk-2}}}
    - providers:
      - {name: two, anthropic: {authToken: {kind: Inline, inline: sk-3}}}
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
  - name: files
    matches: [{path: {type: PathPrefix, value: /files}}]
    backendRefs: [{name: b, group: gateway.kgateway.dev, kind: Backend}]
  - matches: [{path: {type: PathPrefix, value: /groups}}]
    backendRefs: [{name: g, group: gateway.kgateway.dev, kind: Backend}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other, namespace: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /other}}]
    backendRefs: [{name: b, group: gateway.kgateway.dev, kind: Backend}]
"#;

/// A TrafficPolicy in `ai`: `created` may be empty, `target` is one
/// targetRef's flow mapping, `ai` the flow mapping of `spec.ai`.
fn policy(name: &str, created: &str, target: &str, ai: &str) -> String {
    let created = if created.is_empty() {
        String::new()
    } else {
        format!(", creationTimestamp: \"{created}\"")
    };
    format!(
        "\n---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: {name}, namespace: ai{created}}}\nspec:\n  targetRefs: [{target}]\n  ai: {ai}\n"
    )
}

const ROUTE: &str = "{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}";
const GATEWAY: &str = "{group: gateway.networking.k8s.io, kind: Gateway, name: gw}";
fn rule(name: &str) -> String {
    format!("{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: {name}}}")
}

/// The route table of each filter configuration of a cluster, as
/// `suffix=Type` lists (one per priority-group provider).
fn tables(c: &Value) -> Vec<String> {
    let configs = match PluginConfig::from_json(plugin_configuration(c).as_bytes()).unwrap() {
        PluginConfig::Single(one) => vec![*one],
        PluginConfig::Members(members) => members,
    };
    configs
        .iter()
        .map(|f| {
            f.routes
                .iter()
                .map(|r| format!("{}={}", r.suffix, r.route_type.name()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The cluster the (first) Envoy route for `prefix` forwards to.
fn cluster_of(bootstrap: &Value, prefix: &str) -> String {
    let route = routes(bootstrap, 9000)
        .into_iter()
        .find(|r| r["match"]["prefix"] == prefix || r["match"]["path_separated_prefix"] == prefix)
        .unwrap_or_else(|| panic!("no route for {prefix}"));
    route["route"]["cluster"]
        .as_str()
        .unwrap_or_else(|| panic!("{route:#}"))
        .to_owned()
}

/// `(ancestor kind/name, status, reason, message)` of TrafficPolicy `ai/{name}`.
fn accepted(statuses: &[ObjectStatus], name: &str) -> Vec<(String, String, String, String)> {
    let status = statuses
        .iter()
        .find(|s| s.kind == "TrafficPolicy" && s.name == name)
        .unwrap_or_else(|| panic!("no status for TrafficPolicy ai/{name}"));
    let Status::Policy { ancestors } = &status.status else {
        panic!("{status:?}");
    };
    ancestors
        .iter()
        .map(|a| {
            let c = &a.conditions[0];
            assert_eq!(c.type_, "Accepted");
            assert_eq!(a.controller_name, "llmgate.dev/gateway-controller");
            (
                format!("{}/{}", a.ancestor_ref.kind, a.ancestor_ref.name),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            )
        })
        .collect()
}

struct Case {
    name: &'static str,
    policies: Vec<String>,
    /// Route prefix → the table its cluster's filter carries.
    tables: &'static [(&'static str, &'static str)],
    /// Policy → (status, reason, message start) on its first ancestor.
    statuses: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

#[test]
fn the_most_specific_policy_gives_each_rule_its_table() {
    let cases = [
        Case {
            name: "no policy: the built-in table",
            policies: vec![],
            tables: &[("/chat", ""), ("/files", ""), ("/other", "")],
            statuses: &[],
        },
        Case {
            name: "HTTPRoute policy, ordered longest suffix first, * last",
            policies: vec![policy(
                "p",
                "",
                ROUTE,
                "{routes: {'*': Detect, /files: Passthrough, /chat/completions: Completions}}",
            )],
            tables: &[
                ("/chat", "/chat/completions=Completions /files=Passthrough *=Detect"),
                ("/files", "/chat/completions=Completions /files=Passthrough *=Detect"),
                ("/other", ""),
            ],
            statuses: &[("p", "True", "Accepted", "spec.targetRefs[0]: applies to HTTPRoute ai/r")],
        },
        Case {
            name: "a rule's sectionName beats the route",
            policies: vec![
                policy("route", "", ROUTE, "{routes: {/x: Detect}}"),
                policy("rule", "", &rule("files"), "{routes: {'*': Passthrough}}"),
            ],
            tables: &[("/chat", "/x=Detect"), ("/files", "*=Passthrough"), ("/other", "")],
            statuses: &[
                ("route", "True", "Accepted", "spec.targetRefs[0]: applies to 2 of 3 AI rules of HTTPRoute ai/r; TrafficPolicy ai/rule"),
                ("rule", "True", "Accepted", "spec.targetRefs[0]: applies to rule \"files\" of HTTPRoute ai/r"),
            ],
        },
        Case {
            name: "a Gateway policy reaches every route without its own",
            policies: vec![
                policy("gw", "", GATEWAY, "{routes: {'*': Passthrough}}"),
                policy("route", "", ROUTE, "{routes: {/x: Detect}}"),
            ],
            tables: &[("/chat", "/x=Detect"), ("/files", "/x=Detect"), ("/other", "*=Passthrough")],
            statuses: &[
                ("gw", "True", "Accepted", "spec.targetRefs[0]: applies to 1 of 4 AI rules of Gateway ai/gw; TrafficPolicy ai/route"),
                ("route", "True", "Accepted", "spec.targetRefs[0]: applies to HTTPRoute ai/r"),
            ],
        },
        Case {
            name: "equally specific: the oldest wins",
            policies: vec![
                policy("a", "2025-02-01T00:00:00Z", ROUTE, "{routes: {'*': Detect}}"),
                policy("b", "2025-01-01T00:00:00Z", ROUTE, "{routes: {'*': Passthrough}}"),
            ],
            tables: &[("/chat", "*=Passthrough"), ("/other", "")],
            statuses: &[
                ("a", "False", "Conflicted", "spec.targetRefs[0]: TrafficPolicy ai/b applies to every AI rule of HTTPRoute ai/r instead"),
                ("b", "True", "Accepted", "spec.targetRefs[0]: applies to HTTPRoute ai/r"),
            ],
        },
        Case {
            name: "equally specific and old: first by name",
            policies: vec![
                policy("b", "", ROUTE, "{routes: {'*': Passthrough}}"),
                policy("a", "", ROUTE, "{routes: {'*': Detect}}"),
            ],
            tables: &[("/chat", "*=Detect")],
            statuses: &[
                ("a", "True", "Accepted", "spec.targetRefs[0]: applies to HTTPRoute ai/r"),
                ("b", "False", "Conflicted", "spec.targetRefs[0]: TrafficPolicy ai/a applies"),
            ],
        },
        Case {
            name: "an unsupported field: nothing applied, the next policy in line applies",
            policies: vec![
                policy("guard", "", &rule("chat"), "{routes: {'*': Passthrough}, routeType: CHAT}"),
                policy("route", "", ROUTE, "{routes: {/x: Detect}}"),
            ],
            tables: &[("/chat", "/x=Detect"), ("/files", "/x=Detect")],
            statuses: &[
                ("guard", "False", "Invalid", "spec.ai.routeType: kgateway 2.0's routeType is not supported; use spec.ai.routes (e.g. {\"*\": Completions}) — llmgate detects streaming from the request itself"),
                ("route", "True", "Accepted", "spec.targetRefs[0]: applies to HTTPRoute ai/r"),
            ],
        },
        Case {
            name: "a route type llmgate does not serve",
            policies: vec![policy("rt", "", ROUTE, "{routes: {/realtime: Realtime, '*': Detect}}")],
            tables: &[("/chat", "")],
            statuses: &[(
                "rt",
                "False",
                "Invalid",
                "spec.ai.routes[\"/realtime\"]: Realtime is not served by llmgate",
            )],
        },
        Case {
            name: "HTTPRoute not found",
            policies: vec![policy(
                "nf",
                "",
                "{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nope}",
                "{routes: {'*': Detect}}",
            )],
            tables: &[("/chat", "")],
            statuses: &[("nf", "False", "TargetNotFound", "spec.targetRefs[0]: HTTPRoute ai/nope not found")],
        },
        Case {
            name: "rule not found",
            policies: vec![policy("nf", "", &rule("nope"), "{routes: {'*': Detect}}")],
            tables: &[("/chat", "")],
            statuses: &[(
                "nf",
                "False",
                "TargetNotFound",
                "spec.targetRefs[0]: HTTPRoute ai/r has no rule named \"nope\"",
            )],
        },
        Case {
            name: "a target of another kind",
            policies: vec![policy(
                "k",
                "",
                "{group: gateway.kgateway.dev, kind: Backend, name: b}",
                "{routes: {'*': Detect}}",
            )],
            tables: &[("/chat", "")],
            statuses: &[(
                "k",
                "False",
                "Invalid",
                "spec.targetRefs[0]: llmgate applies TrafficPolicy to gateway.networking.k8s.io HTTPRoutes and Gateways",
            )],
        },
    ];
    for case in cases {
        let text = format!("{BASE}{}", case.policies.concat());
        let out = translate_text(&text);
        for (prefix, want) in case.tables {
            let name = cluster_of(&out.bootstrap, prefix);
            assert_eq!(
                tables(cluster(&out.bootstrap, &name)),
                [want.to_string()],
                "{}: {prefix} ({name})",
                case.name
            );
        }
        for (policy, status, reason, message) in case.statuses {
            let got = accepted(&out.statuses, policy);
            let (_, s, r, m) = &got[0];
            assert_eq!(
                (s.as_str(), r.as_str()),
                (*status, *reason),
                "{}: {policy}: {m}",
                case.name
            );
            assert!(
                m.starts_with(message),
                "{}: {policy}:\n got {m}\nwant {message}",
                case.name
            );
        }
    }
}

#[test]
fn rules_share_one_copy_per_backend_and_table() {
    let text = format!(
        "{BASE}{}",
        policy("p", "", ROUTE, "{routes: {'*': Passthrough}}")
    );
    let out = translate_text(&text);
    assert!(
        out.problems.iter().all(|p| !p.starts_with("error")),
        "{:?}",
        out.problems
    );
    let chat = cluster_of(&out.bootstrap, "/chat");
    let files = cluster_of(&out.bootstrap, "/files");
    assert_eq!(chat, files, "same Backend, same table: one copy");
    assert!(chat.starts_with("backend_ai_b_routes_"), "{chat}");
    // The route without a table keeps the Backend's own cluster.
    assert_eq!(cluster_of(&out.bootstrap, "/other"), "backend_ai_b");
    assert_eq!(tables(cluster(&out.bootstrap, "backend_ai_b")), [""]);
    // Priority groups: every provider's configuration carries the table.
    let groups = cluster_of(&out.bootstrap, "/groups");
    assert!(groups.starts_with("backend_ai_g_routes_"), "{groups}");
    assert_eq!(
        tables(cluster(&out.bootstrap, &groups)),
        ["*=Passthrough", "*=Passthrough"]
    );
    let names: Vec<&str> = out.bootstrap["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .filter(|n| n.starts_with("backend_"))
        .collect();
    // Every Backend keeps its own cluster (unused ones too); one copy each.
    assert_eq!(
        names,
        [
            "backend_ai_b",
            chat.as_str(),
            "backend_ai_g",
            groups.as_str()
        ]
    );
}

#[test]
fn an_unknown_route_type_is_an_error_naming_the_field() {
    let text = format!(
        "{BASE}{}",
        policy("p", "", ROUTE, "{routes: {/v1/x: Chat}}")
    );
    let out = translate_text(&text);
    let problem = out
        .problems
        .iter()
        .find(|p| p.contains("TrafficPolicy ai/p"))
        .unwrap_or_else(|| panic!("{:?}", out.problems));
    assert!(
        problem.starts_with("error: m.yaml:")
            && problem.contains("spec.ai.routes./v1/x: unknown variant")
            && problem.contains("`Passthrough`"),
        "{problem}"
    );
    assert_eq!(
        tables(cluster(
            &out.bootstrap,
            &cluster_of(&out.bootstrap, "/chat")
        )),
        [""]
    );
}

#[test]
fn an_unknown_field_is_an_error_naming_it() {
    let text = format!(
        "{BASE}{}",
        policy("p", "", ROUTE, "{routes: {'*': Detect}, colour: red}")
    );
    let out = translate_text(&text);
    assert!(
        out.problems
            .iter()
            .any(|p| p.contains("TrafficPolicy ai/p: spec.ai.colour: unknown field `colour`")),
        "{:?}",
        out.problems
    );
}

#[test]
fn an_unsupported_field_is_an_error_and_the_policy_is_not_applied() {
    let text = format!(
        "{BASE}{}",
        policy(
            "p",
            "",
            ROUTE,
            "{routes: {'*': Passthrough}, routeType: CHAT}"
        )
    );
    let out = translate_text(&text);
    assert!(
        out.problems.iter().any(|p| p.starts_with("error: m.yaml:")
            && p.contains(
                "TrafficPolicy ai/p: spec.ai.routeType: kgateway 2.0's routeType is not supported"
            )),
        "{:?}",
        out.problems
    );
    assert_eq!(cluster_of(&out.bootstrap, "/chat"), "backend_ai_b");
    let got = accepted(&out.statuses, "p");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0, "Gateway/gw",
        "the route's Gateway is the ancestor"
    );
    assert_eq!(got[0].2, "Invalid");
}
