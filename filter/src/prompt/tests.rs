//! The stage as a whole, per format: what goes upstream, or what the client
//! gets instead.

use super::*;
use crate::policy_config::{
    Builtin, FieldDefault, Guard, NamedPattern, PromptMessage, RegexGuard, Rejection,
};
use serde_json::json;

const CARD: &str = "4111 1111 1111 1111";

fn regex_guard(action: GuardAction) -> Guard {
    Guard::Regex(RegexGuard {
        matches: vec![NamedPattern {
            pattern: r"(?i)\bproject falcon\b".into(),
            name: Some("CODENAME".into()),
        }],
        builtins: vec![Builtin::CreditCard],
        action,
        rejection: Rejection {
            status: 403,
            message: "Rejected: the prompt holds a card number".into(),
        },
    })
}

fn message(role: &str, content: &str) -> PromptMessage {
    PromptMessage {
        role: role.into(),
        content: content.into(),
    }
}

fn policy(guards: Vec<Guard>, enrich: bool, defaults: Vec<FieldDefault>) -> RequestPolicy {
    let (prepend, append) = if enrich {
        (
            vec![message("SYSTEM", "PREPENDED-SYSTEM")],
            vec![message("USER", "APPENDED-USER")],
        )
    } else {
        (vec![], vec![])
    };
    RequestPolicy::new(&AiPolicy {
        request_guards: guards,
        prepend,
        append,
        defaults,
        ..AiPolicy::default()
    })
}

/// One client request per format with the card in every place a prompt
/// text can be, and how many places that is.
fn with_cards() -> Vec<(RouteType, Value, usize)> {
    vec![
        (
            RouteType::Completions,
            json!({"model": "m", "messages": [
                {"role": "system", "content": format!("card {CARD}")},
                {"role": "user", "content": [{"type": "text", "text": format!("pay {CARD} now")}]},
                {"role": "assistant", "content": CARD},
                {"role": "tool", "tool_call_id": "c", "content": CARD}]}),
            4,
        ),
        (
            RouteType::Messages,
            json!({"model": "m", "max_tokens": 10,
                "system": [{"type": "text", "text": CARD}],
                "messages": [
                    {"role": "user", "content": CARD},
                    {"role": "assistant", "content": [{"type": "text", "text": CARD}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                        "content": [{"type": "text", "text": CARD}]}]}]}),
            4,
        ),
        (
            RouteType::Responses,
            json!({"model": "m", "instructions": CARD, "input": [
                {"role": "user", "content": CARD},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": CARD}]},
                {"type": "function_call_output", "call_id": "c", "output": CARD}]}),
            4,
        ),
        (
            RouteType::Embeddings,
            json!({"model": "m", "input": [CARD, format!("x {CARD}")]}),
            2,
        ),
        (
            RouteType::GenerateContent,
            json!({"systemInstruction": {"parts": [{"text": CARD}]},
                "contents": [{"role": "user", "parts": [{"text": CARD}, {"text": CARD}]}]}),
            3,
        ),
        (
            RouteType::ConverseStream,
            json!({"system": [{"text": CARD}], "messages": [
                {"role": "user", "content": [{"text": CARD},
                    {"toolResult": {"toolUseId": "t", "content": [{"text": CARD}]}}]}]}),
            3,
        ),
    ]
}

fn forwarded(applied: &Applied) -> Value {
    match &applied.verdict {
        Verdict::Forward(Some(body)) => serde_json::from_slice(body).unwrap(),
        other => panic!("not forwarded edited: {other:?}"),
    }
}

fn plan_for(policy: &RequestPolicy, route: RouteType) -> Plan {
    policy
        .plan(route)
        .unwrap_or_else(|| panic!("no plan for {route:?}"))
}

#[test]
fn what_applies_to_each_type_of_request() {
    let guards = policy(vec![regex_guard(GuardAction::Mask)], false, vec![]);
    let edits = policy(vec![], true, vec![]);
    let webhook_only = RequestPolicy::new(&AiPolicy {
        request_guards: vec![Guard::Webhook(crate::policy_config::WebhookGuard {
            callout: crate::policy_config::Callout {
                cluster: "c".into(),
                authority: "a".into(),
                timeout_ms: 1,
                fail_open: false,
            },
            forward_headers: vec![],
            rejection: Rejection {
                status: 403,
                message: "no".into(),
            },
        })],
        ..AiPolicy::default()
    });
    use RouteType::*;
    // (route, with guards, with enrichment only)
    let cases = [
        (Completions, Some((Format::Chat, false)), Some(true)),
        (Messages, Some((Format::Messages, false)), Some(true)),
        (AnthropicTokenCount, Some((Format::Messages, false)), None),
        (Responses, Some((Format::Responses, false)), Some(true)),
        (Embeddings, Some((Format::Embeddings, false)), None),
        (GenerateContent, Some((Format::Gemini, false)), Some(true)),
        (
            StreamGenerateContent,
            Some((Format::Gemini, false)),
            Some(true),
        ),
        (CountTokens, Some((Format::Gemini, false)), None),
        (Converse, Some((Format::Converse, false)), Some(true)),
        (ConverseStream, Some((Format::Converse, false)), Some(true)),
        (Models, None, None),
        (Passthrough, None, None),
        (Detect, None, None),
    ];
    for (route, with_guards, with_edits) in cases {
        let got = guards.plan(route).map(|p| (p.format, p.edits));
        assert_eq!(got, with_guards, "{route:?}");
        assert_eq!(edits.plan(route).map(|p| p.edits), with_edits, "{route:?}");
        assert_eq!(
            webhook_only.plan(route),
            None,
            "{route:?}: not checked here"
        );
        assert_eq!(
            RequestPolicy::new(&AiPolicy::default()).plan(route),
            None,
            "{route:?}"
        );
    }
}

