//! How the gateway verifies a Backend's certificate: the default, a
//! BackendTLSPolicy (CA ConfigMap, system CAs, hostname, SANs), and the
//! skip-verify annotation.

use std::path::Path;

use serde_json::{json, Value};

use super::providers::with_llm;
use super::{cluster, filter_config, routes};
use crate::source::yaml::load_str;
use crate::source::Snapshot;
use crate::status::{Condition, Status};
use crate::translate::{envoy, translate, Options};

const CA_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUfake\n-----END CERTIFICATE-----";

/// An OpenAI-compatible server on a port other than 443 (no TLS by default).
fn manifests(extra: &str) -> String {
    let mut text =
        with_llm("host: mock.internal\nport: 8443\nopenai: {authToken: {kind: Passthrough}}");
    text.push_str(extra);
    text
}

fn policy(validation: &str) -> String {
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: p, namespace: ai}}\nspec:\n  targetRefs: [{{group: gateway.kgateway.dev, kind: Backend, name: b}}]\n  validation:\n{}",
        validation
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    )
}

fn config_map(name: &str, data: &str) -> String {
    format!("\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: ai}}\ndata: {data}\n")
}

fn ca_config_map() -> String {
    config_map(
        "ca",
        &serde_json::to_string(&json!({ "ca.crt": CA_PEM })).unwrap(),
    )
}

pub(super) struct Outcome {
    pub(super) bootstrap: Value,
    pub(super) problems: Vec<String>,
    pub(super) backend_conditions: Vec<Condition>,
}

