//! The mock provider over real HTTP (ureq, blocking), as the e2e tests will use it.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use llmgate_e2e::mock::{
    MockConfig, MockProvider, ASSISTANT_TEXT, AZURE_MODEL, COMPLETION_TOKENS, PROMPT_TOKENS,
    TOTAL_TOKENS,
};
use serde_json::{json, Value};

const KEY: &str = "test-key-123";
const CHAT: &str = r#"{"model":"","messages":[{"role":"user","content":"Hello!"}]}"#;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let agent = agent();
    let mut response = match method {
        "POST" => {
            let mut req = agent.post(url).header("content-type", "application/json");
            for (n, v) in headers {
                req = req.header(*n, *v);
            }
            req.send(body.unwrap_or("")).expect("POST")
        }
        "GET" => {
            let mut req = agent.get(url);
            for (n, v) in headers {
                req = req.header(*n, *v);
            }
            req.call().expect("GET")
        }
        other => panic!("method {other}"),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    send("POST", url, headers, Some(body))
}

fn mock() -> MockProvider {
    MockProvider::start_blocking(MockConfig::new(KEY)).expect("start mock")
}

fn azure_url(mock: &MockProvider, deployment: &str, version: &str) -> String {
    format!(
        "{}/openai/deployments/{deployment}/chat/completions?api-version={version}",
        mock.base_url()
    )
}

fn assert_usage(usage: &Value) {
    assert_eq!(usage["prompt_tokens"], PROMPT_TOKENS, "{usage}");
    assert_eq!(usage["completion_tokens"], COMPLETION_TOKENS, "{usage}");
    assert_eq!(usage["total_tokens"], TOTAL_TOKENS, "{usage}");
    assert_eq!(
        (PROMPT_TOKENS, COMPLETION_TOKENS, TOTAL_TOKENS),
        (28, 19, 47)
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
}

/// The `data:` payloads of an SSE body, checking the framing on the way.
fn sse_data(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "SSE body must end with a blank line: {body:?}"
    );
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_owned()
        })
        .collect()
}

fn chunks(events: &[String]) -> Vec<Value> {
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect()
}

fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .filter_map(|choice| choice["delta"]["content"].as_str())
        .collect()
}

// ------------------------------------------------------------------ Azure classic

#[test]
fn azure_success_has_the_documented_usage_and_azure_shape() {
    let mock = mock();
    let r = post(
        &azure_url(&mock, "gpt-4o-mini", "2024-02-15-preview"),
        &[("api-key", KEY)],
        CHAT,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("apim-request-id").is_some_and(|v| v.len() == 36));
    assert_eq!(r.header("x-ms-region"), Some("East US 2"));
    assert_eq!(r.header("x-ms-deployment-name"), Some("gpt-4o-mini"));
    assert!(r.header("x-ratelimit-remaining-requests").is_some());
    let body = r.json();
    assert_usage(&body["usage"]);
    assert_eq!(body["model"], AZURE_MODEL);
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(
        body["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"],
        false
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["content_filter_results"]["hate"]["severity"], "safe");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], ASSISTANT_TEXT);
    // Azure's pretty, sorted-key JSON.
    assert!(r.body.starts_with("{\n  \"choices\": ["), "{}", r.body);
}

#[test]
fn azure_accepts_bearer_key() {
    let mock = mock();
    let bearer = format!("Bearer {KEY}");
    let r = post(
        &azure_url(&mock, "d", "2024-10-21"),
        &[("authorization", &bearer)],
        CHAT,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn azure_wrong_or_missing_key_is_401_without_echo() {
    let mock = mock();
    let expected = json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}});
    let url = azure_url(&mock, "d", "2024-10-21");
    for headers in [
        vec![("api-key", "wrong-secret-value")],
        vec![],
        vec![("authorization", "Bearer wrong-secret-value")],
        // Sent twice: one comma-joined value, which is not the key.
        vec![("api-key", KEY), ("api-key", KEY)],
    ] {
        let r = post(&url, &headers, CHAT);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.body);
        assert_eq!(r.json(), expected);
        assert!(!r.body.contains("wrong-secret-value") && !r.body.contains(KEY));
    }
}

