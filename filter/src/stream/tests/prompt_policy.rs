//! A route's prompt policy on the whole stream: what goes upstream (masked,
//! enriched, with defaults, then converted), what the client gets when a
//! guard rejects, and what is counted and logged.

use super::*;
use crate::policy_config::{
    AiPolicy, Builtin, FieldDefault, Guard, GuardAction, PromptMessage, RegexGuard, Rejection,
};
use serde_json::{json, Value};

const CARD: &str = "4111 1111 1111 1111";

fn card_guard(action: GuardAction) -> Guard {
    Guard::Regex(RegexGuard {
        matches: vec![],
        builtins: vec![Builtin::CreditCard],
        action,
        rejection: Rejection {
            status: 403,
            message: "No card numbers, please.".into(),
        },
    })
}

fn system(content: &str) -> PromptMessage {
    PromptMessage {
        role: "SYSTEM".into(),
        content: content.into(),
    }
}

fn default(field: &str, value: Value, override_: bool) -> FieldDefault {
    FieldDefault {
        field: field.into(),
        value,
        override_,
    }
}

fn with_policy(p: Plugin, policy: AiPolicy) -> Plugin {
    Plugin::new(FilterConfig { policy, ..p.cfg })
}

fn guarded(p: Plugin, action: GuardAction) -> Plugin {
    with_policy(
        p,
        AiPolicy {
            request_guards: vec![card_guard(action)],
            ..AiPolicy::default()
        },
    )
}

fn enriched(p: Plugin) -> Plugin {
    with_policy(
        p,
        AiPolicy {
            prepend: vec![system("Be brief.")],
            ..AiPolicy::default()
        },
    )
}

fn with_defaults(p: Plugin, defaults: Vec<FieldDefault>) -> Plugin {
    with_policy(
        p,
        AiPolicy {
            defaults,
            ..AiPolicy::default()
        },
    )
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

fn bedrock() -> Plugin {
    plugin(
        ProviderConfig::Bedrock {
            model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            region: "us-east-1".into(),
            guardrail: None,
        },
        TokenSource::Value {
            value: "bedrock-key".into(),
        },
    )
}

/// Sends `body` to `path` in two pieces, as Envoy would.
fn send(p: &Plugin, path: &str, body: &str) -> (Stream, Fake) {
    let len = body.len().to_string();
    let mut f = fake(&[
        (":method", "POST"),
        (":path", path),
        ("content-type", "application/json"),
        ("content-length", &len),
    ]);
    let mut s = Stream::new();
    let paused = s.on_request_headers(p, &mut f, false) == Flow::Pause;
    let bytes = body.as_bytes();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    send_body(&mut s, p, &mut f, &[a, b], paused);
    (s, f)
}

fn sent(f: &Fake) -> Value {
    assert!(f.local_reply.is_none(), "answered: {:?}", f.local_reply);
    assert_eq!(
        f.request_headers["content-length"],
        f.request_body.len().to_string()
    );
    serde_json::from_slice(&f.request_body).unwrap()
}

/// The gateway's own answer: status, body, and `x-amzn-errortype` if any.
fn answered(f: &Fake) -> (u32, Value, Option<String>) {
    let (status, headers, body) = f.local_reply.clone().expect("the gateway answered");
    let errortype = headers
        .iter()
        .find(|(name, _)| name == "x-amzn-errortype")
        .map(|(_, v)| v.clone());
    assert!(headers.contains(&("content-type".into(), "application/json".into())));
    (status, serde_json::from_slice(&body).unwrap(), errortype)
}

fn guard_count(f: &Fake, action: &str) -> Option<u64> {
    f.counters
        .iter()
        .find(|(name, _)| {
            name.starts_with("llmgate_prompt_guard;")
                && name.ends_with(&format!(";direction=request;action={action}"))
        })
        .map(|(_, n)| *n)
}

#[test]
fn a_masked_card_never_goes_upstream_and_the_mask_is_counted_and_logged() {
    let p = guarded(openai(), GuardAction::Mask);
    let body = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": format!("The card on file is {CARD}.")},
        {"role": "user", "content": [{"type": "text", "text": format!("charge 4111111111111111 and {CARD}")}]}]})
    .to_string();
    let (mut s, mut f) = send(&p, "/openai/v1/chat/completions", &body);
    let upstream = String::from_utf8(f.request_body.clone()).unwrap();
    assert!(!upstream.contains("4111"), "{upstream}");
    let sent = sent(&f);
    assert_eq!(
        sent["messages"][0]["content"],
        "The card on file is <CREDIT_CARD>."
    );
    assert_eq!(
        sent["messages"][1]["content"][0]["text"],
        "charge <CREDIT_CARD> and <CREDIT_CARD>"
    );
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    s.finish(&p, &mut f);
    assert_eq!(
        f.counters.get("llmgate_prompt_guard;route=ns/r/rule/0;backend=ns/ai;provider=openai;provider_name=openai;direction=request;action=mask"),
        Some(&1)
    );
    assert_eq!(f.filter_state["llmgate.request_guard"], "mask");
    assert!(f
        .filter_state
        .values()
        .chain(f.counters.keys())
        .all(|v| !v.contains("4111")));
}

