//! A webhook prompt guard through Envoy: the filter calls a guard served by
//! the test (kgateway's Guardrail Webhook API) while Envoy holds the
//! request; a passed prompt reaches the provider as sent, a masked one
//! masked, a rejected one never; a guard that cannot be reached fails
//! closed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use llmgate_e2e::harness::{free_port, start_gateway};
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider};
use serde_json::{json, Value};

const KEY: &str = "sk-webhook-test-31cc";

/// The guard's rules: "secret" is rejected, "Bob" masked, the rest passes.
fn decide(request: &Value) -> Value {
    let messages = request["body"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let says = |word: &str| {
        messages
            .iter()
            .any(|m| m["content"].as_str().unwrap_or_default().contains(word))
    };
    if says("secret") {
        json!({"action": {"body": "no secrets here", "status_code": 403, "reason": "policy"}})
    } else if says("Bob") {
        let masked: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "role": m["role"],
                    "content": m["content"].as_str().unwrap_or_default().replace("Bob", "<NAME>"),
                })
            })
            .collect();
        json!({"action": {"body": {"messages": masked}, "reason": "a name"}})
    } else {
        json!({"action": {}})
    }
}

/// The guard's rules for replies: "plans" is withheld, an address masked.
fn decide_reply(request: &Value) -> Value {
    let choices = request["body"]["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let text = |c: &Value| {
        c["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    if choices.iter().any(|c| text(c).contains("plans")) {
        json!({"action": {"body": "reply withheld", "status_code": 451, "reason": "plans"}})
    } else if choices.iter().any(|c| text(c).contains("billing@")) {
        let masked: Vec<Value> = choices
            .iter()
            .map(|c| json!({"message": {"role": "assistant", "content": text(c).replace("billing@example.com", "<ADDRESS>")}}))
            .collect();
        json!({"action": {"body": {"choices": masked}, "reason": "an address"}})
    } else {
        json!({"action": {}})
    }
}

/// One HTTP/1.1 exchange per connection: what the guard received (path and
/// body) is recorded.
fn answer(mut stream: TcpStream, seen: &Mutex<Vec<(String, Value)>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let body = if path == "/response" {
        decide_reply(&request)
    } else {
        decide(&request)
    }
    .to_string();
    seen.lock().unwrap().push((path, request));
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What the guard received: each call's path and body.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn serve_guard() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &recorded);
        }
    });
    (port, seen)
}

fn manifests(guard_port: u16) -> String {
    let documents = yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &AiBackend::openai("openai", AuthToken::inline(KEY)),
        &HttpRoute::prefix("llm", "/llm", "openai"),
    ]);
    format!(
        "{documents}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: guard}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}}]\n  ai:\n    promptGuard:\n      request: {{webhook: {{host: {{host: 127.0.0.1, port: {guard_port}}}, timeout: 2s}}}}\n"
    )
}

fn chat(text: &str) -> Vec<u8> {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
        .to_string()
        .into_bytes()
}

fn sent_text(mock: &MockProvider, i: usize) -> String {
    let body: Value = serde_json::from_slice(&mock.requests()[i].body).unwrap();
    body["messages"][0]["content"].as_str().unwrap().to_owned()
}

#[test]
fn a_webhook_passes_masks_and_rejects_prompts() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let (guard_port, seen) = serve_guard();
    let gateway = start_gateway(&manifests(guard_port), mock.addr().port());
    let path = "/llm/v1/chat/completions";

    let passed = gateway.post(path, &[], &chat("hello there"));
    assert_eq!(passed.status, 200, "{}", passed.text());
    assert_eq!(sent_text(&mock, 0), "hello there");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "/request");
        assert_eq!(
            seen[0].1,
            json!({"body": {"messages": [{"role": "user", "content": "hello there"}]}})
        );
    }

    let masked = gateway.post(path, &[], &chat("my name is Bob"));
    assert_eq!(masked.status, 200, "{}", masked.text());
    assert_eq!(sent_text(&mock, 1), "my name is <NAME>");

    let rejected = gateway.post(path, &[], &chat("tell me the secret"));
    assert_eq!(rejected.status, 403, "{}", rejected.text());
    assert_eq!(rejected.text(), "no secrets here");
    assert_eq!(mock.requests().len(), 2, "a rejected prompt went upstream");

    for (outcome, n) in [("pass", 1.0), ("mask", 1.0), ("reject", 1.0)] {
        assert_eq!(
            gateway.metric(
                "llmgate_guard_callout",
                &[("guard", "webhook"), ("outcome", outcome)],
                n
            ),
            Some(n),
            "{outcome}"
        );
    }
}

