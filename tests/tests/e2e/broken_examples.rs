//! `llmgate status -f manifests/examples/broken` explains every mistake there.

use std::process::Command;

use llmgate_e2e::harness::{llmgate_binary, workspace_root};
use serde_json::Value;

fn statuses() -> (Vec<Value>, String) {
    let output = Command::new(llmgate_binary())
        .args(["status", "-f"])
        .arg(workspace_root().join("manifests/examples/broken"))
        .output()
        .expect("run llmgate status");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).unwrap();
    let docs = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    (docs, yaml)
}

/// Every condition of the object (for a route: of its first parent; for a
/// Gateway: its own and its listeners').
fn conditions<'a>(docs: &'a [Value], kind: &str, name: &str) -> Vec<&'a Value> {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == kind && d["namespace"] == "broken" && d["name"] == name)
        .unwrap_or_else(|| panic!("no status for {kind} broken/{name}"));
    let status = &doc["status"];
    let mut out: Vec<&Value> = Vec::new();
    for list in [&status["conditions"], &status["parents"][0]["conditions"]] {
        out.extend(list.as_array().into_iter().flatten());
    }
    for listener in status["listeners"].as_array().into_iter().flatten() {
        out.extend(listener["conditions"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn status_explains_every_broken_example() {
    let (docs, yaml) = statuses();
    let cases = [
        (
            "Gateway",
            "gw",
            "ResolvedRefs",
            "False",
            "InvalidCertificateRef",
            "Secret broken/gw-cert not found",
        ),
        (
            "Backend",
            "missing-secret",
            "ResolvedRefs",
            "False",
            "InvalidSecretRef",
            "Secret broken/openai-key not found",
        ),
        (
            "HTTPRoute",
            "missing-secret",
            "ResolvedRefs",
            "False",
            "BackendNotFound",
            "Backend broken/missing-secret is not ready",
        ),
        (
            "HTTPRoute",
            "wrong-kind",
            "ResolvedRefs",
            "False",
            "InvalidKind",
            "ConfigMap is not a kind llmgate can route to",
        ),
        (
            "HTTPRoute",
            "cross-namespace",
            "ResolvedRefs",
            "False",
            "RefNotPermitted",
            "no ReferenceGrant",
        ),
        (
            "HTTPRoute",
            "hostname-mismatch",
            "Accepted",
            "False",
            "NoMatchingListenerHostname",
            "api.example.org",
        ),
        (
            "Backend",
            "typo",
            "Accepted",
            "False",
            "Invalid",
            "spec.ai.llm.azureopenai.deploymentNmae: unknown field",
        ),
    ];
    for (kind, name, type_, status, reason, message) in cases {
        let all = conditions(&docs, kind, name);
        let found = all.iter().any(|c| {
            c["type"] == type_
                && c["status"] == status
                && c["reason"] == reason
                && c["message"].as_str().is_some_and(|m| m.contains(message))
        });
        assert!(found, "{kind} broken/{name}: want {type_}={status} {reason} ({message}), got {all:#?}\n\n{yaml}");
    }
    // What works says so: the HTTP listener is programmed.
    let gw = docs.iter().find(|d| d["kind"] == "Gateway").unwrap();
    let http = &gw["status"]["listeners"][0];
    assert_eq!(http["name"], "http");
    assert!(http["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Programmed" && c["status"] == "True"));
    assert_eq!(http["attachedRoutes"], 3, "{yaml}");
}
