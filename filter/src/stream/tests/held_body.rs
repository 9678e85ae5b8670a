//! Requests held until their body is complete: the model override,
//! `include_usage` and the size limits.

use super::*;

#[test]
fn override_pauses_rewrites_and_fixes_content_length() {
    let p = openai_forcing("gpt-4o-mini");
    let body: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-5"}"#;
    let mut f = fake(&[
        ("content-length", &body.len().to_string()),
        ("authorization", "Bearer c"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/v1/chat/completions")
    );
    assert_eq!(
        f.request_header("authorization").as_deref(),
        Some("Bearer sk-1")
    );

    let flows = send_body(
        &mut s,
        &p,
        &mut f,
        &[&body[..10], &body[10..40], &body[40..]],
        true,
    );
    assert_eq!(flows, [Flow::Pause, Flow::Pause, Flow::Continue]);
    let want: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}"#;
    assert_eq!(f.request_body, want);
    assert_eq!(
        f.request_header("content-length"),
        Some(want.len().to_string())
    );

    // The response names no model: the label is the forced one.
    respond(
        &mut s,
        &p,
        &mut f,
        "429",
        "application/json",
        &[br#"{"error":{}}"#],
    );
    let want = counters(&[(
        "llmgate_requests;route=ns/r/rule/0;backend=ns/ai;provider=openai;provider_name=openai;request_model=gpt-4o-mini;response_model=unknown;status_class=4xx",
        1,
    )]);
    assert_eq!(f.counters, want);
}

#[test]
fn override_cases() {
    // (body chunks, had content-length, expected body, expected content-length)
    let cases: &[(&[&[u8]], bool, &[u8], Option<&str>)] = &[
        (&[b"{}"], true, br#"{"model":"forced"}"#, Some("18")),
        (&[b"{\"a\":1}"], false, br#"{"model":"forced","a":1}"#, None),
        (
            &[b" {", b"\n\n", b"}  "],
            true,
            b" {\"model\":\"forced\"\n\n}  ",
            Some("23"),
        ),
    ];
    for (chunks, had_cl, want_body, want_cl) in cases {
        let p = openai_forcing("forced");
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let mut f = if *had_cl {
            fake(&[("content-length", &total.to_string())])
        } else {
            fake(&[])
        };
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let flows = send_body(&mut s, &p, &mut f, chunks, true);
        assert_eq!(flows.last(), Some(&Flow::Continue));
        assert_eq!(f.request_body, *want_body, "{chunks:?}");
        assert_eq!(
            f.request_header("content-length").as_deref(),
            *want_cl,
            "{chunks:?}"
        );
    }
}

#[test]
fn override_without_body_does_not_pause() {
    let p = openai_forcing("forced");
    let mut f = fake(&[]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Continue);
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/v1/chat/completions")
    );
}

#[test]
fn override_finishes_on_request_trailers() {
    let p = openai_forcing("forced");
    let mut f = fake(&[("content-length", "13")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    f.request_body = br#"{"model":"x"}"#.to_vec();
    assert_eq!(s.on_request_body(&p, &mut f, 13, false), Flow::Pause);
    assert_eq!(s.on_request_trailers(&p, &mut f), Flow::Continue);
    assert_eq!(f.request_body, br#"{"model":"forced"}"#);
    assert_eq!(f.request_header("content-length").as_deref(), Some("18"));
}

const STREAM_WITH_USAGE: &[u8] = b"data: {\"choices\":[],\"id\":\"\",\"model\":\"\",\"usage\":null}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-mini\",\"usage\":null}\n\n\
data: {\"choices\":[],\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":28,\"completion_tokens\":19,\"total_tokens\":47}}\n\n\
data: {\"choices\":[{\"content_filter_results\":{}}],\"id\":\"\",\"usage\":null}\n\n\
data: [DONE]\n\n";

const STREAM_WITHOUT_USAGE: &[u8] = b"data: {\"choices\":[],\"id\":\"\",\"model\":\"\"}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-mini\"}\n\n\
data: {\"choices\":[{\"content_filter_results\":{}}],\"id\":\"\"}\n\n\
data: [DONE]\n\n";

#[test]
fn include_usage_is_added_and_its_traces_removed() {
    let body: &[u8] = br#"{"messages":[],"stream":true}"#;
    // (api-version, request, held?, body the provider gets, stream the provider sends, what the client gets)
    let cases: &[(&str, &[u8], bool, &[u8], &[u8], &[u8])] = &[
        (
            "2024-10-21",
            body,
            true,
            br#"{"stream_options":{"include_usage":true},"messages":[],"stream":true}"#,
            STREAM_WITH_USAGE,
            STREAM_WITHOUT_USAGE,
        ),
        (
            "v1",
            br#"{"model":"dep","stream":true,"stream_options":{"include_usage":true}}"#,
            true,
            br#"{"model":"dep","stream":true,"stream_options":{"include_usage":true}}"#,
            STREAM_WITH_USAGE,
            STREAM_WITH_USAGE,
        ),
        (
            "2024-02-15-preview",
            body,
            false,
            body,
            STREAM_WITHOUT_USAGE,
            STREAM_WITHOUT_USAGE,
        ),
    ];
    for (version, request, held, upstream, sent, want) in cases {
        let p = azure_at(version);
        let len = request.len().to_string();
        let mut f = fake(&[("content-length", &len)]);
        let mut s = Stream::new();
        let flow = s.on_request_headers(&p, &mut f, false);
        assert_eq!(flow == Flow::Pause, *held, "{version}");
        let half = request.len() / 2;
        let flows = send_body(
            &mut s,
            &p,
            &mut f,
            &[&request[..half], &request[half..]],
            *held,
        );
        assert_eq!(flows.last(), Some(&Flow::Continue));
        if *held {
            assert_eq!(f.request_body, *upstream, "{version}");
        } else {
            assert_eq!(
                f.request_body,
                &request[half..],
                "{version}: streamed as is"
            );
        }
        assert_eq!(
            f.request_header("content-length"),
            Some(upstream.len().to_string()),
            "{version}"
        );
        f.response_headers
            .insert("content-length".into(), sent.len().to_string());
        let chunks: Vec<&[u8]> = sent.chunks(13).collect();
        respond(&mut s, &p, &mut f, "200", "text/event-stream", &chunks);
        assert_eq!(
            String::from_utf8_lossy(&f.client_got),
            String::from_utf8_lossy(want),
            "{version}"
        );
        let injected = upstream != request;
        assert_eq!(
            f.response_headers.contains_key("content-length"),
            !injected,
            "{version}: the length changes only when events are removed"
        );
        // Without a body model, the deployment the classic path names.
        let request_model = json_model::read_model(upstream).unwrap_or_else(|| "dep".into());
        let m = format!("route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model={request_model};response_model=gpt-4o-mini");
        let input = f
            .counters
            .get(&format!("llmgate_tokens;{m};token_type=input"))
            .copied();
        let counted = sent == &STREAM_WITH_USAGE;
        assert_eq!(input, counted.then_some(28), "{version}");
        assert_eq!(
            f.filter_state
                .get("llmgate.include_usage_injected")
                .map(String::as_str),
            Some(if injected { "true" } else { "false" })
        );
        assert_eq!(
            f.filter_state.get("llmgate.streaming").map(String::as_str),
            Some("true")
        );
        assert!(
            f.histograms
                .keys()
                .any(|k| k.starts_with("gen_ai_server_time_to_first_token_ms;")),
            "{version}"
        );
    }
}

#[test]
fn too_big_to_hold_passes_unchanged() {
    const LIMIT: usize = 256 * 1024;
    let p = with_limit(azure_at("2024-10-21"), LIMIT as u64);
    let pad = "x".repeat(LIMIT + 128 * 1024);
    let request = format!(r#"{{"model":"big","stream":true,"pad":"{pad}"}}"#);
    let bytes = request.as_bytes();
    let mut f = fake(&[]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    let chunks: Vec<&[u8]> = bytes.chunks(64 * 1024).collect();
    let flows = send_body(&mut s, &p, &mut f, &chunks, true);
    // Held up to the limit, then everything goes as it is.
    let held = LIMIT / (64 * 1024);
    assert!(flows[..held].iter().all(|f| *f == Flow::Pause), "{flows:?}");
    assert!(
        flows[held..].iter().all(|f| *f == Flow::Continue),
        "{flows:?}"
    );
    assert!(f.local_reply.is_none());
    assert!(!String::from_utf8_lossy(&f.request_body).contains("stream_options"));
    respond(
        &mut s,
        &p,
        &mut f,
        "200",
        "text/event-stream",
        &[STREAM_WITHOUT_USAGE],
    );
    assert_eq!(f.client_got, STREAM_WITHOUT_USAGE);
    assert_eq!(
        f.filter_state
            .get("llmgate.request_model")
            .map(String::as_str),
        Some("big")
    );
}

#[test]
fn override_and_injection_together() {
    let p = openai_forcing("gpt-4o-mini");
    let body: &[u8] = br#"{"model":"x","stream":true}"#;
    let mut f = fake(&[("content-length", "27")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    send_body(&mut s, &p, &mut f, &[body], true);
    let want: &[u8] =
        br#"{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true}"#;
    assert_eq!(f.request_body, want);
    assert_eq!(
        f.request_header("content-length"),
        Some(want.len().to_string())
    );
    // An error answer is JSON: nothing to rewrite.
    respond(
        &mut s,
        &p,
        &mut f,
        "400",
        "application/json",
        &[br#"{"error":{}}"#],
    );
    assert_eq!(f.client_got, br#"{"error":{}}"#);
}

/// (name, body chunks, what the 400 must name)
const NOT_AN_OBJECT: &[(&str, &[&[u8]], &str)] = &[
    (
        "NaN",
        &[br#"{"model":"m","t":"#, b"NaN}"],
        "expected value at line 1 column 18",
    ),
    ("BOM", &[b"\xef\xbb\xbf{}"], "byte order mark"),
    ("trailing garbage", &[b"{}", b" x"], "trailing characters"),
    ("comment", &[b"{/* c */}"], "key must be a string"),
    (
        "invalid UTF-8",
        &[b"{\"a\":\"\xc3", b"\"}"],
        "not valid UTF-8 (at byte 6)",
    ),
    (
        "truncated",
        &[br#"{"model":"#],
        "ends before its JSON is complete",
    ),
    ("array", &[b"[1,2]"], "JSON but not an object"),
    ("empty", &[b""], "ends before its JSON is complete"),
];

#[test]
fn a_forced_model_on_a_body_that_is_not_an_object_is_answered_400() {
    for (name, chunks, names) in NOT_AN_OBJECT {
        let p = openai_forcing("forced");
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let mut f = fake(&[("content-length", &total.to_string())]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let flows = send_body(&mut s, &p, &mut f, chunks, true);
        // Still paused: the request never goes upstream.
        assert!(flows.iter().all(|f| *f == Flow::Pause), "{name}: {flows:?}");
        let (status, headers, body) = f.local_reply.clone().expect(name);
        assert_eq!(status, 400, "{name}");
        assert_eq!(
            headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{name}");
        assert_eq!(error["error"]["code"], "invalid_json", "{name}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{name}: {message}");
        assert!(message.contains("`model`"), "{name}: {message}");
        s.finish(&p, &mut f);
        assert!(
            f.counters
                .keys()
                .any(|k| k.starts_with("llmgate_requests;") && k.ends_with("status_class=4xx")),
            "{name}: {:?}",
            f.counters
        );
    }
}

#[test]
fn a_body_with_only_optional_edits_goes_as_sent_when_not_an_object() {
    for (name, chunks, _) in NOT_AN_OBJECT {
        let p = azure_at("2024-10-21");
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let mut f = fake(&[("content-length", &total.to_string())]);
        let mut s = Stream::new();
        assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
        let flows = send_body(&mut s, &p, &mut f, chunks, true);
        assert_eq!(flows.last(), Some(&Flow::Continue), "{name}");
        assert_eq!(f.request_body, chunks.concat(), "{name}");
        assert!(f.local_reply.is_none(), "{name}");
    }
}

/// A streaming request with `pad` bytes of whitespace between its members.
fn padded(pad: usize) -> Vec<u8> {
    let ws = " \n\t\r".repeat(pad / 4 + 1);
    format!(r#"{{"model":"m",{}"stream":true}}"#, &ws[..pad]).into_bytes()
}

#[test]
fn whitespace_does_not_decide_whether_usage_is_added() {
    const LIMIT: usize = 256 * 1024;
    let at_limit = LIMIT - padded(0).len();
    // (whitespace, content-length sent, held at the headers, include_usage added)
    let cases: &[(usize, bool, bool, bool)] = &[
        (100, true, true, true),
        (at_limit, true, true, true),
        // Declared over the limit: not held at all, it goes as sent.
        (at_limit + 1, true, false, false),
        // Unknown length: held up to the limit.
        (LIMIT / 2, false, true, true),
        (at_limit, false, true, true),
        (LIMIT + 64 * 1024, false, true, false),
    ];
    for (pad, declared, held, injected) in cases {
        let body = padded(*pad);
        let p = with_limit(azure_at("2024-10-21"), LIMIT as u64);
        let len = body.len().to_string();
        let mut f = if *declared {
            fake(&[("content-length", &len)])
        } else {
            fake(&[])
        };
        let mut s = Stream::new();
        let flow = s.on_request_headers(&p, &mut f, false);
        assert_eq!(flow == Flow::Pause, *held, "{pad} {declared}");
        let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
        let flows = send_body(&mut s, &p, &mut f, &chunks, *held);
        assert_eq!(flows.last(), Some(&Flow::Continue), "{pad}");
        assert!(f.local_reply.is_none(), "{pad} {declared}");
        let sent = String::from_utf8_lossy(&f.request_body).into_owned();
        assert_eq!(
            sent.starts_with(r#"{"stream_options":{"include_usage":true},"#),
            *injected,
            "{pad} {declared}"
        );
        if *injected {
            let v: serde_json::Value = serde_json::from_slice(&f.request_body).unwrap();
            assert_eq!(v["stream_options"]["include_usage"], true);
            respond(
                &mut s,
                &p,
                &mut f,
                "200",
                "text/event-stream",
                &[STREAM_WITH_USAGE],
            );
            assert_eq!(f.client_got, STREAM_WITHOUT_USAGE, "{pad}");
            assert!(
                f.counters
                    .iter()
                    .any(|(k, v)| k.starts_with("llmgate_tokens;")
                        && k.ends_with("token_type=input")
                        && *v == 28),
                "{pad}: {:?}",
                f.counters
            );
        }
    }
}

#[test]
fn a_coded_response_is_passed_on_untouched_and_counted_unparsed() {
    let p = azure_at("2024-10-21");
    let body: &[u8] = br#"{"messages":[],"stream":true}"#;
    let mut f = fake(&[("content-length", &body.len().to_string())]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    send_body(&mut s, &p, &mut f, &[body], true);
    assert!(String::from_utf8_lossy(&f.request_body).contains("include_usage"));
    // Whatever the bytes are, under a coding they are not SSE to the filter.
    f.response_headers
        .insert("content-encoding".into(), "gzip".into());
    f.response_headers
        .insert("content-length".into(), STREAM_WITH_USAGE.len().to_string());
    let half = STREAM_WITH_USAGE.len() / 2;
    respond(
        &mut s,
        &p,
        &mut f,
        "200",
        "text/event-stream",
        &[&STREAM_WITH_USAGE[..half], &STREAM_WITH_USAGE[half..]],
    );
    assert_eq!(f.client_got, STREAM_WITH_USAGE);
    assert!(f.response_headers.contains_key("content-length"));
    assert_eq!(f.response_fetches.get(), 0);
    assert!(
        f.counters
            .keys()
            .any(|k| k.starts_with("llmgate_usage_unparsed;")),
        "{:?}",
        f.counters
    );
    assert!(!f.counters.keys().any(|k| k.starts_with("llmgate_tokens;")));
}

#[test]
fn content_codings() {
    let cases = [
        (None, false),
        (Some(""), false),
        (Some("identity"), false),
        (Some(" Identity "), false),
        (Some("gzip"), true),
        (Some("br"), true),
        (Some("identity, gzip"), true),
    ];
    for (encoding, want) in cases {
        assert_eq!(
            super::super::is_content_coded(encoding),
            want,
            "{encoding:?}"
        );
    }
}
