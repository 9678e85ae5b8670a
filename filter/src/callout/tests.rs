use super::*;
use crate::policy_config::{ModerationGuard, WebhookGuard};
use serde_json::{json, Value};

fn callout(fail_open: bool) -> Callout {
    Callout {
        cluster: "guard-cluster".into(),
        authority: "guard.ns.svc:8000".into(),
        timeout_ms: 2000,
        fail_open,
    }
}

fn rejection() -> Rejection {
    Rejection {
        status: 403,
        message: "Not on this gateway".into(),
    }
}

fn webhook(fail_open: bool) -> Guard {
    Guard::Webhook(WebhookGuard {
        callout: callout(fail_open),
        forward_headers: vec!["x-user".into(), "x-absent".into()],
        rejection: rejection(),
    })
}

fn moderation(fail_open: bool) -> Guard {
    Guard::Moderation(ModerationGuard {
        callout: callout(fail_open),
        path: "/v1/moderations".into(),
        model: "omni-moderation-latest".into(),
        key_header: Some("x-llmgate-moderation-key".into()),
        rejection: rejection(),
    })
}

fn prompt() -> Vec<(String, String)> {
    vec![
        ("system".into(), "Be brief.".into()),
        ("user".into(), "hello".into()),
    ]
}

fn header(name: &str) -> Option<String> {
    (name == "x-user").then(|| "alice".to_owned())
}

fn pairs(call: &Call) -> Vec<(&str, &str)> {
    call.headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[test]
fn a_webhook_call_posts_the_messages_with_the_forwarded_headers() {
    let (kind, call) = call(
        &webhook(false),
        Side::Prompt,
        &prompt(),
        header,
        Some("ignored"),
    )
    .unwrap();
    assert_eq!(kind, Kind::Webhook);
    assert_eq!(call.cluster, "guard-cluster");
    assert_eq!(call.timeout_ms, 2000);
    assert_eq!(
        pairs(&call),
        [
            (":method", "POST"),
            (":path", "/request"),
            (":authority", "guard.ns.svc:8000"),
            ("content-type", "application/json"),
            ("x-user", "alice"),
        ]
    );
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        body,
        json!({"body": {"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"}
        ]}})
    );
}

#[test]
fn a_moderation_call_carries_the_key_as_a_bearer_token() {
    let (kind, with_key) = call(
        &moderation(false),
        Side::Prompt,
        &prompt(),
        header,
        Some("sk-mod"),
    )
    .unwrap();
    assert_eq!(kind, Kind::Moderation);
    assert_eq!(
        pairs(&with_key),
        [
            (":method", "POST"),
            (":path", "/v1/moderations"),
            (":authority", "guard.ns.svc:8000"),
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-mod"),
        ]
    );
    let body: Value = serde_json::from_slice(&with_key.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "omni-moderation-latest", "input": ["Be brief.", "hello"]})
    );
    // No key, no header (the endpoint answers 401: a failed call).
    for key in [None, Some("")] {
        let (_, call) = call(&moderation(false), Side::Prompt, &prompt(), header, key).unwrap();
        assert!(!call.headers.iter().any(|(n, _)| n == "authorization"));
    }
}

fn answer(status: Option<u16>, body: &str, elapsed_ms: u64) -> Answer {
    Answer {
        status,
        body: body.as_bytes().to_vec(),
        elapsed_ms,
    }
}

/// The status and the body's error `code` or text of a refusal.
fn refused(verdict: &Verdict) -> Option<(u16, &'static str, String)> {
    match verdict {
        Verdict::Refuse {
            status,
            content_type,
            body,
        } => {
            let text = String::from_utf8(body.clone()).unwrap();
            let shown = match serde_json::from_str::<Value>(&text) {
                Ok(v) if v["error"]["code"].is_string() => {
                    format!("{}: {}", v["error"]["code"], v["error"]["message"])
                }
                _ => text,
            };
            Some((*status, *content_type, shown))
        }
        _ => None,
    }
}

