//! What reaches a provider: only the methods an AI route is for, normalised
//! paths, and each Backend's own cluster.

use super::*;

fn listeners(bootstrap: &Value) -> Vec<Value> {
    bootstrap["static_resources"]["listeners"]
        .as_array()
        .unwrap()
        .clone()
}

fn hcms(listener: &Value) -> Vec<Value> {
    listener["filter_chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["filters"][0]["typed_config"].clone())
        .collect()
}

const MIXED: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: x
  listeners: [{name: http, port: 9000, protocol: HTTP}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: openai}
spec:
  type: AI
  ai:
    llm:
      openai: {authToken: {kind: Inline, inline: sk-1}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /llm}}, {path: {type: Exact, value: /get}, method: GET}]
    backendRefs: [{name: openai, group: gateway.kgateway.dev, kind: Backend}]
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: s, port: 80}]
"#;

#[test]
fn an_ai_route_forwards_only_post_and_answers_405_to_other_methods() {
    let (bootstrap, problems) = run(MIXED);
    assert!(problems.is_empty(), "{problems:?}");
    let routes = routes(&bootstrap, 9000);
    let summary: Vec<(String, Value, Value)> = routes
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["match"]["headers"].clone(),
                r["direct_response"]["status"].clone(),
            )
        })
        .collect();
    let post = serde_json::json!([{ "name": ":method", "string_match": { "exact": "POST" } }]);
    let get = serde_json::json!([{ "name": ":method", "string_match": { "exact": "GET" } }]);
    let list = serde_json::json!([
        { "name": ":path", "string_match": { "safe_regex": { "regex": ai_methods::MODEL_LIST_PATH } } },
        { "name": ":method", "string_match": { "exact": "GET" } },
    ]);
    assert_eq!(
        summary,
        [
            // GET is what an AI route is for only on a model list (which
            // `/get` never is); anything else is 405 instead of forwarding.
            (
                "httproute/default/r/rule/0/match/1/models".to_owned(),
                list.clone(),
                Value::Null
            ),
            (
                "httproute/default/r/rule/0/match/1/method_not_allowed".to_owned(),
                get,
                Value::from(405)
            ),
            (
                "httproute/default/r/rule/0/match/0".to_owned(),
                post,
                Value::Null
            ),
            (
                "httproute/default/r/rule/0/match/0/models".to_owned(),
                list,
                Value::Null
            ),
            (
                "httproute/default/r/rule/0/match/0/method_not_allowed".to_owned(),
                Value::Null,
                Value::from(405)
            ),
            // A Service route is left alone.
            (
                "httproute/default/r/rule/1/match/0".to_owned(),
                Value::Null,
                Value::Null
            ),
        ],
        "{routes:#?}"
    );
    let refused = &routes[4];
    assert_eq!(refused["match"]["path_separated_prefix"], "/llm");
    let body: Value = serde_json::from_str(
        refused["direct_response"]["body"]["inline_string"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let headers = refused["response_headers_to_add"].as_array().unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h["header"]["key"] == name)
            .map(|h| h["header"]["value"].clone())
    };
    assert_eq!(header("allow"), Some(Value::from("POST")));
    assert_eq!(
        header("content-type"),
        Some(Value::from("application/json"))
    );
}

/// An HTTP and an HTTPS listener, and the internal one behind a weighted
/// rule's unresolvable share.
fn every_listener() -> String {
    let (cert, key) = crate::validate::tls::test_pair("a.example.com");
    let json = |pem: &str| serde_json::to_string(pem).unwrap();
    EVERY_LISTENER
        .replace("CERT", &json(&cert))
        .replace("KEY", &json(&key))
}

const EVERY_LISTENER: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: x
  listeners:
  - {name: http, port: 9000, protocol: HTTP}
  - {name: https, port: 9443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: cert}]}}
---
apiVersion: v1
kind: Secret
metadata: {name: cert}
type: kubernetes.io/tls
stringData:
  tls.crt: CERT
  tls.key: KEY
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: s, port: 80, weight: 1}, {name: missing, group: gateway.kgateway.dev, kind: Backend, weight: 1}]
"#;

