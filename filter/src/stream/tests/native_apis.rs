//! Providers with their own API: the streaming endpoint chosen by body or
//! path, Bedrock's guardrail and SigV4, Anthropic's headers, Azure v1.

use super::*;

fn gemini() -> Plugin {
    plugin(
        ProviderConfig::Gemini {
            model: "gemini-2.5-flash".into(),
            api_version: "v1beta".into(),
        },
        TokenSource::Value {
            value: "goog".into(),
        },
    )
}

fn vertex() -> Plugin {
    plugin(
        ProviderConfig::Vertexai {
            model: "gemini-2.5-pro".into(),
            api_version: "v1".into(),
            project_id: "proj".into(),
            location: "us-central1".into(),
            model_path: None,
        },
        TokenSource::Value {
            value: "ya29.token".into(),
        },
    )
}

const GEMINI: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const GEMINI_SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
const VERTEX_SSE: &str = "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse";

/// The chat body converted for Gemini, as the conversion writes it.
fn gemini_body(openai: &str) -> String {
    use crate::convert::ChatConversion;
    let target = crate::convert::Target {
        model: Some("gemini-2.5-flash"),
    };
    let native = crate::convert::gemini::ToGemini
        .request(openai.as_bytes(), target)
        .unwrap();
    String::from_utf8(native.body).unwrap()
}

#[test]
fn a_native_call_keeps_its_method_and_chat_streams_by_its_body() {
    let mut gemini_full = gemini();
    gemini_full.cfg.path_full = Some("/v1beta/openai/chat/completions".into());
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let chat_stream = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    // (plugin, client path, body, held?, path sent, body sent)
    let cases: Vec<(Plugin, &str, &str, bool, &str, String)> = vec![
        (
            gemini(),
            "/gemini/chat/completions",
            chat_stream,
            true,
            GEMINI_SSE,
            gemini_body(chat_stream),
        ),
        (gemini(), "/gemini", chat, true, GEMINI, gemini_body(chat)),
        // `alt=sse` is a native call's choice, not chat's.
        (
            gemini(),
            "/gemini?alt=sse",
            chat,
            true,
            GEMINI,
            gemini_body(chat),
        ),
        (
            vertex(),
            "/vertex/chat/completions",
            chat_stream,
            true,
            VERTEX_SSE,
            gemini_body(chat_stream).replace("gemini-2.5-flash", "gemini-2.5-pro"),
        ),
        (
            gemini(),
            "/gemini/v1beta/models/anything:streamGenerateContent?alt=sse",
            r#"{"contents":[]}"#,
            false,
            GEMINI_SSE,
            r#"{"contents":[]}"#.into(),
        ),
        (
            gemini(),
            "/gemini/v1beta/models/anything:generateContent?alt=sse",
            r#"{"contents":[]}"#,
            false,
            GEMINI_SSE,
            r#"{"contents":[]}"#.into(),
        ),
        (
            gemini(),
            "/gemini/v1beta/models/anything:generateContent",
            r#"{"contents":[],"stream":true}"#,
            false,
            GEMINI,
            r#"{"contents":[],"stream":true}"#.into(),
        ),
        // `path.full` speaks OpenAI's API (Gemini's compatible endpoint):
        // nothing is converted, and the body's `stream` stays.
        (
            gemini_full,
            "/gemini",
            r#"{"messages":[],"stream":true}"#,
            false,
            "/v1beta/openai/chat/completions",
            r#"{"messages":[],"stream":true}"#.into(),
        ),
    ];
    for (p, client_path, body, held, want_path, want_body) in cases {
        let len = body.len().to_string();
        let mut f = fake(&[(":path", client_path), ("content-length", &len)]);
        let mut s = Stream::new();
        let flow = s.on_request_headers(&p, &mut f, false);
        assert_eq!(flow == Flow::Pause, held, "{client_path} {body}");
        let bytes = body.as_bytes();
        let half = bytes.len() / 2;
        send_body(&mut s, &p, &mut f, &[&bytes[..half], &bytes[half..]], held);
        assert_eq!(
            f.request_header(":path").as_deref(),
            Some(want_path),
            "{client_path} {body}"
        );
        if held {
            assert_eq!(
                String::from_utf8_lossy(&f.request_body),
                want_body,
                "{client_path} {body}"
            );
        }
        assert_eq!(
            f.request_header("content-length"),
            Some(want_body.len().to_string()),
            "{client_path} {body}"
        );
    }
}