#[test]
fn a_masked_card_is_nowhere_in_what_goes_upstream() {
    let p = policy(vec![regex_guard(GuardAction::Mask)], true, vec![]);
    for (route, request, places) in with_cards() {
        let body = serde_json::to_vec(&request).unwrap();
        let applied = p.apply(plan_for(&p, route), &body);
        assert_eq!(applied.guard, Some(GuardAction::Mask), "{route:?}");
        let Verdict::Forward(Some(sent)) = &applied.verdict else {
            panic!("{route:?}: {applied:?}")
        };
        let sent = String::from_utf8(sent.clone()).unwrap();
        let digits: String = CARD.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !sent.contains(CARD) && !sent.contains(&digits),
            "{route:?}: {sent}"
        );
        assert!(!sent.contains("4111"), "{route:?}: {sent}");
        assert_eq!(
            sent.matches("<CREDIT_CARD>").count(),
            places,
            "{route:?}: {sent}"
        );
    }
}

#[test]
fn a_rejected_prompt_is_answered_in_the_clients_dialect() {
    let p = policy(vec![regex_guard(GuardAction::Reject)], true, vec![]);
    for (route, request, _) in with_cards() {
        let body = serde_json::to_vec(&request).unwrap();
        let applied = p.apply(plan_for(&p, route), &body);
        assert_eq!(applied.guard, Some(GuardAction::Reject), "{route:?}");
        let Verdict::Answer(answer) = &applied.verdict else {
            panic!("{route:?}: {applied:?}")
        };
        assert_eq!(answer.status, 403);
        let got: Value = serde_json::from_slice(&answer.body).unwrap();
        let message = "Rejected: the prompt holds a card number";
        let want = match route {
            RouteType::Messages => {
                json!({"type": "error", "error": {"type": "permission_error", "message": message}})
            }
            RouteType::GenerateContent => {
                json!({"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}})
            }
            RouteType::ConverseStream => json!({"message": message}),
            _ => json!({"error": {"message": message, "type": "permission_error",
                "param": null, "code": "prompt_rejected"}}),
        };
        assert_eq!(got, want, "{route:?}");
    }
    // A clean prompt passes untouched: no serialisation, the client's bytes.
    let p = policy(vec![regex_guard(GuardAction::Reject)], false, vec![]);
    let clean = br#"{"model":"m","messages":[{"role":"user","content":"about project falcons"}]}"#;
    let applied = p.apply(plan_for(&p, RouteType::Completions), clean);
    assert_eq!(applied.verdict, Verdict::Forward(None));
    assert_eq!(applied.guard, None);
    // Our own pattern, any case.
    let named = br#"{"model":"m","messages":[{"role":"user","content":"Project FALCON"}]}"#;
    let applied = p.apply(plan_for(&p, RouteType::Completions), named);
    assert_eq!(applied.guard, Some(GuardAction::Reject));
}

#[test]
fn enrichment_and_defaults_in_every_format() {
    let defaults = |override_| {
        vec![
            FieldDefault {
                field: "temperature".into(),
                value: json!(0.2),
                override_,
            },
            FieldDefault {
                field: "top_p".into(),
                value: json!(0.5),
                override_,
            },
        ]
    };
    for override_ in [false, true] {
        let p = policy(vec![], true, defaults(override_));
        for (route, mut request, _) in with_cards() {
            if let Some(object) = request.as_object_mut() {
                object.insert("temperature".into(), json!(0.9));
            }
            let body = serde_json::to_vec(&request).unwrap();
            let Some(plan) = p.plan(route) else {
                // Guards only, and there are none: not even read.
                assert_eq!(route, RouteType::Embeddings);
                continue;
            };
            let applied = p.apply(plan, &body);
            assert_eq!(applied.guard, None);
            let sent = forwarded(&applied);
            let want_temperature = if override_ { 0.2 } else { 0.9 };
            assert_eq!(sent["temperature"], want_temperature, "{route:?}");
            assert_eq!(sent["top_p"], 0.5, "{route:?}");
            // Nothing was guarded: the cards are all still there.
            let text = sent.to_string();
            assert!(text.contains(CARD), "{route:?}");
            // The system prompt first, the user's last, each its format's way.
            let (system, last) = match route {
                RouteType::Completions => (
                    sent["messages"][0].clone(),
                    sent["messages"].as_array().unwrap().last().unwrap().clone(),
                ),
                RouteType::Messages => (
                    sent["system"][0].clone(),
                    sent["messages"].as_array().unwrap().last().unwrap().clone(),
                ),
                RouteType::Responses => (
                    sent["instructions"].clone(),
                    sent["input"].as_array().unwrap().last().unwrap().clone(),
                ),
                RouteType::GenerateContent => (
                    sent["systemInstruction"]["parts"][0].clone(),
                    sent["contents"].as_array().unwrap().last().unwrap().clone(),
                ),
                RouteType::ConverseStream => (
                    sent["system"][0].clone(),
                    sent["messages"].as_array().unwrap().last().unwrap().clone(),
                ),
                other => panic!("{other:?} takes no enrichment"),
            };
            let want_system = match route {
                RouteType::Completions => json!({"role": "system", "content": "PREPENDED-SYSTEM"}),
                RouteType::Messages => json!({"type": "text", "text": "PREPENDED-SYSTEM"}),
                RouteType::Responses => json!(format!("PREPENDED-SYSTEM\n\n{CARD}")),
                _ => json!({"text": "PREPENDED-SYSTEM"}),
            };
            assert_eq!(system, want_system, "{route:?}");
            let want_last = match route {
                RouteType::Completions | RouteType::Messages | RouteType::Responses => {
                    json!({"role": "user", "content": "APPENDED-USER"})
                }
                // The client's last turn is the user's: merged into it.
                RouteType::GenerateContent => json!({"role": "user", "parts": [
                    {"text": CARD}, {"text": CARD}, {"text": "APPENDED-USER"}]}),
                _ => json!({"role": "user", "content": [{"text": CARD},
                    {"toolResult": {"toolUseId": "t", "content": [{"text": CARD}]}},
                    {"text": "APPENDED-USER"}]}),
            };
            assert_eq!(last, want_last, "{route:?}");
        }
    }
}

#[test]
fn bodies_it_cannot_read_or_edit_are_refused() {
    let p = policy(vec![regex_guard(GuardAction::Mask)], true, vec![]);
    let plan = plan_for(&p, RouteType::Completions);
    for body in [
        &b""[..],
        b"not json",
        b"[1]",
        br#"{"messages":[{"role":"user","content":"4111 1111 1111 1111"}]} trailing"#,
        b"\xef\xbb\xbf{}",
        br#"{"temperature":NaN}"#,
    ] {
        let applied = p.apply(plan, body);
        let Verdict::Answer(answer) = &applied.verdict else {
            panic!("{body:?}: {applied:?}")
        };
        assert_eq!(answer.status, 400, "{body:?}");
        let got: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(got["error"]["code"], "invalid_json", "{body:?}");
        assert!(
            got["error"]["message"]
                .as_str()
                .unwrap()
                .contains("prompt policy"),
            "{got}"
        );
    }
    let applied = p.apply(plan, br#"{"messages":"hi"}"#);
    let Verdict::Answer(answer) = &applied.verdict else {
        panic!("{applied:?}")
    };
    assert_eq!(answer.status, 400);
    let got: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(got["error"]["param"], "messages");
    assert_eq!(got["error"]["code"], "invalid_value");
}

#[test]
fn an_unusable_guard_refuses_rather_than_letting_prompts_through() {
    let mut broken = regex_guard(GuardAction::Reject);
    if let Guard::Regex(regex) = &mut broken {
        regex.matches[0].pattern = "(unclosed".into();
    }
    let p = policy(vec![broken], false, vec![]);
    let applied = p.apply(
        plan_for(&p, RouteType::Messages),
        br#"{"messages":[{"role":"user","content":"hi"}]}"#,
    );
    let Verdict::Answer(answer) = &applied.verdict else {
        panic!("{applied:?}")
    };
    assert_eq!(answer.status, 500);
    let got: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(got["type"], "error");
    let message = got["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("request guard 0") && message.contains("matches[0]"),
        "{message}"
    );
}

#[test]
fn a_rejection_status_outside_the_error_range_is_403() {
    let mut guard = regex_guard(GuardAction::Reject);
    if let Guard::Regex(regex) = &mut guard {
        regex.rejection.status = 200;
    }
    let p = policy(vec![guard], false, vec![]);
    let body = format!(r#"{{"input":"{CARD}"}}"#);
    let applied = p.apply(plan_for(&p, RouteType::Embeddings), body.as_bytes());
    let Verdict::Answer(answer) = &applied.verdict else {
        panic!("{applied:?}")
    };
    assert_eq!(answer.status, 403);
}
