//! The Backend annotation `llmgate.io/max-request-bytes`: the filter's limit
//! on every provider, and Envoy's buffer limit on every route to the Backend.

use llmgate_filter::plugin_config::PluginConfig;

use super::providers::{with_llm, BASE};
use super::{cluster, plugin_configuration, routes, run};

const MIB: u64 = 1024 * 1024;
const LLM: &str = "openai: {model: gpt-4o-mini, authToken: {kind: Passthrough}}";
const GROUPS: &str = r#"    priorityGroups:
      - providers:
        - {name: first, openai: {authToken: {kind: Passthrough}}}
      - providers:
        - {name: second, openai: {model: gpt-4o-mini, authToken: {kind: Passthrough}}}
"#;

fn annotated(text: &str, value: Option<&str>) -> String {
    match value {
        None => text.to_owned(),
        Some(v) => text.replace(
            "metadata: {name: b, namespace: ai}",
            &format!("metadata: {{name: b, namespace: ai, annotations: {{llmgate.io/max-request-bytes: \"{v}\"}}}}"),
        ),
    }
}

#[test]
fn the_limit_reaches_the_filter_and_envoys_buffer_on_the_routes() {
    let groups = BASE.replace("    llm:\n", GROUPS);
    // (manifests, annotation, the filter's limit, Envoy's buffer limit on the route)
    let cases = [
        (with_llm(LLM), None, 32 * MIB, 41 * MIB),
        (with_llm(LLM), Some("8Mi"), 8 * MIB, 11 * MIB),
        (with_llm(LLM), Some("65536"), 64 * 1024, 80 * 1024 + MIB),
        (with_llm(LLM), Some("128Mi"), 128 * MIB, 161 * MIB),
        (groups.clone(), None, 32 * MIB, 41 * MIB),
        (groups, Some("2Mi"), 2 * MIB, 2 * MIB + MIB / 2 + MIB),
    ];
    for (text, value, limit, buffer) in cases {
        let (bootstrap, problems) = run(&annotated(&text, value));
        assert!(problems.is_empty(), "{value:?}: {problems:?}");
        let c = cluster(&bootstrap, "backend_ai_b");
        let config = PluginConfig::from_json(plugin_configuration(c).as_bytes()).unwrap();
        for provider in config.providers() {
            assert_eq!(provider.max_request_bytes, limit, "{value:?}");
        }
        let routes = routes(&bootstrap, 8080);
        assert!(!routes.is_empty());
        for r in &routes {
            let want = r.get("route").map(|_| buffer);
            assert_eq!(
                r["request_body_buffer_limit"].as_u64(),
                want,
                "{value:?}: {r}"
            );
        }
        crate::xds::resources::snapshot_from_bootstrap(&bootstrap)
            .expect("Envoy's schema accepts the limits");
    }
}

#[test]
fn a_bad_limit_is_an_error_and_the_backend_answers_500() {
    let cases = [
        ("32MB", "\"32MB\" is not a size"),
        ("0", "0 is out of range"),
        ("1Gi", "is not a size"),
        (
            "200Mi",
            "200Mi is out of range: 1024 bytes (1Ki) to 134217728 bytes (128Mi)",
        ),
    ];
    for (value, why) in cases {
        let (bootstrap, problems) = run(&annotated(&with_llm(LLM), Some(value)));
        assert!(
            problems.iter().any(|p| p.starts_with("error")
                && p.contains(
                    "Backend ai/b: metadata.annotations[llmgate.io/max-request-bytes]: "
                )
                && p.contains(why)),
            "{value}: {problems:?}"
        );
        for r in routes(&bootstrap, 8080) {
            assert_eq!(r["direct_response"]["status"], 500, "{value}: {r}");
            assert!(r.get("request_body_buffer_limit").is_none());
        }
    }
}

/// A weighted route lets Envoy buffer what its most generous AI Backend
/// allows; a route to a Service keeps Envoy's default.
#[test]
fn a_route_takes_the_largest_limit_of_its_ai_backends() {
    let other = r#"
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: big, namespace: ai, annotations: {llmgate.io/max-request-bytes: "64Mi"}}
spec:
  type: AI
  ai: {llm: {openai: {authToken: {kind: Passthrough}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mixed, namespace: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mixed}}]
    backendRefs:
    - {name: b, group: gateway.kgateway.dev, kind: Backend, weight: 1}
    - {name: big, group: gateway.kgateway.dev, kind: Backend, weight: 1}
  - matches: [{path: {type: PathPrefix, value: /svc}}]
    backendRefs: [{name: svc, port: 80}]
"#;
    let text = format!("{}{other}", annotated(&with_llm(LLM), Some("1Mi")));
    let (bootstrap, problems) = run(&text);
    assert!(problems.is_empty(), "{problems:?}");
    let limit_of = |prefix: &str| {
        routes(&bootstrap, 8080)
            .iter()
            .find(|r| r["match"]["path_separated_prefix"] == prefix && r.get("route").is_some())
            .map(|r| r["request_body_buffer_limit"].as_u64())
            .unwrap()
    };
    assert_eq!(limit_of("/llm"), Some(MIB + MIB / 4 + MIB));
    assert_eq!(limit_of("/mixed"), Some(64 * MIB + 16 * MIB + MIB));
    assert_eq!(limit_of("/svc"), None);
}
