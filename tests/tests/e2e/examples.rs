//! The runnable examples keep working: `manifests/examples/azure-openai` and
//! `manifests/examples/providers` translate without a problem, and every
//! request `make run` suggests (the curl lines `envoy/run-demo.sh` prints) is
//! answered through Envoy by the mock provider on that provider's native path,
//! its tokens counted under the route's backend.
//!
//! The examples name fixed ports (8080, 8081, and 8082 for the failing first
//! group of the failover route); the tests rewrite them to free ones.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use llmgate_e2e::harness::{
    example_manifests, filter_module, llmgate_binary, start_gateway, workspace_root, Gateway,
};
use llmgate_e2e::mock::{MockConfig, MockProvider, DEFAULT_API_KEY, TOTAL_TOKENS};

/// The requests the demo script prints for `example`: (path, body) of each
/// `curl localhost:8080/PATH …` line and the `-d '…'` line after it.
fn demo_requests(script: &str, example: &str) -> Vec<(String, String)> {
    let case = format!("{example})");
    let block: Vec<&str> = script
        .lines()
        .skip_while(|l| l.trim() != case)
        .skip(1)
        .take_while(|l| l.trim() != ";;")
        .collect();
    let mut requests = Vec::new();
    let mut path = None;
    for line in block {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("curl localhost:8080") {
            path = rest.split_whitespace().next().map(str::to_owned);
        } else if let (Some(p), Some(body)) = (
            path.take(),
            line.strip_prefix("-d '").and_then(|b| b.strip_suffix('\'')),
        ) {
            requests.push((p, body.to_owned()));
        }
    }
    requests
}

fn demo_requests_of(example: &str) -> Vec<(String, String)> {
    let script = std::fs::read_to_string(workspace_root().join("envoy/run-demo.sh"))
        .expect("read envoy/run-demo.sh");
    let requests = demo_requests(&script, example);
    assert!(
        !requests.is_empty(),
        "run-demo.sh prints no request for {example}"
    );
    requests
}

