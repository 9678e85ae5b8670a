//! The mock's Anthropic, Gemini, Vertex AI and Bedrock routes, and its HTTPS mode,
//! over real HTTP: request shapes, auth failures, streaming framing, event-stream CRCs.
// Test tables are tuples of what is sent and what must come back.
#![allow(clippy::type_complexity)]

use std::io::{Read, Write};
use std::sync::Arc;

use llmgate_e2e::harness::{post, Reply};
use llmgate_e2e::mock::eventstream;
use llmgate_e2e::mock::{
    AwsCredentials, MockConfig, MockProvider, ASSISTANT_TEXT, COMPLETION_TOKENS, PROMPT_TOKENS,
    TOTAL_TOKENS,
};
use llmgate_filter::sigv4;
use serde_json::Value;

const KEY: &str = "native-key-7f3a";

fn mock() -> MockProvider {
    MockProvider::start_blocking(MockConfig::new(KEY)).expect("start mock")
}

fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

// ---------------------------------------------------------------- Anthropic

const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#;

fn anthropic(mock: &MockProvider, headers: &[(&str, &str)], body: &str) -> Reply {
    post(
        &format!("{}/v1/messages", mock.base_url()),
        headers,
        body.as_bytes(),
    )
}

#[test]
fn anthropic_message_echoes_the_model_and_reports_usage() {
    let mock = mock();
    let reply = anthropic(
        &mock,
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        MESSAGES,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = json(&reply);
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["content"][0]["text"], ASSISTANT_TEXT);
    assert_eq!(body["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["output_tokens"], COMPLETION_TOKENS);
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(body["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(
        mock.requests()[0].header("anthropic-version"),
        Some("2023-06-01")
    );
}

#[test]
fn anthropic_rejects_like_anthropic() {
    let mock = mock();
    let v = ("anthropic-version", "2023-06-01");
    let cases: Vec<(Vec<(&str, &str)>, &str, u16, &str, &str)> = vec![
        (
            vec![v],
            MESSAGES,
            401,
            "authentication_error",
            "x-api-key header is required",
        ),
        (
            vec![("x-api-key", "wrong"), v],
            MESSAGES,
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        (
            vec![("x-api-key", KEY)],
            MESSAGES,
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ),
        (
            vec![("x-api-key", KEY), v],
            r#"{"max_tokens":5,"messages":[]}"#,
            400,
            "invalid_request_error",
            "model: Field required",
        ),
        (
            vec![("x-api-key", KEY), v],
            r#"{"model":"m","messages":[]}"#,
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
        (
            vec![("x-api-key", KEY), v],
            "not json",
            400,
            "invalid_request_error",
            "The request body is not valid JSON.",
        ),
    ];
    for (headers, body, status, kind, message) in cases {
        let reply = anthropic(&mock, &headers, body);
        assert_eq!(reply.status, status, "{headers:?} {body}: {}", reply.text());
        let error = json(&reply);
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], kind);
        assert_eq!(error["error"]["message"], message);
        assert!(!reply.text().contains(KEY));
    }
}

/// `(event name, data)` of each SSE event, for `\n\n`- or `\r\n\r\n`-separated streams.
fn sse_events(text: &str, separator: &str) -> Vec<(Option<String>, Value)> {
    let line_end = if separator == "\r\n\r\n" {
        "\r\n"
    } else {
        "\n"
    };
    assert!(text.ends_with(separator), "{text:?}");
    text.split(separator)
        .filter(|e| !e.is_empty())
        .map(|event| {
            let mut name = None;
            let mut data = None;
            for line in event.split(line_end) {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap_or_else(|e| panic!("{e}: {v}")));
                } else {
                    panic!("unexpected line {line:?} in {event:?}");
                }
            }
            (name, data.expect("data line"))
        })
        .collect()
}

#[test]
fn anthropic_stream_has_the_documented_events_and_cumulative_usage() {
    let mock = mock();
    let body = MESSAGES.replace(r#""max_tokens":64"#, r#""max_tokens":64,"stream":true"#);
    let reply = anthropic(
        &mock,
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        &body,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&reply.text(), "\n\n");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(deltas >= 4);
    let mut want = vec!["message_start", "content_block_start", "ping"];
    want.extend(std::iter::repeat_n("content_block_delta", deltas));
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, want);
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_deref().unwrap());
    }
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-sonnet-4-5");
    assert_eq!(start["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 0);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["usage"]["output_tokens"], COMPLETION_TOKENS);
    let text: String = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, ASSISTANT_TEXT);
}

