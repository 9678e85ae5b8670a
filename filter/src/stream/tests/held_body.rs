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
        (&[b"not ", b"json"], true, b"not json", Some("8")),
        (&[b"[1,2]"], true, b"[1,2]", Some("5")),
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
        let request_model = json_model::read_model(upstream).unwrap_or_else(|| "unknown".into());
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
    let p = azure_at("2024-10-21");
    let pad = "x".repeat(MAX_HELD_FOR_INJECTION + 128 * 1024);
    let request = format!(r#"{{"model":"big","stream":true,"pad":"{pad}"}}"#);
    let bytes = request.as_bytes();
    let mut f = fake(&[]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    let chunks: Vec<&[u8]> = bytes.chunks(64 * 1024).collect();
    let flows = send_body(&mut s, &p, &mut f, &chunks, true);
    // Held until over the limit, then everything goes as it is.
    let held = MAX_HELD_FOR_INJECTION / (64 * 1024);
    assert!(flows[..held].iter().all(|f| *f == Flow::Pause), "{flows:?}");
    assert!(
        flows[held..].iter().all(|f| *f == Flow::Continue),
        "{flows:?}"
    );
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