#[test]
fn azure_api_version_is_required_and_checked() {
    let mock = mock();
    let base = format!("{}/openai/deployments/d/chat/completions", mock.base_url());
    let not_found = json!({"error": {"code": "404", "message": "Resource not found"}});
    let r = post(&base, &[("api-key", KEY)], CHAT);
    assert_eq!((r.status, r.json()), (404, not_found.clone()));
    let r = post(&format!("{base}?foo=bar"), &[("api-key", KEY)], CHAT);
    assert_eq!((r.status, r.json()), (404, not_found));
    for bad in ["v1", "2024-1-01", "latest", "2024-10-21-beta", ""] {
        let r = post(
            &format!("{base}?api-version={bad}"),
            &[("api-key", KEY)],
            CHAT,
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(
            r.json(),
            json!({"error": {"code": "BadRequest", "message": "API version not supported"}})
        );
    }
}

#[test]
fn unknown_paths_and_methods_are_404() {
    let mock = mock();
    let not_found = json!({"error": {"code": "404", "message": "Resource not found"}});
    for path in [
        "/",
        "/openai/deployments/chat/completions",
        "/v1/completions",
        "/openai/deployments/a/b/chat/completions",
    ] {
        let r = post(
            &format!("{}{path}?api-version=2024-10-21", mock.base_url()),
            &[("api-key", KEY)],
            CHAT,
        );
        assert_eq!((r.status, r.json()), (404, not_found.clone()), "{path}");
    }
    let r = send(
        "GET",
        &azure_url(&mock, "d", "2024-10-21"),
        &[("api-key", KEY)],
        None,
    );
    assert_eq!((r.status, r.json()), (404, not_found));
}

#[test]
fn bodies_are_validated_like_the_provider() {
    let mock = mock();
    let url = azure_url(&mock, "d", "2024-10-21");
    let r = post(&url, &[("api-key", KEY)], "not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = post(&url, &[("api-key", KEY)], r#"{"model":"x"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Missing required parameter: 'messages'.", "type": "invalid_request_error", "param": "messages", "code": "missing_required_parameter"}})
    );
    let r = post(&url, &[("api-key", KEY)], r#"{"messages":[]}"#);
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("empty_array"))
    );
    let r = post(&url, &[("api-key", KEY)], r#"{"messages":"hi"}"#);
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("invalid_type"))
    );
    let r = post(
        &url,
        &[("api-key", KEY)],
        r#"{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"]["param"].clone()),
        (400, json!("stream_options"))
    );
}

// ------------------------------------------------------------------ Azure v1

#[test]
fn azure_v1_needs_a_model() {
    let mock = mock();
    let url = format!("{}/openai/v1/chat/completions", mock.base_url());
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#;
    let r = post(&url, &[("api-key", KEY)], body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_usage(&r.json()["usage"]);
    assert_eq!(r.header("x-ms-deployment-name"), Some("gpt-4o-mini"));
    let r = post(
        &format!("{url}?api-version=preview"),
        &[("api-key", KEY)],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &format!("{url}?api-version=2024-10-21"),
        &[("api-key", KEY)],
        body,
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("BadRequest"))
    );
    let r = post(&url, &[("api-key", KEY)], CHAT); // "model": ""
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!("no_model_name")),
        "{}",
        r.body
    );
    let r = post(&url, &[("api-key", "nope")], body);
    assert_eq!(r.status, 401);
}

// ------------------------------------------------------------------ OpenAI

#[test]
fn openai_success_echoes_the_model() {
    let mock = mock();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let bearer = format!("Bearer {KEY}");
    let r = post(
        &url,
        &[("authorization", &bearer)],
        r#"{"model":"gpt-4.1-nano","messages":[{"role":"user","content":"Hi"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("openai-version"), Some("2020-10-01"));
    assert!(r
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("req_")));
    let body = r.json();
    assert_eq!(body["model"], "gpt-4.1-nano");
    assert_eq!(body["choices"][0]["message"]["content"], ASSISTANT_TEXT);
    assert!(body.get("prompt_filter_results").is_none());
    assert_usage(&body["usage"]);
}

#[test]
fn openai_errors() {
    let mock = mock();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let r = post(&url, &[("authorization", "Bearer sk-wrong")], CHAT);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
    );
    assert!(!r.body.contains("sk-wrong"));
    // Azure's header is not OpenAI's.
    let r = post(&url, &[("api-key", KEY)], CHAT);
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("You didn't provide an API key"));
    let bearer = format!("Bearer {KEY}");
    for body in [CHAT, r#"{"messages":[{"role":"user","content":"Hi"}]}"#] {
        let r = post(&url, &[("authorization", &bearer)], body);
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json(),
            json!({"error": {"message": "you must provide a model parameter", "type": "invalid_request_error", "param": null, "code": null}})
        );
    }
}

// ------------------------------------------------------------------ streaming