#[test]
fn every_listener_normalises_paths_and_rejects_escaped_slashes() {
    let (bootstrap, _) = run(&every_listener());
    let all = listeners(&bootstrap);
    let names: Vec<&str> = all.iter().map(|l| l["name"].as_str().unwrap()).collect();
    for want in ["gateway_9000", "gateway_9443", "llmgate_unavailable"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for listener in &all {
        let hcms = hcms(listener);
        assert!(!hcms.is_empty(), "{}", listener["name"]);
        for hcm in hcms {
            assert_eq!(hcm["normalize_path"], true, "{}", listener["name"]);
            assert_eq!(hcm["merge_slashes"], true, "{}", listener["name"]);
            assert_eq!(
                hcm["path_with_escaped_slashes_action"], "REJECT_REQUEST",
                "{}",
                listener["name"]
            );
        }
    }
}

#[test]
fn backends_whose_names_join_alike_get_their_own_clusters_and_keys() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: x
  listeners: [{name: http, port: 9000, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: llm, namespace: team_x}
spec:
  type: AI
  ai: {llm: {openai: {authToken: {kind: Inline, inline: key-of-team_x}}}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: x_llm, namespace: team}
spec:
  type: AI
  ai: {llm: {openai: {authToken: {kind: Inline, inline: key-of-team}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: team_x}
spec:
  parentRefs: [{name: gw, namespace: default}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: llm, group: gateway.kgateway.dev, kind: Backend}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: team}
spec:
  parentRefs: [{name: gw, namespace: default}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{name: x_llm, group: gateway.kgateway.dev, kind: Backend}]
"#;
    let (bootstrap, problems) = run(text);
    assert!(problems.is_empty(), "{problems:?}");
    let forwarded: Vec<(Value, Value)> = routes(&bootstrap, 9000)
        .iter()
        .filter(|r| r.get("route").is_some())
        .map(|r| {
            (
                r["match"]["path_separated_prefix"].clone(),
                r["route"]["cluster"].clone(),
            )
        })
        .collect();
    // Each prefix: POST, and GET of a model list.
    assert_eq!(forwarded.len(), 4, "{forwarded:?}");
    let cluster_of = |prefix: &str| {
        forwarded
            .iter()
            .find(|(p, _)| p == prefix)
            .map(|(_, c)| c.as_str().unwrap().to_owned())
            .unwrap()
    };
    let (a, b) = (cluster_of("/a"), cluster_of("/b"));
    assert_ne!(a, b);
    let key = |name: &str| match credential(&bootstrap, cluster(&bootstrap, name)) {
        llmgate_filter::config::TokenSource::Value { value } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(key(&a), "key-of-team_x");
    assert_eq!(key(&b), "key-of-team");
}

#[test]
fn a_mirror_to_an_ai_backend_gets_only_post() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: x
  listeners: [{name: http, port: 9000, protocol: HTTP}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: openai}
spec:
  type: AI
  ai: {llm: {openai: {authToken: {kind: Inline, inline: sk-1}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: openai, group: gateway.kgateway.dev, kind: Backend}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: other, port: 80}}}
    backendRefs: [{name: s, port: 80}]
"#;
    let (bootstrap, problems) = run(text);
    assert!(problems.is_empty(), "{problems:?}");
    let summary: Vec<(Value, Value, Vec<Value>)> = routes(&bootstrap, 9000)
        .iter()
        .map(|r| {
            let mirrored = r["route"]["request_mirror_policies"]
                .as_array()
                .map(|m| m.iter().map(|p| p["cluster"].clone()).collect())
                .unwrap_or_default();
            (
                r["match"]["headers"].clone(),
                r["route"]["cluster"].clone(),
                mirrored,
            )
        })
        .collect();
    let post = serde_json::json!([{ "name": ":method", "string_match": { "exact": "POST" } }]);
    let service = Value::from("service_default_s_80");
    let other = Value::from("service_default_other_80");
    assert_eq!(
        summary,
        [
            (
                post,
                service.clone(),
                vec![Value::from("backend_default_openai"), other.clone()]
            ),
            // Every other method still reaches the Service, and the other
            // mirror, but never the AI Backend.
            (Value::Null, service, vec![other]),
        ]
    );
}