#[test]
fn a_masked_card_stays_masked_through_a_conversion() {
    let chat = json!({"model": "m", "messages": [
        {"role": "system", "content": format!("card {CARD}")},
        {"role": "user", "content": format!("pay with {CARD}")}]})
    .to_string();
    let messages = json!({"model": "m", "max_tokens": 10, "system": CARD,
        "messages": [{"role": "user", "content": [{"type": "text", "text": CARD}]}]})
    .to_string();
    let cases = [
        (anthropic(), "/anthropic/v1/chat/completions", &chat),
        (gemini(), "/gemini/v1/chat/completions", &chat),
        (bedrock(), "/bedrock/chat/completions", &chat),
        (openai(), "/openai/v1/messages", &messages),
    ];
    for (p, path, body) in cases {
        let p = guarded(p, GuardAction::Mask);
        let (_, f) = send(&p, path, body);
        let upstream = sent(&f).to_string();
        assert!(!upstream.contains("4111"), "{path}: {upstream}");
        assert_eq!(
            upstream.matches("<CREDIT_CARD>").count(),
            2,
            "{path}: {upstream}"
        );
    }
}

#[test]
fn a_rejected_prompt_is_answered_in_the_clients_shape_and_nothing_goes_upstream() {
    let openai_error = json!({"error": {"message": "No card numbers, please.",
        "type": "permission_error", "param": null, "code": "prompt_rejected"}});
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": CARD}]}).to_string();
    let messages = json!({"model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": CARD}]}]})
    .to_string();
    // (plugin, path, body, want answer, want x-amzn-errortype)
    let cases: Vec<(Plugin, &str, String, Value, Option<&str>)> = vec![
        (
            openai(),
            "/openai/v1/chat/completions",
            chat.clone(),
            openai_error.clone(),
            None,
        ),
        // Converted requests are judged before their conversion.
        (
            anthropic(),
            "/anthropic/v1/chat/completions",
            chat.clone(),
            openai_error.clone(),
            None,
        ),
        (
            anthropic(),
            "/anthropic/v1/messages",
            messages.clone(),
            json!({"type": "error", "error": {"type": "permission_error", "message": "No card numbers, please."}}),
            None,
        ),
        (
            anthropic(),
            "/anthropic/v1/messages/count_tokens",
            messages.clone(),
            json!({"type": "error", "error": {"type": "permission_error", "message": "No card numbers, please."}}),
            None,
        ),
        // Messages to a chat provider: still a Messages client.
        (
            openai(),
            "/openai/v1/messages",
            messages,
            json!({"type": "error", "error": {"type": "permission_error", "message": "No card numbers, please."}}),
            None,
        ),
        (
            openai(),
            "/openai/v1/responses",
            json!({"model": "m", "input": format!("my card: {CARD}")}).to_string(),
            openai_error.clone(),
            None,
        ),
        (
            openai(),
            "/openai/v1/embeddings",
            json!({"model": "m", "input": ["fine", CARD]}).to_string(),
            openai_error,
            None,
        ),
        (
            gemini(),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json!({"contents": [{"role": "user", "parts": [{"text": CARD}]}]}).to_string(),
            json!({"error": {"code": 403, "message": "No card numbers, please.", "status": "PERMISSION_DENIED"}}),
            None,
        ),
        (
            bedrock(),
            "/model/m/converse",
            json!({"messages": [{"role": "user", "content": [{"text": CARD}]}]}).to_string(),
            json!({"message": "No card numbers, please."}),
            Some("AccessDeniedException"),
        ),
    ];
    for (p, path, body, want, errortype) in cases {
        let p = guarded(p, GuardAction::Reject);
        let (mut s, mut f) = send(&p, path, &body);
        let (status, got, got_errortype) = answered(&f);
        assert_eq!(status, 403, "{path}");
        assert_eq!(got, want, "{path}");
        assert_eq!(got_errortype.as_deref(), errortype, "{path}");
        // Envoy still holds the client's body, untouched: it never left.
        assert_eq!(f.request_body, body.as_bytes(), "{path}");
        s.finish(&p, &mut f);
        assert_eq!(guard_count(&f, "reject"), Some(1), "{path}");
        assert_eq!(f.filter_state["llmgate.request_guard"], "reject", "{path}");
        assert!(
            f.counters
                .keys()
                .any(|k| k.starts_with("llmgate_requests;") && k.ends_with("status_class=4xx")),
            "{path}"
        );
    }
}