#[test]
fn azure_stream_without_usage() {
    let mock = mock();
    let body = r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
    let r = post(
        &azure_url(&mock, "d", "2024-10-21"),
        &[("api-key", KEY)],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(
        r.header("content-length").is_none(),
        "streamed, not one buffer"
    );
    let events = sse_data(&r.body);
    let chunks = chunks(&events);
    // Azure's first chunk: the prompt filter results, empty id.
    let first = &chunks[0];
    assert_eq!(
        (
            &first["id"],
            &first["object"],
            &first["created"],
            &first["model"]
        ),
        (&json!(""), &json!(""), &json!(0), &json!(""))
    );
    assert_eq!(first["choices"], json!([]));
    assert!(first["prompt_filter_results"].is_array());
    assert_eq!(chunks[1]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&chunks), ASSISTANT_TEXT);
    assert!(chunks.len() >= 8, "a few words per chunk: {}", chunks.len());
    let finish: Vec<_> = chunks
        .iter()
        .filter(|c| c["choices"][0]["finish_reason"] == "stop")
        .collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0]["model"], AZURE_MODEL);
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage unless asked"
    );
    // A content filter chunk (empty id) after the finish.
    let last = chunks.last().unwrap();
    assert_eq!(last["id"], "");
    assert!(last["choices"][0]["content_filter_results"].is_object());
}

#[test]
fn streams_with_include_usage() {
    let mock = mock();
    let bearer = format!("Bearer {KEY}");
    let cases = [
        (
            azure_url(&mock, "d", "2024-10-21"),
            ("api-key", KEY),
            r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
            AZURE_MODEL,
        ),
        (
            format!(
                "{}/openai/v1/chat/completions?api-version=preview",
                mock.base_url()
            ),
            ("api-key", KEY),
            r#"{"model":"dep","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
            AZURE_MODEL,
        ),
        (
            format!("{}/v1/chat/completions", mock.base_url()),
            ("authorization", bearer.as_str()),
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
            "gpt-4o-mini",
        ),
    ];
    for (url, auth, body, model) in cases {
        let r = post(&url, &[auth], body);
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let chunks = chunks(&sse_data(&r.body));
        let with_usage: Vec<_> = chunks.iter().filter(|c| !c["usage"].is_null()).collect();
        assert_eq!(with_usage.len(), 1, "{url}");
        assert_eq!(with_usage[0]["choices"], json!([]));
        assert_eq!(with_usage[0]["model"], model);
        assert_usage(&with_usage[0]["usage"]);
        assert!(
            chunks.iter().all(|c| c.get("usage").is_some()),
            "every chunk has usage (null or not)"
        );
        assert_eq!(streamed_text(&chunks), ASSISTANT_TEXT);
    }
}

