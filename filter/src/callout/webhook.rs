//! The Guardrail Webhook API (kgateway's, from Solo.io's
//! `gloo-ai-gateway-guardrail-webhook-openapi.yaml`, version 0.1.0).
//!
//! Request side:
//!
//! - `POST /request` with `{"body": {"messages": [{"role", "content"}, …]}}`
//!   (`GuardrailsPromptRequest`, `content-type: application/json`).
//! - A `200` answer is `{"action": …}` (`GuardrailsPromptResponse`), one of:
//!   - `PassAction` `{"reason"?}`: the request goes on unchanged;
//!   - `MaskAction` `{"body": {"messages": [...]}, "reason"?}`: the prompt
//!     becomes these messages, as many as were sent, in the same order;
//!   - `RejectAction` `{"body": "<text>", "status_code": <int>, "reason"?}`:
//!     the client gets `status_code` with `body` as the response body, and
//!     nothing goes to the LLM.
//!
//!   The schema has no discriminator: `status_code` makes a reject, a
//!   `body` object a mask, neither a pass.
//! - Any other status (the API's own `422` included), or an answer that is
//!   none of these, is a failed call: the guard's `failureMode` decides.
//!
//! Response side:
//!
//! - `POST /response` with `{"body": {"choices": [{"message": {"role",
//!   "content"}}, …]}}` (`GuardrailsResponseRequest`), one choice per text
//!   of the reply.
//! - The answer (`GuardrailsResponseResponse`) is a `PassAction` or a
//!   `MaskAction` whose `body` is `{"choices": [...]}`, as many as were
//!   sent. The schema lists no `RejectAction` here, yet a webhook that
//!   answers one (same shape as above) is obeyed: the reply never reaches
//!   the client, who gets the webhook's status and body instead.
//!
//! One message is sent per prompt text, with the role of the message it is
//! part of: a message of several text parts is several messages, so a mask
//! maps back onto the texts one to one.

use serde::Deserialize;
use serde_json::{json, Value};

/// The request path of prompt checks.
pub const REQUEST_PATH: &str = "/request";
/// The request path of reply checks.
pub const RESPONSE_PATH: &str = "/response";

/// What is checked: the prompt or the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Prompt,
    Reply,
}

impl Side {
    pub fn path(self) -> &'static str {
        match self {
            Side::Prompt => REQUEST_PATH,
            Side::Reply => RESPONSE_PATH,
        }
    }
}

/// One prompt text as the webhook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

/// `GuardrailsPromptRequest` or `GuardrailsResponseRequest`.
pub fn request_body(side: Side, messages: &[Message<'_>]) -> Vec<u8> {
    let messages = messages
        .iter()
        .map(|m| json!({"role": m.role, "content": m.content}));
    let body = match side {
        Side::Prompt => json!({"messages": messages.collect::<Vec<_>>()}),
        Side::Reply => json!({"choices": messages
            .map(|message| json!({"message": message}))
            .collect::<Vec<_>>()}),
    };
    json!({ "body": body }).to_string().into_bytes()
}

/// What the webhook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Pass,
    /// The new content of each message, in order.
    Mask(Vec<String>),
    Reject {
        status: u16,
        body: String,
    },
}

/// Why an answer is not one of the API's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable(pub String);

#[derive(Deserialize)]
struct PromptResponse {
    action: Value,
}

#[derive(Deserialize)]
struct PromptMessages {
    messages: Vec<MessageOut>,
}

#[derive(Deserialize)]
struct ResponseChoices {
    choices: Vec<ChoiceOut>,
}

#[derive(Deserialize)]
struct ChoiceOut {
    message: MessageOut,
}

#[derive(Deserialize)]
struct MessageOut {
    #[allow(dead_code)]
    role: String,
    content: String,
}