// ---------------------------------------------------------------- Gemini and Vertex AI

const CONTENTS: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"generationConfig":{"maxOutputTokens":64}}"#;

fn assert_gemini_usage(usage: &Value) {
    assert_eq!(usage["promptTokenCount"], PROMPT_TOKENS);
    assert_eq!(usage["candidatesTokenCount"], COMPLETION_TOKENS);
    assert_eq!(usage["totalTokenCount"], TOTAL_TOKENS);
}

#[test]
fn gemini_generate_content_with_header_or_query_key() {
    let mock = mock();
    let url = format!(
        "{}/v1beta/models/gemini-2.0-flash:generateContent",
        mock.base_url()
    );
    for (url, headers) in [
        (url.clone(), vec![("x-goog-api-key", KEY)]),
        (format!("{url}?key={KEY}"), vec![]),
    ] {
        let reply = post(&url, &headers, CONTENTS.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = json(&reply);
        assert_eq!(
            body["candidates"][0]["content"]["parts"][0]["text"],
            ASSISTANT_TEXT
        );
        assert_eq!(body["modelVersion"], "gemini-2.0-flash");
        assert_gemini_usage(&body["usageMetadata"]);
    }
}

#[test]
fn gemini_sse_uses_crlf_and_the_last_chunk_has_the_totals() {
    let mock = mock();
    let url = format!(
        "{}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        mock.base_url()
    );
    let reply = post(&url, &[("x-goog-api-key", KEY)], CONTENTS.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let text = reply.text();
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in {text:?}"
    );
    let events = sse_events(&text, "\r\n\r\n");
    assert!(events.len() >= 4);
    let (last, rest) = events.split_last().unwrap();
    assert_gemini_usage(&last.1["usageMetadata"]);
    for (_, chunk) in rest {
        assert_eq!(chunk["usageMetadata"]["promptTokenCount"], PROMPT_TOKENS);
        assert!(chunk["usageMetadata"]["candidatesTokenCount"].is_null());
    }
    assert_eq!(mock.responses()[0], reply.body);
}

#[test]
fn gemini_stream_without_alt_sse_is_one_json_array() {
    let mock = mock();
    let url = format!(
        "{}/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        mock.base_url()
    );
    let reply = post(&url, &[("x-goog-api-key", KEY)], CONTENTS.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let chunks = json(&reply);
    let chunks = chunks.as_array().expect("an array");
    assert!(chunks.len() >= 4);
    assert_gemini_usage(&chunks[chunks.len() - 1]["usageMetadata"]);
}

#[test]
fn gemini_rejects_like_google() {
    let mock = mock();
    let url = format!(
        "{}/v1beta/models/gemini-2.0-flash:generateContent",
        mock.base_url()
    );
    let with_stream = CONTENTS.replacen('{', r#"{"stream":true,"#, 1);
    let cases: Vec<(Vec<(&str, &str)>, &str, u16, &str, &str)> = vec![
        (
            vec![],
            CONTENTS,
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers",
        ),
        (
            vec![("x-goog-api-key", "wrong")],
            CONTENTS,
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        ),
        (
            vec![("x-goog-api-key", KEY)],
            &with_stream,
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. Unknown name \"stream\": Cannot find field.",
        ),
        (
            vec![("x-goog-api-key", KEY)],
            "{}",
            400,
            "INVALID_ARGUMENT",
            "contents is not specified",
        ),
    ];
    for (headers, body, status, name, message) in cases {
        let reply = post(&url, &headers, body.as_bytes());
        assert_eq!(reply.status, status, "{headers:?} {body}: {}", reply.text());
        let error = json(&reply);
        assert_eq!(error["error"]["code"], status);
        assert_eq!(error["error"]["status"], name);
        let got = error["error"]["message"].as_str().unwrap();
        assert!(got.contains(message), "{got}");
    }
    let unknown_method = format!(
        "{}/v1beta/models/gemini-2.0-flash:embedContent",
        mock.base_url()
    );
    assert_eq!(
        post(
            &unknown_method,
            &[("x-goog-api-key", KEY)],
            CONTENTS.as_bytes()
        )
        .status,
        404
    );
}

#[test]
fn vertex_takes_a_bearer_token() {
    let mock = mock();
    let url = format!(
        "{}/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
        mock.base_url()
    );
    let ok = post(
        &url,
        &[("authorization", &format!("Bearer {KEY}"))],
        CONTENTS.as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_gemini_usage(&json(&ok)["usageMetadata"]);
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("x-goog-api-key", KEY)],
    ] {
        let reply = post(&url, &headers, CONTENTS.as_bytes());
        assert_eq!(reply.status, 401, "{headers:?}");
        assert_eq!(json(&reply)["error"]["status"], "UNAUTHENTICATED");
    }
    let sse = post(
        &url.replace(":generateContent", ":streamGenerateContent?alt=sse"),
        &[("authorization", &format!("Bearer {KEY}"))],
        CONTENTS.as_bytes(),
    );
    assert_eq!(sse.status, 200);
    assert!(sse.text().ends_with("\r\n\r\n"));
}

// ---------------------------------------------------------------- Bedrock

const CONVERSE: &str = r#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":64}}"#;
const MODEL_PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";

fn aws() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIAE2ETESTKEY000001".into(),
        secret_access_key: "e2e/secret+key/for/the/bedrock/mock00001".into(),
        session_token: Some("FwoGZXIvYXdzEE2ETOKEN//session==".into()),
    }
}

