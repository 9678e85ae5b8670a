//! `spec.ai.priorityGroups`: one cluster, one priority per group, each
//! provider an endpoint with its own TLS and filter configuration, and the
//! route's failover retry policy.

use llmgate_filter::config::TokenSource;
use llmgate_filter::plugin_config::PluginConfig;
use serde_json::Value;

use super::providers::BASE;
use super::{cluster, injected, plugin_configuration, routes, run};

fn with_groups(groups: &str) -> String {
    let indented: String = groups.lines().map(|l| format!("      {l}\n")).collect();
    BASE.replace("    llm:\n", &format!("    priorityGroups:\n{indented}"))
}

const TWO_GROUPS: &str = r#"- providers:
  - name: primary
    azureopenai: {endpoint: primary.openai.azure.com, deploymentName: gpt-4o, apiVersion: v1, authToken: {kind: SecretRef, secretRef: {name: key}}}
  - name: spare
    host: 10.0.0.7
    port: 8000
    openai: {authToken: {kind: Passthrough}}
- providers:
  - name: backup
    anthropic: {authToken: {kind: Inline, inline: sk-ant}}
"#;

fn plugin_config(cluster: &Value) -> PluginConfig {
    PluginConfig::from_json(plugin_configuration(cluster).as_bytes()).unwrap()
}

