//! Gateway, listener and route-parent status for the Gateway API's Core
//! conformance cases: each case's manifests (namespaces and class renamed
//! where it does not matter) and the conditions upstream's test asserts.

use std::path::Path;

use crate::source::yaml::load_str;
use crate::source::Snapshot;
use crate::status::{Condition, ObjectStatus, Status};

use super::super::{translate, Options};

fn statuses(text: &str) -> Vec<ObjectStatus> {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    load_str(Path::new("m.yaml"), text, &mut snapshot, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    translate(
        &snapshot,
        &Options {
            filter: crate::ir::FilterCode::Local("/f.wasm".into()),
            ..Options::default()
        },
    )
    .statuses
}

fn find<'a>(statuses: &'a [ObjectStatus], kind: &str, name: &str) -> &'a Status {
    &statuses
        .iter()
        .find(|s| s.kind == kind && s.name == name)
        .unwrap_or_else(|| panic!("no status for {kind} {name}: {statuses:#?}"))
        .status
}

/// (type, status, reason) of each condition, in order.
fn brief(conditions: &[Condition]) -> Vec<(&str, &str, &str)> {
    conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
        .collect()
}

/// (type, status, reason) of the conditions wanted, in order.
type Want = &'static [(&'static str, &'static str, &'static str)];

/// What a listener's status must be.
struct WantListener {
    name: &'static str,
    supports_http_route: bool,
    attached: u32,
    conditions: Want,
}

struct Case {
    name: &'static str,
    manifests: &'static str,
    gateway: &'static str,
    /// The Gateway's own conditions.
    gateway_conditions: Want,
    /// Empty: the Gateway has no listener status (it is not served).
    listeners: &'static [WantListener],
    /// (route, conditions of its first parent).
    routes: &'static [(&'static str, Want)],
}

const CLASS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: llmgate}
spec: {controllerName: llmgate.dev/gateway-controller}
"#;

const LISTENER_OK: &[(&str, &str, &str)] = &[
    ("Accepted", "True", "Accepted"),
    ("Programmed", "True", "Programmed"),
    ("ResolvedRefs", "True", "ResolvedRefs"),
    ("Conflicted", "False", "NoConflicts"),
];

const CASES: &[Case] = &[
    Case {
        // Upstream: the route's parent has ResolvedRefs True (reason
        // ResolvedRefs) and Accepted False (NotAllowedByListeners); the
        // Gateway has no attached route.
        name: "HTTPRouteInvalidCrossNamespaceParentRef",
        manifests: r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Same}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: invalid-cross-namespace-parent-ref, namespace: web-backend}
spec:
  parentRefs: [{name: same-namespace, namespace: infra}]
  rules:
  - backendRefs: [{name: web-backend, port: 8080}]
"#,
        gateway: "same-namespace",
        gateway_conditions: &[
            ("Accepted", "True", "Accepted"),
            ("Programmed", "True", "Programmed"),
        ],
        listeners: &[WantListener {
            name: "http",
            supports_http_route: true,
            attached: 0,
            conditions: LISTENER_OK,
        }],
        routes: &[(
            "invalid-cross-namespace-parent-ref",
            &[
                ("Accepted", "False", "NotAllowedByListeners"),
                ("ResolvedRefs", "True", "ResolvedRefs"),
            ],
        )],
    },
    Case {
        // Upstream ("AttachedRoutes set even when Gateway has unresolved
        // refs"): the listener is Programmed False and ResolvedRefs False
        // yet counts the route; the route's ResolvedRefs is False.
        name: "GatewayWithAttachedRoutes",
        manifests: r#"
apiVersion: v1
kind: Service
metadata: {name: infra-backend-v1, namespace: infra}
spec: {ports: [{port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: unresolved-gateway-with-one-attached-unresolved-route, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners:
  - name: tls
    port: 443
    protocol: HTTPS
    allowedRoutes:
      kinds: [{kind: HTTPRoute}]
      namespaces:
        from: Selector
        selector: {matchLabels: {kubernetes.io/metadata.name: infra}}
    tls:
      certificateRefs: [{group: "", kind: Secret, name: does-not-exist}]
      mode: Terminate
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: http-route-4, namespace: infra}
spec:
  parentRefs:
  - {kind: Gateway, name: unresolved-gateway-with-one-attached-unresolved-route, namespace: infra, sectionName: tls}
  rules:
  - backendRefs: [{name: does-not-exist, port: 8080}]
"#,
        gateway: "unresolved-gateway-with-one-attached-unresolved-route",
        gateway_conditions: &[
            ("Accepted", "True", "ListenersNotValid"),
            ("Programmed", "False", "Invalid"),
        ],
        listeners: &[WantListener {
            name: "tls",
            supports_http_route: true,
            attached: 1,
            conditions: &[
                ("Accepted", "True", "Accepted"),
                ("Programmed", "False", "Invalid"),
                ("ResolvedRefs", "False", "InvalidCertificateRef"),
                ("Conflicted", "False", "NoConflicts"),
            ],
        }],
        routes: &[(
            "http-route-4",
            &[
                ("Accepted", "True", "Accepted"),
                ("ResolvedRefs", "False", "BackendNotFound"),
            ],
        )],
    },
    Case {
        // Upstream: only unsupported protocols → Gateway Accepted False,
        // ListenersNotValid; the listener Accepted False,
        // UnsupportedProtocol, with no supported kinds.
        name: "GatewayListenerUnsupportedProtocol (only unsupported)",
        manifests: r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway-only-unsupported-protocols, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners: [{name: invalid, port: 1111, protocol: INVALID}]
"#,
        gateway: "gateway-only-unsupported-protocols",
        gateway_conditions: &[
            ("Accepted", "False", "ListenersNotValid"),
            ("Programmed", "False", "Invalid"),
        ],
        listeners: &[WantListener {
            name: "invalid",
            supports_http_route: false,
            attached: 0,
            conditions: &[
                ("Accepted", "False", "UnsupportedProtocol"),
                ("Programmed", "False", "Invalid"),
                ("ResolvedRefs", "True", "ResolvedRefs"),
                ("Conflicted", "False", "NoConflicts"),
            ],
        }],
        routes: &[],
    },
    Case {
        // Upstream: one supported listener → Gateway Accepted True with
        // reason ListenersNotValid; the valid listener lists HTTPRoute.
        name: "GatewayListenerUnsupportedProtocol (supported and unsupported)",
        manifests: r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway-supported-and-unsupported-protocols, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: invalid, port: 1111, protocol: INVALID}
"#,
        gateway: "gateway-supported-and-unsupported-protocols",
        gateway_conditions: &[
            ("Accepted", "True", "ListenersNotValid"),
            ("Programmed", "True", "Programmed"),
        ],
        listeners: &[
            WantListener {
                name: "http",
                supports_http_route: true,
                attached: 0,
                conditions: LISTENER_OK,
            },
            WantListener {
                name: "invalid",
                supports_http_route: false,
                attached: 0,
                conditions: &[
                    ("Accepted", "False", "UnsupportedProtocol"),
                    ("Programmed", "False", "Invalid"),
                    ("ResolvedRefs", "True", "ResolvedRefs"),
                    ("Conflicted", "False", "NoConflicts"),
                ],
            },
        ],
        routes: &[],
    },
    Case {
        // Upstream: Accepted False, reason InvalidParameters. llmgate has
        // no parameters kind, so the Gateway is not served at all and a
        // route to it finds no parent.
        name: "GatewayInvalidParametersRef",
        manifests: r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway-invalid-parameters-ref, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, port: 80, protocol: HTTP}]
  infrastructure:
    parametersRef: {group: invalid.io, kind: InvalidParameters, name: invalid}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-rejected, namespace: infra}