#[test]
fn openai_stream_without_usage() {
    let mock = mock();
    let bearer = format!("Bearer {KEY}");
    let r = post(
        &format!("{}/v1/chat/completions", mock.base_url()),
        &[("authorization", &bearer)],
        r#"{"model":"gpt-5-nano","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":false}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let chunks = chunks(&sse_data(&r.body));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gpt-5-nano"));
    assert!(chunks.iter().all(|c| c["obfuscation"].is_string()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(streamed_text(&chunks), ASSISTANT_TEXT);
}

#[test]
fn stream_options_rejected_before_2024_09_01_preview() {
    let mock = mock();
    let body = r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    for old in ["2024-02-15-preview", "2024-06-01", "2024-08-01-preview"] {
        let r = post(
            &azure_url(&mock, "gpt-4o-mini", old),
            &[("api-key", KEY)],
            body,
        );
        assert_eq!(r.status, 400, "{old}");
        assert_eq!(
            r.json(),
            json!({"error": {"message": "Unknown parameter: 'stream_options'.", "type": "invalid_request_error", "param": "stream_options", "code": "unknown_parameter"}})
        );
    }
    for new in ["2024-09-01-preview", "2024-10-21", "2025-04-01-preview"] {
        let r = post(
            &azure_url(&mock, "gpt-4o-mini", new),
            &[("api-key", KEY)],
            body,
        );
        assert_eq!(r.status, 200, "{new}: {}", r.body);
    }
    // Without stream_options the old version streams fine.
    let r = post(
        &azure_url(&mock, "gpt-4o-mini", "2024-02-15-preview"),
        &[("api-key", KEY)],
        r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn chunks_arrive_incrementally() {
    let delay = Duration::from_millis(100);
    let mock = MockProvider::start_blocking(MockConfig {
        chunk_delay: delay,
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let start = Instant::now();
    let mut response = agent()
        .post(&azure_url(&mock, "d", "2024-10-21"))
        .header("api-key", KEY)
        .send(r#"{"messages":[{"role":"user","content":"Hi"}],"stream":true}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut reader = BufReader::new(response.body_mut().as_reader());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let first_at = start.elapsed();
    assert!(first.starts_with("data: {"), "{first:?}");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let total = start.elapsed();
    let events = 1 + sse_data(&rest[1..]).len(); // rest starts with the first event's "\n"
    let min_total = delay * (events as u32 - 1);
    assert!(
        total >= min_total,
        "total {total:?} < {min_total:?} for {events} events"
    );
    assert!(
        first_at < min_total / 2,
        "first event after {first_at:?}, all after {total:?}"
    );
}

// ------------------------------------------------------------------ recording, failures, lifecycle

#[test]
fn requests_are_recorded_in_order() {
    let mock = mock();
    let url = azure_url(&mock, "gpt-4o-mini", "2024-02-15-preview");
    let body = r#"{"model":"","messages":[{"role":"user","content":"Héllo"}]}"#;
    post(
        &url,
        &[("api-key", KEY), ("X-Custom", "one"), ("x-custom", "two")],
        body,
    );
    post(&url, &[("api-key", "bad")], "not json");
    send("GET", &format!("{}/nope?x=1", mock.base_url()), &[], None);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path_and_query,
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-02-15-preview"
    );
    assert_eq!(r.path(), "/openai/deployments/gpt-4o-mini/chat/completions");
    assert_eq!(r.query(), Some("api-version=2024-02-15-preview"));
    assert_eq!(r.header("API-KEY"), Some(KEY));
    assert_eq!(r.headers_named("x-custom"), vec!["one", "two"]);
    assert!(r.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.body_json().unwrap()["messages"][0]["content"], "Héllo");
    // Failed requests are recorded too (before any check).
    assert_eq!(
        (reqs[1].header("api-key"), reqs[1].body_text().as_str()),
        (Some("bad"), "not json")
    );
    assert_eq!(
        (
            reqs[2].method.as_str(),
            reqs[2].path_and_query.as_str(),
            reqs[2].body.len()
        ),
        ("GET", "/nope?x=1", 0)
    );
    mock.clear_requests();
    assert!(mock.requests().is_empty());
}

#[test]
fn forced_status_is_provider_shaped() {
    let mock = MockProvider::start_blocking(MockConfig {
        force_status: Some(429),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let url = azure_url(&mock, "d", "2024-10-21");
    let r = post(&url, &[("api-key", KEY)], CHAT);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("retry-after-ms"), Some("1000"));
    assert_eq!(r.json()["error"]["code"], "429");
    // Auth is still checked first.
    assert_eq!(post(&url, &[("api-key", "bad")], CHAT).status, 401);
    mock.set_force_status(Some(503));
    let bearer = format!("Bearer {KEY}");
    let r = post(
        &format!("{}/v1/chat/completions", mock.base_url()),
        &[("authorization", &bearer)],
        CHAT,
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error");
    mock.set_force_status(None);
    assert_eq!(post(&url, &[("api-key", KEY)], CHAT).status, 200);
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let mock = mock();
    let addr = mock.addr();
    assert_eq!(
        post(
            &azure_url(&mock, "d", "2024-10-21"),
            &[("api-key", KEY)],
            CHAT
        )
        .status,
        200
    );
    drop(mock);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[tokio::test]
async fn async_start_serves_on_the_current_runtime() {
    let mock = MockProvider::start(MockConfig::new(KEY)).await.unwrap();
    assert!(mock.addr().ip().is_loopback() && mock.addr().port() != 0);
    let url = azure_url(&mock, "d", "2024-10-21");
    let r = tokio::task::spawn_blocking(move || post(&url, &[("api-key", KEY)], CHAT))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_usage(&r.json()["usage"]);
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn binary_prints_where_it_listens_and_logs_requests() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmgate-mock"))
        .args([
            "--port",
            "0",
            "--api-key",
            "bin-key",
            "--chunk-delay-ms",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn llmgate-mock");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    out.read_line(&mut banner).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(banner.contains("bin-key"), "{banner}");
        let base = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("url in banner");
        let r = post(
            &format!("{base}/openai/deployments/d/chat/completions?api-version=2024-10-21"),
            &[("api-key", "bin-key")],
            CHAT,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = post(
            &format!("{base}/openai/deployments/d/chat/completions?api-version=2024-10-21"),
            &[("api-key", "secret-header-value")],
            CHAT,
        );
        assert_eq!(r.status, 401);
        let mut log = String::new();
        out.read_line(&mut log).unwrap();
        assert_eq!(
            log.trim_end(),
            "llmgate-mock: POST /openai/deployments/d/chat/completions -> 200"
        );
        log.clear();
        out.read_line(&mut log).unwrap();
        assert_eq!(
            log.trim_end(),
            "llmgate-mock: POST /openai/deployments/d/chat/completions -> 401"
        );
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
