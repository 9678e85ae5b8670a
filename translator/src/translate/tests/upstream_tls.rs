//! How the gateway verifies a Backend's certificate: the default, a
//! BackendTLSPolicy (CA ConfigMap, system CAs, hostname, SANs), and the
//! skip-verify annotation.

use std::path::Path;

use serde_json::{json, Value};

use super::providers::with_llm;
use super::{cluster, filter_config, routes};
use crate::source::yaml::load_str;
use crate::source::Snapshot;
use crate::status::{Condition, ObjectStatus, PolicyAncestorStatus, Status};
use crate::translate::{translate, Options};

/// A real certificate: the translator checks a CA before Envoy gets it.
fn ca_pem() -> &'static str {
    static CA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CA.get_or_init(|| crate::validate::tls::test_certificate("test-ca"))
}

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
        &serde_json::to_string(&json!({ "ca.crt": ca_pem() })).unwrap(),
    )
}

pub(super) struct Outcome {
    pub(super) bootstrap: Value,
    pub(super) problems: Vec<String>,
    pub(super) backend_conditions: Vec<Condition>,
    pub(super) statuses: Vec<ObjectStatus>,
}

impl Outcome {
    /// BackendTLSPolicy `ai/{name}`'s `status.ancestors`.
    fn ancestors(&self, name: &str) -> Vec<PolicyAncestorStatus> {
        let status = self
            .statuses
            .iter()
            .find(|s| s.kind == "BackendTLSPolicy" && s.namespace == "ai" && s.name == name);
        match status.map(|s| &s.status) {
            Some(Status::Policy { ancestors }) => ancestors.clone(),
            other => panic!("BackendTLSPolicy ai/{name}: {other:?}"),
        }
    }
}

pub(super) fn translate_text(text: &str) -> Outcome {
    translate_with(
        text,
        Options {
            filter: crate::ir::FilterCode::Local("/f.wasm".into()),
            ca_bundle: "/etc/ca.pem".into(),
            ..Options::default()
        },
    )
}

