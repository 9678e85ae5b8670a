//! Response webhook guards on the wire: a whole (non-streaming) 2xx reply
//! the gateway does not convert is held, headers too, until it is
//! complete; each webhook response guard of the policy, in order, is asked
//! about its texts ([`crate::callout::reply_texts`]) while Envoy holds it;
//! then it goes on as it is, with the texts a webhook masked (its
//! `content-length` fixed), or not at all: a webhook's reject replaces it
//! with the webhook's status and body. Regex response guards mask what the
//! webhooks let through.
//!
//! A webhook cannot judge a stream before the client has it, nor a reply
//! the gateway cannot read (over the hold limit, under a content coding,
//! not JSON, converted from another API): those are checks that could not
//! be made, and the guard's `fail_open` decides — the reply passes
//! unchecked by the webhook, or the client gets 502 `guard_unavailable`.

use serde_json::{Map, Value};

use super::{Flow, Host, Plugin, Stream};
use crate::callout::{self, reply_texts, texts, Answer, Kind, Side, Verdict};
use crate::convert;
use crate::policy_config::Guard;
use crate::reply_guard::Format;

#[derive(Debug)]
pub(super) struct ReplyCallout {
    format: Format,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Held until it ends (at most `cap` bytes); `held` so far.
    Hold {
        cap: usize,
        held: usize,
    },
    /// Envoy makes the call of guard `index`; the reply waits.
    Asking {
        token: u32,
        index: usize,
        body_size: usize,
        reply: Map<String, Value>,
        /// The bytes the client gets if nothing masks them.
        bytes: Vec<u8>,
        masked: bool,
        sent: usize,
        asked_ms: u64,
    },
    /// Answered 502 instead of a stream: the error body, until it is sent.
    Refused {
        body: Option<Vec<u8>>,
    },
    Done,
}

/// What became of a held reply, for the stream to finish it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// Waiting for a webhook's answer.
    Asking,
    /// The client's bytes, unmasked by a webhook (`masked` false) or masked.
    Pass { bytes: Vec<u8>, masked: bool },
    /// Answered instead (headers and body already set).
    Refused,
}

/// The error body (in the client's `format`) when any webhook guard fails
/// closed; `None` when all let an unchecked reply through.
fn unchecked(guards: &[Guard], format: Format) -> Option<Vec<u8>> {
    let closed = guards
        .iter()
        .any(|g| matches!(g, Guard::Webhook(w) if !w.callout.fail_open));
    closed.then(|| {
        let message = "llmgate: the response guard cannot check this reply (a stream, or one it cannot read); ask for a whole, uncompressed reply";
        match format {
            Format::Messages => convert::messages::anthropic_error("api_error", message),
            _ => convert::openai_error(
                message,
                "api_error",
                None,
                Some(callout::UNAVAILABLE_CODE),
            ),
        }
    })
}

/// Whether the policy has webhook response guards.
pub(super) fn has_webhooks(guards: &[Guard]) -> bool {
    guards.iter().any(|g| matches!(g, Guard::Webhook(_)))
}

impl ReplyCallout {
    /// At the response headers of a 2xx reply with a body the gateway
    /// does not convert, on a route with webhook response guards: hold a
    /// whole reply in `format` (`None` when it has no generated text to
    /// check: no callout). `readable`: a whole reply without a content
    /// coding. A stream or an unreadable reply is a failed check.
    pub(super) fn start(
        guards: &[Guard],
        host: &mut impl Host,
        readable: bool,
        format: Option<Format>,
        cap: usize,
    ) -> Option<(ReplyCallout, Flow)> {
        let format = format?;
        if readable {
            let state = State::Hold { cap, held: 0 };
            return Some((ReplyCallout { format, state }, Flow::Pause));
        }
        let mut callout = ReplyCallout {
            format,
            state: State::Done,
        };
        if let Some(body) = callout.unchecked(guards) {
            set_answer_headers(host, 502, "application/json", body.len());
            callout.state = State::Refused { body: Some(body) };
        }
        Some((callout, Flow::Continue))
    }

    /// A reply the gateway will convert from another provider's API cannot
    /// be sent to a webhook yet: the request is refused before it goes
    /// upstream when a webhook fails closed (the body, in the client's
    /// format); `None` lets it go, its reply unchecked by webhooks.
    pub(super) fn refuse_converted(guards: &[Guard], messages_client: bool) -> Option<Vec<u8>> {
        if !has_webhooks(guards) {
            return None;
        }
        let format = if messages_client {
            Format::Messages
        } else {
            Format::Chat
        };
        unchecked(guards, format)
    }