/// Reads a `200` answer to a request of `sent` messages (or choices).
pub fn parse(side: Side, body: &[u8], sent: usize) -> Result<Action, Unusable> {
    let response: PromptResponse = serde_json::from_slice(body)
        .map_err(|e| Unusable(format!("not a GuardrailsPromptResponse: {e}")))?;
    let Value::Object(action) = response.action else {
        return Err(Unusable("`action` is not an object".into()));
    };
    if let Some(status) = action.get("status_code") {
        let status = status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (200..=599).contains(s))
            .ok_or_else(|| Unusable("`status_code` is not an HTTP status".into()))?;
        let body = match action.get("body") {
            Some(Value::String(body)) => body.clone(),
            _ => return Err(Unusable("a reject's `body` is not a string".into())),
        };
        return Ok(Action::Reject { status, body });
    }
    match action.get("body") {
        None | Some(Value::Null) => Ok(Action::Pass),
        Some(body) => {
            let texts: Vec<String> = match side {
                Side::Prompt => serde_json::from_value::<PromptMessages>(body.clone())
                    .map_err(|e| Unusable(format!("a mask's `body` is not PromptMessages: {e}")))?
                    .messages
                    .into_iter()
                    .map(|m| m.content)
                    .collect(),
                Side::Reply => serde_json::from_value::<ResponseChoices>(body.clone())
                    .map_err(|e| Unusable(format!("a mask's `body` is not ResponseChoices: {e}")))?
                    .choices
                    .into_iter()
                    .map(|c| c.message.content)
                    .collect(),
            };
            if texts.len() != sent {
                return Err(Unusable(format!(
                    "a mask has {} texts for the {sent} sent",
                    texts.len()
                )));
            }
            Ok(Action::Mask(texts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_prompt_messages() {
        let body = request_body(
            Side::Prompt,
            &[
                Message {
                    role: "system",
                    content: "Be brief.",
                },
                Message {
                    role: "user",
                    content: "Hi \"there\"",
                },
            ],
        );
        let got: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            got,
            json!({"body": {"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi \"there\""},
            ]}})
        );
    }

    #[test]
    fn answers() {
        fn unusable(s: &str) -> Result<Action, &str> {
            Err(s)
        }
        let cases: [(&str, usize, Result<Action, &str>); 12] = [
            (r#"{"action":{}}"#, 1, Ok(Action::Pass)),
            (r#"{"action":{"reason":"fine"}}"#, 1, Ok(Action::Pass)),
            (
                r#"{"action":{"body":null,"reason":null}}"#,
                1,
                Ok(Action::Pass),
            ),
            (
                r#"{"action":{"body":{"messages":[{"role":"user","content":"my card is <CARD>"}]},"reason":"pii"}}"#,
                1,
                Ok(Action::Mask(vec!["my card is <CARD>".into()])),
            ),
            (
                r#"{"action":{"body":"no way","status_code":403,"reason":"policy"}}"#,
                1,
                Ok(Action::Reject {
                    status: 403,
                    body: "no way".into(),
                }),
            ),
            // A mask must keep the number of messages.
            (
                r#"{"action":{"body":{"messages":[]}}}"#,
                1,
                unusable("a mask has 0 texts for the 1 sent"),
            ),
            (
                r#"{"action":{"body":{"messages":[{"role":"user"}]}}}"#,
                1,
                unusable("mask"),
            ),
            (
                r#"{"action":{"body":"x","status_code":42}}"#,
                1,
                unusable("status"),
            ),
            (
                r#"{"action":{"body":"x","status_code":"403"}}"#,
                1,
                unusable("status"),
            ),
            (r#"{"action":{"status_code":403}}"#, 1, unusable("reject")),
            (r#"{"action":"pass"}"#, 1, unusable("not an object")),
            (
                "<html>bad gateway</html>",
                1,
                unusable("GuardrailsPromptResponse"),
            ),
        ];
        for (body, sent, want) in cases {
            let got = parse(Side::Prompt, body.as_bytes(), sent);
            match (&got, &want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
                (Err(Unusable(why)), Err(part)) => assert!(why.contains(part), "{body}: {why}"),
                _ => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn reply_request_is_response_choices() {
        let body = request_body(
            Side::Reply,
            &[
                Message {
                    role: "assistant",
                    content: "It is 4.",
                },
                Message {
                    role: "assistant",
                    content: "Four.",
                },
            ],
        );
        let got: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            got,
            json!({"body": {"choices": [
                {"message": {"role": "assistant", "content": "It is 4."}},
                {"message": {"role": "assistant", "content": "Four."}},
            ]}})
        );
    }

    #[test]
    fn reply_answers() {
        let cases: [(&str, usize, Result<Action, &str>); 7] = [
            (r#"{"action":{"reason":"fine"}}"#, 1, Ok(Action::Pass)),
            (
                r#"{"action":{"body":{"choices":[{"message":{"role":"assistant","content":"call <PHONE>"}}]}}}"#,
                1,
                Ok(Action::Mask(vec!["call <PHONE>".into()])),
            ),
            // Deleting a text is an empty content.
            (
                r#"{"action":{"body":{"choices":[{"message":{"role":"assistant","content":""}},{"message":{"role":"assistant","content":"b"}}]}}}"#,
                2,
                Ok(Action::Mask(vec![String::new(), "b".into()])),
            ),
            (
                r#"{"action":{"body":"not for you","status_code":451}}"#,
                1,
                Ok(Action::Reject {
                    status: 451,
                    body: "not for you".into(),
                }),
            ),
            (
                r#"{"action":{"body":{"choices":[]}}}"#,
                1,
                Err("a mask has 0 texts for the 1 sent"),
            ),
            // The prompt side's shape is not a reply's mask.
            (
                r#"{"action":{"body":{"messages":[{"role":"assistant","content":"x"}]}}}"#,
                1,
                Err("ResponseChoices"),
            ),
            (
                r#"{"action":{"body":{"choices":[{"role":"assistant","content":"x"}]}}}"#,
                1,
                Err("ResponseChoices"),
            ),
        ];
        for (body, sent, want) in cases {
            let got = parse(Side::Reply, body.as_bytes(), sent);
            match (&got, &want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
                (Err(Unusable(why)), Err(part)) => assert!(why.contains(part), "{body}: {why}"),
                _ => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