fn bedrock_mock() -> MockProvider {
    MockProvider::start_blocking(MockConfig {
        aws_credentials: aws(),
        ..MockConfig::new(KEY)
    })
    .expect("start mock")
}

/// Signs like a client (the gateway's signer) and returns the headers to send.
fn signed_headers(
    mock: &MockProvider,
    creds: &AwsCredentials,
    path: &str,
    body: &[u8],
    at: u64,
) -> Vec<(String, String)> {
    let host = format!("127.0.0.1:{}", mock.addr().port());
    let mut headers = vec![
        ("host".to_owned(), host.clone()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let signing = sigv4::sign(
        &sigv4::SignableRequest {
            method: "POST",
            path_and_query: path,
            headers: &[
                ("host", host.as_str()),
                ("content-type", "application/json"),
            ],
            body,
        },
        &sigv4::Credentials {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
        },
        "us-west-2",
        "bedrock",
        at,
    );
    headers.extend(signing);
    headers
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn post_owned(url: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    post(url, &headers, body)
}

#[test]
fn bedrock_converse_with_sigv4_or_api_key() {
    let mock = bedrock_mock();
    let path = format!("{MODEL_PATH}/converse");
    let url = format!("{}{path}", mock.base_url());
    let headers = signed_headers(&mock, &aws(), &path, CONVERSE.as_bytes(), now());
    let reply = post_owned(&url, &headers, CONVERSE.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = json(&reply);
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        ASSISTANT_TEXT
    );
    assert_eq!(body["stopReason"], "end_turn");
    assert_eq!(body["usage"]["inputTokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["outputTokens"], COMPLETION_TOKENS);
    assert_eq!(body["usage"]["totalTokens"], TOTAL_TOKENS);
    assert!(body["metrics"]["latencyMs"].is_u64());
    assert_eq!(mock.requests()[0].path_and_query, path);

    let bearer = post(
        &url,
        &[("authorization", &format!("Bearer {KEY}"))],
        CONVERSE.as_bytes(),
    );
    assert_eq!(bearer.status, 200, "{}", bearer.text());
}

#[test]
fn bedrock_rejects_what_aws_rejects() {
    let mock = bedrock_mock();
    let path = format!("{MODEL_PATH}/converse");
    let url = format!("{}{path}", mock.base_url());
    let body = CONVERSE.as_bytes();
    let good = signed_headers(&mock, &aws(), &path, body, now());

    let tampered_body = CONVERSE.replace("Hi", "Ho");
    let other_secret = AwsCredentials {
        secret_access_key: "another-secret".into(),
        ..aws()
    };
    let other_key = AwsCredentials {
        access_key_id: "AKIAOTHER00000000000".into(),
        ..aws()
    };
    let no_token = AwsCredentials {
        session_token: None,
        ..aws()
    };
    let mut extra_content_type = good.clone();
    for (name, value) in &mut extra_content_type {
        if name == "content-type" {
            *value = "application/json; charset=utf-8".into();
        }
    }
    let with_stream = CONVERSE.replacen('{', r#"{"stream":true,"#, 1);
    let cases: Vec<(&str, Vec<(String, String)>, &[u8], u16, &str, &str)> = vec![
        (
            "body changed after signing",
            good.clone(),
            tampered_body.as_bytes(),
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
        (
            "signed header changed",
            extra_content_type,
            body,
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
        (
            "wrong secret",
            signed_headers(&mock, &other_secret, &path, body, now()),
            body,
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
        (
            "unknown access key",
            signed_headers(&mock, &other_key, &path, body, now()),
            body,
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "missing session token",
            signed_headers(&mock, &no_token, &path, body, now()),
            body,
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "signed an hour ago",
            signed_headers(&mock, &aws(), &path, body, now() - 3600),
            body,
            403,
            "InvalidSignatureException",
            "Signature expired",
        ),
        (
            "no auth",
            vec![],
            body,
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            "wrong API key",
            vec![("authorization".into(), "Bearer nope".into())],
            body,
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "unknown field",
            signed_headers(&mock, &aws(), &path, with_stream.as_bytes(), now()),
            with_stream.as_bytes(),
            400,
            "ValidationException",
            "extraneous key [stream] is not permitted",
        ),
    ];
    for (what, headers, body, status, kind, message) in cases {
        let reply = post_owned(&url, &headers, body);
        assert_eq!(reply.status, status, "{what}: {}", reply.text());
        assert!(
            reply.header("x-amzn-errortype").unwrap().starts_with(kind),
            "{what}: {:?}",
            reply.headers
        );
        let got = json(&reply)["message"].as_str().unwrap().to_owned();
        assert!(got.contains(message), "{what}: {got}");
        assert!(!reply.text().contains("secret"), "{what}");
    }
}

#[test]
fn bedrock_converse_stream_is_event_stream_with_valid_crcs() {
    let mock = bedrock_mock();
    let path = format!("{MODEL_PATH}/converse-stream");
    let url = format!("{}{path}", mock.base_url());
    let headers = signed_headers(&mock, &aws(), &path, CONVERSE.as_bytes(), now());
    let reply = post_owned(&url, &headers, CONVERSE.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(mock.responses()[0], reply.body);
    let frames = eventstream::decode(&reply.body).expect("well-formed frames");
    let types: Vec<&str> = frames.iter().map(|f| f.event_type().unwrap()).collect();
    assert_eq!(types.first(), Some(&"messageStart"));
    assert_eq!(
        &types[types.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    for frame in &frames {
        assert_eq!(frame.header(":message-type"), Some("event"));
        assert_eq!(frame.header(":content-type"), Some("application/json"));
    }
    let usage = &frames.last().unwrap().json().unwrap()["usage"];
    assert_eq!(usage["inputTokens"], PROMPT_TOKENS);
    assert_eq!(usage["outputTokens"], COMPLETION_TOKENS);
    assert_eq!(usage["totalTokens"], TOTAL_TOKENS);
}

// ---------------------------------------------------------------- failure injection

#[test]
fn forced_statuses_use_each_providers_error_shape() {
    let mock = mock();
    let base = mock.base_url();
    let gemini = format!("{base}/v1beta/models/g:generateContent");
    let bedrock = format!("{base}{MODEL_PATH}/converse");
    let bearer = format!("Bearer {KEY}");
    let anthropic_headers = [("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
    let cases: Vec<(u16, String, Vec<(&str, &str)>, &str, &str, &str)> = vec![
        (
            429,
            format!("{base}/v1/messages"),
            anthropic_headers.to_vec(),
            MESSAGES,
            "/error/type",
            "rate_limit_error",
        ),
        (
            529,
            format!("{base}/v1/messages"),
            anthropic_headers.to_vec(),
            MESSAGES,
            "/error/type",
            "overloaded_error",
        ),
        (
            500,
            format!("{base}/v1/messages"),
            anthropic_headers.to_vec(),
            MESSAGES,
            "/error/type",
            "api_error",
        ),
        (
            429,
            gemini.clone(),
            vec![("x-goog-api-key", KEY)],
            CONTENTS,
            "/error/status",
            "RESOURCE_EXHAUSTED",
        ),
        (
            503,
            gemini,
            vec![("x-goog-api-key", KEY)],
            CONTENTS,
            "/error/status",
            "UNAVAILABLE",
        ),
        (
            429,
            bedrock.clone(),
            vec![("authorization", &bearer)],
            CONVERSE,
            "/message",
            "Too many requests, please wait before trying again.",
        ),
        (
            500,
            bedrock,
            vec![("authorization", &bearer)],
            CONVERSE,
            "/message",
            "The server encountered an error processing your request.",
        ),
    ];
    for (status, url, headers, body, pointer, want) in cases {
        mock.set_force_status(Some(status));
        let reply = post(&url, &headers, body.as_bytes());
        assert_eq!(reply.status, status, "{url}");
        assert_eq!(
            json(&reply).pointer(pointer).and_then(Value::as_str),
            Some(want),
            "{url}"
        );
        assert_eq!(
            reply.header("retry-after").is_some(),
            status == 429,
            "{url}"
        );
    }
    // Auth is still checked first: a wrong key is not a rate limit.
    mock.set_force_status(Some(429));
    let reply = post(
        &format!("{base}/v1/messages"),
        &[("x-api-key", "bad"), ("anthropic-version", "2023-06-01")],
        MESSAGES.as_bytes(),
    );
    assert_eq!(reply.status, 401);
}

// ---------------------------------------------------------------- TLS

/// One HTTP/1.1 POST over TLS, trusting only `roots`. `Err` when the handshake fails.
fn https_post(
    mock: &MockProvider,
    roots: rustls::RootCertStore,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<String, std::io::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(mock.addr())?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    write!(
        tls,
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    match tls.read_to_string(&mut answer) {
        Ok(_) => Ok(answer),
        // The server closes without close_notify after `connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(answer),
        Err(e) => Err(e),
    }
}

#[test]
fn tls_mock_serves_a_certificate_from_its_own_ca() {
    use rustls::pki_types::pem::PemObject;
    let mock = MockProvider::start_blocking(MockConfig {
        tls_dns_name: Some("localhost".into()),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    assert_eq!(
        mock.base_url(),
        format!("https://localhost:{}", mock.addr().port())
    );
    let ca_pem = mock.ca_pem().expect("a CA");
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{ca_pem}"
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let answer = https_post(
        &mock,
        roots,
        "/v1/messages",
        &format!("x-api-key: {KEY}\r\nanthropic-version: 2023-06-01\r\n"),
        MESSAGES,
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(ASSISTANT_TEXT), "{answer}");
    assert_eq!(mock.requests().len(), 1);

    // Not trusted anywhere else: a client without the CA fails the handshake
    // and the request never reaches the mock.
    let refused = https_post(
        &mock,
        rustls::RootCertStore::empty(),
        "/v1/messages",
        "",
        MESSAGES,
    );
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(mock.requests().len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mock.failed_handshakes() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(mock.failed_handshakes(), 1);

    // A second mock has a CA of its own.
    let other = MockProvider::start_blocking(MockConfig {
        tls_dns_name: Some("localhost".into()),
        ..MockConfig::new(KEY)
    })
    .unwrap();
    assert_ne!(other.ca_pem(), mock.ca_pem());
    assert_eq!(
        MockProvider::start_blocking(MockConfig::new(KEY))
            .unwrap()
            .ca_pem(),
        None
    );
}
