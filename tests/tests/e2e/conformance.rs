//! Gateway API conformance, llmgate-style: the behaviours of the upstream
//! conformance suite's HTTPRoute tests (each case names the test it mirrors),
//! as a table of requests and what the backend and the client must see,
//! through `llmgate translate` and real Envoy.
//!
//! The backends are mock providers (they record every request and answer 404
//! to paths they do not know, which is fine: what matters is which backend got
//! the request and what it looked like). Services reach them through
//! EndpointSlices pointing at 127.0.0.1:<mock port>, as in a cluster.
//!
//! One manifest holds every route (each conformance test on its own hostname)
//! so one Envoy serves the whole table.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use llmgate_e2e::harness::{llmgate_binary, start_gateway, Gateway};
use llmgate_e2e::mock::{MockConfig, MockProvider, RecordedRequest};

/// Backends by name; `$<NAME>_PORT` in the manifest is each one's port.
const BACKENDS: &[&str] = &["V1", "V2", "V3", "WEB", "NOGRANT", "SLOW"];

fn service(namespace: &str, name: &str, port_var: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{ports: [{{name: http, port: 8080}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-x1, namespace: {namespace}, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: ${port_var}_PORT}}]
endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]
"#
    )
}

/// A route in `infra` on the hostname-less listener, for one hostname.
fn route(name: &str, hostname: &str, rules: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: infra}}
spec:
  parentRefs: [{{name: same-namespace, sectionName: http}}]
  hostnames: [{hostname}]
  rules:
{rules}"#
    )
}

fn manifests() -> String {
    let mut m = String::from(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: llmgate}
spec: {controllerName: llmgate.dev/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: labelled, labels: {team: conformance}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: infra}
spec:
  gatewayClassName: llmgate
  listeners:
  - {name: http, protocol: HTTP, port: $GATEWAY_PORT, allowedRoutes: {namespaces: {from: All}}}
  - {name: specific, protocol: HTTP, port: $GATEWAY_PORT, hostname: very.specific.com}
  - {name: wildcard, protocol: HTTP, port: $GATEWAY_PORT, hostname: "*.wildcard.io"}
  - name: selected
    protocol: HTTP
    port: $GATEWAY_PORT
    hostname: selected.example
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: conformance}}}}
"#,
    );
    for (ns, name, var) in [
        ("infra", "infra-backend-v1", "V1"),
        ("infra", "infra-backend-v2", "V2"),
        ("infra", "infra-backend-v3", "V3"),
        ("infra", "slow", "SLOW"),
        ("web", "web-backend", "WEB"),
        ("nogrant", "web-backend", "NOGRANT"),
    ] {
        m.push_str(&service(ns, name, var));
    }
    m.push_str(
        r#"
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: infra}
spec: {type: ExternalName, externalName: localhost, ports: [{port: $V2_PORT}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: routes-from-infra, namespace: web}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
  to: [{group: "", kind: Service}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: routes-from-labelled, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: labelled}]
  to: [{group: "", kind: Service, name: infra-backend-v3}]