#[test]
fn judges_webhook_answers() {
    let unavailable = Some((
        503,
        "application/json",
        r#""guard_unavailable": "llmgate: the prompt guard could not be asked; try again later""#
            .to_owned(),
    ));
    let rejected = Some((
        403,
        "application/json",
        r#""prompt_rejected": "Not on this gateway""#.to_owned(),
    ));
    let cases = [
        (
            false,
            answer(Some(200), r#"{"action":{}}"#, 5),
            Outcome::Pass,
            None,
        ),
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"<NAME>"}]}}}"#,
                5,
            ),
            Outcome::Mask,
            None,
        ),
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":"go away","status_code":451}}"#,
                5,
            ),
            Outcome::Reject,
            Some((451, "text/plain", "go away".to_owned())),
        ),
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":"{\"error\":\"no\"}","status_code":400}}"#,
                5,
            ),
            Outcome::Reject,
            Some((400, "application/json", r#"{"error":"no"}"#.to_owned())),
        ),
        (
            false,
            answer(Some(200), r#"{"action":{"body":"","status_code":403}}"#, 5),
            Outcome::Reject,
            rejected,
        ),
        (
            false,
            answer(None, "", 2000),
            Outcome::Timeout,
            unavailable.clone(),
        ),
        (true, answer(None, "", 2001), Outcome::Timeout, None),
        (
            false,
            answer(None, "", 3),
            Outcome::Error,
            unavailable.clone(),
        ),
        (true, answer(None, "", 3), Outcome::Error, None),
        (
            false,
            answer(Some(422), r#"{"detail":[]}"#, 5),
            Outcome::Error,
            unavailable.clone(),
        ),
        (
            false,
            answer(Some(200), "garbage", 5),
            Outcome::Error,
            unavailable.clone(),
        ),
        (true, answer(Some(500), "", 5), Outcome::Error, None),
    ];
    for (fail_open, answer, outcome, refusal) in cases {
        let (got, verdict) = judge(&webhook(fail_open), Side::Prompt, &answer, 2, Format::Chat);
        assert_eq!(got, outcome, "{answer:?}");
        assert_eq!(refused(&verdict), refusal, "{answer:?}");
        if outcome == Outcome::Mask {
            assert_eq!(
                verdict,
                Verdict::Mask(vec!["Be brief.".into(), "<NAME>".into()])
            );
        }
    }
}

#[test]
fn judges_moderation_answers() {
    let cases = [
        (r#"{"results":[{"flagged":false}]}"#, Outcome::Pass, None),
        (
            r#"{"results":[{"flagged":true}]}"#,
            Outcome::Reject,
            Some((
                403,
                "application/json",
                r#""prompt_rejected": "Not on this gateway""#.to_owned(),
            )),
        ),
        (
            r#"{"error":{"message":"bad key"}}"#,
            Outcome::Error,
            Some((
                503,
                "application/json",
                r#""guard_unavailable": "llmgate: the prompt guard could not be asked; try again later""#
                    .to_owned(),
            )),
        ),
    ];
    for (body, outcome, refusal) in cases {
        let (got, verdict) = judge(
            &moderation(false),
            Side::Prompt,
            &answer(Some(200), body, 5),
            2,
            Format::Chat,
        );
        assert_eq!(got, outcome, "{body}");
        assert_eq!(refused(&verdict), refusal, "{body}");
    }
}

#[test]
fn anthropic_clients_get_anthropic_errors() {
    let (_, verdict) = judge(
        &moderation(false),
        Side::Prompt,
        &answer(Some(200), r#"{"results":[{"flagged":true}]}"#, 5),
        1,
        Format::Messages,
    );
    let Verdict::Refuse { status, body, .. } = verdict else {
        panic!("not refused")
    };
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "permission_error", "message": "Not on this gateway"}})
    );
}

#[test]
fn reply_checks_go_to_response() {
    let reply = vec![("assistant".to_owned(), "It is 4.".to_owned())];
    let (kind, call) = call(&webhook(false), Side::Reply, &reply, |_| None, None).unwrap();
    assert_eq!(kind, Kind::Webhook);
    assert!(call
        .headers
        .contains(&(":path".to_owned(), "/response".to_owned())));
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        body,
        json!({"body": {"choices": [{"message": {"role": "assistant", "content": "It is 4."}}]}})
    );
}

#[test]
fn judges_reply_answers() {
    let unavailable = Some((
        502,
        "application/json",
        r#""guard_unavailable": "llmgate: the response guard could not be asked about the reply; try again later""#
            .to_owned(),
    ));
    let cases = [
        (
            false,
            answer(Some(200), r#"{"action":{}}"#, 5),
            Outcome::Pass,
            None,
        ),
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":{"choices":[{"message":{"role":"assistant","content":"<X>"}}]}}}"#,
                5,
            ),
            Outcome::Mask,
            None,
        ),
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":"withheld","status_code":403}}"#,
                5,
            ),
            Outcome::Reject,
            Some((403, "text/plain", "withheld".to_owned())),
        ),
        // A prompt mask does not mask a reply.
        (
            false,
            answer(
                Some(200),
                r#"{"action":{"body":{"messages":[{"role":"assistant","content":"<X>"}]}}}"#,
                5,
            ),
            Outcome::Error,
            unavailable.clone(),
        ),
        (
            false,
            answer(None, "", 2000),
            Outcome::Timeout,
            unavailable.clone(),
        ),
        (true, answer(None, "", 2000), Outcome::Timeout, None),
        (false, answer(Some(500), "", 5), Outcome::Error, unavailable),
    ];
    for (fail_open, answer, outcome, refusal) in cases {
        let (got, verdict) = judge(&webhook(fail_open), Side::Reply, &answer, 1, Format::Chat);
        assert_eq!(got, outcome, "{answer:?}");
        assert_eq!(refused(&verdict), refusal, "{answer:?}");
        if outcome == Outcome::Mask {
            assert_eq!(verdict, Verdict::Mask(vec!["<X>".into()]));
        }
    }
}