/// (priority, provider name, address, port) of every endpoint.
fn endpoints(cluster: &Value) -> Vec<(u64, String, String, u64)> {
    let mut out = Vec::new();
    for locality in cluster["load_assignment"]["endpoints"].as_array().unwrap() {
        for e in locality["lb_endpoints"].as_array().unwrap() {
            let a = &e["endpoint"]["address"]["socket_address"];
            out.push((
                locality["priority"].as_u64().unwrap(),
                e["metadata"]["filter_metadata"]["llmgate"]["provider"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                a["address"].as_str().unwrap().to_string(),
                a["port_value"].as_u64().unwrap(),
            ));
        }
    }
    out
}

#[test]
fn groups_become_priorities_of_one_cluster() {
    let (bootstrap, problems) = run(&with_groups(TWO_GROUPS));
    assert!(problems.is_empty(), "{problems:?}");
    let c = cluster(&bootstrap, "backend_ai_b");
    assert_eq!(c["type"], "STRICT_DNS");
    assert_eq!(
        endpoints(c),
        vec![
            (0, "primary".into(), "primary.openai.azure.com".into(), 443),
            (0, "spare".into(), "10.0.0.7".into(), 8000),
            (1, "backup".into(), "api.anthropic.com".into(), 443),
        ]
    );
    // TLS per provider: the plaintext one falls through to no transport socket.
    let matches = c["transport_socket_matches"].as_array().unwrap();
    let sni: Vec<(&str, &str)> = matches
        .iter()
        .map(|m| {
            (
                m["match"]["llmgate.provider"].as_str().unwrap(),
                m["transport_socket"]["typed_config"]["sni"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sni,
        vec![
            ("primary", "primary.openai.azure.com"),
            ("backup", "api.anthropic.com")
        ]
    );
    assert!(c.get("transport_socket").is_none());
    assert!(c["outlier_detection"]["consecutive_5xx"].as_u64().is_some());

    let PluginConfig::Members(members) = plugin_config(c) else {
        panic!("a member list");
    };
    let names: Vec<(&str, &str, &str)> = members
        .iter()
        .map(|m| {
            (
                m.provider_name.as_deref().unwrap(),
                m.provider.name(),
                m.host.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("primary", "azureopenai", "primary.openai.azure.com"),
            ("spare", "openai", "10.0.0.7:8000"),
            ("backup", "anthropic", "api.anthropic.com"),
        ]
    );
    assert!(members.iter().all(|m| m.backend == "ai/b"));

    // Every attempt gets every member's key in the member's own internal
    // header; each member reads only its own. No key is in the plugin
    // configuration.
    let injected = injected(&bootstrap, c);
    let tokens: Vec<TokenSource> = members
        .iter()
        .map(|m| {
            llmgate_filter::injected::resolve(&m.auth.token, |h| {
                injected
                    .iter()
                    .find(|(name, _)| name == h)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| m.auth.token.clone())
        })
        .collect();
    let value = |v: &str| TokenSource::Value { value: v.into() };
    assert_eq!(
        tokens,
        [value("sk-key"), TokenSource::Passthrough, value("sk-ant")]
    );
    assert_eq!(injected.len(), 2, "{injected:?}");
    for key in ["sk-key", "sk-ant"] {
        assert!(!plugin_configuration(c).contains(key));
    }
}

#[test]
fn the_route_fails_over_to_the_next_group() {
    let (bootstrap, _) = run(&with_groups(TWO_GROUPS));
    let route = &routes(&bootstrap, 8080)[0]["route"];
    let policy = &route["retry_policy"];
    assert_eq!(policy["num_retries"], 1, "{policy}");
    assert_eq!(
        policy["retry_on"],
        "5xx,reset,connect-failure,retriable-status-codes"
    );
    assert_eq!(policy["retriable_status_codes"], serde_json::json!([429]));
    assert_eq!(
        policy["retry_priority"]["name"],
        "envoy.retry_priorities.previous_priorities"
    );
    // The next provider is tried without Envoy's default 25 ms back-off.
    assert_eq!(policy["retry_back_off"]["base_interval"], "0.001s");
    // One group: nothing to fail over to, no retries.
    let one =
        "- providers:\n  - name: only\n    anthropic: {authToken: {kind: Inline, inline: k}}\n";
    let (bootstrap, _) = run(&with_groups(one));
    assert!(routes(&bootstrap, 8080)[0]["route"]
        .get("retry_policy")
        .is_none());
}

#[test]
fn a_provider_whose_secret_is_missing_is_left_out_and_the_rest_serve() {
    let groups = TWO_GROUPS.replace("secretRef: {name: key}", "secretRef: {name: absent}");
    let (bootstrap, problems) = run(&with_groups(&groups));
    let c = cluster(&bootstrap, "backend_ai_b");
    // `primary` is out; `spare` keeps group 0, `backup` stays priority 1.
    let e = endpoints(c);
    assert_eq!(
        e.iter()
            .map(|(p, n, ..)| (*p, n.as_str()))
            .collect::<Vec<_>>(),
        vec![(0, "spare"), (1, "backup")]
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Secret ai/absent not found")
                && p.contains("provider \"primary\" is left out of its priority group")),
        "{problems:?}"
    );
    // The Backend serves, and its status says which ref failed.
    let status = super::upstream_tls::translate_text(&with_groups(&groups)).backend_conditions;
    let refs = status.iter().find(|c| c.type_ == "ResolvedRefs").unwrap();
    assert_eq!(
        (refs.status.as_str(), refs.reason.as_str()),
        ("False", "InvalidSecretRef")
    );
    assert!(
        refs.message.contains("\"primary\" is left out"),
        "{}",
        refs.message
    );
    let accepted = status.iter().find(|c| c.type_ == "Accepted").unwrap();
    assert_eq!(accepted.status, "True");

    // When a whole group is out, the priorities stay contiguous.
    let groups = "- providers:\n  - name: gone\n    openai: {authToken: {kind: SecretRef, secretRef: {name: absent}}}\n- providers:\n  - name: backup\n    anthropic: {authToken: {kind: Inline, inline: k}}\n";
    let (bootstrap, _) = run(&with_groups(groups));
    let c = cluster(&bootstrap, "backend_ai_b");
    assert_eq!(endpoints(c)[0].0, 0);
    assert!(routes(&bootstrap, 8080)[0]["route"]
        .get("retry_policy")
        .is_none());
}

#[test]
fn invalid_groups_name_the_field() {
    let cases = [
        (
            "- providers:\n  - name: a\n    openai: {authToken: {kind: Passthrough}}\n  - name: a\n    openai: {authToken: {kind: Passthrough}}\n",
            "spec.ai.priorityGroups[0].providers[1].name: \"a\" is used by another provider",
        ),
        (
            "- providers:\n  - name: a\n    gemini: {authToken: {kind: Passthrough}, model: \"\", apiVersion: v1beta}\n",
            "spec.ai.priorityGroups[0].providers[0].gemini.model: must not be empty",
        ),
        ("- providers: []\n", "spec.ai.priorityGroups[0].providers: must have 1-32 providers"),
    ];
    for (groups, want) in cases {
        let (bootstrap, problems) = run(&with_groups(groups));
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{want}: {problems:?}"
        );
        assert_eq!(
            routes(&bootstrap, 8080)[0]["direct_response"]["status"],
            500,
            "{want}"
        );
    }
}

#[test]
fn every_resource_encodes_for_envoy() {
    let (bootstrap, problems) = run(&with_groups(TWO_GROUPS));
    assert!(problems.is_empty(), "{problems:?}");
    crate::xds::resources::snapshot_from_bootstrap(&bootstrap)
        .expect("Envoy's schema accepts the cluster and the retry policy");
}

#[test]
fn a_backend_wide_warning_is_reported_once() {
    let text = with_groups(TWO_GROUPS).replace(
        "metadata: {name: b, namespace: ai}",
        "metadata: {name: b, namespace: ai, annotations: {llmgate.io/insecure-skip-tls-verify: \"true\"}}",
    );
    let (_, problems) = run(&text);
    let disabled: Vec<&String> = problems
        .iter()
        .filter(|p| p.contains("verification is DISABLED"))
        .collect();
    assert_eq!(disabled.len(), 1, "{problems:?}");
}
