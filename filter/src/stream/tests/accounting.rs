//! Counting each request exactly once: metrics labels, outcomes and the
//! access-log fields, whichever callback ends the stream.

use super::*;

#[test]
fn azure_streams_the_request_and_counts_the_response() {
    let p = azure();
    let mut f = fake(&[
        (":path", "/azure-openai"),
        ("authorization", "Bearer client"),
        ("content-length", "25"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Continue);
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/openai/deployments/dep/chat/completions?api-version=2024-02-15-preview")
    );
    assert_eq!(
        f.request_header(":authority").as_deref(),
        Some("up.example.com")
    );
    assert_eq!(f.request_header("api-key").as_deref(), Some("az-key"));
    assert_eq!(f.request_header("authorization"), None);

    let flows = send_body(&mut s, &p, &mut f, &[b"{\"model\":", b"\"asked\"}"], false);
    assert_eq!(flows, [Flow::Continue, Flow::Continue]);
    assert_eq!(
        f.request_header("content-length").as_deref(),
        Some("25"),
        "untouched"
    );

    respond(
        &mut s,
        &p,
        &mut f,
        "200",
        "application/json",
        &[&USAGE_JSON[..30], &USAGE_JSON[30..]],
    );
    let m = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=asked;response_model=gpt-4o-2024";
    let want = counters(&[
        (&format!("llmgate_requests;{m};status_class=2xx"), 1),
        (&format!("llmgate_tokens;{m};token_type=input"), 3),
        (&format!("llmgate_tokens;{m};token_type=output"), 4),
        (&format!("llmgate_tokens;{m};token_type=total"), 7),
        (&format!("llmgate_tokens;{m};token_type=cached_input"), 0),
        (
            &format!("llmgate_tokens;{m};token_type=cache_creation_input"),
            0,
        ),
        (&format!("llmgate_tokens;{m};token_type=reasoning"), 0),
    ]);
    assert_eq!(f.counters, want);
    assert_eq!(f.client_got, USAGE_JSON, "passed through untouched");
    let hists: Vec<(&str, &[u64])> = f
        .histograms
        .iter()
        .map(|(k, v)| (k.split(';').next().unwrap(), v.as_slice()))
        .collect();
    // Clock: +10 ms per look — start 10, first byte 20, end 30 (no TTFT:
    // not a stream).
    assert_eq!(
        hists,
        [
            ("gen_ai_client_operation_duration_ms", &[20][..]),
            ("gen_ai_client_token_usage", &[3][..]),
            ("gen_ai_client_token_usage", &[4][..]),
        ]
    );
    assert_eq!(
        f.filter_state
            .get("llmgate.input_tokens")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        f.filter_state.get("llmgate.streaming").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        f.filter_state.get("llmgate.route").map(String::as_str),
        Some("ns/r/rule/0")
    );

    // on_log / on_done after the end: nothing more.
    s.finish(&p, &mut f);
    s.on_response_trailers(&p, &mut f);
    assert_eq!(f.counters, want);
}

#[test]
fn labels_and_outcomes() {
    let base = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai";
    let sse_usage: &[u8] = b"data: {\"model\":\"\",\"choices\":[]}\n\ndata: {\"model\":\"m-stream\",\"usage\":null}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,\
        \"prompt_tokens_details\":{\"cached_tokens\":1},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\ndata: [DONE]\n\n";
    let big_request = format!(
        "{{\"model\":\"asked\",\"pad\":\"{}\"}}",
        "x".repeat(MAX_REQUEST_COPY)
    );
    // (request body, status, content-type, response chunks, expected counters)
    let cases: Vec<(&[u8], &str, &str, Vec<&[u8]>, Vec<(String, u64)>)> = vec![
        (
            b"{\"model\":\"asked\"}",
            "200",
            "text/event-stream; charset=utf-8",
            sse_usage.chunks(5).collect(),
            vec![
                (
                    format!("llmgate_requests;{base};request_model=asked;response_model=m-stream;status_class=2xx"),
                    1,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=input"),
                    1,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=output"),
                    2,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=total"),
                    3,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=cached_input"),
                    1,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=cache_creation_input"),
                    0,
                ),
                (
                    format!("llmgate_tokens;{base};request_model=asked;response_model=m-stream;token_type=reasoning"),
                    2,
                ),
            ],
        ),
        (
            b"{\"model\":\"asked\"}",
            "200",
            "text/event-stream",
            vec![
                b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello, world\"}}]}\n\n",
                b"data: [DONE]\n\n",
            ],
            // This api-version takes no `stream_options`: no usage, so an
            // estimate (17 request bytes, 12 characters of text).
            vec![
                (
                    format!("llmgate_requests;{base};request_model=asked;response_model=dep;status_class=2xx"),
                    1,
                ),
                (format!("llmgate_usage_missing;{base};reason=not_requested"), 1),
                (
                    format!("llmgate_tokens_estimated;{base};request_model=asked;response_model=dep;token_type=input"),
                    5,
                ),
                (
                    format!("llmgate_tokens_estimated;{base};request_model=asked;response_model=dep;token_type=output"),
                    3,
                ),
            ],
        ),
        (
            b"{\"model\":\"asked\"}",
            "200",
            "application/json",
            vec![b"<html>"],
            vec![
                (
                    format!("llmgate_requests;{base};request_model=asked;response_model=dep;status_class=2xx"),
                    1,
                ),
                (format!("llmgate_usage_unparsed;{base}"), 1),
                (format!("llmgate_usage_missing;{base};reason=unreadable"), 1),
                (
                    format!("llmgate_tokens_estimated;{base};request_model=asked;response_model=dep;token_type=input"),
                    5,
                ),
                (
                    format!("llmgate_tokens_estimated;{base};request_model=asked;response_model=dep;token_type=output"),
                    0,
                ),
            ],
        ),
        (
            b"{\"model\":\"evil;model=x\"}",
            "503",
            "text/html",
            vec![b"<html>"],
            vec![(
                format!("llmgate_requests;{base};request_model=evil_model_x;response_model=dep;status_class=5xx"),
                1,
            )],
        ),
        (
            big_request.as_bytes(),
            "500",
            "application/json",
            vec![b"{}"],
            vec![(
                format!("llmgate_requests;{base};request_model=dep;response_model=dep;status_class=5xx"),
                1,
            )],
        ),
    ];
    for (request, status, ct, chunks, want) in cases {
        let p = azure();
        let mut f = fake(&[]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, false);
        send_body(
            &mut s,
            &p,
            &mut f,
            &[&request[..request.len() / 2], &request[request.len() / 2..]],
            false,
        );
        respond(&mut s, &p, &mut f, status, ct, &chunks);
        s.finish(&p, &mut f);
        assert_eq!(
            f.counters,
            want.into_iter().collect::<BTreeMap<_, _>>(),
            "{status} {ct}"
        );
    }
}

#[test]
fn oversized_json_response_is_not_fetched_past_the_limit() {
    let p = azure();
    let mut f = fake(&[]);
    let mut s = Stream::new();
    s.on_request_headers(&p, &mut f, true);
    f.response_headers.insert(":status".into(), "200".into());
    s.on_response_headers(&p, &mut f, false);
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..6 {
        f.response_chunk = chunk.clone();
        s.on_response_body(&p, &mut f, chunk.len(), false);
    }
    f.response_chunk = USAGE_JSON.to_vec();
    s.on_response_body(&p, &mut f, USAGE_JSON.len(), true);
    assert_eq!(
        f.response_fetches.get(),
        4,
        "4 MiB fit, the rest is never copied out"
    );
    let base = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai";
    let want = counters(&[
        (
            &format!("llmgate_requests;{base};request_model=dep;response_model=dep;status_class=2xx"),
            1,
        ),
        (&format!("llmgate_usage_unparsed;{base}"), 1),
        (&format!("llmgate_usage_missing;{base};reason=unreadable"), 1),
        (
            &format!("llmgate_tokens_estimated;{base};request_model=dep;response_model=dep;token_type=input"),
            0,
        ),
        (
            &format!("llmgate_tokens_estimated;{base};request_model=dep;response_model=dep;token_type=output"),
            0,
        ),
    ]);
    assert_eq!(f.counters, want);
}

#[test]
fn a_stream_without_response_counts_once_at_log() {
    let p = azure();
    let mut f = fake(&[]);
    let mut s = Stream::new();
    s.on_request_headers(&p, &mut f, false);
    send_body(&mut s, &p, &mut f, &[b"{\"model\":\"asked\"}"], false);
    s.finish(&p, &mut f);
    s.finish(&p, &mut f);
    let want = counters(&[(
        "llmgate_requests;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=asked;response_model=dep;status_class=none",
        1,
    )]);
    assert_eq!(f.counters, want);
}

#[test]
fn response_ending_at_headers_or_trailers_counts_once() {
    for use_trailers in [false, true] {
        let p = azure();
        let mut f = fake(&[]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        f.response_headers.insert(":status".into(), "200".into());
        if use_trailers {
            s.on_response_headers(&p, &mut f, false);
            f.response_chunk = USAGE_JSON.to_vec();
            s.on_response_body(&p, &mut f, USAGE_JSON.len(), false);
            s.on_response_trailers(&p, &mut f);
        } else {
            s.on_response_headers(&p, &mut f, true);
        }
        s.finish(&p, &mut f);
        let requests: u64 = f
            .counters
            .iter()
            .filter(|(k, _)| k.starts_with("llmgate_requests;"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(requests, 1, "trailers: {use_trailers}");
        let input = f.counters.get("llmgate_tokens;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai;request_model=dep;response_model=gpt-4o-2024;token_type=input");
        assert_eq!(input, use_trailers.then_some(&3));
    }
}

#[test]
fn provider_name_labels_stats_and_log() {
    let mut p = azure();
    p = Plugin::new(FilterConfig {
        provider_name: Some("primary;x=y".into()),
        ..p.cfg
    });
    let mut f = fake(&[]);
    let mut s = Stream::new();
    s.on_request_headers(&p, &mut f, true);
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    s.finish(&p, &mut f);
    let key = "llmgate_tokens;route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=primary_x_y;request_model=dep;response_model=gpt-4o-2024;token_type=input";
    assert_eq!(f.counters.get(key), Some(&3), "{:?}", f.counters.keys());
    assert_eq!(
        f.filter_state
            .get("llmgate.provider_name")
            .map(String::as_str),
        Some("primary_x_y")
    );
}
