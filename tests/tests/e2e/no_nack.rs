//! Envoy never receives configuration it rejects: every example, and a
//! manifest full of one-tenant mistakes (a regex RE2 refuses, a CR/LF in a
//! header value, a `:path` or `host` modifier, an out-of-range timeout,
//! weights over Envoy's limit, a garbage certificate, a key that does not
//! belong to its certificate, a bad hostname…), translate to a bootstrap that
//! `envoy --mode validate` accepts, with the valid neighbours still in it and
//! each mistake reported as an `error:` line and a status condition.

use std::path::Path;
use std::process::Command;

use llmgate_e2e::harness::{envoy_binary, free_port, llmgate_binary, translate, workspace_root};
use serde_json::Value;

/// `envoy --mode validate`: (accepted, what Envoy said).
fn envoy_validates(bootstrap: &Path) -> (bool, String) {
    let output = Command::new(envoy_binary())
        .args(["--mode", "validate", "-c"])
        .arg(bootstrap)
        .args(["--log-level", "warn"])
        .output()
        .expect("run envoy --mode validate");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// Every `.yaml` of `manifests/examples/<name>`, as one stream.
fn example(name: &str) -> String {
    let dir = workspace_root().join("manifests/examples").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn every_example_translates_to_a_configuration_envoy_accepts() {
    let root = workspace_root().join("manifests/examples");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let translated = translate(&example(&name), free_port());
        assert!(
            translated.bootstrap.is_file(),
            "{name}: {}",
            translated.stderr
        );
        let (ok, said) = envoy_validates(&translated.bootstrap);
        assert!(ok, "Envoy rejects the translation of {name}: {said}");
    }
}

fn self_signed(host: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn tls_secret(name: &str, crt: &str, key: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(crt),
        indent(key)
    )
}

/// HTTPRoute `name` on Gateway `gw` with the given rules (YAML, indented for
/// `spec.rules`); `extra_spec` goes into `spec` as is.
fn route(name: &str, extra_spec: &str, rules: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}}}\nspec:\n  parentRefs: [{{name: gw}}]\n{extra_spec}  rules:\n{rules}"
    )
}

/// One rule: PathPrefix `/<prefix>` to Service `svc`, plus `more` (YAML
/// lines of the rule, indented by four).
fn rule(prefix: &str, more: &str) -> String {
    format!(
        "  - matches: [{{path: {{type: PathPrefix, value: /{prefix}}}}}]\n    backendRefs: [{{name: svc, port: 8080}}]\n{more}"
    )
}

fn regex_rule(regex: &str) -> String {
    format!(
        "  - matches: [{{path: {{type: RegularExpression, value: '{regex}'}}}}]\n    backendRefs: [{{name: svc, port: 8080}}]\n"
    )
}

fn header_modifier(direction: &str, kind: &str, entries: &str) -> String {
    format!("    filters:\n    - type: {direction}HeaderModifier\n      {}HeaderModifier: {{{kind}: {entries}}}\n", direction.to_lowercase())
}

