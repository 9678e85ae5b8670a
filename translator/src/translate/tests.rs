use std::path::Path;

use serde_json::Value;

use super::*;
use crate::source::yaml::load_str;

const SEED: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: agentgateway, namespace: ai}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: v1
kind: Secret
metadata: {name: azure-openai-secret, namespace: ai}
type: Opaque
stringData: {Authorization: "Bearer my-azure-key"}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: azure-openai, namespace: ai}
spec:
  type: AI
  ai:
    llm:
      azureopenai:
        endpoint: https://my-endpoint.openai.azure.com/
        deploymentName: gpt-4o-mini
        apiVersion: 2024-02-15-preview
        authToken: {kind: SecretRef, secretRef: {name: azure-openai-secret}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: azure-openai, namespace: ai}
spec:
  parentRefs: [{name: agentgateway}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /azure-openai}}]
    backendRefs: [{name: azure-openai, namespace: ai, group: gateway.kgateway.dev, kind: Backend}]
"#;

fn run(text: &str) -> (Value, Vec<String>) {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    load_str(Path::new("m.yaml"), text, &mut snapshot, &mut problems);
    let t = translate(
        &snapshot,
        &Options {
            filter: crate::ir::FilterCode::Local("/f.wasm".into()),
            ..Options::default()
        },
    );
    problems.extend(t.problems);
    (
        t.bootstrap,
        problems
            .iter()
            .map(|p| p.to_string())
            // These manifests have no GatewayClass on purpose (folder mode).
            .filter(|p| !p.contains("is not in the input; served anyway"))
            .collect(),
    )
}

fn cluster<'a>(bootstrap: &'a Value, name: &str) -> &'a Value {
    bootstrap["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name} in {bootstrap:#}"))
}

fn http_filters(cluster: &Value) -> &Vec<Value> {
    let filters = cluster["typed_extension_protocol_options"]
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"]
        .as_array()
        .unwrap();
    assert_eq!(
        filters.last().unwrap()["name"],
        "envoy.filters.http.upstream_codec",
        "codec must be last"
    );
    filters
}