pub(super) fn translate_text(text: &str) -> Outcome {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    load_str(Path::new("m.yaml"), text, &mut snapshot, &mut problems);
    let t = translate(
        &snapshot,
        &Options {
            filter: envoy::FilterCode::Local("/f.wasm".into()),
            ca_bundle: "/etc/ca.pem".into(),
            ..Options::default()
        },
    );
    problems.extend(t.problems);
    let backend_conditions = t
        .statuses
        .iter()
        .find(|s| s.kind == "Backend" && s.name == "b")
        .map(|s| match &s.status {
            Status::Conditions { conditions } => conditions.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    Outcome {
        bootstrap: t.bootstrap,
        problems: problems
            .iter()
            .map(|p| p.to_string())
            .filter(|p| !p.contains("is not in the input; served anyway"))
            .collect(),
        backend_conditions,
    }
}

#[test]
fn tls_follows_the_port_the_policy_and_the_annotation() {
    struct Case {
        name: &'static str,
        text: String,
        /// The UpstreamTlsContext's `sni` and `common_tls_context`; `None`: plaintext.
        tls: Option<Value>,
        host_header: &'static str,
        warning: Option<&'static str>,
    }
    let system = |san: &str| {
        json!({ "validation_context": {
            "trusted_ca": { "filename": "/etc/ca.pem" },
            "match_typed_subject_alt_names": [{ "san_type": "DNS", "matcher": { "exact": san } }]
        }})
    };
    let cases = [
        Case {
            name: "port 443 without policy: system CAs, SNI and SAN = host",
            text: with_llm("host: llm.example.com\nport: 443\nopenai: {authToken: {kind: Passthrough}}"),
            tls: Some(json!({ "sni": "llm.example.com", "common_tls_context": system("llm.example.com") })),
            host_header: "llm.example.com",
            warning: None,
        },
        Case {
            name: "another port without policy: plaintext",
            text: manifests(""),
            tls: None,
            host_header: "mock.internal:8443",
            warning: None,
        },
        Case {
            name: "CA from a ConfigMap, inline",
            text: manifests(&format!(
                "{}{}",
                policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: ConfigMap, name: ca}]"),
                ca_config_map()
            )),
            tls: Some(json!({ "sni": "mock.example.com", "common_tls_context": { "validation_context": {
                "trusted_ca": { "inline_string": format!("{CA_PEM}\n") },
                "match_typed_subject_alt_names": [{ "san_type": "DNS", "matcher": { "exact": "mock.example.com" } }]
            }}})),
            host_header: "mock.internal:8443",
            warning: None,
        },
        Case {
            name: "well-known System CAs, hostname as SNI and SAN",
            text: manifests(&policy("hostname: mock.example.com\nwellKnownCACertificates: System")),
            tls: Some(json!({ "sni": "mock.example.com", "common_tls_context": system("mock.example.com") })),
            host_header: "mock.internal:8443",
            warning: None,
        },
        Case {
            name: "subjectAltNames replace the hostname as expected names",
            text: manifests(&policy(
                "hostname: mock.example.com\nwellKnownCACertificates: System\nsubjectAltNames:\n- {type: Hostname, hostname: llm.example.org}\n- {type: URI, uri: \"spiffe://example.org/llm\"}",
            )),
            tls: Some(json!({ "sni": "mock.example.com", "common_tls_context": { "validation_context": {
                "trusted_ca": { "filename": "/etc/ca.pem" },
                "match_typed_subject_alt_names": [
                    { "san_type": "DNS", "matcher": { "exact": "llm.example.org" } },
                    { "san_type": "URI", "matcher": { "exact": "spiffe://example.org/llm" } }
                ]
            }}})),
            host_header: "mock.internal:8443",
            warning: None,
        },
        Case {
            name: "skip-verify annotation: TLS without verification, loudly",
            text: manifests("").replace(
                "metadata: {name: b, namespace: ai}",
                "metadata: {name: b, namespace: ai, annotations: {llmgate.io/insecure-skip-tls-verify: \"true\"}}",
            ),
            tls: Some(json!({ "sni": "mock.internal", "common_tls_context": {} })),
            host_header: "mock.internal:8443",
            warning: Some("certificate verification is DISABLED"),
        },
        Case {
            name: "skip-verify with a policy: its hostname as SNI, still unverified",
            text: manifests(&policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: ConfigMap, name: gone}]"))
                .replace(
                    "metadata: {name: b, namespace: ai}",
                    "metadata: {name: b, namespace: ai, annotations: {llmgate.io/insecure-skip-tls-verify: \"true\"}}",
                ),
            tls: Some(json!({ "sni": "mock.example.com", "common_tls_context": {} })),
            host_header: "mock.internal:8443",
            warning: Some("certificate verification is DISABLED"),
        },
    ];
    for case in cases {
        let out = translate_text(&case.text);
        let c = cluster(&out.bootstrap, "backend_ai_b");
        match &case.tls {
            Some(want) => {
                let tls = &c["transport_socket"]["typed_config"];
                assert_eq!(tls["sni"], want["sni"], "{}", case.name);
                assert_eq!(
                    tls["common_tls_context"], want["common_tls_context"],
                    "{}",
                    case.name
                );
            }
            None => assert!(c.get("transport_socket").is_none(), "{}", case.name),
        }
        assert_eq!(filter_config(c).host, case.host_header, "{}", case.name);
        // Envoy's own types accept the result (what the xDS server sends).
        if let Err(e) = crate::xds::resources::snapshot_from_bootstrap(&out.bootstrap) {
            panic!("{}: {e}", case.name);
        }
        match case.warning {
            None => assert!(out.problems.is_empty(), "{}: {:?}", case.name, out.problems),
            Some(warning) => {
                assert!(
                    out.problems.iter().any(|p| p.starts_with("warning: m.yaml:")
                        && p.contains("Backend ai/b: metadata.annotations[llmgate.io/insecure-skip-tls-verify]: ")
                        && p.contains(warning)),
                    "{}: {:?}",
                    case.name,
                    out.problems
                );
                let accepted = &out.backend_conditions[0];
                assert!(
                    accepted.type_ == "Accepted"
                        && accepted.is_true()
                        && accepted.message.contains(warning),
                    "{}: {:?}",
                    case.name,
                    out.backend_conditions
                );
            }
        }
    }
}

