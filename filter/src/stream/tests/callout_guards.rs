//! Prompt guards that call a service: the request is held while the
//! webhook or moderation endpoint is asked, then resumes (as sent or
//! masked) or is answered here; failures follow the guard's failure mode;
//! the moderation key never goes upstream.

use super::*;
use crate::policy_config::{Callout, Guard, ModerationGuard, Rejection, WebhookGuard};
use serde_json::{json, Value};

const KEY_HEADER: &str = "x-llmgate-guard-key-0";

fn callout(fail_open: bool) -> Callout {
    Callout {
        cluster: "llmgate-guard-ns-hook".into(),
        authority: "hook.ns.svc:8000".into(),
        timeout_ms: 500,
        fail_open,
    }
}

fn webhook(fail_open: bool) -> Guard {
    Guard::Webhook(WebhookGuard {
        callout: callout(fail_open),
        forward_headers: vec!["x-user".into()],
        rejection: Rejection {
            status: 403,
            message: "rejected".into(),
        },
    })
}

fn moderation() -> Guard {
    Guard::Moderation(ModerationGuard {
        callout: Callout {
            cluster: "llmgate-ai-ns-openai".into(),
            authority: "api.openai.com".into(),
            timeout_ms: 500,
            fail_open: false,
        },
        path: "/v1/moderations".into(),
        model: "omni-moderation-latest".into(),
        key_header: Some(KEY_HEADER.into()),
        rejection: Rejection {
            status: 422,
            message: "flagged by moderation".into(),
        },
    })
}

fn guarded(guards: Vec<Guard>) -> Plugin {
    let mut cfg = plugin(
        ProviderConfig::Openai { model: None },
        TokenSource::Value {
            value: "sk-provider".into(),
        },
    )
    .cfg;
    cfg.policy.request_guards = guards;
    Plugin::new(cfg)
}

const BODY: &[u8] =
    br#"{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"my name is Bob"}]}"#;

/// A chat request whose whole body is in: the stream is waiting for the
/// first guard's answer.
fn held(p: &Plugin, path: &str, body: &[u8]) -> (Stream, Fake) {
    let mut f = fake(&[
        (":path", path),
        (":method", "POST"),
        ("content-length", &body.len().to_string()),
        ("x-user", "alice"),
        (KEY_HEADER, "sk-moderation"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(p, &mut f, false), Flow::Pause);
    assert_eq!(send_body(&mut s, p, &mut f, &[body], true), [Flow::Pause]);
    (s, f)
}

fn answer(s: &mut Stream, p: &Plugin, f: &mut Fake, status: Option<u16>, body: &str) {
    let token = u32::try_from(f.calls.len()).unwrap() + 100;
    s.on_call_response(p, f, token, status, body.as_bytes().to_vec());
}

fn call_body(f: &Fake, i: usize) -> Value {
    serde_json::from_slice(&f.calls[i].body).unwrap()
}

fn local(f: &Fake) -> (u32, Value) {
    let (status, _, body) = f.local_reply.clone().expect("answered");
    (status, serde_json::from_slice(&body).unwrap())
}

fn counted(f: &Fake, guard: &str, outcome: &str) -> u64 {
    let name = format!(
        "llmgate_guard_callout;route=ns/r/rule/0;backend=ns/ai;guard={guard};outcome={outcome}"
    );
    f.counters.get(&name).copied().unwrap_or(0)
}

#[test]
fn a_passed_prompt_goes_on_as_sent() {
    let p = guarded(vec![webhook(false)]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    assert_eq!(f.calls.len(), 1);
    let call = &f.calls[0];
    assert_eq!(call.cluster, "llmgate-guard-ns-hook");
    assert_eq!(call.timeout_ms, 500);
    assert!(call
        .headers
        .contains(&(":path".to_owned(), "/request".to_owned())));
    assert!(call
        .headers
        .contains(&("x-user".to_owned(), "alice".to_owned())));
    assert_eq!(
        call_body(&f, 0),
        json!({"body": {"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "my name is Bob"}
        ]}})
    );
    assert!(!f.resumed);
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"action":{"reason":"ok"}}"#,
    );
    assert!(f.resumed);
    assert!(f.local_reply.is_none());
    assert_eq!(f.request_body, BODY);
    assert_eq!(counted(&f, "webhook", "pass"), 1);
}