#[test]
fn demo_requests_are_read_from_the_script_block_of_the_example() {
    let script = "  one)\n    cat <<TRY\n  curl localhost:8080/a $json \\\\\n    -d '{\"x\": 1}'\nTRY\n    ;;\n  two)\n  curl localhost:8080/b $json \\\\\n    -d '{}'\n    ;;\n";
    assert_eq!(
        demo_requests(script, "one"),
        [("/a".to_owned(), r#"{"x": 1}"#.to_owned())]
    );
    assert_eq!(
        demo_requests(script, "two"),
        [("/b".to_owned(), "{}".to_owned())]
    );
    assert!(demo_requests(script, "three").is_empty());
}

#[test]
fn every_example_translates_without_a_problem() {
    for example in ["azure-openai", "providers", "policies"] {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(llmgate_binary())
            .arg("translate")
            .arg("-f")
            .arg(workspace_root().join("manifests/examples").join(example))
            .arg("--filter")
            .arg(filter_module())
            .arg("-o")
            .arg(dir.path().join("envoy.yaml"))
            .output()
            .expect("run llmgate translate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{example}: {}\n{stderr}",
            output.status
        );
        assert_eq!(stderr, "", "{example}: problems printed");
        assert!(
            dir.path().join("envoy.yaml").is_file(),
            "{example}: no bootstrap"
        );
    }
}

/// `llmgate_tokens{backend="default/<backend>",token_type="total"}` reached 47.
/// `requests` replies of the mock's usage were counted for `backend`.
fn assert_total_tokens(gateway: &Gateway, backend: &str, extra: &[(&str, &str)], requests: u64) {
    let backend = format!("default/{backend}");
    let mut labels = vec![("backend", backend.as_str()), ("token_type", "total")];
    labels.extend_from_slice(extra);
    let want = (TOTAL_TOKENS * requests) as f64;
    assert_eq!(
        gateway.metric("llmgate_tokens", &labels, want),
        Some(want),
        "{labels:?}:\n{}",
        gateway.prometheus()
    );
}

#[test]
fn the_azure_openai_example_answers_the_demo_request() {
    let mock = MockProvider::start_blocking(MockConfig::default()).unwrap();
    let gateway = start_gateway(&example_manifests("azure-openai"), mock.addr().port());
    let requests = demo_requests_of("azure-openai");
    assert_eq!(requests.len(), 1);
    let (path, body) = &requests[0];
    assert_eq!(path, "/azure-openai");

    let reply = gateway.post(
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].path_and_query,
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-02-15-preview"
    );
    assert_eq!(sent[0].header("host"), Some("my-endpoint.openai.azure.com"));
    assert_eq!(sent[0].headers_named("api-key"), [DEFAULT_API_KEY]);
    assert_total_tokens(&gateway, "azure-openai", &[], 1);
}

/// One route of the providers example: the file it is in, its path prefix,
/// its Backend and the path the provider must receive.
struct Route {
    file: &'static str,
    prefix: &'static str,
    backend: &'static str,
    upstream_path: &'static str,
}

const ROUTES: &[Route] = &[
    Route {
        file: "openai.yaml",
        prefix: "/openai",
        backend: "openai",
        upstream_path: "/v1/chat/completions",
    },
    Route {
        file: "azure-openai-v1.yaml",
        prefix: "/azure-openai-v1",
        backend: "azure-openai-v1",
        upstream_path: "/openai/v1/chat/completions",
    },
    Route {
        file: "anthropic.yaml",
        prefix: "/anthropic",
        backend: "anthropic",
        upstream_path: "/v1/messages",
    },
    Route {
        file: "gemini.yaml",
        prefix: "/gemini",
        backend: "gemini",
        upstream_path: "/v1beta/models/gemini-2.0-flash:generateContent",
    },
    Route {
        file: "vertexai.yaml",
        prefix: "/vertexai",
        backend: "vertexai",
        upstream_path: "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
    },
    Route {
        file: "bedrock.yaml",
        prefix: "/bedrock",
        backend: "bedrock",
        upstream_path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
    },
    Route {
        file: "openai-compatible.yaml",
        prefix: "/deepseek",
        backend: "deepseek",
        upstream_path: "/chat/completions",
    },
    // Served by the second group; the first is checked in the test.
    Route {
        file: "failover.yaml",
        prefix: "/failover",
        backend: "failover",
        upstream_path: "/v1/chat/completions",
    },
];

#[test]
fn every_file_of_the_providers_example_has_a_route_here_and_a_demo_request() {
    let dir = workspace_root().join("manifests/examples/providers");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml") && name != "gateway.yaml")
        .collect();
    let tested: BTreeSet<String> = ROUTES.iter().map(|r| r.file.to_owned()).collect();
    assert_eq!(files, tested);
    let printed: BTreeSet<String> = demo_requests_of("providers")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let printed_routes: BTreeSet<String> = printed
        .iter()
        .map(|p| route_of(p).prefix.to_owned())
        .collect();
    let routes: BTreeSet<String> = ROUTES.iter().map(|r| r.prefix.to_owned()).collect();
    assert_eq!(
        printed_routes, routes,
        "the routes `make run EXAMPLE=providers` suggests"
    );
}

fn route_of(path: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| path == r.prefix || path.starts_with(&format!("{}/", r.prefix)))
        .unwrap_or_else(|| panic!("run-demo.sh prints {path}, which no route here knows"))
}

/// The providers whose own API is not OpenAI's: chat to them is converted.
const CONVERTED: [&str; 4] = ["anthropic", "gemini", "vertexai", "bedrock"];