#[test]
fn the_streaming_path_is_set_only_once_the_body_says_so() {
    let p = gemini();
    let mut f = fake(&[(":path", "/gemini"), ("authorization", "Bearer c")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI));
    assert_eq!(f.request_header("x-goog-api-key").as_deref(), Some("goog"));
    assert_eq!(f.request_header("authorization"), None);
    let body = r#"{"stream":true,"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    f.request_body = body.as_bytes().to_vec();
    assert_eq!(
        s.on_request_body(&p, &mut f, body.len(), false),
        Flow::Pause
    );
    assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI));
    assert_eq!(s.on_request_trailers(&p, &mut f), Flow::Continue);
    assert_eq!(f.request_header(":path").as_deref(), Some(GEMINI_SSE));
    assert_eq!(String::from_utf8_lossy(&f.request_body), gemini_body(body));
}

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn bedrock(guardrail: Option<(&str, &str)>) -> Plugin {
    let mut p = plugin(
        ProviderConfig::Bedrock {
            model: BEDROCK_MODEL.into(),
            region: "us-west-2".into(),
            guardrail: guardrail.map(|(identifier, version)| BedrockGuardrail {
                identifier: identifier.into(),
                version: version.into(),
            }),
        },
        TokenSource::Aws {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            session_token: Some("session-tok".into()),
        },
    );
    p.cfg.host = "bedrock-runtime.us-west-2.amazonaws.com".into();
    p
}

/// What AWS would compute for the request as it arrives.
fn expected_signature(f: &Fake, body: &[u8], unix_seconds: u64) -> Vec<(String, String)> {
    let path = f.request_header(":path").unwrap();
    let headers = [
        ("host", "bedrock-runtime.us-west-2.amazonaws.com"),
        ("content-type", "application/json"),
    ];
    crate::sigv4::sign(
        &crate::sigv4::SignableRequest {
            method: "POST",
            path_and_query: &path,
            headers: &headers,
            body,
        },
        &crate::sigv4::Credentials {
            access_key_id: AKID,
            secret_access_key: SECRET,
            session_token: Some("session-tok"),
        },
        "us-west-2",
        "bedrock",
        unix_seconds,
    )
}

#[test]
fn bedrock_is_signed_over_the_final_path_and_body() {
    let p = bedrock(Some(("gr-abc", "3")));
    let request: &[u8] =
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let len = request.len().to_string();
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/bedrock/chat/completions"),
        ("content-type", "application/json"),
        ("content-length", &len),
        ("authorization", "Bearer client-key"),
        ("x-amz-security-token", "client-token"),
    ]);
    f.clock_ms.set(1_700_000_000_000);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert_eq!(f.request_header("authorization"), None, "held unsigned");
    assert_eq!(f.request_header("x-amz-security-token"), None);
    let flows = send_body(&mut s, &p, &mut f, &[&request[..20], &request[20..]], true);
    assert_eq!(flows, [Flow::Pause, Flow::Continue]);

    // Converted to Converse, then the guardrail added.
    let want_body: &[u8] = br#"{"guardrailConfig":{"guardrailIdentifier":"gr-abc","guardrailVersion":"3"},"messages":[{"content":[{"text":"hi"}],"role":"user"}]}"#;
    assert_eq!(
        String::from_utf8_lossy(&f.request_body),
        String::from_utf8_lossy(want_body)
    );
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
    );
    assert_eq!(
        f.request_header("content-length"),
        Some(want_body.len().to_string())
    );
    let date = f.request_header("x-amz-date").unwrap();
    assert!(date.starts_with("20231114T"), "{date}");
    let seconds = 1_700_000_000 + (f.clock_ms.get() - 1_700_000_000_000) / 1000;
    for (name, value) in expected_signature(&f, want_body, seconds) {
        assert_eq!(f.request_header(&name), Some(value), "{name}");
    }
    let authorization = f.request_header("authorization").unwrap();
    assert!(authorization.contains("/us-west-2/bedrock/aws4_request"));
    assert!(!authorization.contains(SECRET));
    assert_eq!(
        f.request_header("x-amz-security-token").as_deref(),
        Some("session-tok")
    );
}

