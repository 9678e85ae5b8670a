//! Prompt guards that ask another service: a Guardrail Webhook
//! ([`webhook`]) or OpenAI's moderation endpoint ([`moderation`]). The
//! stream holds the request (its body whole) while Envoy makes the call
//! (`dispatch_http_call` to the cluster the translator made for the
//! service) and resumes it, or answers the client, when the answer comes.
//!
//! The plain functions here build each call and judge each answer; the
//! stream does the waiting. A call that cannot be made, times out, or is
//! answered with anything but a usable `200` is a failure: the guard's
//! `fail_open` lets the request go on unguarded, otherwise the client gets
//! 503. The moderation key arrives in a request header Envoy's
//! `credential_injector` wrote (see [`crate::injected`]); the stream removes
//! it before anything goes upstream, and it appears in no answer or log.

pub mod moderation;
pub mod reply_texts;
pub mod texts;
pub mod webhook;

use crate::convert;
use crate::policy_config::{Callout, Guard, Rejection};
use texts::Format;
pub use webhook::Side;

/// `code` of a prompt a guard service refused.
pub const REJECTED_CODE: &str = "prompt_rejected";
/// `code` of a request refused because its guard could not be asked.
pub const UNAVAILABLE_CODE: &str = "guard_unavailable";

/// The `guard` label of the callout metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Webhook,
    Moderation,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Moderation => "moderation",
        }
    }
}

/// The `outcome` label of the callout metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Mask,
    Reject,
    Error,
    Timeout,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Mask => "mask",
            Outcome::Reject => "reject",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }
}

/// The request headers moderation keys arrive in, by guard index.
pub fn key_headers(guards: &[Guard]) -> impl Iterator<Item = (usize, &str)> {
    guards.iter().enumerate().filter_map(|(i, g)| match g {
        Guard::Moderation(m) => m.key_header.as_deref().map(|h| (i, h)),
        _ => None,
    })
}

/// An HTTP call for Envoy to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

/// The guard's call about `prompt` (`(role, text)` pairs; the reply's, on
/// the reply `side`); `None` for a guard that asks nobody. `header` reads
/// the client's request headers; `key` is the moderation key Envoy
/// injected.
pub fn call(
    guard: &Guard,
    side: Side,
    prompt: &[(String, String)],
    header: impl Fn(&str) -> Option<String>,
    key: Option<&str>,
) -> Option<(Kind, Call)> {
    let base = |callout: &Callout, path: &str| {
        vec![
            (":method".to_owned(), "POST".to_owned()),
            (":path".to_owned(), path.to_owned()),
            (":authority".to_owned(), callout.authority.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]
    };
    match guard {
        Guard::Regex(_) => None,
        Guard::Webhook(w) => {
            let mut headers = base(&w.callout, side.path());
            for name in &w.forward_headers {
                if let Some(value) = header(name) {
                    headers.push((name.clone(), value));
                }
            }
            let messages: Vec<webhook::Message<'_>> = prompt
                .iter()
                .map(|(role, content)| webhook::Message { role, content })
                .collect();
            Some((
                Kind::Webhook,
                Call {
                    cluster: w.callout.cluster.clone(),
                    headers,
                    body: webhook::request_body(side, &messages),
                    timeout_ms: w.callout.timeout_ms,
                },
            ))
        }
        Guard::Moderation(m) => {
            let mut headers = base(&m.callout, &m.path);
            if let Some(key) = key.filter(|k| !k.is_empty()) {
                headers.push(("authorization".to_owned(), format!("Bearer {key}")));
            }
            let texts: Vec<&str> = prompt.iter().map(|(_, t)| t.as_str()).collect();
            Some((
                Kind::Moderation,
                Call {
                    cluster: m.callout.cluster.clone(),
                    headers,
                    body: moderation::request_body(&m.model, &texts),
                    timeout_ms: m.callout.timeout_ms,
                },
            ))
        }
    }
}

/// What came back: the `:status` (none when the call failed or timed out)
/// and the body, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub elapsed_ms: u64,
}

