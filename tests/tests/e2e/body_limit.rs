//! Request bodies and the Backend's limit (`llmgate.io/max-request-bytes`,
//! 32 MiB by default) through Envoy: a large body the gateway rewrites
//! reaches the provider whole, one over the limit gets the filter's 413 in
//! OpenAI's shape (counted as 4xx), and one the gateway does not edit
//! streams through whatever its size.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use llmgate_e2e::harness::{start_gateway, Gateway};
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, AuthToken, Gateway as ManifestGateway, HttpRoute, Manifest,
    GATEWAY_PORT,
};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "sk-body-limit-test-2c9";
const MIB: usize = 1024 * 1024;

/// A chat request of exactly `n` bytes asking for `client-model`.
fn chat_of(n: usize) -> Vec<u8> {
    let head = br#"{"model":"client-model","messages":[{"role":"user","content":""#;
    let tail = br#""}]}"#;
    let mut body = head.to_vec();
    body.resize(n - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// `/forced`: OpenAI with its model forced (the body is held and
/// rewritten); `/asis`: OpenAI as the client asks (nothing to edit but an
/// optional `include_usage`). Both with `annotations` on their Backend.
fn manifests(annotations: &str) -> String {
    let forced = AiBackend::openai("forced", AuthToken::inline(KEY))
        .provider_field("model", "gpt-4o-mini")
        .annotations(annotations);
    let asis = AiBackend::openai("asis", AuthToken::inline(KEY)).annotations(annotations);
    let routes = [
        HttpRoute::prefix("forced", "/forced", "forced"),
        HttpRoute::prefix("asis", "/asis", "asis"),
    ];
    let gateway = ManifestGateway::http(GATEWAY_PORT);
    let documents: Vec<&dyn Manifest> = vec![&gateway, &forced, &routes[0], &asis, &routes[1]];
    yaml_stream(&documents)
}

/// A response as read off the socket.
struct Raw {
    status: u16,
    body: String,
}

/// POSTs `body` over HTTP/1.1, with a `content-length` or chunked (in 64 KiB
/// chunks), from a thread of its own: the gateway may answer before it has
/// read everything, and the answer is what the test reads.
fn send(gateway: &Gateway, path: &str, body: &[u8], chunked: bool) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", gateway.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", body.len())
    };
    let mut request = format!(
        "POST {path}/v1/chat/completions HTTP/1.1\r\nhost: gw.example.com\r\n\
         content-type: application/json\r\nauthorization: Bearer client\r\n{framing}\r\n\r\n"
    )
    .into_bytes();
    if chunked {
        for chunk in body.chunks(64 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(body);
    }
    let mut writer = stream.try_clone().expect("clone the socket");
    let sending = std::thread::spawn(move || {
        // An early answer may close the connection under the writer.
        let _ = writer.write_all(&request);
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    // One response: read until its body is complete (the connection stays
    // open when the request was read whole).
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
        if complete(&response) {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sending.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{path}: no status line in {text:?}\n{}",
                gateway.envoy_log()
            )
        });
    Raw {
        status,
        body: body.to_owned(),
    }
}

/// Whether `response` holds a whole response with a `content-length`.
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

#[test]
fn a_5_mib_chat_request_reaches_the_provider_whole_with_its_model_replaced() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(&manifests("{}"), mock.addr().port());
    let body = chat_of(5 * MIB);
    let client: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for chunked in [false, true] {
        let reply = send(&gateway, "/forced", &body, chunked);
        assert_eq!(reply.status, 200, "chunked={chunked}: {}", reply.body);
        let got = mock.requests().pop().expect("reached the provider");
        let sent = got.body_json().expect("JSON");
        assert_eq!(sent["model"], "gpt-4o-mini", "chunked={chunked}");
        assert_eq!(sent["messages"], client["messages"], "chunked={chunked}");
        if !chunked {
            assert_eq!(
                got.header("content-length"),
                Some(&*got.body.len().to_string())
            );
        }
    }
    assert_eq!(mock.requests().len(), 2);
}

#[test]
fn a_body_over_the_limit_is_answered_413_in_openais_shape_and_counted() {
    const LIMIT: usize = 64 * 1024;
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(
        &manifests(r#"{llmgate.io/max-request-bytes: "64Ki"}"#),
        mock.addr().port(),
    );
    // At the limit: served.
    let at_limit = send(&gateway, "/forced", &chat_of(LIMIT), false);
    assert_eq!(at_limit.status, 200, "{}", at_limit.body);
    assert_eq!(mock.requests().len(), 1);

    // (body size, chunked, how the message starts). A chunked body is
    // refused once what Envoy has read of it passes the limit: how much
    // that is depends on how Envoy's reads fall.
    let cases = [
        (LIMIT + 1, false, "the request body is "),
        (4 * LIMIT, true, "the request body is at least "),
    ];
    for (size, chunked, starts) in &cases {
        let reply = send(&gateway, "/forced", &chat_of(*size), *chunked);
        assert_eq!(
            reply.status, 413,
            "{size} chunked={chunked}: {}",
            reply.body
        );
        let error: serde_json::Value = serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{size}: {e}: {:?}", reply.body));
        let message = error["error"]["message"].as_str().unwrap_or_default();
        let size_said: usize = message
            .strip_prefix(&format!("llmgate: {starts}"))
            .and_then(|rest| {
                rest.strip_suffix(&format!(" bytes, over this route's limit of {LIMIT} bytes"))
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{size} chunked={chunked}: {error}"));
        if *chunked {
            assert!(size_said > LIMIT && size_said <= *size, "{error}");
        } else {
            assert_eq!(size_said, *size, "the content-length");
        }
        let want = serde_json::json!({"error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": "request_too_large"
        }});
        assert_eq!(error, want, "{size} chunked={chunked}");
    }
    assert_eq!(
        mock.requests().len(),
        1,
        "nothing more reached the provider"
    );
    let labels = [("backend", "default/forced"), ("status_class", "4xx")];
    assert_eq!(
        gateway.metric("llmgate_requests", &labels, 2.0),
        Some(2.0),
        "{}",
        gateway.prometheus()
    );
}

/// Nothing the gateway must change: the body is not held and Envoy does not
/// buffer it, so it streams through at any size, past the limit and past
/// what Envoy would buffer.
#[test]
fn bodies_the_gateway_need_not_edit_stream_through_at_any_size() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let gateway = start_gateway(
        &manifests(r#"{llmgate.io/max-request-bytes: "64Ki"}"#),
        mock.addr().port(),
    );
    let body = chat_of(3 * MIB);
    for chunked in [false, true] {
        let reply = send(&gateway, "/asis", &body, chunked);
        assert_eq!(reply.status, 200, "chunked={chunked}: {}", reply.body);
        let got = mock.requests().pop().expect("reached the provider");
        assert!(got.body == body, "chunked={chunked}: the body as sent");
    }
}