#[test]
fn bedrock_keeps_the_clients_guardrail_and_signs_bodiless_requests() {
    let p = bedrock(Some(("gr-abc", "3")));
    let request: &[u8] =
        br#"{"guardrailConfig":{"guardrailIdentifier":"mine","guardrailVersion":"1"}}"#;
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/model/x/converse"),
        ("content-type", "application/json"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    send_body(&mut s, &p, &mut f, &[request], true);
    assert_eq!(f.request_body, request);
    assert_eq!(f.request_header("content-length"), None, "stays chunked");
    let seconds = f.clock_ms.get() / 1000;
    for (name, value) in expected_signature(&f, request, seconds) {
        assert_eq!(f.request_header(&name), Some(value), "{name}");
    }

    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/model/x/converse-stream"),
        ("content-type", "application/json"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Continue);
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
    );
    let seconds = f.clock_ms.get() / 1000;
    for (name, value) in expected_signature(&f, b"", seconds) {
        assert_eq!(f.request_header(&name), Some(value), "{name}");
    }
}

#[test]
fn bedrock_api_key_needs_no_signature() {
    let mut p = bedrock(None);
    p.cfg.auth.token = TokenSource::Value {
        value: "bedrock-api-key".into(),
    };
    let mut f = fake(&[(":path", "/model/x/converse-stream")]);
    let mut s = Stream::new();
    assert_eq!(
        s.on_request_headers(&p, &mut f, false),
        Flow::Continue,
        "the path already streams and nothing else needs the body"
    );
    assert_eq!(
        f.request_header("authorization").as_deref(),
        Some("Bearer bedrock-api-key")
    );
    assert_eq!(f.request_header("x-amz-date"), None);
}

