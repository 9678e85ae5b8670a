//! Strings that YAML 1.1 reads as something else (`yes` is a boolean to
//! Envoy's yaml-cpp, `0x10` a number, `~` null) reach Envoy unchanged, in a
//! YAML and a JSON bootstrap: Envoy accepts the file and holds the values.

use std::process::Command;

use llmgate_e2e::harness::{envoy_binary, get, start_gateway, translate};
use llmgate_e2e::manifests::{AiBackend, AuthToken, Gateway, Manifest as _, GATEWAY_PORT};

const TRICKY: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "~",
    "1e3",
    "0x10",
    "2024-01-01",
    "",
    "  ",
];

/// Each value as a header value (set by the route, and matched), a query
/// value, a model and an API key. Every document quotes it, as a manifest
/// must for Kubernetes to read a string. A blank model or key is an error of
/// its own (`must not be empty`), so blank values are not used for those.
fn manifests() -> String {
    let mut out = Gateway::http(GATEWAY_PORT).to_yaml();
    for (i, value) in TRICKY.iter().enumerate() {
        let v = serde_json::to_string(value).unwrap();
        let model_or_key = if value.trim().is_empty() {
            "\"m\"".to_string()
        } else {
            v.clone()
        };
        let backend = AiBackend::openai(&format!("b{i}"), AuthToken::inline(&model_or_key))
            .provider_field("model", &model_or_key);
        out.push_str(&format!("---\n{}", backend.to_yaml()));
        // The route matches and sets headers, which the builder has no words for.
        out.push_str(&format!(
            r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r{i}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /r{i}}}
      headers: [{{name: x-match, value: {v}}}]
      queryParams: [{{name: q, value: {v}}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{name: x-set, value: {v}}}]
    backendRefs: [{{name: b{i}, group: gateway.kgateway.dev, kind: Backend}}]
"#
        ));
    }
    out
}

fn envoy_validates(bootstrap: &std::path::Path) -> Result<(), String> {
    let out = Command::new(envoy_binary())
        .args(["--mode", "validate", "-c", &bootstrap.display().to_string()])
        .args(["--log-level", "error"])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn tricky_strings_survive_in_yaml_and_json_bootstraps() {
    let manifests = manifests()
        .replace("$GATEWAY_PORT", "18080")
        .replace("$MOCK_PORT", "18081");
    let yaml = translate(&manifests, 19000);
    assert!(yaml.status.success(), "{}", yaml.stderr);
    envoy_validates(&yaml.bootstrap).unwrap_or_else(|e| panic!("YAML bootstrap refused: {e}"));

    let json_path = yaml.dir.path().join("envoy.json");
    let out = Command::new(llmgate_e2e::harness::llmgate_binary())
        .arg("translate")
        .args([
            "-f",
            &yaml.dir.path().join("manifests.yaml").display().to_string(),
        ])
        .args([
            "--filter",
            &llmgate_e2e::harness::filter_module().display().to_string(),
        ])
        .args(["-o", &json_path.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    envoy_validates(&json_path).unwrap_or_else(|e| panic!("JSON bootstrap refused: {e}"));
}

/// Every JSON object in `value`, depth first.
fn objects(value: &serde_json::Value, out: &mut Vec<serde_json::Map<String, serde_json::Value>>) {
    match value {
        serde_json::Value::Object(map) => {
            out.push(map.clone());
            map.values().for_each(|v| objects(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| objects(v, out)),
        _ => {}
    }
}

/// Envoy running on the YAML bootstrap holds exactly the manifest's strings,
/// as its admin interface prints them (proto3 JSON leaves empty strings out,
/// so "" is not looked for there; Envoy accepting the file is its test).
#[test]
fn envoy_holds_the_strings_unchanged() {
    let gateway = start_gateway(&manifests(), 9);
    let (status, dump) = get(&format!(
        "http://127.0.0.1:{}/config_dump",
        gateway.admin_port
    ))
    .unwrap();
    assert_eq!(status, 200);
    let mut all = Vec::new();
    objects(&serde_json::from_str(&dump).unwrap(), &mut all);
    let has = |key: &str, value: &str| {
        all.iter()
            .any(|o| o.get(key).and_then(|v| v.as_str()) == Some(value))
    };
    for value in TRICKY.iter().filter(|v| !v.is_empty()) {
        assert!(
            all.iter()
                .any(|o| o.get("key").and_then(|v| v.as_str()) == Some("x-set")
                    && o.get("value").and_then(|v| v.as_str()) == Some(value)),
            "header value {value:?} not in Envoy's configuration"
        );
        assert!(
            has("exact", value),
            "match value {value:?} not in Envoy's configuration"
        );
    }
}