"#,
    );
    let v = |n: u8| format!("{{name: infra-backend-v{n}, port: 8080}}");
    let (v1, v2, v3) = (v(1), v(2), v(3));
    m.push_str(&route(
        "exact-path-matching",
        "exact.example",
        &format!(
            "  - matches: [{{path: {{type: Exact, value: /one}}}}]\n    backendRefs: [{v1}]\n  - matches: [{{path: {{type: Exact, value: /two}}}}]\n    backendRefs: [{v2}]\n"
        ),
    ));
    m.push_str(&route(
        "matching",
        "prefix.example",
        &format!(
            "  - matches: [{{path: {{type: PathPrefix, value: /}}}}]\n    backendRefs: [{v1}]\n  - matches: [{{path: {{type: PathPrefix, value: /v2/}}}}]\n    backendRefs: [{v2}]\n"
        ),
    ));
    m.push_str(&route(
        "header-matching",
        "headers.example",
        &format!(
            r#"  - matches: [{{headers: [{{name: version, value: one}}]}}]
    backendRefs: [{v1}]
  - matches: [{{headers: [{{name: version, value: two}}]}}]
    backendRefs: [{v2}]
  - matches: [{{headers: [{{name: version, value: two}}, {{name: color, value: orange}}]}}]
    backendRefs: [{v1}]
  - matches: [{{headers: [{{name: color, value: blue}}]}}, {{headers: [{{name: color, value: green}}]}}]
    backendRefs: [{v1}]
  - matches: [{{headers: [{{name: x-id, type: RegularExpression, value: "^[a-f]+$"}}]}}]
    backendRefs: [{v3}]
"#
        ),
    ));
    m.push_str(&route(
        "regex-matching",
        "regex.example",
        &format!(
            "  - matches: [{{path: {{type: RegularExpression, value: \"/v[0-9]+/.*\"}}}}]\n    backendRefs: [{v2}]\n"
        ),
    ));
    m.push_str(&route(
        "query-param-matching",
        "query.example",
        &format!(
            r#"  - matches: [{{queryParams: [{{name: animal, value: whale}}]}}]
    backendRefs: [{v1}]
  - matches: [{{queryParams: [{{name: animal, value: dolphin}}]}}]
    backendRefs: [{v2}]
  - matches: [{{queryParams: [{{name: animal, value: dolphin}}, {{name: color, value: blue}}]}}]
    backendRefs: [{v3}]
"#
        ),
    ));
    m.push_str(&route(
        "method-matching",
        "method.example",
        &format!(
            "  - matches: [{{method: POST}}]\n    backendRefs: [{v1}]\n  - matches: [{{method: GET}}]\n    backendRefs: [{v2}]\n"
        ),
    ));
    // Across routes: the older route wins a tie even though its name sorts last;
    // an Exact path in the newer route beats the older one's prefix.
    for (name, created, rules) in [
        (
            "zz-older",
            "2020-01-01T00:00:00Z",
            format!("  - matches: [{{path: {{type: PathPrefix, value: /same}}}}]\n    backendRefs: [{v1}]\n"),
        ),
        (
            "aa-newer",
            "2024-01-01T00:00:00Z",
            format!(
                "  - matches: [{{path: {{type: PathPrefix, value: /same}}}}]\n    backendRefs: [{v2}]\n  - matches: [{{path: {{type: Exact, value: /same/exact}}}}]\n    backendRefs: [{v2}]\n"
            ),
        ),
    ] {
        m.push_str(
            &route(name, "across.example", &rules).replace(
                &format!("metadata: {{name: {name}, namespace: infra}}"),
                &format!("metadata: {{name: {name}, namespace: infra, creationTimestamp: \"{created}\"}}"),
            ),
        );
    }
    m.push_str(&route(
        "request-header-modifier",
        "reqhdr.example",
        &format!(
            r#"  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{name: X-Header-Set, value: set-overwrites-values}}]
        add: [{{name: X-Header-Add, value: add-appends-values}}]
        remove: [X-Header-Remove]
    backendRefs: [{v1}]
"#
        ),
    ));
    m.push_str(&route(
        "response-header-modifier",
        "resphdr.example",
        &format!(
            r#"  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{{name: X-Header-Set, value: set-value}}]
        add: [{{name: X-Header-Add, value: add-value}}]
        remove: [content-type]
    backendRefs: [{v1}]
"#
        ),
    ));
    m.push_str(&route(
        "rewrite-path",
        "rewrite.example",
        &format!(
            r#"  - matches: [{{path: {{type: PathPrefix, value: /prefix/one}}}}]
    filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplacePrefixMatch, replacePrefixMatch: /one}}}}}}]
    backendRefs: [{v1}]
  - matches: [{{path: {{type: PathPrefix, value: /full/one}}}}]
    filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplaceFullPath, replaceFullPath: /one}}}}}}]
    backendRefs: [{v1}]
  - matches: [{{path: {{type: PathPrefix, value: /strip-prefix}}}}]
    filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplacePrefixMatch, replacePrefixMatch: /}}}}}}]
    backendRefs: [{v1}]
  - matches: [{{path: {{type: PathPrefix, value: /host}}}}]
    filters: [{{type: URLRewrite, urlRewrite: {{hostname: one.example.org}}}}]
    backendRefs: [{v1}]