spec:
  parentRefs: [{name: gateway-invalid-parameters-ref}]
  rules:
  - backendRefs: [{name: web-backend, port: 8080}]
"#,
        gateway: "gateway-invalid-parameters-ref",
        gateway_conditions: &[
            ("Accepted", "False", "InvalidParameters"),
            ("Programmed", "False", "Invalid"),
        ],
        listeners: &[],
        routes: &[(
            "to-rejected",
            &[
                ("Accepted", "False", "NoMatchingParent"),
                ("ResolvedRefs", "True", "ResolvedRefs"),
            ],
        )],
    },
];

#[test]
fn core_conformance_status_cases() {
    for case in CASES {
        let statuses = statuses(&format!("{CLASS}---{}", case.manifests));
        let name = case.name;
        let (conditions, listeners) = match find(&statuses, "Gateway", case.gateway) {
            Status::Gateway {
                conditions,
                listeners,
            } => (conditions, listeners.as_slice()),
            Status::Conditions { conditions } => (conditions, &[][..]),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            brief(conditions),
            case.gateway_conditions,
            "{name}: Gateway"
        );
        assert_eq!(
            listeners.len(),
            case.listeners.len(),
            "{name}: {listeners:#?}"
        );
        for (got, want) in listeners.iter().zip(case.listeners) {
            let what = format!("{name}: listener {}", want.name);
            assert_eq!(got.name, want.name, "{what}");
            let kinds: Vec<(&str, &str)> = got
                .supported_kinds
                .iter()
                .map(|k| (k.group.as_str(), k.kind.as_str()))
                .collect();
            let want_kinds: &[(&str, &str)] = if want.supports_http_route {
                &[("gateway.networking.k8s.io", "HTTPRoute")]
            } else {
                &[]
            };
            assert_eq!(kinds, want_kinds, "{what}: supportedKinds");
            assert_eq!(got.attached_routes, want.attached, "{what}: attachedRoutes");
            assert_eq!(brief(&got.conditions), want.conditions, "{what}");
        }
        for (route, want) in case.routes {
            let Status::Route { parents } = find(&statuses, "HTTPRoute", route) else {
                panic!("{name}: {route} is not a route status");
            };
            assert_eq!(
                brief(&parents[0].conditions),
                *want,
                "{name}: HTTPRoute {route}"
            );
        }
    }
}

/// A route parent that is not accepted still says whether the route's
/// backendRefs resolve: every parent carries Accepted and ResolvedRefs.
#[test]
fn unaccepted_parents_carry_resolved_refs() {
    let statuses = statuses(&format!(
        "{CLASS}---{}",
        r#"
apiVersion: v1
kind: Service
metadata: {name: present, namespace: ns}
spec: {ports: [{port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: a.example}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  hostnames: [a.example]
  parentRefs: [{name: gw}, {name: gw, sectionName: absent}, {name: nowhere}]
  rules:
  - backendRefs: [{name: present, port: 8080}, {name: missing, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: unattached, namespace: ns}
spec:
  hostnames: [b.example]
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: missing, port: 8080}]
"#
    ));
    let parents = |route: &str| match find(&statuses, "HTTPRoute", route) {
        Status::Route { parents } => parents
            .iter()
            .map(|p| brief(&p.conditions))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let refs_false = ("ResolvedRefs", "False", "BackendNotFound");
    assert_eq!(
        parents("r"),
        vec![
            vec![("Accepted", "True", "Accepted"), refs_false],
            vec![("Accepted", "False", "NoMatchingParent"), refs_false],
            vec![("Accepted", "False", "NoMatchingParent"), refs_false],
        ]
    );
    assert_eq!(
        parents("unattached"),
        vec![vec![
            ("Accepted", "False", "NoMatchingListenerHostname"),
            refs_false
        ]]
    );
}