#[test]
fn a_clean_prompt_goes_as_sent_and_nothing_is_counted() {
    let p = guarded(openai(), GuardAction::Reject);
    let body = r#"{"model":"m",  "messages":[{"role":"user","content":"order 1234"}]}"#;
    let (mut s, mut f) = send(&p, "/openai/v1/chat/completions", body);
    assert!(f.local_reply.is_none());
    // The client's bytes, not a re-serialisation.
    assert_eq!(f.request_body, body.as_bytes());
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    s.finish(&p, &mut f);
    assert_eq!(guard_count(&f, "reject"), None);
    assert_eq!(guard_count(&f, "mask"), None);
    assert!(!f.filter_state.contains_key("llmgate.request_guard"));
}

#[test]
fn the_system_prompt_lands_where_each_provider_keeps_it() {
    let chat = r#"{"model":"m","messages":[{"role":"system","content":"Mine."},{"role":"user","content":"hi"}]}"#;
    let messages = r#"{"model":"m","max_tokens":64,"system":"Mine.","messages":[{"role":"user","content":"hi"}]}"#;
    // (plugin, path, body, where the system prompt is in what is sent)
    let cases: Vec<(Plugin, &str, &str, fn(&Value) -> Value)> = vec![
        (openai(), "/openai/v1/chat/completions", chat, |v| {
            json!([v["messages"][0]["content"], v["messages"][1]["content"]])
        }),
        (anthropic(), "/anthropic/v1/chat/completions", chat, |v| {
            v["system"].clone()
        }),
        (gemini(), "/gemini/v1/chat/completions", chat, |v| {
            json!(v["systemInstruction"]["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].clone())
                .collect::<Vec<_>>())
        }),
        (bedrock(), "/bedrock/chat/completions", chat, |v| {
            json!(v["system"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].clone())
                .collect::<Vec<_>>())
        }),
        // Anthropic Messages: native, and through chat to OpenAI.
        (anthropic(), "/anthropic/v1/messages", messages, |v| {
            v["system"].clone()
        }),
        (openai(), "/openai/v1/messages", messages, |v| {
            json!([v["messages"][0]["role"], v["messages"][0]["content"]])
        }),
    ];
    let wants = [
        json!(["Be brief.", "Mine."]),
        json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Mine."}]),
        json!(["Be brief.", "Mine."]),
        json!(["Be brief.", "Mine."]),
        json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Mine."}]),
        json!(["system", "Be brief.\n\nMine."]),
    ];
    for ((p, path, body, system), want) in cases.into_iter().zip(wants) {
        let p = enriched(p);
        let (_, f) = send(&p, path, body);
        let sent = sent(&f);
        assert_eq!(system(&sent), want, "{path}: {sent}");
    }
}