/// What becomes of the request (or the reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The new texts, one per text sent.
    Mask(Vec<String>),
    /// Answer the client with this; nothing goes upstream (or the reply
    /// is dropped).
    Refuse {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
}

/// Judges the answer to a guard's call about `sent` texts of `side`, for a
/// client speaking `format`.
pub fn judge(
    guard: &Guard,
    side: Side,
    answer: &Answer,
    sent: usize,
    format: Format,
) -> (Outcome, Verdict) {
    let (callout, rejection) = match guard {
        Guard::Webhook(w) => (&w.callout, &w.rejection),
        Guard::Moderation(m) => (&m.callout, &m.rejection),
        Guard::Regex(_) => return (Outcome::Pass, Verdict::Pass),
    };
    let Some(status) = answer.status else {
        // Envoy reports a timeout and a failed call alike; the clock tells.
        let outcome = if answer.elapsed_ms >= u64::from(callout.timeout_ms) {
            Outcome::Timeout
        } else {
            Outcome::Error
        };
        return (outcome, failed(callout, side, format));
    };
    if status != 200 {
        return (Outcome::Error, failed(callout, side, format));
    }
    let judged = match guard {
        Guard::Webhook(_) => webhook::parse(side, &answer.body, sent).map(|action| match action {
            webhook::Action::Pass => (Outcome::Pass, Verdict::Pass),
            webhook::Action::Mask(texts) => (Outcome::Mask, Verdict::Mask(texts)),
            webhook::Action::Reject { status, body } => (
                Outcome::Reject,
                webhook_refusal(status, body, rejection, format),
            ),
        }),
        Guard::Moderation(_) => moderation::flagged(&answer.body).map(|flagged| {
            if flagged {
                (Outcome::Reject, refusal(rejection, format))
            } else {
                (Outcome::Pass, Verdict::Pass)
            }
        }),
        Guard::Regex(_) => Ok((Outcome::Pass, Verdict::Pass)),
    };
    judged.unwrap_or_else(|_| (Outcome::Error, failed(callout, side, format)))
}

/// Unguarded on, or 503 for a prompt (the client may retry it), 502 for a
/// reply (the provider answered; the gateway could not pass it on).
fn failed(callout: &Callout, side: Side, format: Format) -> Verdict {
    if callout.fail_open {
        return Verdict::Pass;
    }
    let (status, message) = match side {
        Side::Prompt => (
            503,
            "llmgate: the prompt guard could not be asked; try again later",
        ),
        Side::Reply => (
            502,
            "llmgate: the response guard could not be asked about the reply; try again later",
        ),
    };
    Verdict::Refuse {
        status,
        content_type: "application/json",
        body: error(format, status, message, UNAVAILABLE_CODE),
    }
}

/// The webhook's own answer as it wrote it: its status, its body (JSON
/// when it is JSON). An empty body gets the policy's message.
fn webhook_refusal(status: u16, body: String, rejection: &Rejection, format: Format) -> Verdict {
    if body.is_empty() {
        return refusal(
            &Rejection {
                status,
                message: rejection.message.clone(),
            },
            format,
        );
    }
    let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&body).is_ok();
    Verdict::Refuse {
        status,
        content_type: if is_json {
            "application/json"
        } else {
            "text/plain"
        },
        body: body.into_bytes(),
    }
}

fn refusal(rejection: &Rejection, format: Format) -> Verdict {
    Verdict::Refuse {
        status: rejection.status,
        content_type: "application/json",
        body: error(format, rejection.status, &rejection.message, REJECTED_CODE),
    }
}

/// An error in the client's dialect.
fn error(format: Format, status: u16, message: &str, code: &str) -> Vec<u8> {
    match format {
        Format::Chat => {
            convert::openai_error(message, convert::error_type(status), None, Some(code))
        }
        Format::Messages => {
            convert::messages::anthropic_error(convert::messages::error_type(status), message)
        }
    }
}

#[cfg(test)]
mod tests;