    fn unchecked(&self, guards: &[Guard]) -> Option<Vec<u8>> {
        unchecked(guards, self.format)
    }

    /// The error format of the client.
    fn dialect(&self) -> texts::Format {
        match self.format {
            Format::Messages => texts::Format::Messages,
            _ => texts::Format::Chat,
        }
    }

    /// Whether the reply is held or waits (the stream's body callbacks
    /// belong here).
    pub(super) fn holds(&self) -> bool {
        matches!(self.state, State::Hold { .. } | State::Asking { .. })
    }

    /// One body callback of a stream or reply not held: the 502 in place
    /// of the provider's bytes, or those bytes.
    pub(super) fn passing(&mut self, host: &mut impl Host, body_size: usize) {
        if let State::Refused { body } = &mut self.state {
            let out = body.take().unwrap_or_default();
            host.replace_response_body(body_size, &out);
        }
    }

    /// Answered 502 in place of a reply it cannot check.
    pub(super) fn refused(&self) -> bool {
        matches!(self.state, State::Refused { .. })
    }

    /// The size of the reply held so far.
    pub(super) fn held(&self) -> usize {
        match self.state {
            State::Hold { held, .. } => held,
            _ => self.held_size(),
        }
    }

    /// The size of the reply Envoy holds while a webhook is asked.
    pub(super) fn held_size(&self) -> usize {
        match self.state {
            State::Asking { body_size, .. } => body_size,
            _ => 0,
        }
    }

    pub(super) fn waits_for(&self, token: u32) -> bool {
        matches!(self.state, State::Asking { token: t, .. } if t == token)
    }
}