"#
        ),
    ));
    m.push_str(&route(
        "redirect",
        "redirect.example",
        r#"  - matches: [{path: {type: PathPrefix, value: /original-prefix}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}}]
  - matches: [{path: {type: PathPrefix, value: /full}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}}}]
  - matches: [{path: {type: PathPrefix, value: /hostname-and-status}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org, statusCode: 301}}]
  - matches: [{path: {type: PathPrefix, value: /scheme}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
  - matches: [{path: {type: PathPrefix, value: /port}}]
    filters: [{type: RequestRedirect, requestRedirect: {port: 8083}}]
"#,
    ));
    m.push_str(&route(
        "weight",
        "weight.example",
        "  - backendRefs:\n    - {name: infra-backend-v1, port: 8080, weight: 70}\n    - {name: infra-backend-v2, port: 8080, weight: 30}\n    - {name: infra-backend-v3, port: 8080, weight: 0}\n",
    ));
    m.push_str(&route(
        "weight-with-invalid",
        "weight500.example",
        "  - backendRefs:\n    - {name: infra-backend-v1, port: 8080, weight: 1}\n    - {name: settings, kind: ConfigMap, port: 8080, weight: 1}\n",
    ));
    m.push_str(&route(
        "cross-namespace",
        "cross.example",
        "  - matches: [{path: {type: PathPrefix, value: /granted}}]\n    backendRefs: [{name: web-backend, namespace: web, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /not-granted}}]\n    backendRefs: [{name: web-backend, namespace: nogrant, port: 8080}]\n",
    ));
    m.push_str(&route(
        "invalid-refs",
        "invalid.example",
        "  - matches: [{path: {type: PathPrefix, value: /nonexistent}}]\n    backendRefs: [{name: does-not-exist, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /unknown-kind}}]\n    backendRefs: [{name: settings, kind: ConfigMap, port: 8080}]\n",
    ));
    m.push_str(&route(
        "mirror",
        "mirror.example",
        &format!(
            "  - filters: [{{type: RequestMirror, requestMirror: {{backendRef: {{name: infra-backend-v2, port: 8080}}}}}}]\n    backendRefs: [{v1}]\n"
        ),
    ));
    m.push_str(&route(
        "timeout-request",
        "timeout.example",
        "  - timeouts: {request: 300ms}\n    backendRefs: [{name: slow, port: 8080}]\n",
    ));
    m.push_str(&route(
        "external-name",
        "external.example",
        "  - backendRefs: [{name: external, port: $V2_PORT}]\n",
    ));
    m.push_str(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hostname-specific, namespace: infra}
