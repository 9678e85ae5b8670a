//! Model names end to end through the stream: the empty-model rule shared
//! by the access log and the metrics, and `modelAliases`
//! ([`crate::model_names`]).

use super::*;

fn with_aliases(p: Plugin, aliases: &[(&str, &str)]) -> Plugin {
    Plugin::new(FilterConfig {
        model_aliases: aliases
            .iter()
            .map(|(a, m)| ((*a).to_owned(), (*m).to_owned()))
            .collect(),
        ..p.cfg
    })
}

fn openai() -> Plugin {
    plugin(
        ProviderConfig::Openai { model: None },
        TokenSource::Value {
            value: "sk-1".into(),
        },
    )
}

fn anthropic() -> Plugin {
    plugin(
        ProviderConfig::Anthropic {
            model: None,
            api_version: None,
        },
        TokenSource::Value {
            value: "ant".into(),
        },
    )
}

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

/// Sends `body` to `path` with a `content-length`; returns whether the
/// headers were held, the stream and the fake with the request upstream.
fn send(p: &Plugin, path: &str, body: &str) -> (Flow, Stream, Fake) {
    let len = body.len().to_string();
    let mut f = fake(&[
        (":method", "POST"),
        (":path", path),
        ("content-length", &len),
    ]);
    let mut s = Stream::new();
    let flow = s.on_request_headers(p, &mut f, false);
    let bytes = body.as_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    send_body(&mut s, p, &mut f, &[a, b], flow == Flow::Pause);
    (flow, s, f)
}