pub(super) fn translate_with(text: &str, options: Options) -> Outcome {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    load_str(Path::new("m.yaml"), text, &mut snapshot, &mut problems);
    let t = translate(&snapshot, &options);
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
        statuses: t.statuses,
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
                "trusted_ca": { "inline_string": format!("{}\n", ca_pem()) },
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

/// A route `/svc` on Gateway `gw` to Service `ai/s`.
const ROUTE_TO_SERVICE: &str = "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: to-service, namespace: ai}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /svc}}]\n    backendRefs: [{name: s, port: 443}]\n";

/// Backend `ai/idle`, which no route uses.
const IDLE_BACKEND: &str = "\n---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: idle, namespace: ai}\nspec: {type: AI, ai: {llm: {host: idle.internal, port: 8443, openai: {authToken: {kind: Passthrough}}}}}\n";

#[test]
fn policies_get_a_status_per_ancestor() {
    struct Case {
        name: &'static str,
        extra: String,
        /// The policy whose status is checked.
        policy: &'static str,
        /// (kind, name) of each ancestor, all in namespace `ai`.
        ancestors: &'static [(&'static str, &'static str)],
        /// (status, reason, part of the message) of Accepted, then ResolvedRefs.
        accepted: (&'static str, &'static str, &'static str),
        resolved_refs: (&'static str, &'static str, &'static str),
    }
    let system = "hostname: mock.example.com\nwellKnownCACertificates: System";
    let config_maps = |names: &[&str]| {
        let refs: Vec<String> = names
            .iter()
            .map(|n| format!("{{group: \"\", kind: ConfigMap, name: {n}}}"))
            .collect();
        policy(&format!(
            "hostname: mock.example.com\ncaCertificateRefs: [{}]",
            refs.join(", ")
        ))
    };
    let gateway = &[("Gateway", "gw")];
    let cases = [
        Case {
            name: "applied: the Gateway of the route using the Backend is the ancestor",
            extra: policy(system),
            policy: "p",
            ancestors: gateway,
            accepted: ("True", "Accepted", "applies to Backend ai/b"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "applied with a CA ConfigMap",
            extra: format!("{}{}", config_maps(&["ca"]), ca_config_map()),
            policy: "p",
            ancestors: gateway,
            accepted: ("True", "Accepted", "applies to Backend ai/b"),
            resolved_refs: ("True", "ResolvedRefs", "all caCertificateRefs resolved"),
        },
        Case {
            name: "the only ConfigMap is missing",
            extra: config_maps(&["missing"]),
            policy: "p",
            ancestors: gateway,
            accepted: ("False", "NoValidCACertificate", "spec.targetRefs[0]: no caCertificateRef resolves"),
            resolved_refs: (
                "False",
                "InvalidCACertificateRef",
                "spec.validation.caCertificateRefs[0]: ConfigMap ai/missing not found",
            ),
        },
        Case {
            name: "one of two ConfigMaps is missing: accepted, refs not resolved",
            extra: format!("{}{}", config_maps(&["ca", "missing"]), ca_config_map()),
            policy: "p",
            ancestors: gateway,
            accepted: ("True", "Accepted", "applies to Backend ai/b"),
            resolved_refs: (
                "False",
                "InvalidCACertificateRef",
                "spec.validation.caCertificateRefs[1]: ConfigMap ai/missing not found",
            ),
        },
        Case {
            name: "a CA ref of another kind",
            extra: policy("hostname: mock.example.com\ncaCertificateRefs: [{group: \"\", kind: Secret, name: ca}]"),
            policy: "p",
            ancestors: gateway,
            accepted: ("False", "NoValidCACertificate", "no caCertificateRef resolves"),
            resolved_refs: ("False", "InvalidKind", "core Secret is not supported"),
        },
        Case {
            name: "target Backend missing: the Backend it names is the ancestor",
            extra: policy(system).replace("kind: Backend, name: b", "kind: Backend, name: nope"),
            policy: "p",
            ancestors: &[("Backend", "nope")],
            accepted: ("False", "TargetNotFound", "spec.targetRefs[0]: Backend ai/nope not found"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "target section missing",
            extra: policy(system).replace("name: b}", "name: b, sectionName: primary}"),
            policy: "p",
            ancestors: gateway,
            accepted: ("False", "TargetNotFound", "Backend ai/b has no priority-group provider named \"primary\""),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "a Backend no route uses is its own ancestor",
            extra: format!(
                "{IDLE_BACKEND}{}",
                policy(system).replace("kind: Backend, name: b", "kind: Backend, name: idle")
            ),
            policy: "p",
            ancestors: &[("Backend", "idle")],
            accepted: ("True", "Accepted", "applies to Backend ai/idle"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "conflict: the policy first by name wins, the other is Conflicted",
            extra: format!("{}{}", policy(system), policy(system).replace("name: p,", "name: q,")),
            policy: "q",
            ancestors: gateway,
            accepted: ("False", "Conflicted", "spec.targetRefs[0]: BackendTLSPolicy ai/p applies to Backend ai/b"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "conflict: the winner is Accepted",
            extra: format!("{}{}", policy(system), policy(system).replace("name: p,", "name: q,")),
            policy: "p",
            ancestors: gateway,
            accepted: ("True", "Accepted", "applies to Backend ai/b"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "conflict: the older policy wins over the first by name",
            extra: format!(
                "{}{}",
                policy(system).replace("name: p,", "name: p, creationTimestamp: \"2025-02-01T00:00:00Z\","),
                policy(system).replace("name: p,", "name: q, creationTimestamp: \"2025-01-01T00:00:00Z\","),
            ),
            policy: "p",
            ancestors: gateway,
            accepted: ("False", "Conflicted", "BackendTLSPolicy ai/q applies to Backend ai/b"),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
        Case {
            name: "an invalid policy",
            extra: policy("hostname: mock.example.com\nwellKnownCACertificates: Mozilla"),
            policy: "p",
            ancestors: gateway,
            accepted: ("False", "Invalid", "spec.validation.wellKnownCACertificates: only System is supported"),
            resolved_refs: ("True", "ResolvedRefs", "no caCertificateRefs"),
        },
        Case {
            name: "a Service a route of ours uses: not applied, said on that Gateway",
            extra: format!(
                "{ROUTE_TO_SERVICE}{}",
                policy(system).replace("group: gateway.kgateway.dev, kind: Backend, name: b", "group: \"\", kind: Service, name: s")
            ),
            policy: "p",
            ancestors: gateway,
            accepted: (
                "False",
                "Invalid",
                "spec.targetRefs[0]: llmgate applies BackendTLSPolicy to gateway.kgateway.dev Backends only; connections to core Service ai/s do not use it",
            ),
            resolved_refs: ("True", "ResolvedRefs", ""),
        },
    ];
    for case in &cases {
        let out = translate_text(&manifests(&case.extra));
        let ancestors = out.ancestors(case.policy);
        let refs: Vec<(&str, &str, &str, &str)> = ancestors
            .iter()
            .map(|a| {
                let r = &a.ancestor_ref;
                (
                    r.group.as_str(),
                    r.kind.as_str(),
                    r.namespace.as_str(),
                    r.name.as_str(),
                )
            })
            .collect();
        let want: Vec<(&str, &str, &str, &str)> = case
            .ancestors
            .iter()
            .map(|(kind, name)| {
                let group = if *kind == "Gateway" {
                    "gateway.networking.k8s.io"
                } else {
                    "gateway.kgateway.dev"
                };
                (group, *kind, "ai", *name)
            })
            .collect();
        assert_eq!(refs, want, "{}", case.name);
        for ancestor in &ancestors {
            assert_eq!(
                ancestor.controller_name, "llmgate.dev/gateway-controller",
                "{}",
                case.name
            );
            let c = &ancestor.conditions;
            assert_eq!(c.len(), 2, "{}: {c:?}", case.name);
            for (condition, (type_, (status, reason, message))) in c.iter().zip([
                ("Accepted", case.accepted),
                ("ResolvedRefs", case.resolved_refs),
            ]) {
                assert!(
                    condition.type_ == type_
                        && condition.status == status
                        && condition.reason == reason
                        && condition.message.contains(message),
                    "{}: {condition:?}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn a_policy_for_a_service_no_route_of_ours_uses_has_no_ancestors() {
    let extra = policy("hostname: h\nwellKnownCACertificates: System").replace(
        "group: gateway.kgateway.dev, kind: Backend, name: b",
        "group: \"\", kind: Service, name: s",
    );
    let out = translate_text(&manifests(&extra));
    assert_eq!(out.ancestors("p"), Vec::new());
    // Still reported to whoever runs llmgate on these files.
    assert!(
        out.problems
            .iter()
            .any(|p| p.contains("ignored: llmgate applies BackendTLSPolicy")),
        "{:?}",
        out.problems
    );
}

#[test]
fn a_policy_lists_at_most_16_ancestors() {
    // 17 Gateways, each with a route to Backend ai/b.
    let mut extra = policy("hostname: h\nwellKnownCACertificates: System");
    for i in 0..17 {
        extra.push_str(&format!(
            "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw{i:02}, namespace: ai}}\nspec:\n  gatewayClassName: llmgate\n  listeners: [{{name: http, port: {}, protocol: HTTP}}]\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r{i:02}, namespace: ai}}\nspec:\n  parentRefs: [{{name: gw{i:02}}}]\n  rules:\n  - backendRefs: [{{name: b, group: gateway.kgateway.dev, kind: Backend}}]\n",
            9000 + i
        ));
    }
    let out = translate_text(&manifests(&extra));
    let names: Vec<String> = out
        .ancestors("p")
        .into_iter()
        .map(|a| a.ancestor_ref.name)
        .collect();
    assert_eq!(names.len(), 16, "{names:?}");
    // The base manifests' Gateway first (its route comes first), then gw00…
    assert_eq!(names[0], "gw");
    assert_eq!(names[15], "gw14");
    assert!(
        out.problems.iter().any(|p| p.contains(
            "BackendTLSPolicy ai/p: status.ancestors: 18 ancestors; status.ancestors lists the first 16 only"
        )),
        "{:?}",
        out.problems
    );
}