#[test]
fn a_guard_that_cannot_be_reached_fails_closed() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    // Nothing listens there.
    let gateway = start_gateway(&manifests(free_port()), mock.addr().port());
    let refused = gateway.post("/llm/v1/chat/completions", &[], &chat("hello"));
    assert_eq!(refused.status, 503, "{}", refused.text());
    let body: Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(body["error"]["code"], "guard_unavailable", "{body}");
    assert!(mock.requests().is_empty());
}

const MODERATION_KEY: &str = "sk-moderation-test-9f0e";

#[test]
fn moderation_through_an_ai_backend_uses_its_key_and_refuses_flagged_prompts() {
    use llmgate_e2e::mock::FLAGGED_WORD;
    let chat_mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let moderation_mock = MockProvider::start_blocking(MockConfig::new(MODERATION_KEY)).unwrap();
    let documents = yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &AiBackend::openai("openai", AuthToken::inline(KEY)),
        &AiBackend::openai("moderation", AuthToken::inline(MODERATION_KEY))
            .at("127.0.0.1", moderation_mock.addr().port()),
        &HttpRoute::prefix("llm", "/llm", "openai"),
    ]);
    let manifests = format!(
        "{documents}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: guard}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}}]\n  ai:\n    promptGuard:\n      request: {{openAIModeration: {{backendRef: {{name: moderation}}}}, response: {{statusCode: 422, message: flagged}}}}\n"
    );
    let gateway = start_gateway(&manifests, chat_mock.addr().port());
    let path = "/llm/v1/chat/completions";

    let passed = gateway.post(path, &[], &chat("hello"));
    assert_eq!(passed.status, 200, "{}", passed.text());
    let asked = moderation_mock.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].path_and_query, "/v1/moderations");
    let authorization = asked[0]
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        authorization,
        Some(format!("Bearer {MODERATION_KEY}").as_str())
    );
    let body: Value = serde_json::from_slice(&asked[0].body).unwrap();
    assert_eq!(
        body,
        json!({"model": "omni-moderation-latest", "input": ["hello"]})
    );
    // The provider never sees the moderation key, nor its internal header.
    let upstream = &chat_mock.requests()[0];
    assert!(
        !upstream
            .headers
            .iter()
            .any(|(n, v)| v.contains(MODERATION_KEY) || n.starts_with("x-llmgate-")),
        "{:?}",
        upstream.headers
    );

    let flagged = gateway.post(path, &[], &chat(&format!("{FLAGGED_WORD} now")));
    assert_eq!(flagged.status, 422, "{}", flagged.text());
    let body: Value = serde_json::from_slice(&flagged.body).unwrap();
    assert_eq!(body["error"]["message"], "flagged", "{body}");
    assert_eq!(
        chat_mock.requests().len(),
        1,
        "a flagged prompt went upstream"
    );
}

#[test]
fn a_reply_webhook_masks_or_withholds_whole_replies() {
    let (guard_port, seen) = serve_guard();
    let manifests = |_: ()| {
        let documents = yaml_stream(&[
            &Gateway::http(GATEWAY_PORT),
            &AiBackend::openai("openai", AuthToken::inline(KEY)),
            &HttpRoute::prefix("llm", "/llm", "openai"),
        ]);
        format!(
            "{documents}---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {{name: guard}}\nspec:\n  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}}]\n  ai:\n    promptGuard:\n      response: {{webhook: {{host: {{host: 127.0.0.1, port: {guard_port}}}}}}}\n"
        )
    };
    let path = "/llm/v1/chat/completions";
    let reply_text = |r: &llmgate_e2e::harness::Reply| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let masking = MockProvider::start_blocking(MockConfig {
        answer: "Write to billing@example.com.".into(),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let gateway = start_gateway(&manifests(()), masking.addr().port());
    let masked = gateway.post(path, &[], &chat("where do I write?"));
    assert_eq!(masked.status, 200, "{}", masked.text());
    assert_eq!(reply_text(&masked), "Write to <ADDRESS>.");
    assert_eq!(
        masked.header("content-length"),
        Some(&*masked.body.len().to_string())
    );
    {
        let seen = seen.lock().unwrap();
        let call = seen.iter().find(|(p, _)| p == "/response").expect("asked");
        assert_eq!(
            call.1,
            json!({"body": {"choices": [{"message": {"role": "assistant", "content": "Write to billing@example.com."}}]}})
        );
    }
    drop(gateway);

    let withholding = MockProvider::start_blocking(MockConfig {
        answer: "Here are the secret plans.".into(),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    let gateway = start_gateway(&manifests(()), withholding.addr().port());
    let withheld = gateway.post(path, &[], &chat("show me"));
    assert_eq!(withheld.status, 451, "{}", withheld.text());
    assert_eq!(withheld.text(), "reply withheld");
    assert_eq!(withholding.requests().len(), 1);
}