/// `(request_model, response_model)` as the access log has them, and as the
/// `llmgate_requests` counter labels them.
fn logged_and_counted(f: &Fake) -> ((Option<String>, Option<String>), (String, String)) {
    let log = |k: &str| f.filter_state.get(&format!("llmgate.{k}")).cloned();
    let key = f
        .counters
        .keys()
        .find(|k| k.starts_with("llmgate_requests;"))
        .expect("a request counted");
    let label = |name: &str| {
        key.split(';')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    (
        (log("request_model"), log("response_model")),
        (label("request_model"), label("response_model")),
    )
}

#[test]
fn the_log_and_the_metrics_agree_on_empty_and_absent_models() {
    let reply = |model: Option<&str>| match model {
        Some(m) => format!(
            r#"{{"model":"{m}","usage":{{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}}}"#
        ),
        None => {
            r#"{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#.to_owned()
        }
    };
    // (plugin, request body, reply model, logged request/response model)
    let cases: Vec<(Plugin, &str, Option<&str>, Option<&str>, Option<&str>)> = vec![
        (
            openai(),
            r#"{"model":"gpt-4o-mini"}"#,
            Some("gpt-4o-mini-2024-07-18"),
            Some("gpt-4o-mini"),
            Some("gpt-4o-mini-2024-07-18"),
        ),
        (openai(), r#"{"model":""}"#, Some(""), None, None),
        (openai(), r#"{}"#, None, None, None),
        (openai(), r#"{"model":null}"#, None, None, None),
        (openai(), r#"{"model":42}"#, None, None, None),
        (openai(), "not json", None, None, None),
        // Azure's classic API: the deployment in the path stands in.
        (
            azure(),
            r#"{"model":""}"#,
            Some(""),
            Some("dep"),
            Some("dep"),
        ),
        (
            azure(),
            r#"{}"#,
            Some("gpt-4o-2024"),
            Some("dep"),
            Some("gpt-4o-2024"),
        ),
        (
            azure(),
            r#"{"model":"asked"}"#,
            None,
            Some("asked"),
            Some("dep"),
        ),
        // A model override is the request's model whatever the body says.
        (
            openai_forcing("gpt-4.1-mini"),
            r#"{"model":""}"#,
            None,
            Some("gpt-4.1-mini"),
            None,
        ),
    ];
    for (p, body, reply_model, want_request, want_response) in cases {
        let (_, mut s, mut f) = send(&p, "/v1/chat/completions", body);
        let reply = reply(reply_model);
        respond(
            &mut s,
            &p,
            &mut f,
            "200",
            "application/json",
            &[reply.as_bytes()],
        );
        s.finish(&p, &mut f);
        let ((log_request, log_response), (label_request, label_response)) = logged_and_counted(&f);
        assert_eq!(log_request.as_deref(), want_request, "{body}");
        assert_eq!(log_response.as_deref(), want_response, "{body}");
        // The one rule: no model is absent from the log and `unknown` in
        // the metrics; any other is the same in both.
        for (logged, label) in [
            (&log_request, &label_request),
            (&log_response, &label_response),
        ] {
            let want = logged
                .as_deref()
                .map_or("unknown".to_owned(), metrics::sanitize_label);
            assert_eq!(label, &want, "{body}");
        }
    }
}

#[test]
fn an_alias_reaches_the_provider_as_its_model_and_is_counted_as_asked() {
    let openai = with_aliases(openai(), &[("fast", "gpt-4o-mini"), ("smart", "gpt-4.1")]);
    let anthropic = with_aliases(anthropic(), &[("fast", "claude-haiku-4-5")]);
    // (plugin, path, body, model upstream, request_model)
    let cases: Vec<(&Plugin, &str, &str, Option<&str>, &str)> = vec![
        (
            &openai,
            "/v1/chat/completions",
            r#"{"model":"fast","messages":[]}"#,
            Some("gpt-4o-mini"),
            "fast",
        ),
        (
            &openai,
            "/v1/chat/completions",
            r#"{"model":"smart"}"#,
            Some("gpt-4.1"),
            "smart",
        ),
        (
            &openai,
            "/v1/responses",
            r#"{"model":"fast","input":"hi"}"#,
            Some("gpt-4o-mini"),
            "fast",
        ),
        (
            &openai,
            "/v1/embeddings",
            r#"{"model":"fast","input":"hi"}"#,
            Some("gpt-4o-mini"),
            "fast",
        ),
        // Not an alias (names are exact): the body goes as it is.
        (
            &openai,
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","x":1}"#,
            Some("gpt-4o"),
            "gpt-4o",
        ),
        (
            &openai,
            "/v1/chat/completions",
            r#"{"model":"FAST"}"#,
            Some("FAST"),
            "FAST",
        ),
        (
            &openai,
            "/v1/chat/completions",
            r#"{"model":""}"#,
            Some(""),
            "unknown",
        ),
        (
            &openai,
            "/v1/chat/completions",
            r#"{"messages":[]}"#,
            None,
            "unknown",
        ),
        // Anthropic Messages, natively.
        (
            &anthropic,
            "/v1/messages",
            r#"{"model":"fast","max_tokens":5,"messages":[]}"#,
            Some("claude-haiku-4-5"),
            "fast",
        ),
    ];
    for (p, path, body, upstream, request_model) in cases {
        let (flow, mut s, mut f) = send(p, path, body);
        assert_eq!(flow, Flow::Pause, "{body}: held to read its model");
        assert_eq!(
            json_model::read_model(&f.request_body).as_deref(),
            upstream,
            "{path} {body}"
        );
        if upstream.is_some_and(|u| !body.contains(u)) {
            assert_eq!(
                f.request_header("content-length"),
                Some(f.request_body.len().to_string()),
                "{body}"
            );
        } else {
            assert_eq!(f.request_body, body.as_bytes(), "{body}: untouched");
        }
        respond(&mut s, p, &mut f, "200", "application/json", &[USAGE_JSON]);
        s.finish(p, &mut f);
        let (_, (label, response_label)) = logged_and_counted(&f);
        assert_eq!(label, request_model, "{body}");
        assert_eq!(response_label, "gpt-4o-2024", "what the provider answered");
        let logged = f
            .filter_state
            .get("llmgate.request_model")
            .map(String::as_str);
        assert_eq!(
            logged,
            Some(request_model).filter(|m| *m != "unknown"),
            "{body}"
        );
    }
}

#[test]
fn a_configured_model_wins_over_aliases() {
    let p = with_aliases(openai_forcing("gpt-4.1-mini"), &[("fast", "gpt-4o-mini")]);
    let (_, mut s, mut f) = send(&p, "/v1/chat/completions", r#"{"model":"fast"}"#);
    assert_eq!(
        json_model::read_model(&f.request_body).as_deref(),
        Some("gpt-4.1-mini")
    );
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    s.finish(&p, &mut f);
    let (_, (label, _)) = logged_and_counted(&f);
    assert_eq!(label, "gpt-4.1-mini");
    // Azure's v1 API sends the deployment, whatever the alias says.
    let p = with_aliases(azure_at("v1"), &[("fast", "other")]);
    let (_, _, f) = send(&p, "/v1/chat/completions", r#"{"model":"fast"}"#);
    assert_eq!(
        json_model::read_model(&f.request_body).as_deref(),
        Some("dep")
    );
}

#[test]
fn without_aliases_the_body_is_not_held() {
    // (OpenAI chat would be held anyway, to add `include_usage`.)
    let (flow, _, f) = send(&anthropic(), "/v1/messages", r#"{"model":"fast"}"#);
    assert_eq!(flow, Flow::Continue);
    assert_eq!(
        f.request_body, br#":"fast"}"#,
        "the second chunk, as it came"
    );
}

#[test]
fn conversions_send_the_aliased_model() {
    let anthropic = with_aliases(anthropic(), &[("fast", "claude-haiku-4-5")]);
    let openai = with_aliases(openai(), &[("fast", "gpt-4o-mini")]);
    let gemini = with_aliases(gemini(), &[("fast", "gemini-2.5-pro")]);
    let chat = r#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#;
    let messages = r#"{"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    // (plugin, path, body, model in the converted body)
    let cases: [(&Plugin, &str, &str, Option<&str>); 3] = [
        // Chat → Anthropic Messages.
        (
            &anthropic,
            "/v1/chat/completions",
            chat,
            Some("claude-haiku-4-5"),
        ),
        // Messages → OpenAI chat.
        (&openai, "/v1/messages", messages, Some("gpt-4o-mini")),
        // Gemini names its configured model in the path: aliases never move it.
        (&gemini, "/v1/chat/completions", chat, None),
    ];
    for (p, path, body, want) in cases {
        let (flow, mut s, mut f) = send(p, path, body);
        assert_eq!(flow, Flow::Pause);
        assert!(f.local_reply.is_none(), "{path}: {:?}", f.local_reply);
        assert_eq!(
            json_model::read_model(&f.request_body).as_deref(),
            want,
            "{path}"
        );
        if want.is_none() {
            let path = f.request_header(":path").unwrap_or_default();
            assert!(path.contains("gemini-2.5-flash"), "{path}");
        }
        s.finish(p, &mut f);
        assert_eq!(
            f.filter_state
                .get("llmgate.request_model")
                .map(String::as_str),
            Some("fast"),
            "{path}: counted as the client asked"
        );
    }
}

#[test]
fn the_model_list_names_the_aliases() {
    let p = with_aliases(
        gemini(),
        &[("fast", "gemini-2.5-flash"), ("gemini-2.5-flash", "x")],
    );
    let mut f = fake(&[(":method", "GET"), (":path", "/v1/models")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Pause);
    let (status, _, body) = f.local_reply.clone().unwrap();
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gemini-2.5-flash", "fast"], "each name once");
}

#[test]
fn aliases_do_not_use_up_the_model_label_budget() {
    let p = with_aliases(openai(), &[("fast", "gpt-4o-mini")]);
    let mut f = fake(&[]);
    for i in 0..metrics::MAX_MODELS_PER_BACKEND {
        f.cap.label("ns/ai", Some(&format!("m{i}")));
    }
    let (_, mut s, _) = send(&p, "/v1/chat/completions", r#"{"model":"fast"}"#);
    let reply = br#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    f.request_headers
        .insert(":path".into(), "/v1/chat/completions".into());
    respond(&mut s, &p, &mut f, "200", "application/json", &[reply]);
    s.finish(&p, &mut f);
    let (_, labels) = logged_and_counted(&f);
    assert_eq!(labels, ("fast".to_owned(), "gpt-4o-mini".to_owned()));
}