#[test]
fn a_masked_prompt_goes_on_masked() {
    let p = guarded(vec![webhook(false)]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"action":{"body":{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"my name is <NAME>"}]}}}"#,
    );
    assert!(f.resumed);
    let sent: Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["messages"][1]["content"], "my name is <NAME>");
    assert_eq!(sent["model"], "gpt-4o");
    assert_eq!(
        f.request_header("content-length"),
        Some(f.request_body.len().to_string())
    );
    assert_eq!(counted(&f, "webhook", "mask"), 1);
}

#[test]
fn a_rejected_prompt_is_answered_with_the_webhooks_refusal() {
    let p = guarded(vec![webhook(false)]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"action":{"body":"names are private","status_code":451}}"#,
    );
    assert!(!f.resumed);
    let (status, headers, body) = f.local_reply.clone().unwrap();
    assert_eq!(status, 451);
    assert_eq!(
        headers,
        [("content-type".to_owned(), "text/plain".to_owned())]
    );
    assert_eq!(body, b"names are private");
    assert_eq!(counted(&f, "webhook", "reject"), 1);
    // Counted once, with the refusal's status.
    s.finish(&p, &mut f);
    assert!(f.counters.keys().any(|k| k.contains("status_class=4xx")));
}

#[test]
fn failures_follow_the_failure_mode() {
    // (fail open, answer status, elapsed, outcome)
    let cases = [
        (false, None, 600, "timeout"),
        (true, None, 600, "timeout"),
        (false, None, 0, "error"),
        (true, Some(500), 0, "error"),
        (false, Some(200), 0, "error"),
    ];
    for (fail_open, status, elapsed, outcome) in cases {
        let p = guarded(vec![webhook(fail_open)]);
        let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
        // The fake's clock moves 10 ms a look; jump it to the elapsed time.
        f.clock_ms.set(f.clock_ms.get() + elapsed);
        answer(&mut s, &p, &mut f, status, "not json");
        assert_eq!(counted(&f, "webhook", outcome), 1, "{status:?} {elapsed}");
        if fail_open {
            assert!(f.resumed, "{status:?}");
            assert_eq!(f.request_body, BODY);
        } else {
            assert!(!f.resumed);
            let (status, body) = local(&f);
            assert_eq!(status, 503);
            assert_eq!(body["error"]["code"], "guard_unavailable");
        }
    }
}

#[test]
fn a_call_envoy_will_not_make_fails_closed_at_once() {
    let p = guarded(vec![webhook(false)]);
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    f.calls_fail = true;
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert_eq!(send_body(&mut s, &p, &mut f, &[BODY], true), [Flow::Pause]);
    assert_eq!(local(&f).0, 503);
    assert_eq!(counted(&f, "webhook", "error"), 1);
}

#[test]
fn moderation_gets_the_key_and_upstream_never_does() {
    let p = guarded(vec![moderation()]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    assert_eq!(f.request_header(KEY_HEADER), None);
    let call = &f.calls[0];
    assert_eq!(call.cluster, "llmgate-ai-ns-openai");
    assert!(call.headers.contains(&(
        "authorization".to_owned(),
        "Bearer sk-moderation".to_owned()
    )));
    assert!(call
        .headers
        .contains(&(":path".to_owned(), "/v1/moderations".to_owned())));
    assert_eq!(
        call_body(&f, 0),
        json!({"model": "omni-moderation-latest", "input": ["Be brief.", "my name is Bob"]})
    );
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"results":[{"flagged":false}]}"#,
    );
    assert!(f.resumed);
    assert_eq!(
        f.request_header("authorization").as_deref(),
        Some("Bearer sk-provider")
    );
    assert!(!f
        .request_headers
        .values()
        .any(|v| v.contains("sk-moderation")));
    assert_eq!(counted(&f, "moderation", "pass"), 1);
}