impl Stream {
    /// A body callback of a held reply: `None` while it is still coming
    /// (the caller pauses); once whole, its usage is read and the callouts
    /// start.
    pub(super) fn reply_body(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Option<Ended> {
        let callout = self.reply_callout.as_mut()?;
        let State::Hold { cap, .. } = callout.state else {
            return None;
        };
        if !end_of_stream && body_size <= cap {
            // Envoy keeps it and hands over everything so far next time.
            callout.state = State::Hold {
                cap,
                held: body_size,
            };
            return None;
        }
        callout.state = State::Done;
        let body = if body_size == 0 {
            Vec::new()
        } else {
            host.response_body(body_size).unwrap_or_default()
        };
        let client = self
            .response
            .as_mut()
            .and_then(|reader| reader.pass(&body, true))
            .unwrap_or(body);
        if body_size > cap {
            return Some(self.reply_unchecked(plugin, host, body_size, client));
        }
        let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(&client) else {
            return Some(self.reply_unchecked(plugin, host, body_size, client));
        };
        Some(self.ask_reply(plugin, host, 0, body_size, reply, client, false))
    }

    /// The held reply ended with trailers.
    pub(super) fn reply_trailers(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
    ) -> Option<Ended> {
        let held = match self.reply_callout.as_ref()?.state {
            State::Hold { held, .. } => held,
            _ => return None,
        };
        self.reply_body(plugin, host, held, true)
    }

    /// A reply that cannot be checked: through when every webhook guard
    /// fails open, else 502.
    fn reply_unchecked(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        body_size: usize,
        client: Vec<u8>,
    ) -> Ended {
        let error = self
            .reply_callout
            .as_ref()
            .and_then(|c| c.unchecked(&plugin.cfg.policy.response_guards));
        match error {
            None => Ended::Pass {
                bytes: client,
                masked: false,
            },
            Some(error) => {
                self.answer_reply(host, body_size, 502, "application/json", &error);
                Ended::Refused
            }
        }
    }

    /// Asks the first webhook response guard from `index` on; when none is
    /// left, the reply goes on.
    #[allow(clippy::too_many_arguments)]
    fn ask_reply(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        mut index: usize,
        body_size: usize,
        mut reply: Map<String, Value>,
        bytes: Vec<u8>,
        masked: bool,
    ) -> Ended {
        let Some(format) = self.reply_callout.as_ref().map(|c| c.format) else {
            return Ended::Pass { bytes, masked };
        };
        let guards = &plugin.cfg.policy.response_guards;
        while let Some(guard) = guards.get(index) {
            let texts: Vec<(String, String)> = reply_texts::of(format, &mut reply)
                .into_iter()
                .map(|t| ("assistant".to_owned(), t.clone()))
                .collect();
            if texts.is_empty() {
                break;
            }
            let Some((kind, call)) =
                callout::call(guard, Side::Reply, &texts, |n| host.request_header(n), None)
            else {
                index += 1;
                continue;
            };
            let headers: Vec<(&str, &str)> = call
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let asked_ms = host.now_ms();
            if let Some(token) =
                host.dispatch_call(&call.cluster, &headers, &call.body, call.timeout_ms)
            {
                if let Some(callout) = self.reply_callout.as_mut() {
                    callout.state = State::Asking {
                        token,
                        index,
                        body_size,
                        reply,
                        bytes,
                        masked,
                        sent: texts.len(),
                        asked_ms,
                    };
                }
                return Ended::Asking;
            }
            let failed = Answer {
                status: None,
                body: Vec::new(),
                elapsed_ms: 0,
            };
            match self.reply_judged(plugin, host, guard, kind, &failed, 0, body_size) {
                // A failed call never masks.
                Verdict::Pass | Verdict::Mask(_) => index += 1,
                Verdict::Refuse { .. } => return Ended::Refused,
            }
        }
        if !masked {
            return Ended::Pass { bytes, masked };
        }
        match serde_json::to_vec(&Value::Object(reply)) {
            Ok(bytes) => Ended::Pass { bytes, masked },
            // A `Value` always serialises; were it not to, nothing unchecked
            // reaches the client.
            Err(_) => {
                let error = crate::convert::openai_error(
                    "llmgate: the masked reply could not be written",
                    "api_error",
                    None,
                    None,
                );
                self.answer_reply(host, body_size, 502, "application/json", &error);
                Ended::Refused
            }
        }
    }

    /// A webhook's answer about the held reply: `None` when the stream was
    /// not waiting for it.
    pub(super) fn on_reply_call_response(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        token: u32,
        status: Option<u16>,
        body: Vec<u8>,
    ) -> Option<Ended> {
        let callout = self.reply_callout.as_mut()?;
        if !callout.waits_for(token) {
            return None;
        }
        let State::Asking {
            index,
            body_size,
            mut reply,
            bytes,
            mut masked,
            sent,
            asked_ms,
            ..
        } = std::mem::replace(&mut callout.state, State::Done)
        else {
            return None;
        };
        let format = callout.format;
        let answer = Answer {
            status,
            body,
            elapsed_ms: host.now_ms().saturating_sub(asked_ms),
        };
        let guard = plugin.cfg.policy.response_guards.get(index)?;
        match self.reply_judged(plugin, host, guard, Kind::Webhook, &answer, sent, body_size) {
            Verdict::Pass => {}
            Verdict::Mask(new) => {
                for (text, new) in reply_texts::of(format, &mut reply).into_iter().zip(new) {
                    *text = new;
                }
                masked = true;
            }
            Verdict::Refuse { .. } => return Some(Ended::Refused),
        }
        Some(self.ask_reply(plugin, host, index + 1, body_size, reply, bytes, masked))
    }

    /// Judges an answer about the reply and counts it; a refusal replaces
    /// the held reply.
    #[allow(clippy::too_many_arguments)]
    fn reply_judged(
        &mut self,
        plugin: &Plugin,
        host: &mut impl Host,
        guard: &Guard,
        kind: Kind,
        answer: &Answer,
        sent: usize,
        body_size: usize,
    ) -> Verdict {
        let dialect = self
            .reply_callout
            .as_ref()
            .map_or(texts::Format::Chat, ReplyCallout::dialect);
        let (outcome, verdict) = callout::judge(guard, Side::Reply, answer, sent, dialect);
        self.count_callout(plugin, host, kind, outcome);
        if let Verdict::Refuse {
            status,
            content_type,
            body,
        } = &verdict
        {
            self.answer_reply(host, body_size, *status, content_type, body);
        }
        verdict
    }

    /// Replaces the held reply with an answer of the gateway's.
    fn answer_reply(
        &mut self,
        host: &mut impl Host,
        body_size: usize,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        set_answer_headers(host, status, content_type, body.len());
        host.replace_response_body(body_size, body);
        self.status = Some(u32::from(status));
    }
}

fn set_answer_headers(host: &mut impl Host, status: u16, content_type: &str, length: usize) {
    host.set_response_header(":status", &status.to_string());
    host.set_response_header("content-type", content_type);
    host.remove_response_header("content-encoding");
    host.set_response_header("content-length", &length.to_string());
}