#[test]
fn anthropic_headers_and_model() {
    // (configured version, client version, forced model, version sent, held?)
    let cases = [
        (None, None, None, "2023-06-01", false),
        (None, Some("2024-10-22"), None, "2024-10-22", false),
        (
            Some("2023-06-01"),
            Some("2024-10-22"),
            Some("claude-x"),
            "2023-06-01",
            true,
        ),
    ];
    for (configured, client, model, want_version, held) in cases {
        let p = plugin(
            ProviderConfig::Anthropic {
                model: model.map(Into::into),
                api_version: configured.map(Into::into),
            },
            TokenSource::Value {
                value: "sk-ant".into(),
            },
        );
        let mut headers = vec![
            (":path", "/anthropic/v1/messages"),
            ("authorization", "Bearer c"),
        ];
        if let Some(v) = client {
            headers.push(("anthropic-version", v));
        }
        let mut f = fake(&headers);
        let mut s = Stream::new();
        let flow = s.on_request_headers(&p, &mut f, false);
        assert_eq!(flow == Flow::Pause, held);
        assert_eq!(f.request_header(":path").as_deref(), Some("/v1/messages"));
        assert_eq!(f.request_header("x-api-key").as_deref(), Some("sk-ant"));
        assert_eq!(f.request_header("authorization"), None);
        assert_eq!(
            f.request_header("anthropic-version").as_deref(),
            Some(want_version)
        );
        let body: &[u8] = br#"{"model":"claude-asked","stream":true}"#;
        send_body(&mut s, &p, &mut f, &[body], held);
        if let Some(model) = model {
            let want = format!(r#"{{"model":"{model}","stream":true}}"#);
            assert_eq!(String::from_utf8_lossy(&f.request_body), want);
        } else {
            assert_eq!(f.request_body, body, "stream stays: same endpoint");
        }
    }
}

#[test]
fn azure_v1_sends_the_deployment_as_the_model() {
    for (version, want_path) in [
        ("v1", "/openai/v1/chat/completions"),
        ("preview", "/openai/v1/chat/completions?api-version=preview"),
    ] {
        let p = azure_at(version);
        let body: &[u8] = br#"{"model":"","messages":[]}"#;
        let mut f = fake(&[("content-length", "26")]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        assert_eq!(f.request_header(":path").as_deref(), Some(want_path));
        send_body(&mut s, &p, &mut f, &[body], true);
        assert_eq!(f.request_body, br#"{"model":"dep","messages":[]}"#);
        assert_eq!(f.request_header("content-length").as_deref(), Some("29"));
    }
}

#[test]
fn the_model_in_the_path_labels_requests_that_do_not_name_one() {
    let bedrock_reply = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}"#;
    let gemini_reply = br#"{"candidates":[],"modelVersion":"gemini-2.5-flash-001","usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#;
    // (plugin, path.full, reply, request_model, response_model)
    let cases: [(Plugin, Option<&str>, &[u8], &str, &str); 3] = [
        (
            bedrock(None),
            None,
            bedrock_reply,
            BEDROCK_MODEL,
            BEDROCK_MODEL,
        ),
        (
            gemini(),
            None,
            gemini_reply,
            "gemini-2.5-flash",
            "gemini-2.5-flash-001",
        ),
        // `path.full` may name another model: the path says nothing then.
        (
            gemini(),
            Some("/v1/models/other:generateContent"),
            gemini_reply,
            "unknown",
            "gemini-2.5-flash-001",
        ),
    ];
    for (mut p, path_full, reply, request_model, response_model) in cases {
        if let Some(full) = path_full {
            p = Plugin::new(FilterConfig {
                path_full: Some(full.into()),
                ..p.cfg
            });
        }
        let mut f = fake(&[(":path", "/llm")]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        respond(&mut s, &p, &mut f, "200", "application/json", &[reply]);
        s.finish(&p, &mut f);
        let want = format!(
            ";request_model={request_model};response_model={response_model};token_type=total"
        );
        assert!(
            f.counters.keys().any(|k| k.ends_with(&want)),
            "{want} in {:?}",
            f.counters.keys()
        );
        assert_eq!(
            f.filter_state
                .get("llmgate.request_model")
                .map(String::as_str),
            Some(request_model).filter(|m| *m != "unknown")
        );
    }
}

#[test]
fn a_guardrail_that_cannot_be_added_answers_400_and_signs_nothing() {
    // (guardrail configured, answered 400)
    for (guardrail, answered) in [(Some(("gr-abc", "3")), true), (None, false)] {
        let p = bedrock(guardrail);
        let request: &[u8] = b"{\"messages\":[]} trailing";
        let mut f = fake(&[
            (":method", "POST"),
            (":path", "/model/x/converse"),
            ("content-type", "application/json"),
        ]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let flows = send_body(&mut s, &p, &mut f, &[request], true);
        if answered {
            assert_eq!(flows, [Flow::Pause]);
            let (status, _, body) = f.local_reply.clone().unwrap();
            assert_eq!(status, 400);
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains("trailing characters"), "{text}");
            assert!(text.contains("`guardrailConfig`"), "{text}");
            assert_eq!(f.request_header("x-amz-date"), None);
        } else {
            // Nothing to add: signed and sent as it is, for Bedrock to judge.
            assert_eq!(flows, [Flow::Continue]);
            assert!(f.local_reply.is_none());
            assert_eq!(f.request_body, request);
            assert!(f.request_header("x-amz-date").is_some());
        }
    }
}