/// (route name, spec extra, rules, what the `error:` line says)
fn hostile_routes() -> Vec<(&'static str, String, String, &'static str)> {
    let set = |name: &str, value: &str| format!("[{{name: {name}, value: \"{value}\"}}]");
    vec![
        ("bad-regex", String::new(), regex_rule("/bad/(unclosed"), "invalid regular expression"),
        ("lookahead", String::new(), regex_rule("/look(?=ahead)"), "invalid regular expression"),
        ("re2-flag", String::new(), regex_rule("(?x) /x"), "not RE2 syntax"),
        ("re2-repeat", String::new(), regex_rule("/r(a{100}){11}"), "not RE2 syntax"),
        ("re2-size", String::new(), regex_rule("/(abcdefghij){20}"), "too complex"),
        ("re2-escape", String::new(), regex_rule("/\\x{1F600}"), "above \\x{FF}"),
        (
            "header-regex",
            String::new(),
            "  - matches: [{path: {type: PathPrefix, value: /hr}, headers: [{type: RegularExpression, name: x-v, value: 'a{1001}'}]}]\n    backendRefs: [{name: svc, port: 8080}]\n".into(),
            "headers[0]: not RE2 syntax",
        ),
        ("query-prefix", String::new(), rule("q?x=1", ""), "cannot contain ? or #"),
        (
            "crlf-value",
            String::new(),
            rule("crlf", &header_modifier("Request", "set", &set("x-a", "one\\r\\nx-injected: two"))),
            "value contains CR",
        ),
        (
            "nul-value",
            String::new(),
            rule("nul", &header_modifier("Response", "add", &set("x-a", "one\\0two"))),
            "value contains NUL",
        ),
        (
            "long-value",
            String::new(),
            rule("long", &header_modifier("Request", "set", &set("x-big", &"v".repeat(20000)))),
            "value longer than 16384 bytes",
        ),
        (
            "path-modifier",
            String::new(),
            rule("pseudo", &header_modifier("Request", "set", &set(":path", "/admin"))),
            "pseudo-headers",
        ),
        (
            "host-modifier",
            String::new(),
            rule("host", &header_modifier("Request", "set", &set("host", "internal"))),
            "header \"host\" cannot be changed",
        ),
        (
            "host-removal",
            String::new(),
            rule("hostrm", &header_modifier("Response", "remove", "[Host]")),
            "header \"host\" cannot be changed",
        ),
        (
            "huge-timeout",
            String::new(),
            rule("slow", "    timeouts: {request: 9999999999h}\n"),
            "timeouts.request: duration",
        ),
        (
            "huge-per-try",
            String::new(),
            rule("slowtry", "    timeouts: {request: 0s, backendRequest: 9999999999h}\n"),
            "timeouts.backendRequest: duration",
        ),
        (
            "weights",
            String::new(),
            "  - matches: [{path: {type: PathPrefix, value: /w}}]\n    backendRefs: [{name: a, port: 8080, weight: 2147483647}, {name: b, port: 8080, weight: 2147483647}, {name: c, port: 8080, weight: 2147483647}]\n".into(),
            "weight 2147483647 is out of range",
        ),
        (
            "rewrite-host",
            String::new(),
            rule("rw", "    filters:\n    - {type: URLRewrite, urlRewrite: {hostname: \"evil\\r\\nx: y\"}}\n"),
            "invalid hostname",
        ),
        (
            "bad-hostname",
            "  hostnames: [\"exa\\r\\nmple.com\"]\n".into(),
            rule("bh", ""),
            "spec.hostnames[0]: invalid hostname",
        ),
    ]
}