#[test]
fn a_policy_that_cannot_be_resolved_makes_the_backend_answer_500() {
    let cases = [
        (
            policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: ConfigMap, name: missing}]"),
            "warning: m.yaml:",
            "BackendTLSPolicy ai/p: spec.validation.caCertificateRefs[0]: ConfigMap ai/missing not found",
            "InvalidCACertificateRef",
        ),
        (
            format!(
                "{}{}",
                policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: ConfigMap, name: ca}]"),
                config_map("ca", "{other: x}")
            ),
            "warning: m.yaml:",
            "BackendTLSPolicy ai/p: spec.validation.caCertificateRefs[0]: ConfigMap ai/ca has no PEM certificate in key `ca.crt`",
            "InvalidCACertificateRef",
        ),
        (
            policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: Secret, name: ca}]"),
            "warning: m.yaml:",
            "spec.validation.caCertificateRefs[0]: core Secret is not supported",
            "InvalidCACertificateRef",
        ),
        (
            format!(
                "{}{}",
                policy("hostname: mock.example.com\nwellKnownCACertificates: System\ncaCertificateRefs: [{group: \"\", kind: ConfigMap, name: ca}]"),
                ca_config_map()
            ),
            "error: m.yaml:",
            "BackendTLSPolicy ai/p: spec.validation: set caCertificateRefs or wellKnownCACertificates, not both",
            "Invalid",
        ),
        (
            policy("hostname: mock.example.com\nwellKnownCACertificates: Mozilla"),
            "error: m.yaml:",
            "spec.validation.wellKnownCACertificates: only System is supported",
            "Invalid",
        ),
        (
            policy("hostname: \"\"\nwellKnownCACertificates: System"),
            "error: m.yaml:",
            "BackendTLSPolicy ai/p: spec.validation.hostname: required",
            "Invalid",
        ),
        (
            policy("hostname: h\nwellKnownCACertificates: System\nsubjectAltNames: [{type: URI}]"),
            "error: m.yaml:",
            "spec.validation.subjectAltNames[0].uri: required when type is URI",
            "Invalid",
        ),
    ];
    for (extra, severity, want, reason) in cases {
        let out = translate_text(&manifests(&extra));
        assert!(
            out.problems
                .iter()
                .any(|p| p.starts_with(severity) && p.contains(want) && p.contains("answer 500")),
            "{want}: {:?}",
            out.problems
        );
        assert_eq!(
            routes(&out.bootstrap, 8080)[0]["direct_response"]["status"],
            500,
            "{want}"
        );
        let clusters = out.bootstrap["static_resources"]["clusters"]
            .as_array()
            .unwrap();
        assert!(
            !clusters.iter().any(|c| c["name"] == "backend_ai_b"),
            "{want}: never served without the verification asked for"
        );
        // The Backend itself is fine; its status names the policy.
        let c = &out.backend_conditions;
        assert!(c[0].type_ == "Accepted" && c[0].is_true(), "{want}: {c:?}");
        assert!(
            c[1].type_ == "ResolvedRefs"
                && !c[1].is_true()
                && c[1].reason == reason
                && c[1]
                    .message
                    .starts_with("BackendTLSPolicy ai/p: spec.validation"),
            "{want}: {c:?}"
        );
    }
}

#[test]
fn policies_report_what_they_cannot_apply() {
    let cases = [
        (
            policy("hostname: h\nwellKnownCACertificates: System")
                .replace("kind: Backend, name: b", "kind: Backend, name: nope"),
            "BackendTLSPolicy ai/p: spec.targetRefs[0]: Backend ai/nope not found",
        ),
        (
            policy("hostname: h\nwellKnownCACertificates: System")
                .replace("group: gateway.kgateway.dev, kind: Backend", "group: \"\", kind: Service"),
            "spec.targetRefs[0]: ignored: llmgate applies BackendTLSPolicy to gateway.kgateway.dev Backends, not to core Service",
        ),
        (
            policy("hostname: h\nwellKnownCACertificates: System")
                .replace("name: b}", "name: b, sectionName: primary}"),
            "spec.targetRefs[0]: Backend ai/b has no priority-group provider named \"primary\"; not applied",
        ),
        (
            format!(
                "{}{}",
                policy("hostname: first\nwellKnownCACertificates: System"),
                policy("hostname: second\nwellKnownCACertificates: System").replace("name: p,", "name: q,")
            ),
            "BackendTLSPolicy ai/q: spec.targetRefs: not applied to Backend ai/b: BackendTLSPolicy ai/p applies to it",
        ),
    ];
    for (extra, want) in &cases {
        let out = translate_text(&manifests(extra));
        assert!(
            out.problems
                .iter()
                .any(|p| p.starts_with("warning: m.yaml:") && p.contains(*want)),
            "{want}: {:?}",
            out.problems
        );
    }
    // The conflict's winner applies.
    let out = translate_text(&manifests(&cases[3].0));
    let c = cluster(&out.bootstrap, "backend_ai_b");
    assert_eq!(c["transport_socket"]["typed_config"]["sni"], "first");
}