#[test]
fn a_default_stream_makes_the_request_a_stream_everywhere_the_gateway_looks() {
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let stream = vec![default("stream", json!(true), false)];
    // OpenAI: asked for usage like any stream.
    let p = with_defaults(openai(), stream.clone());
    let (_, f) = send(&p, "/openai/v1/chat/completions", chat);
    let sent_body = sent(&f);
    assert_eq!(sent_body["stream"], true);
    assert_eq!(sent_body["stream_options"]["include_usage"], true);
    // Converted: the provider's streaming endpoint.
    let cases = [
        (
            gemini(),
            "/gemini/chat/completions",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
        (
            bedrock(),
            "/bedrock/chat/completions",
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
        ),
    ];
    for (p, path, want) in cases {
        let p = with_defaults(p, stream.clone());
        let (_, f) = send(&p, path, chat);
        sent(&f);
        assert_eq!(f.request_headers[":path"], want);
    }
    // The client's own `"stream": false` stays.
    let p = with_defaults(gemini(), stream);
    let (_, f) = send(
        &p,
        "/gemini/chat/completions",
        r#"{"model":"m","stream":false,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(
        f.request_headers[":path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
}

#[test]
fn a_default_model_is_only_a_default() {
    let chat = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let model = |override_| vec![default("model", json!("gpt-4o-mini"), override_)];
    // The configured model wins even over an overriding default.
    let p = with_defaults(openai_forcing("gpt-4.1"), model(true));
    let (_, f) = send(&p, "/openai/v1/chat/completions", chat);
    assert_eq!(sent(&f)["model"], "gpt-4.1");
    // Without one, it is the request's model, and counted as such.
    let p = with_defaults(openai(), model(false));
    let (mut s, mut f) = send(&p, "/openai/v1/chat/completions", chat);
    assert_eq!(sent(&f)["model"], "gpt-4o-mini");
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    s.finish(&p, &mut f);
    assert_eq!(f.filter_state["llmgate.request_model"], "gpt-4o-mini");
    // The client's own model stays when the default does not override.
    let (_, f) = send(
        &p,
        "/openai/v1/chat/completions",
        r#"{"model":"o3","messages":[]}"#,
    );
    assert_eq!(sent(&f)["model"], "o3");
}

#[test]
fn bodies_the_policy_cannot_read_are_refused() {
    let p = guarded(openai(), GuardAction::Mask);
    for body in ["not json", r#"{"messages":[]} trailing"#, "[1,2]"] {
        let (_, f) = send(&p, "/openai/v1/chat/completions", body);
        let (status, got, _) = answered(&f);
        assert_eq!(status, 400, "{body}");
        assert_eq!(got["error"]["code"], "invalid_json", "{body}");
        assert_eq!(f.request_body, body.as_bytes(), "{body}");
    }
    // No body at all: nothing to read either.
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/openai/v1/chat/completions"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, true), Flow::Pause);
    assert_eq!(answered(&f).0, 400);
}

#[test]
fn a_policy_body_is_held_within_the_limit_and_refused_past_it() {
    let p = with_limit(guarded(openai(), GuardAction::Mask), 1024);
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(2048)}]}).to_string();
    let (_, f) = send(&p, "/openai/v1/chat/completions", &big);
    assert_eq!(answered(&f).0, 413);
    // Of unknown length too: refused once past the limit.
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/openai/v1/chat/completions"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    let bytes = big.as_bytes();
    send_body(&mut s, &p, &mut f, &[&bytes[..1000], &bytes[1000..]], true);
    assert_eq!(answered(&f).0, 413);
}

#[test]
fn without_a_policy_that_applies_nothing_is_held() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": CARD}]}).to_string();
    let len = body.len().to_string();
    // (plugin, path): enrichment on embeddings, any policy on a passthrough.
    let passthrough = {
        let mut p = guarded(openai(), GuardAction::Reject);
        p.cfg.routes = vec![crate::route_type::RouteRule {
            suffix: "*".into(),
            route_type: RouteType::Passthrough,
        }];
        Plugin::new(p.cfg)
    };
    let cases = [
        (enriched(openai()), "/openai/v1/embeddings"),
        (passthrough, "/openai/v1/chat/completions"),
        (with_defaults(azure(), vec![]), "/azure/chat/completions"),
    ];
    for (p, path) in cases {
        let mut f = fake(&[
            (":method", "POST"),
            (":path", path),
            ("content-length", &len),
        ]);
        let mut s = Stream::new();
        assert_eq!(
            s.on_request_headers(&p, &mut f, false),
            Flow::Continue,
            "{path}"
        );
        send_body(&mut s, &p, &mut f, &[body.as_bytes()], false);
        assert!(f.local_reply.is_none(), "{path}");
        assert_eq!(f.request_body, body.as_bytes(), "{path}");
    }
}