#[test]
fn one_tenants_mistakes_never_reach_envoy_and_the_rest_is_served() {
    let good = self_signed("good.example");
    let other = self_signed("mismatch.example");
    let gateway = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: llmgate\n  listeners:\n  - {name: http, protocol: HTTP, port: 8080}\n  - {name: good, protocol: HTTPS, port: 8443, hostname: good.example, tls: {certificateRefs: [{name: good-cert}]}}\n  - {name: garbage, protocol: HTTPS, port: 8443, hostname: garbage.example, tls: {certificateRefs: [{name: garbage-cert}]}}\n  - {name: mismatch, protocol: HTTPS, port: 8443, hostname: mismatch.example, tls: {certificateRefs: [{name: mismatch-cert}]}}\n";
    let garbage =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let mut manifests = String::from(gateway);
    manifests.push_str(&tls_secret("good-cert", &good.0, &good.1));
    manifests.push_str(&tls_secret("garbage-cert", garbage, &good.1));
    manifests.push_str(&tls_secret("mismatch-cert", &other.0, &good.1));
    manifests.push_str(&route("good", "", &rule("good", "")));
    // One valid rule beside an invalid one: the valid one is served.
    manifests.push_str(&route(
        "mixed",
        "",
        &format!("{}{}", rule("mixed-ok", ""), regex_rule("/mixed/(unclosed")),
    ));
    for (name, extra, rules, _) in hostile_routes() {
        manifests.push_str(&route(name, &extra, &rules));
    }

    let translated = translate(&manifests, free_port());
    let stderr = &translated.stderr;
    assert!(translated.bootstrap.is_file(), "{stderr}");
    let (ok, said) = envoy_validates(&translated.bootstrap);
    assert!(
        ok,
        "Envoy rejects the translation: {said}\nllmgate said:\n{stderr}"
    );

    // Each mistake: an error line naming the route and what is wrong.
    for (name, _, _, why) in hostile_routes().iter().chain(&[(
        "mixed",
        String::new(),
        String::new(),
        "spec.rules[1].matches[0]",
    )]) {
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")
                && l.contains(&format!("HTTPRoute default/{name}: "))
                && l.contains(why)),
            "no error line for {name} saying {why:?}:\n{stderr}"
        );
    }
    for (listener, why) in [
        ("garbage", "no valid X.509 certificate"),
        (
            "mismatch",
            "tls.key does not belong to the first certificate",
        ),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")
                && l.contains("Gateway default/gw: ")
                && l.contains(&format!("listener {listener}: "))
                && l.contains(why)),
            "no error line for listener {listener}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("BEGIN PRIVATE KEY"), "{stderr}");

    // The valid neighbours are all there.
    let bootstrap: Value =
        serde_json::from_str(&std::fs::read_to_string(&translated.bootstrap).unwrap())
            .or_else(|_| {
                serde_saphyr::from_str(&std::fs::read_to_string(&translated.bootstrap).unwrap())
            })
            .expect("bootstrap");
    let text = bootstrap.to_string();
    for route_name in [
        "httproute/default/good/rule/0/match/0",
        "httproute/default/mixed/rule/0/match/0",
    ] {
        assert!(text.contains(route_name), "{route_name} missing");
    }
    for gone in [
        "httproute/default/bad-regex/",
        "httproute/default/mixed/rule/1/",
        "\"value\":\"one\\r\\nx-injected: two\"",
        "\"key\":\":path\"",
    ] {
        assert!(!text.contains(gone), "{gone} is in the configuration");
    }
    let listeners = bootstrap["static_resources"]["listeners"]
        .as_array()
        .unwrap();
    let server_names: Vec<&str> = listeners
        .iter()
        .flat_map(|l| l["filter_chains"].as_array().into_iter().flatten())
        .flat_map(|c| {
            c["filter_chain_match"]["server_names"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(server_names, ["good.example"], "{server_names:?}");
    assert!(
        listeners
            .iter()
            .any(|l| l["address"]["socket_address"]["port_value"] == 8080),
        "the HTTP listener is gone"
    );

    // And the status says so, on each object.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.yaml");
    std::fs::write(&file, &manifests).unwrap();
    let status = Command::new(llmgate_binary())
        .args(["status", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let docs: Vec<Value> = status
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let doc = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["name"] == name)
            .unwrap_or_else(|| panic!("no status for {kind} {name}"))
    };
    let has = |conditions: &Value, type_: &str, status: &str, reason: &str| {
        conditions
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == type_ && c["status"] == status && c["reason"] == reason)
    };
    let route_conditions =
        |name: &str| doc("HTTPRoute", name)["status"]["parents"][0]["conditions"].clone();
    assert!(has(
        &route_conditions("good"),
        "Accepted",
        "True",
        "Accepted"
    ));
    assert!(
        has(
            &route_conditions("mixed"),
            "PartiallyInvalid",
            "True",
            "UnsupportedValue"
        ),
        "{status}"
    );
    for name in ["bad-regex", "bad-hostname"] {
        assert!(
            has(
                &route_conditions(name),
                "Accepted",
                "False",
                "UnsupportedValue"
            ),
            "{name}: {status}"
        );
    }
    for name in ["crlf-value", "path-modifier", "huge-timeout", "weights"] {
        assert!(
            has(
                &route_conditions(name),
                "PartiallyInvalid",
                "True",
                "UnsupportedValue"
            ),
            "{name}: {status}"
        );
    }
    let gw = &doc("Gateway", "gw")["status"];
    for listener in gw["listeners"].as_array().unwrap() {
        let bad = listener["name"] == "garbage" || listener["name"] == "mismatch";
        assert_eq!(
            has(
                &listener["conditions"],
                "ResolvedRefs",
                "False",
                "InvalidCertificateRef"
            ),
            bad,
            "{listener:?}"
        );
        assert_eq!(
            has(&listener["conditions"], "Programmed", "True", "Programmed"),
            !bad,
            "{listener:?}"
        );
    }
}

/// What validation cannot know: a Gateway port already taken on the Envoy's
/// host. Envoy rejects those listeners (a NACK); `llmgate serve` counts it by
/// type and node in /metrics, flags the node as rejecting, and a freshly
/// started Envoy gets the last configuration an Envoy accepted instead of the
/// rejected one (it would have no listener at all).
#[test]
fn a_rejected_configuration_is_counted_and_new_envoys_get_the_last_accepted_one() {
    use llmgate_e2e::controller::{eventually, Controller, XdsEnvoy};
    use llmgate_e2e::harness::try_post;
    use llmgate_e2e::manifests::{AiBackend, AuthToken, HttpRoute, Manifest as _};
    use llmgate_e2e::mock::{MockConfig, MockProvider};
    use std::time::Duration;

    const KEY: &str = "nack-test-key";
    let status = |port: u16, path: &str| {
        try_post(
            &format!("http://127.0.0.1:{port}{path}"),
            &[],
            br#"{"model":"","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .map_or(0, |r| r.status)
    };
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let (port, taken_port) = (free_port(), free_port());
    let gateway = |extra_listener: &str| {
        format!("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw}}\nspec:\n  gatewayClassName: llmgate\n  listeners:\n  - {{name: http, protocol: HTTP, port: {port}}}\n{extra_listener}")
    };
    let backend = AiBackend::azure(
        "azure",
        "e.openai.azure.com",
        "d",
        "2024-02-15-preview",
        AuthToken::inline(KEY),
    )
    .at("127.0.0.1", mock.addr().port());
    std::fs::write(folder.path().join("backend.yaml"), backend.to_yaml()).unwrap();
    std::fs::write(folder.path().join("gateway.yaml"), gateway("")).unwrap();
    std::fs::write(
        folder.path().join("first.yaml"),
        HttpRoute::prefix("first", "/first", "azure").to_yaml(),
    )
    .unwrap();
    let controller = Controller::start(folder.path());
    let first = XdsEnvoy::start(&controller, "envoy-a");
    eventually("the first route is served", Duration::from_secs(20), || {
        status(port, "/first") == 200
    });
    let accepted = first.listener_version().expect("a listener version");

    // Another process holds the port a new listener wants.
    let _holder = std::net::TcpListener::bind(("0.0.0.0", taken_port)).unwrap();
    std::fs::write(
        folder.path().join("gateway.yaml"),
        gateway(&format!(
            "  - {{name: extra, protocol: HTTP, port: {taken_port}}}\n"
        )),
    )
    .unwrap();
    eventually(
        "Envoy rejects the new listener",
        Duration::from_secs(20),
        || {
            controller
                .log()
                .contains("Envoy rejected the configuration")
        },
    );
    // The Envoy keeps what it had.
    assert_eq!(first.listener_version().as_deref(), Some(accepted.as_str()));
    assert_eq!(status(port, "/first"), 200);

    // A fresh Envoy gets the accepted configuration, not the rejected one.
    let second = XdsEnvoy::start(&controller, "envoy-b");
    eventually(
        "the new Envoy has listeners",
        Duration::from_secs(20),
        || second.listener_version().is_some(),
    );
    assert_eq!(
        second.listener_version().as_deref(),
        Some(accepted.as_str())
    );

    // And /metrics says who rejects what.
    let metrics = controller.metrics();
    let nacks = "llmgate_xds_nacks_by_type{type_url=\"type.googleapis.com/envoy.config.listener.v3.Listener\",node=\"envoy-a\"} 1\n";
    assert!(metrics.contains(nacks), "{metrics}");
    assert!(
        metrics.contains("llmgate_xds_rejecting_nodes 1\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("node=\"envoy-b\""),
        "envoy-b rejected nothing: {metrics}"
    );
}