#[test]
fn a_flagged_prompt_gets_the_policys_refusal() {
    let p = guarded(vec![moderation()]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"results":[{"flagged":true}]}"#,
    );
    assert!(!f.resumed);
    let (status, body) = local(&f);
    assert_eq!(status, 422);
    assert_eq!(body["error"]["message"], "flagged by moderation");
    assert_eq!(body["error"]["code"], "prompt_rejected");
    assert_eq!(counted(&f, "moderation", "reject"), 1);
}

#[test]
fn guards_are_asked_in_order_and_the_next_sees_the_mask() {
    let p = guarded(vec![webhook(false), moderation()]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"action":{"body":{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"my name is <NAME>"}]}}}"#,
    );
    assert!(!f.resumed);
    assert_eq!(f.calls.len(), 2);
    assert_eq!(call_body(&f, 1)["input"][1], "my name is <NAME>");
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"results":[{"flagged":false}]}"#,
    );
    assert!(f.resumed);
    let sent: Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["messages"][1]["content"], "my name is <NAME>");
}

#[test]
fn anthropic_messages_are_guarded_and_refused_in_anthropics_shape() {
    let p = guarded(vec![moderation()]);
    let body = br#"{"model":"m","system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":9}"#;
    let (mut s, mut f) = held(&p, "/v1/messages", body);
    assert_eq!(call_body(&f, 0)["input"], json!(["Be brief.", "hi"]));
    answer(
        &mut s,
        &p,
        &mut f,
        Some(200),
        r#"{"results":[{"flagged":true}]}"#,
    );
    let (status, body) = local(&f);
    assert_eq!(status, 422);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["message"], "flagged by moderation");
}

#[test]
fn what_the_guards_cannot_read_is_refused() {
    let p = guarded(vec![webhook(true)]);
    // Not JSON: 400, nothing asked.
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    send_body(&mut s, &p, &mut f, &[b"{not json"], true);
    let (status, body) = local(&f);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(f.calls.is_empty());
    // A request type whose prompt the guards do not read: 400 at once.
    let mut f = fake(&[(":path", "/v1/embeddings")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    let (status, body) = local(&f);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "unguardable_request");
}

#[test]
fn a_prompt_without_text_asks_nobody() {
    let p = guarded(vec![webhook(false)]);
    let body = br#"{"model":"gpt-4o","messages":[]}"#;
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert_eq!(
        send_body(&mut s, &p, &mut f, &[body], true),
        [Flow::Continue]
    );
    assert!(f.calls.is_empty());
    assert!(f.local_reply.is_none());
}

#[test]
fn a_late_or_foreign_answer_is_ignored() {
    let p = guarded(vec![webhook(false)]);
    let (mut s, mut f) = held(&p, "/v1/chat/completions", BODY);
    s.on_call_response(&p, &mut f, 7, Some(200), b"{}".to_vec());
    assert!(!f.resumed);
    assert!(f.local_reply.is_none());
}

#[test]
fn regex_guards_apply_after_the_callout_guards_passed() {
    use crate::policy_config::{Builtin, GuardAction, RegexGuard};
    let email = Guard::Regex(RegexGuard {
        matches: vec![],
        builtins: vec![Builtin::Email],
        action: GuardAction::Mask,
        rejection: Rejection {
            status: 403,
            message: "no".into(),
        },
    });
    let p = guarded(vec![email, webhook(false)]);
    let body =
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"mail bob@example.com"}]}"#;
    let (mut s, mut f) = held(&p, "/v1/chat/completions", body);
    // The webhook sees the client's text, unmasked.
    assert_eq!(
        call_body(&f, 0)["body"]["messages"][0]["content"],
        "mail bob@example.com"
    );
    answer(&mut s, &p, &mut f, Some(200), r#"{"action":{}}"#);
    assert!(f.resumed);
    let sent: Value = serde_json::from_slice(&f.request_body).unwrap();
    assert_eq!(sent["messages"][0]["content"], "mail <EMAIL>");
}
