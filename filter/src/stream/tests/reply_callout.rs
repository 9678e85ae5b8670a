//! Response webhook guards, as the client sees them: a whole reply is held
//! while the webhook is asked, then arrives as it came, masked (its length
//! fixed) or replaced by the webhook's refusal; a failed check follows the
//! failure mode; a stream cannot be checked.

use super::*;
use crate::policy_config::{AiPolicy, Callout, Guard, Rejection, WebhookGuard};
use serde_json::{json, Value};

const REPLY: &str = r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Call 555-1234."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

fn guarded(fail_open: bool) -> Plugin {
    let p = plugin(
        ProviderConfig::Openai { model: None },
        TokenSource::Value {
            value: "sk-1".into(),
        },
    );
    let policy = AiPolicy {
        response_guards: vec![Guard::Webhook(WebhookGuard {
            callout: Callout {
                cluster: "llmgate-guard-ns-hook".into(),
                authority: "hook.ns.svc:8000".into(),
                timeout_ms: 500,
                fail_open,
            },
            forward_headers: vec![],
            rejection: Rejection {
                status: 403,
                message: "rejected".into(),
            },
        })],
        ..AiPolicy::default()
    };
    Plugin::new(FilterConfig { policy, ..p.cfg })
}

/// A chat reply of `content_type` delivered in two chunks; the webhook,
/// when asked, answers `answer` (`None`: the call failed). What the client
/// gets: its status and body.
fn exchange(
    p: &Plugin,
    content_type: &str,
    reply: &str,
    answer: Option<(Option<u16>, &str)>,
) -> (Fake, Stream) {
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    s.on_request_headers(p, &mut f, true);
    f.response_headers.insert(":status".into(), "200".into());
    f.response_headers
        .insert("content-type".into(), content_type.into());
    f.response_headers
        .insert("content-length".into(), reply.len().to_string());
    let headers_flow = s.on_response_headers(p, &mut f, false);
    let (a, b) = reply.as_bytes().split_at(reply.len() / 2);
    let mut got = Vec::new();
    f.response_chunk = a.to_vec();
    if s.on_response_body(p, &mut f, a.len(), false) == Flow::Continue {
        got.push(std::mem::take(&mut f.response_chunk));
    }
    f.response_chunk.extend_from_slice(b);
    let size = f.response_chunk.len();
    let flow = s.on_response_body(p, &mut f, size, true);
    if flow == Flow::Pause {
        assert_eq!(headers_flow, Flow::Pause, "headers held with the reply");
        assert!(got.is_empty(), "nothing sent while the reply is held");
        let (status, body) = answer.expect("the reply waits for an answer");
        s.on_call_response(p, &mut f, 101, status, body.as_bytes().to_vec());
        assert!(f.response_resumed, "the reply never went on");
    }
    got.push(std::mem::take(&mut f.response_chunk));
    s.finish(p, &mut f);
    f.client_got = got.concat();
    (f, s)
}

fn content(f: &Fake) -> String {
    let reply: Value = serde_json::from_slice(&f.client_got).unwrap();
    reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn counted(f: &Fake, outcome: &str) -> Option<u64> {
    f.counters
        .iter()
        .find(|(k, _)| k.contains("guard=webhook") && k.ends_with(&format!("outcome={outcome}")))
        .map(|(_, v)| *v)
}

#[test]
fn the_webhook_sees_the_replys_texts() {
    let (f, _) = exchange(
        &guarded(false),
        "application/json",
        REPLY,
        Some((Some(200), r#"{"action":{}}"#)),
    );
    assert_eq!(f.calls.len(), 1);
    assert!(f.calls[0]
        .headers
        .contains(&(":path".into(), "/response".into())));
    let sent: Value = serde_json::from_slice(&f.calls[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"body": {"choices": [{"message": {"role": "assistant", "content": "Call 555-1234."}}]}})
    );
    assert_eq!(f.client_got, REPLY.as_bytes(), "a pass sends it as it came");
    assert_eq!(counted(&f, "pass"), Some(1));
}

#[test]
fn a_masked_reply_arrives_masked_with_its_length_fixed() {
    let (f, _) = exchange(
        &guarded(false),
        "application/json",
        REPLY,
        Some((
            Some(200),
            r#"{"action":{"body":{"choices":[{"message":{"role":"assistant","content":"Call <PHONE>."}}]}}}"#,
        )),
    );
    assert_eq!(content(&f), "Call <PHONE>.");
    assert_eq!(
        f.response_headers["content-length"],
        f.client_got.len().to_string()
    );
    assert_eq!(counted(&f, "mask"), Some(1));
}

#[test]
fn a_rejected_reply_never_reaches_the_client() {
    let (f, _) = exchange(
        &guarded(false),
        "application/json",
        REPLY,
        Some((
            Some(200),
            r#"{"action":{"body":"withheld","status_code":451}}"#,
        )),
    );
    assert_eq!(f.response_headers[":status"], "451");
    assert_eq!(f.client_got, b"withheld");
    assert_eq!(f.response_headers["content-length"], "8");
    assert_eq!(counted(&f, "reject"), Some(1));
}

#[test]
fn failures_follow_the_failure_mode() {
    for (status, outcome) in [(None, "a failed call"), (Some(500), "a 500")] {
        let (f, _) = exchange(
            &guarded(false),
            "application/json",
            REPLY,
            Some((status, "")),
        );
        assert_eq!(counted(&f, "error"), Some(1), "{outcome}");
        assert_eq!(f.response_headers[":status"], "502", "{outcome}");
        let error: Value = serde_json::from_slice(&f.client_got).unwrap();
        assert_eq!(error["error"]["code"], "guard_unavailable");
        assert!(!String::from_utf8_lossy(&f.client_got).contains("555"));

        let (f, _) = exchange(
            &guarded(true),
            "application/json",
            REPLY,
            Some((status, "")),
        );
        assert_eq!(f.client_got, REPLY.as_bytes(), "fail open: {outcome}");
    }
}

#[test]
fn a_stream_cannot_be_checked() {
    let sse =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Call 555-1234.\"}}]}\n\ndata: [DONE]\n\n";
    let (f, _) = exchange(&guarded(false), "text/event-stream", sse, None);
    assert!(f.calls.is_empty());
    assert_eq!(f.response_headers[":status"], "502");
    assert!(!String::from_utf8_lossy(&f.client_got).contains("555"));

    let (f, _) = exchange(&guarded(true), "text/event-stream", sse, None);
    assert!(f.calls.is_empty());
    assert_eq!(f.client_got, sse.as_bytes(), "fail open: passed unchecked");
}

#[test]
fn a_reply_to_be_converted_is_refused_before_it_is_asked_for_when_a_webhook_fails_closed() {
    // (fail open, the local answer)
    for (fail_open, refused) in [(false, true), (true, false)] {
        let guard = guarded(fail_open).cfg.policy;
        let p = Plugin::new(FilterConfig {
            policy: guard,
            ..super::conversion::anthropic().cfg
        });
        let mut f = fake(&[(":path", "/v1/chat/completions")]);
        let mut s = Stream::new();
        let flow = s.on_request_headers(&p, &mut f, false);
        match &f.local_reply {
            Some((status, _, body)) => {
                assert!(refused, "fail open: refused");
                assert_eq!(*status, 502);
                let body: Value = serde_json::from_slice(body).unwrap();
                assert_eq!(body["error"]["code"], "guard_unavailable", "{body}");
                assert_eq!(flow, Flow::Pause);
            }
            None => assert!(!refused, "fail closed: the request went on"),
        }
    }
}