/// The llmgate filter's plugin configuration (JSON text): the filter right
/// before the codec, after the credential injectors.
fn plugin_configuration(cluster: &Value) -> &str {
    let filters = http_filters(cluster);
    let wasm = &filters[filters.len() - 2];
    assert_eq!(wasm["name"], "envoy.filters.http.wasm");
    wasm["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap()
}

fn filter_config(cluster: &Value) -> llmgate_filter::config::FilterConfig {
    llmgate_filter::config::FilterConfig::from_json(plugin_configuration(cluster).as_bytes())
        .unwrap()
}

/// (internal header, secret value) of each credential injector of the
/// cluster, the value looked up in the bootstrap's static secrets.
fn injected(bootstrap: &Value, cluster: &Value) -> Vec<(String, String)> {
    let secrets = bootstrap["static_resources"]["secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let filters = http_filters(cluster);
    filters[..filters.len() - 2]
        .iter()
        .map(|f| {
            let generic = &f["typed_config"]["credential"]["typed_config"];
            let name = &generic["credential"]["name"];
            let secret = secrets
                .iter()
                .find(|s| &s["name"] == name)
                .unwrap_or_else(|| panic!("no static secret {name}"));
            (
                generic["header"].as_str().unwrap().to_owned(),
                secret["generic_secret"]["secret"]["inline_string"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// The credential the filter of a one-provider cluster ends up with: what
/// it reads from the headers Envoy injected. The key is never in the
/// filter's configuration.
fn credential(bootstrap: &Value, cluster: &Value) -> llmgate_filter::config::TokenSource {
    let cfg = filter_config(cluster);
    let injected = injected(bootstrap, cluster);
    for (_, value) in &injected {
        assert!(
            !plugin_configuration(cluster).contains(value.as_str()),
            "a key in the plugin configuration"
        );
    }
    llmgate_filter::injected::resolve(&cfg.auth.token, |h| {
        injected
            .iter()
            .find(|(name, _)| name == h)
            .map(|(_, v)| v.clone())
    })
    .unwrap_or(cfg.auth.token)
}

fn routes(bootstrap: &Value, port: u16) -> Vec<Value> {
    let listener = bootstrap["static_resources"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["address"]["socket_address"]["port_value"] == port)
        .unwrap();
    let hcm = &listener["filter_chains"][0]["filters"][0]["typed_config"];
    hcm["route_config"]["virtual_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["routes"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn seed_example_becomes_a_listener_a_route_and_a_verified_tls_cluster() {
    let (bootstrap, problems) = run(SEED);
    assert!(problems.is_empty(), "{problems:?}");
    let routes = routes(&bootstrap, 8080);
    // The route, behind it GET of a model list (the filter answers it),
    // then the 405 for every other method.
    assert_eq!(routes.len(), 3);
    for route in &routes {
        assert_eq!(route["match"]["path_separated_prefix"], "/azure-openai");
    }
    assert_eq!(routes[1]["match"]["headers"][0]["name"], ":path");
    assert_eq!(
        routes[1]["match"]["headers"][1]["string_match"]["exact"],
        "GET"
    );
    assert_eq!(routes[1]["route"]["cluster"], "backend_ai_azure-openai");
    assert_eq!(routes[2]["direct_response"]["status"], 405);
    assert_eq!(routes[0]["route"]["cluster"], "backend_ai_azure-openai");
    assert_eq!(routes[0]["route"]["timeout"], "0s");

    let c = cluster(&bootstrap, "backend_ai_azure-openai");
    assert_eq!(c["type"], "LOGICAL_DNS");
    let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(addr["address"], "my-endpoint.openai.azure.com");
    assert_eq!(addr["port_value"], 443);
    let tls = &c["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "my-endpoint.openai.azure.com");
    assert_eq!(
        tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]
            ["matcher"]["exact"],
        "my-endpoint.openai.azure.com"
    );

    let cfg = filter_config(c);
    assert_eq!(cfg.backend, "ai/azure-openai");
    assert_eq!(cfg.host, "my-endpoint.openai.azure.com");
    assert_eq!(
        cfg.provider,
        llmgate_filter::config::ProviderConfig::Azureopenai {
            deployment_name: "gpt-4o-mini".into(),
            api_version: "2024-02-15-preview".into()
        }
    );
    // `Bearer ` is stripped from the Secret's value.
    assert_eq!(
        credential(&bootstrap, c),
        llmgate_filter::config::TokenSource::Value {
            value: "my-azure-key".into()
        }
    );
}

#[test]
fn host_and_port_override_the_upstream() {
    let cases = [
        // (host, port, tls, cluster type, Host header)
        (
            "127.0.0.1",
            8081,
            false,
            "STATIC",
            "my-endpoint.openai.azure.com",
        ),
        (
            "proxy.internal",
            443,
            true,
            "LOGICAL_DNS",
            "my-endpoint.openai.azure.com",
        ),
    ];
    for (host, port, tls, kind, authority) in cases {
        let text = SEED.replace(
            "      azureopenai:\n",
            &format!("      host: {host}\n      port: {port}\n      azureopenai:\n"),
        );
        let (bootstrap, problems) = run(&text);
        assert!(problems.is_empty(), "{problems:?}");
        let c = cluster(&bootstrap, "backend_ai_azure-openai");
        assert_eq!(c["type"], kind, "{host}");
        assert_eq!(c.get("transport_socket").is_some(), tls, "{host}:{port}");
        if tls {
            assert_eq!(
                c["transport_socket"]["typed_config"]["sni"],
                "my-endpoint.openai.azure.com"
            );
        }
        assert_eq!(filter_config(c).host, authority);
    }
}

#[test]
fn openai_host_override_is_the_host_header() {
    let text = SEED.replace(
        "      azureopenai:\n        endpoint: https://my-endpoint.openai.azure.com/\n        deploymentName: gpt-4o-mini\n        apiVersion: 2024-02-15-preview\n",
        "      host: localhost\n      port: 11434\n      openai:\n        model: llama3\n",
    );
    let (bootstrap, problems) = run(&text);
    assert!(problems.is_empty(), "{problems:?}");
    let cfg = filter_config(cluster(&bootstrap, "backend_ai_azure-openai"));
    assert_eq!(cfg.host, "localhost:11434");
    assert_eq!(
        cfg.provider,
        llmgate_filter::config::ProviderConfig::Openai {
            model: Some("llama3".into())
        }
    );
}

#[test]
fn a_backend_that_is_not_ready_answers_500_and_others_keep_working() {
    let other = r#"
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: openai, namespace: ai}
spec:
  type: AI
  ai: {llm: {openai: {authToken: {kind: Inline, inline: sk-inline}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: openai, namespace: ai}
spec:
  parentRefs: [{name: agentgateway}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /openai}}]
    backendRefs: [{name: openai, group: gateway.kgateway.dev, kind: Backend}]
"#;
    let cases = [
        (
            "stringData: {Authorization: \"Bearer my-azure-key\"}",
            "stringData: {other: x}",
            "has no (non-empty) key `Authorization`",
        ),
        (
            "name: azure-openai-secret, namespace: ai",
            "name: renamed, namespace: ai",
            "Secret ai/azure-openai-secret not found",
        ),
    ];
    for (from, to, why) in cases {
        let (bootstrap, problems) = run(&format!("{}{other}", SEED.replace(from, to)));
        assert_eq!(
            problems.iter().filter(|p| p.starts_with("warning")).count(),
            2,
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains(
                "Backend ai/azure-openai: spec.ai.llm.azureopenai.authToken.secretRef: "
            ) && p.contains(why)),
            "{problems:?}"
        );
        let routes = routes(&bootstrap, 8080);
        let azure = routes
            .iter()
            .find(|r| r["match"]["path_separated_prefix"] == "/azure-openai")
            .unwrap();
        assert_eq!(azure["direct_response"]["status"], 500);
        let openai = routes
            .iter()
            .find(|r| r["match"]["path_separated_prefix"] == "/openai")
            .unwrap();
        assert_eq!(openai["route"]["cluster"], "backend_ai_openai");
    }
}

#[test]
fn invalid_backends_are_errors_that_name_the_field() {
    let cases = [
        (
            "deploymentName: gpt-4o-mini",
            "deploymentName: \"\"",
            "spec.ai.llm.azureopenai.deploymentName: must not be empty",
        ),
        (
            "      azureopenai:\n",
            "      host: h\n      azureopenai:\n",
            "spec.ai.llm.port: host and port must be set together",
        ),
        (
            "  type: AI\n",
            "  type: Static\n",
            "spec.type: unsupported backend type",
        ),
        (
            "{kind: SecretRef, secretRef: {name: azure-openai-secret}}",
            "{kind: Inline}",
            "spec.ai.llm.azureopenai.authToken.inline: required",
        ),
        (
            "      azureopenai:\n",
            "      modelAliases: {fast: \"\"}\n      azureopenai:\n",
            "spec.ai.llm.modelAliases[\"fast\"]: the model must not be empty",
        ),
        (
            "      azureopenai:\n",
            "      modelAliases: {\" \": gpt-4o-mini}\n      azureopenai:\n",
            "spec.ai.llm.modelAliases: an alias must not be empty",
        ),
        (
            "      azureopenai:\n",
            &format!(
                "      modelAliases: {{fast: {}}}\n      azureopenai:\n",
                "m".repeat(257)
            ),
            "spec.ai.llm.modelAliases[\"fast\"]: the model is longer than 256 bytes",
        ),
        (
            "      azureopenai:\n",
            &format!(
                "      modelAliases: {{{}}}\n      azureopenai:\n",
                (0..65)
                    .map(|i| format!("a{i}: gpt-4o-mini"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "spec.ai.llm.modelAliases: has 65 aliases; at most 64 are allowed",
        ),
    ];
    for (from, to, want) in cases {
        let (bootstrap, problems) = run(&SEED.replace(from, to));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("error: m.yaml:") && p.contains(want)),
            "{want}: {problems:?}"
        );
        assert_eq!(
            routes(&bootstrap, 8080)[0]["direct_response"]["status"],
            500
        );
    }
}

#[test]
fn gateway_api_precedence_orders_routes() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: x
  listeners: [{name: http, port: 9000, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: s, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /v1/}, headers: [{name: X-Team, value: a}]}]
    backendRefs: [{name: s, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}, {path: {type: Exact, value: /v1/x}}]
    backendRefs: [{name: s, port: 80}]
"#;
    let (bootstrap, problems) = run(text);
    assert!(problems.is_empty(), "{problems:?}");
    let names: Vec<String> = routes(&bootstrap, 9000)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "httproute/default/a/rule/0/match/1", // Exact
            "httproute/default/b/rule/1/match/0", // /v1/ + header beats /v1
            "httproute/default/a/rule/0/match/0",
            "httproute/default/b/rule/0/match/0", // /
        ]
    );
    assert_eq!(
        cluster(&bootstrap, "service_default_s_80")["type"],
        "STRICT_DNS"
    );
}

#[test]
fn routes_attach_only_where_the_listener_allows() {
    let text = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: x
  listeners:
  - {name: same, port: 8080, protocol: HTTP, hostname: a.example.com}
  - {name: all, port: 8080, protocol: HTTP, hostname: "*.example.org", allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: team}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [x.example.org, a.example.com]
  rules: [{backendRefs: [{name: s, port: 80}]}]
"#;
    let (bootstrap, problems) = run(text);
    assert!(problems.is_empty(), "{problems:?}");
    let listener = &bootstrap["static_resources"]["listeners"][0];
    let vhosts = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
        ["virtual_hosts"]
        .as_array()
        .unwrap();
    let domains: Vec<&str> = vhosts
        .iter()
        .map(|v| v["domains"][0].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["x.example.org"]);
}

mod ai_policies;
mod gateway_status;
mod guard_callouts;
mod priority_groups;
mod providers;
mod request_hygiene;
mod request_limit;
mod traffic_policies;
mod upstream_tls;

#[test]
fn model_aliases_reach_the_filter_configuration() {
    let openai = SEED.replace(
        "      azureopenai:\n        endpoint: https://my-endpoint.openai.azure.com/\n        deploymentName: gpt-4o-mini\n        apiVersion: 2024-02-15-preview\n",
        "      modelAliases: {fast: gpt-4o-mini, smart: gpt-4.1}\n      openai:\n",
    );
    let (bootstrap, problems) = run(&openai);
    assert!(problems.is_empty(), "{problems:?}");
    let cfg = filter_config(cluster(&bootstrap, "backend_ai_azure-openai"));
    let want: std::collections::BTreeMap<String, String> = [
        ("fast".to_owned(), "gpt-4o-mini".to_owned()),
        ("smart".to_owned(), "gpt-4.1".to_owned()),
    ]
    .into();
    assert_eq!(cfg.model_aliases, want);

    // Each priority-group provider has its own.
    let groups = SEED.replace(
        "    llm:\n      azureopenai:\n        endpoint: https://my-endpoint.openai.azure.com/\n        deploymentName: gpt-4o-mini\n        apiVersion: 2024-02-15-preview\n        authToken: {kind: SecretRef, secretRef: {name: azure-openai-secret}}\n",
        "    priorityGroups:\n    - providers:\n      - name: openai\n        modelAliases: {fast: gpt-4o-mini}\n        openai: {authToken: {kind: Inline, inline: sk-1}}\n      - name: claude\n        modelAliases: {fast: claude-haiku-4-5}\n        anthropic: {authToken: {kind: Inline, inline: sk-2}}\n",
    );
    let (bootstrap, problems) = run(&groups);
    assert!(problems.is_empty(), "{problems:?}");
    let config = plugin_configuration(cluster(&bootstrap, "backend_ai_azure-openai"));
    let llmgate_filter::plugin_config::PluginConfig::Members(members) =
        llmgate_filter::plugin_config::PluginConfig::from_json(config.as_bytes()).unwrap()
    else {
        panic!("not members: {config}");
    };
    let aliases: Vec<(Option<String>, Option<String>)> = members
        .iter()
        .map(|m| {
            (
                m.provider_name.clone(),
                m.model_aliases.get("fast").cloned(),
            )
        })
        .collect();
    assert_eq!(
        aliases,
        [
            (Some("openai".into()), Some("gpt-4o-mini".into())),
            (Some("claude".into()), Some("claude-haiku-4-5".into())),
        ]
    );
    // Without aliases the configuration has no such key.
    let (bootstrap, _) = run(SEED);
    assert!(
        !plugin_configuration(cluster(&bootstrap, "backend_ai_azure-openai"))
            .contains("modelAliases")
    );
}

#[test]
fn an_alias_a_fixed_model_overrides_is_a_warning() {
    let cases = [
        // Azure's deployment is the model: an alias to it is fine.
        ("{fast: gpt-4o-mini}", None),
        (
            "{fast: gpt-4.1}",
            Some("spec.ai.llm.modelAliases[\"fast\"]: alias \"fast\" → \"gpt-4.1\" has no effect: this provider always gets \"gpt-4o-mini\""),
        ),
    ];
    for (aliases, want) in cases {
        let text = SEED.replace(
            "      azureopenai:\n",
            &format!("      modelAliases: {aliases}\n      azureopenai:\n"),
        );
        let (bootstrap, problems) = run(&text);
        match want {
            None => assert!(problems.is_empty(), "{problems:?}"),
            Some(want) => assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with("warning") && p.contains(want)),
                "{problems:?}"
            ),
        }
        // Served either way.
        let cfg = filter_config(cluster(&bootstrap, "backend_ai_azure-openai"));
        assert_eq!(cfg.model_aliases.len(), 1);
    }
}