spec:
  parentRefs: [{name: same-namespace, sectionName: specific}]
  hostnames: [non.matching.com, very.specific.com]
  rules: [{matches: [{path: {type: PathPrefix, value: /s1}}], backendRefs: [{name: infra-backend-v1, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hostname-wildcard, namespace: infra}
spec:
  parentRefs: [{name: same-namespace, sectionName: wildcard}]
  hostnames: [wildcard.io, foo.wildcard.io, "*.bar.wildcard.io"]
  rules: [{matches: [{path: {type: PathPrefix, value: /s2}}], backendRefs: [{name: infra-backend-v2, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hostname-none-matching, namespace: infra}
spec:
  parentRefs: [{name: same-namespace, sectionName: specific}]
  hostnames: [nothing.matches.com]
  rules: [{backendRefs: [{name: infra-backend-v1, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: from-labelled, namespace: labelled}
spec:
  parentRefs: [{name: same-namespace, namespace: infra, sectionName: selected}]
  rules: [{backendRefs: [{name: infra-backend-v3, namespace: infra, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: from-unlabelled, namespace: unlabelled}
spec:
  parentRefs: [{name: same-namespace, namespace: infra, sectionName: selected}]
  rules: [{backendRefs: [{name: web-backend, namespace: web, port: 8080}]}]
"#,
    );
    m
}

/// What the client and the backends must see.
#[derive(Default)]
struct Expect {
    status: u16,
    /// The backend that got the request (None: none did).
    backend: Option<&'static str>,
    /// Path and query the backend saw.
    upstream_path: Option<&'static str>,
    upstream_host: Option<&'static str>,
    /// Every value the backend saw for a header, in order.
    upstream_headers: &'static [(&'static str, &'static [&'static str])],
    response_headers: &'static [(&'static str, Option<&'static str>)],
    location: Option<&'static str>,
}

struct Case {
    /// The upstream conformance test this mirrors.
    test: &'static str,
    method: &'static str,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect: Expect,
}

/// The mocks answer 404 to every path of this table: 404 + a backend means
/// "forwarded"; a 404 with no backend is Envoy's "no route".
const FWD: u16 = 404;

fn to(backend: &'static str) -> Expect {
    Expect {
        status: FWD,
        backend: Some(backend),
        ..Expect::default()
    }
}

fn status(status: u16) -> Expect {
    Expect {
        status,
        ..Expect::default()
    }
}

fn get(test: &'static str, host: &'static str, path: &'static str, expect: Expect) -> Case {
    Case {
        test,
        method: "GET",
        host,
        path,
        headers: &[],
        expect,
    }
}

fn with_headers(mut case: Case, headers: &'static [(&'static str, &'static str)]) -> Case {
    case.headers = headers;
    case
}

fn table() -> Vec<Case> {
    let exact = "HTTPRouteExactPathMatching";
    let matching = "HTTPRouteMatching";
    let headers = "HTTPRouteHeaderMatching";
    let query = "HTTPRouteQueryParamMatching";
    let across = "HTTPRouteMatchingAcrossRoutes";
    let rewrite = "HTTPRouteRewritePath";
    let redirect = "HTTPRouteRedirectPath";
    let hosts = "HTTPRouteHostnameIntersection";
    vec![
        get(exact, "exact.example", "/one", to("V1")),
        get(exact, "exact.example", "/two", to("V2")),
        get(exact, "exact.example", "/one/example", status(404)),
        get(exact, "exact.example", "/two/", status(404)),
        get(matching, "prefix.example", "/", to("V1")),
        get(matching, "prefix.example", "/v2", to("V2")),
        get(matching, "prefix.example", "/v2/example", to("V2")),
        // PathPrefix matches whole segments only.
        get(matching, "prefix.example", "/v2example", to("V1")),
        with_headers(
            get(headers, "headers.example", "/", to("V1")),
            &[("version", "one")],
        ),
        with_headers(
            get(headers, "headers.example", "/", to("V2")),
            &[("version", "two")],
        ),
        // More header matches take precedence.
        with_headers(
            get(headers, "headers.example", "/", to("V1")),
            &[("version", "two"), ("color", "orange")],
        ),
        // Matches of a rule are OR-ed.
        with_headers(
            get(headers, "headers.example", "/", to("V1")),
            &[("color", "blue")],
        ),
        with_headers(
            get(headers, "headers.example", "/", to("V1")),
            &[("color", "green")],
        ),
        with_headers(
            get(headers, "headers.example", "/", status(404)),
            &[("color", "red")],
        ),
        with_headers(
            get(headers, "headers.example", "/", to("V3")),
            &[("x-id", "cafe")],
        ),
        with_headers(
            get(headers, "headers.example", "/", status(404)),
            &[("x-id", "cafe1")],
        ),
        get(
            "HTTPRouteRegexMatching",
            "regex.example",
            "/v12/anything",
            to("V2"),
        ),
        get(
            "HTTPRouteRegexMatching",
            "regex.example",
            "/vx/anything",
            status(404),
        ),
        get(query, "query.example", "/?animal=whale", to("V1")),
        get(query, "query.example", "/?animal=dolphin", to("V2")),
        get(
            query,
            "query.example",
            "/?animal=dolphin&color=blue",
            to("V3"),
        ),
        get(
            query,
            "query.example",
            "/?color=blue&animal=dolphin",
            to("V3"),
        ),
        get(query, "query.example", "/?animal=shark", status(404)),
        Case {
            method: "POST",
            ..get("HTTPRouteMethodMatching", "method.example", "/", to("V1"))
        },
        get("HTTPRouteMethodMatching", "method.example", "/", to("V2")),
        Case {
            method: "DELETE",
            ..get(
                "HTTPRouteMethodMatching",
                "method.example",
                "/",
                status(404),
            )
        },
        get(across, "across.example", "/same", to("V1")),
        get(across, "across.example", "/same/exact", to("V2")),
        with_headers(
            get(
                "HTTPRouteRequestHeaderModifier",
                "reqhdr.example",
                "/",
                Expect {
                    upstream_headers: &[
                        ("x-header-set", &["set-overwrites-values"]),
                        ("x-header-add", &["existing", "add-appends-values"]),
                        ("x-header-remove", &[]),
                    ],
                    ..to("V1")
                },
            ),
            &[
                ("X-Header-Set", "some-other-value"),
                ("X-Header-Add", "existing"),
                ("X-Header-Remove", "gone"),
            ],
        ),
        get(
            "HTTPRouteResponseHeaderModifier",
            "resphdr.example",
            "/",
            Expect {
                response_headers: &[
                    ("x-header-set", Some("set-value")),
                    ("x-header-add", Some("add-value")),
                    ("content-type", None),
                ],
                ..to("V1")
            },
        ),
        get(
            rewrite,
            "rewrite.example",
            "/prefix/one/two",
            Expect {
                upstream_path: Some("/one/two"),
                ..to("V1")
            },
        ),
        get(
            rewrite,
            "rewrite.example",
            "/prefix/one",
            Expect {
                upstream_path: Some("/one"),
                ..to("V1")
            },
        ),
        get(
            rewrite,
            "rewrite.example",
            "/full/one/two?q=1",
            Expect {
                upstream_path: Some("/one?q=1"),
                ..to("V1")
            },
        ),
        get(
            rewrite,
            "rewrite.example",
            "/strip-prefix/three",
            Expect {
                upstream_path: Some("/three"),
                ..to("V1")
            },
        ),
        get(
            rewrite,
            "rewrite.example",
            "/strip-prefix",
            Expect {
                upstream_path: Some("/"),
                ..to("V1")
            },
        ),
        get(
            "HTTPRouteRewriteHost",
            "rewrite.example",
            "/host/x",
            Expect {
                upstream_host: Some("one.example.org"),
                upstream_path: Some("/host/x"),
                ..to("V1")
            },
        ),
        get(
            redirect,
            "redirect.example",
            "/original-prefix/lemon",
            Expect {
                status: 302,
                location: Some("http://redirect.example:$GATEWAY_PORT/replacement-prefix/lemon"),
                ..status(302)
            },
        ),
        get(
            redirect,
            "redirect.example",
            "/full/path/original",
            Expect {
                location: Some("http://redirect.example:$GATEWAY_PORT/full-path-replacement"),
                ..status(302)
            },
        ),
        get(
            "HTTPRouteRedirectHostAndStatus",
            "redirect.example",
            "/hostname-and-status",
            Expect {
                location: Some("http://example.org:$GATEWAY_PORT/hostname-and-status"),
                ..status(301)
            },
        ),
        get(
            "HTTPRouteRedirectScheme",
            "redirect.example",
            "/scheme",
            Expect {
                location: Some("https://redirect.example/scheme"),
                ..status(302)
            },
        ),
        get(
            "HTTPRouteRedirectPort",
            "redirect.example",
            "/port",
            Expect {
                location: Some("http://redirect.example:8083/port"),
                ..status(302)
            },
        ),
        get(hosts, "very.specific.com", "/s1", to("V1")),
        get(hosts, "non.matching.com", "/s1", status(404)),
        get(hosts, "foo.wildcard.io", "/s2", to("V2")),
        get(hosts, "x.bar.wildcard.io", "/s2", to("V2")),
        get(hosts, "wildcard.io", "/s2", status(404)),
        get(hosts, "nothing.matches.com", "/", status(404)),
        get(
            "HTTPRouteCrossNamespace",
            "cross.example",
            "/granted",
            to("WEB"),
        ),
        get(
            "HTTPRouteInvalidCrossNamespaceBackendRef",
            "cross.example",
            "/not-granted",
            status(500),
        ),
        get(
            "HTTPRouteInvalidNonExistentBackendRef",
            "invalid.example",
            "/nonexistent",
            status(500),
        ),
        get(
            "HTTPRouteInvalidBackendRefUnknownKind",
            "invalid.example",
            "/unknown-kind",
            status(500),
        ),
        get(
            "GatewayWithAttachedRoutes (allowedRoutes Selector)",
            "selected.example",
            "/",
            to("V3"),
        ),
        // The backend gets the request but answers after 2 s.
        get(
            "HTTPRouteTimeoutRequest",
            "timeout.example",
            "/",
            Expect {
                status: 504,
                ..to("SLOW")
            },
        ),
        get(
            "HTTPRouteServiceTypes (ExternalName)",
            "external.example",
            "/x",
            to("V2"),
        ),
    ]
}

struct Backends {
    mocks: Vec<(&'static str, MockProvider)>,
}

impl Backends {
    fn start() -> Self {
        let mocks = BACKENDS
            .iter()
            .map(|name| {
                let mut config = MockConfig::new("unused");
                if *name == "SLOW" {
                    config.response_delay = Duration::from_secs(2);
                }
                (
                    *name,
                    MockProvider::start_blocking(config).expect("start mock"),
                )
            })
            .collect();
        Backends { mocks }
    }
    fn manifests(&self, text: &str) -> String {
        self.mocks.iter().fold(text.to_string(), |m, (name, mock)| {
            m.replace(&format!("${name}_PORT"), &mock.addr().port().to_string())
        })
    }
    fn clear(&self) {
        self.mocks.iter().for_each(|(_, m)| m.clear_requests());
    }
    fn received(&self) -> Vec<(&'static str, RecordedRequest)> {
        self.mocks
            .iter()
            .flat_map(|(name, m)| m.requests().into_iter().map(move |r| (*name, r)))
            .collect()
    }
    fn get(&self, name: &str) -> &MockProvider {
        &self
            .mocks
            .iter()
            .find(|(n, _)| *n == name)
            .expect("backend")
            .1
    }
}

/// A plain HTTP/1.1 exchange, so the test controls Host and sees redirects
/// as they are (no client-side following).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn send(
    gateway: &Gateway,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", gateway.port)).expect("connect to Envoy");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {host}{path}: no HTTP answer: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply { status, headers }
}

fn check(case: &Case, gateway: &Gateway, backends: &Backends) -> Result<(), String> {
    backends.clear();
    let reply = send(gateway, case.method, case.host, case.path, case.headers);
    let e = &case.expect;
    let port = gateway.port.to_string();
    let mut errors = Vec::new();
    if reply.status != e.status {
        errors.push(format!("status {} (want {})", reply.status, e.status));
    }
    let received = backends.received();
    match (e.backend, received.as_slice()) {
        (None, []) => {}
        (Some(want), [(got, request)]) => {
            if *got != want {
                errors.push(format!("reached backend {got} (want {want})"));
            }
            if let Some(path) = e.upstream_path {
                if request.path_and_query != path {
                    errors.push(format!(
                        "upstream path {} (want {path})",
                        request.path_and_query
                    ));
                }
            }
            if let Some(host) = e.upstream_host {
                if request.header("host") != Some(host) {
                    errors.push(format!(
                        "upstream Host {:?} (want {host})",
                        request.header("host")
                    ));
                }
            }
            for (name, want) in e.upstream_headers {
                let got = request.headers_named(name);
                if got != *want {
                    errors.push(format!("upstream {name}: {got:?} (want {want:?})"));
                }
            }
        }
        (want, got) => errors.push(format!(
            "backends reached: {:?} (want {want:?})",
            got.iter()
                .map(|(n, r)| format!("{n} {}", r.path_and_query))
                .collect::<Vec<_>>()
        )),
    }
    for (name, want) in e.response_headers {
        if reply.header(name) != *want {
            errors.push(format!(
                "response {name}: {:?} (want {want:?})",
                reply.header(name)
            ));
        }
    }
    if let Some(location) = e.location {
        let want = location.replace("$GATEWAY_PORT", &port);
        if reply.header("location") != Some(want.as_str()) {
            errors.push(format!(
                "Location {:?} (want {want})",
                reply.header("location")
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} — {} {}{}: {}",
            case.test,
            case.method,
            case.host,
            case.path,
            errors.join("; ")
        ))
    }
}

#[test]
fn httproute_conformance_table() {
    let backends = Backends::start();
    let gateway = start_gateway(&backends.manifests(&manifests()), 0);
    let failures: Vec<String> = table()
        .iter()
        .filter_map(|case| check(case, &gateway, &backends).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\n\nllmgate said:\n{}",
        failures.len(),
        table().len(),
        failures.join("\n"),
        gateway.translated.stderr
    );

    // HTTPRouteRequestMirror: the backend answers, the mirror gets a copy.
    backends.clear();
    let reply = send(&gateway, "GET", "mirror.example", "/mirrored", &[]);
    assert_eq!(reply.status, FWD);
    let deadline = Instant::now() + Duration::from_secs(5);
    while backends.get("V2").requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let paths = |name| {
        backends
            .get(name)
            .requests()
            .iter()
            .map(|r| r.path_and_query.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        paths("V1"),
        ["/mirrored"],
        "HTTPRouteRequestMirror: backend"
    );
    assert_eq!(paths("V2"), ["/mirrored"], "HTTPRouteRequestMirror: mirror");

    // HTTPRouteWeight: 70/30/0.
    let mut counts = std::collections::BTreeMap::new();
    backends.clear();
    for _ in 0..100 {
        send(&gateway, "GET", "weight.example", "/w", &[]);
    }
    for (name, _) in backends.received() {
        *counts.entry(name).or_insert(0) += 1;
    }
    let v1 = counts.get("V1").copied().unwrap_or(0);
    let v2 = counts.get("V2").copied().unwrap_or(0);
    assert_eq!(v1 + v2, 100, "HTTPRouteWeight: {counts:?}");
    assert!(
        (50..=90).contains(&v1),
        "HTTPRouteWeight: 70% expected on v1: {counts:?}"
    );
    assert!(
        !counts.contains_key("V3"),
        "HTTPRouteWeight: weight 0 got traffic: {counts:?}"
    );

    // The unresolvable half of a weighted rule answers 500, the other half is served.
    backends.clear();
    let statuses: Vec<u16> = (0..60)
        .map(|_| send(&gateway, "GET", "weight500.example", "/", &[]).status)
        .collect();
    let errors = statuses.iter().filter(|s| **s == 500).count();
    let served = backends.get("V1").requests().len();
    assert_eq!(errors + served, 60, "{statuses:?}");
    assert!(
        (10..=50).contains(&errors),
        "HTTPRouteInvalidBackendRefUnknownKind (weighted): {errors} of 60 answered 500"
    );
}

/// `llmgate status` on the same manifests explains every route that does not
/// (fully) work.
#[test]
fn conformance_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = manifests().replace("$GATEWAY_PORT", "8080");
    let manifests = BACKENDS
        .iter()
        .fold(manifests, |m, n| m.replace(&format!("${n}_PORT"), "9999"));
    std::fs::write(dir.path().join("m.yaml"), manifests).unwrap();
    let output = Command::new(llmgate_binary())
        .args(["status", "-f"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let yaml = String::from_utf8(output.stdout).unwrap();
    let docs: Vec<serde_json::Value> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let condition = |kind: &str, name: &str, type_: &str| -> (String, String) {
        let doc = docs
            .iter()
            .find(|d| d["kind"] == kind && d["name"] == name)
            .unwrap_or_else(|| panic!("no status for {kind} {name}:\n{yaml}"));
        let conditions: Vec<&serde_json::Value> = match kind {
            "HTTPRoute" => doc["status"]["parents"][0]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .collect(),
            _ => doc["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .collect(),
        };
        let c = conditions
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap_or_else(|| panic!("{kind} {name} has no {type_}:\n{yaml}"));
        (
            c["status"].as_str().unwrap().into(),
            c["reason"].as_str().unwrap().into(),
        )
    };
    let cases = [
        (
            "HTTPRouteHostnameIntersection",
            "hostname-none-matching",
            "Accepted",
            "False",
            "NoMatchingListenerHostname",
        ),
        (
            "HTTPRouteHostnameIntersection",
            "hostname-specific",
            "Accepted",
            "True",
            "Accepted",
        ),
        (
            "HTTPRouteInvalidCrossNamespaceParentRef",
            "from-unlabelled",
            "Accepted",
            "False",
            "NotAllowedByListeners",
        ),
        (
            "GatewayWithAttachedRoutes",
            "from-labelled",
            "Accepted",
            "True",
            "Accepted",
        ),
        (
            "HTTPRouteInvalidCrossNamespaceBackendRef",
            "cross-namespace",
            "ResolvedRefs",
            "False",
            "RefNotPermitted",
        ),
        (
            "HTTPRouteInvalidNonExistentBackendRef",
            "invalid-refs",
            "ResolvedRefs",
            "False",
            "BackendNotFound",
        ),
        (
            "HTTPRouteInvalidBackendRefUnknownKind",
            "weight-with-invalid",
            "ResolvedRefs",
            "False",
            "InvalidKind",
        ),
        (
            "HTTPRouteSimpleSameNamespace",
            "exact-path-matching",
            "ResolvedRefs",
            "True",
            "ResolvedRefs",
        ),
    ];
    for (test, route, type_, want_status, want_reason) in cases {
        let got = condition("HTTPRoute", route, type_);
        assert_eq!(
            got,
            (want_status.to_string(), want_reason.to_string()),
            "{test}: HTTPRoute {route} {type_}"
        );
    }
    assert_eq!(
        condition("Gateway", "same-namespace", "Accepted"),
        ("True".into(), "Accepted".into())
    );
}

/// URLRewrite on a route to an AI Backend wins over the provider's default
/// path (`/v1/chat/completions` here), and the marker header the translator
/// adds for the filter does not reach the provider.
#[test]
fn url_rewrite_on_an_ai_backend_route_takes_precedence() {
    let mock = MockProvider::start_blocking(MockConfig::new("k")).unwrap();
    let manifests = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, protocol: HTTP, port: $GATEWAY_PORT}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: openai}
spec:
  type: AI
  ai: {llm: {host: 127.0.0.1, port: $MOCK_PORT, openai: {authToken: {kind: Inline, inline: k}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /custom}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /custom/v1/chat}}}]
    backendRefs: [{name: openai, group: gateway.kgateway.dev, kind: Backend}]
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: openai, group: gateway.kgateway.dev, kind: Backend}]
"#;
    let gateway = start_gateway(manifests, mock.addr().port());
    gateway.post(
        "/custom/anything",
        &[("content-type", "application/json")],
        br#"{"model":"m","messages":[]}"#,
    );
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path_and_query, "/custom/v1/chat");
    assert_eq!(sent[0].header("x-llmgate-path-rewritten"), None);

    // A client claiming a rewrite on a route without one gets the provider's
    // path. (A `..` in the client's path never gets this far: the listener
    // resolves it before routing, see request_hygiene.)
    gateway.post(
        "/plain/admin",
        &[("x-llmgate-path-rewritten", "1")],
        br#"{"model":"m","messages":[]}"#,
    );
    let sent = mock.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].path_and_query, "/v1/chat/completions");
    assert_eq!(sent[1].header("x-llmgate-path-rewritten"), None);
}