/// Every curl line `make run EXAMPLE=providers` prints, through Envoy to one
/// mock provider that speaks every provider's API with the examples' key and
/// (Bedrock) fake AWS credentials. The failover route's first group is a
/// second mock that answers 429 (the example's port 8082, as in the demo).
#[test]
fn every_demo_request_of_the_providers_example_reaches_its_provider() {
    let mock = MockProvider::start_blocking(MockConfig::default()).unwrap();
    let rate_limited = MockProvider::start_blocking(MockConfig {
        force_status: Some(429),
        ..MockConfig::default()
    })
    .unwrap();
    let manifests = example_manifests("providers").replace(
        "port: 8082",
        &format!("port: {}", rate_limited.addr().port()),
    );
    let gateway = start_gateway(&manifests, mock.addr().port());

    let mut served: BTreeMap<&str, u64> = BTreeMap::new();
    for (path, body) in demo_requests_of("providers") {
        let route = route_of(&path);
        mock.clear_requests();
        let reply = gateway.post(
            &path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let sent = mock.requests();
        assert_eq!(sent.len(), 1, "{path}: {sent:#?}");
        assert_eq!(sent[0].path_and_query, route.upstream_path, "{path}");
        if path.ends_with("/chat/completions") && CONVERTED.contains(&route.backend) {
            let reply: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(reply["object"], "chat.completion", "{path}: {reply}");
            assert_eq!(reply["usage"]["total_tokens"], TOTAL_TOKENS, "{path}");
        } else {
            assert_eq!(
                reply.body,
                mock.responses().last().cloned().unwrap_or_default(),
                "{path}: the provider's bytes"
            );
        }
        let count = served.entry(route.backend).or_default();
        *count += 1;
        assert_total_tokens(&gateway, route.backend, &[], *count);
    }

    // The openai Backend's `model` replaced the client's.
    let openai_body = demo_requests_of("providers")
        .into_iter()
        .find(|(p, _)| p == "/openai/chat/completions")
        .map(|(_, b)| b)
        .unwrap();
    assert_ne!(
        serde_json::from_str::<serde_json::Value>(&openai_body).unwrap()["model"],
        "gpt-4o-mini"
    );
    mock.clear_requests();
    gateway.post("/openai", &[], openai_body.as_bytes());
    assert_eq!(
        mock.requests()[0].body_json().unwrap()["model"],
        "gpt-4o-mini"
    );

    // The example's TrafficPolicy: Files go as they are, on the client's
    // path, with the gateway's key (the mock has no Files API: its 404 comes
    // back unchanged).
    mock.clear_requests();
    let files = br#"{"purpose":"batch"}"#;
    let reply = gateway.post(
        "/openai/v1/files",
        &[("content-type", "application/json")],
        files,
    );
    assert_eq!(reply.status, 404, "{}", reply.text());
    let sent = mock.requests();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].path_and_query, "/openai/v1/files");
    assert_eq!(
        sent[0].headers_named("authorization"),
        [format!("Bearer {DEFAULT_API_KEY}")]
    );
    assert_eq!(sent[0].body, files);

    // Failover: the first group was asked once, as Azure, and refused.
    let tried = rate_limited.requests();
    assert_eq!(tried.len(), 1, "{tried:#?}");
    assert_eq!(tried[0].path_and_query, "/openai/v1/chat/completions");
    assert_eq!(
        tried[0].header("host"),
        Some("my-resource.openai.azure.com")
    );
    assert_total_tokens(
        &gateway,
        "failover",
        &[("provider_name", "openai-backup")],
        1,
    );
}

/// The mock's answer in the policies demo (`envoy/run-demo.sh`): something
/// for the response guard to mask.
const POLICIES_ANSWER: &str = "Sure: write to billing@example.com, card 4111 1111 1111 1111.";

#[test]
fn the_policies_example_does_what_its_demo_says() {
    let script = std::fs::read_to_string(workspace_root().join("envoy/run-demo.sh")).unwrap();
    assert!(
        script.contains(POLICIES_ANSWER),
        "the demo's mock answer changed"
    );
    let mock = MockProvider::start_blocking(MockConfig {
        answer: POLICIES_ANSWER.into(),
        ..MockConfig::default()
    })
    .unwrap();
    let gateway = start_gateway(&example_manifests("policies"), mock.addr().port());
    let requests = demo_requests_of("policies");
    let paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/guarded/v1/chat/completions",
            "/guarded/v1/chat/completions",
            "/enriched/v1/chat/completions",
            "/budget/v1/chat/completions",
            "/limited/v1/chat/completions"
        ]
    );
    let json = [("content-type", "application/json")];
    let send = |i: usize, headers: &[(&str, &str)]| {
        let (path, body) = &requests[i];
        gateway.post(path, headers, body.as_bytes())
    };

    // A card number: refused, nothing upstream.
    let refused = send(0, &json);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("Card numbers must not be sent to the model."),
        "{}",
        refused.text()
    );
    assert!(mock.requests().is_empty());

    // An address: masked on the way in and in the reply.
    let masked = send(1, &json);
    assert_eq!(masked.status, 200, "{}", masked.text());
    let upstream = mock.requests()[0].body_text();
    assert!(
        upstream.contains("Write to <EMAIL> about the invoice.") && !upstream.contains("jane@"),
        "{upstream}"
    );
    let reply: serde_json::Value = serde_json::from_slice(&masked.body).unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Sure: write to <EMAIL>, card <CREDIT_CARD>."
    );

    // Enrichment and defaults.
    assert_eq!(send(2, &json).status, 200);
    let enriched = mock.requests()[1].body_json().unwrap();
    assert_eq!(
        enriched["messages"][0],
        serde_json::json!({"role": "system", "content": "Answer in one short sentence."})
    );
    assert_eq!(enriched["temperature"], 0.2);
    assert_eq!(enriched["max_tokens"], 64);

    // 100 tokens a minute per user: 47 a reply.
    let alice = [json[0], ("x-user-id", "alice")];
    let budget: Vec<u16> = (0..4).map(|_| send(3, &alice).status).collect();
    assert_eq!(budget, [200, 200, 200, 429]);
    assert_eq!(send(3, &[json[0], ("x-user-id", "bob")]).status, 200);

    // 2 requests per 10 s.
    let limited: Vec<u16> = (0..3).map(|_| send(4, &json).status).collect();
    assert_eq!(limited, [200, 200, 429]);
}
