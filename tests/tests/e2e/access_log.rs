//! The JSON access line per request, and which filter-state operator carries
//! values from the upstream wasm filter to the (downstream) access log.

use llmgate_e2e::harness::start_gateway_with;
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider};
use serde_json::Value;

const KEY: &str = "sk-access-log-0c1e";

/// OpenAI at the mock behind `/v1`.
fn manifests() -> String {
    yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &AiBackend::openai("openai", AuthToken::inline(KEY)),
        &HttpRoute::prefix("chat", "/v1", "openai"),
    ])
}

fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    line.get(name)
        .unwrap_or_else(|| panic!("no field {name} in {line}"))
}

#[test]
fn one_json_line_per_request_with_the_filters_values() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).expect("mock");
    // Experiment: `provider` is read with `UPSTREAM_FILTER_STATE` instead of
    // the translator's `FILTER_STATE`, everything else as translated.
    let gateway = start_gateway_with(&manifests(), mock.addr().port(), |bootstrap| {
        let downstream = "%FILTER_STATE(wasm.llmgate.provider:PLAIN)%";
        assert!(bootstrap.contains(downstream), "{bootstrap}");
        bootstrap.replace(
            downstream,
            "%UPSTREAM_FILTER_STATE(wasm.llmgate.provider:PLAIN)%",
        )
    });

    let plain = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let streamed =
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
    assert_eq!(gateway.post("/v1/chat", &[], plain.as_bytes()).status, 200);
    assert_eq!(
        gateway.post("/v1/chat", &[], streamed.as_bytes()).status,
        200
    );
    let lines = gateway.access_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}\n{}", gateway.envoy_log());

    for (line, streaming) in lines.iter().zip(["false", "true"]) {
        // Envoy's own, typed values.
        assert_eq!(field(line, "status"), 200, "{line}");
        assert!(field(line, "duration_ms").is_number(), "{line}");
        assert_eq!(
            field(line, "route_name"),
            "httproute/default/chat/rule/0/match/0"
        );
        // The filter's, through FILTER_STATE.
        let want = [
            ("route", "default/chat/rule/0"),
            ("backend", "default/openai"),
            ("request_model", "gpt-4o-mini"),
            ("response_model", "gpt-4o-mini"),
            ("input_tokens", "28"),
            ("output_tokens", "19"),
            ("total_tokens", "47"),
            ("cached_input_tokens", "0"),
            ("reasoning_tokens", "0"),
            ("usage", "reported"),
            ("stream_errors", "0"),
            ("streaming", streaming),
            ("include_usage_injected", streaming),
        ];
        for (name, value) in want {
            assert_eq!(field(line, name), value, "{name} in {line}");
        }
        // The upstream filter's state is not UPSTREAM_FILTER_STATE.
        assert!(field(line, "provider").is_null(), "{line}");
    }
    let ttft = field(&lines[1], "ttft_ms")
        .as_str()
        .expect("ttft_ms of the stream");
    assert!(ttft.parse::<u64>().is_ok(), "{ttft}");
    assert!(
        field(&lines[0], "ttft_ms").is_null(),
        "no TTFT without a stream"
    );

    // A path without a route: a line too, with no filter values.
    assert_eq!(gateway.post("/nowhere", &[], b"{}").status, 404);
    let lines = gateway.access_log(3);
    assert_eq!(field(&lines[2], "status"), 404);
    assert!(field(&lines[2], "backend").is_null(), "{}", lines[2]);

    // Keys never reach the log.
    let text = std::fs::read_to_string(gateway.translated.dir.path().join("access.log")).unwrap();
    assert!(!text.contains(KEY));
}
