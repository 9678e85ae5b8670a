//! A request in another API than the provider's, and its reply as the client
//! gets it. The client speaks OpenAI chat or Anthropic Messages
//! ([`Dialect`]); the provider speaks OpenAI chat or its own API. Every
//! conversion goes through OpenAI chat: Messages → chat
//! ([`FromMessages`]), then chat → the provider's API (its
//! [`ChatConversion`]) where it has one; the reply takes the same steps
//! back. A stream is converted event by event as it passes; a whole reply (a
//! success or a provider error) is held until complete and converted at
//! once, so its status can still change when it is not the provider's shape.
//!
//! The usage reader still reads the provider's own bytes (the caller hands
//! them over through `read`); only what the client sees is converted.

use super::masking::Masking;
use super::{Flow, Host};
use crate::convert::messages::{self, FromMessages};
use crate::convert::{self, ChatConversion, ConvertError, NativeRequest, StreamConversion, Target};
use crate::guard_patterns::Patterns;
use crate::reply_guard::Format;
use crate::response::Framing;

/// The API the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// OpenAI chat completions, to a provider with its own API.
    Chat,
    /// Anthropic Messages, to a provider without a Messages endpoint.
    Messages,
}

pub(super) struct Converting {
    client: Dialect,
    /// OpenAI chat → the provider's API; `None` when it speaks OpenAI's.
    provider: Option<&'static dyn ChatConversion>,
    /// The chat request a Messages request became (bodies dropped).
    chat: Option<NativeRequest>,
    /// The provider's request, when `provider` converted it.
    native: Option<NativeRequest>,
    model: String,
    reply: Reply,
}

/// A converted request: what goes upstream, and how to convert the reply.
pub(super) struct Converted {
    pub body: Vec<u8>,
    pub stream: bool,
    pub converting: Converting,
}

enum Reply {
    /// Response headers not seen yet.
    Pending,
    Stream(Chain),
    /// Held whole; `status` is the provider's.
    Whole {
        status: u32,
    },
}

/// Stream conversions one after the other.
struct Chain(Vec<Box<dyn StreamConversion>>);

impl Chain {
    fn feed(&mut self, native: &[u8]) -> Vec<u8> {
        let mut bytes = native.to_vec();
        for step in &mut self.0 {
            bytes = step.feed(&bytes);
        }
        bytes
    }

    /// Each step's end goes through the steps after it.
    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..self.0.len() {
            let mut bytes = match self.0.get_mut(i) {
                Some(step) => step.end(),
                None => break,
            };
            for later in self.0.iter_mut().skip(i + 1) {
                bytes = later.feed(&bytes);
            }
            out.extend(bytes);
        }
        out
    }
}

impl std::fmt::Debug for Converting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converting")
            .field("client", &self.client)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// A reply that did not have the provider's shape: the client gets this
/// status (a bad gateway, as the upstream's answer could not be used).
const UNREADABLE_REPLY: u32 = 502;

/// `code` of a chat request the gateway could not convert.
pub const CONVERSION_CODE: &str = "unsupported_request";

fn without_body(mut request: NativeRequest) -> NativeRequest {
    request.body = Vec::new();
    request
}

/// Converts `body` for the provider. `keep_stream_options`: the provider
/// takes OpenAI's `stream_options` (a Messages stream asks for usage with
/// it). `Err` is the 400 body, in the client's dialect.
pub(super) fn convert(
    client: Dialect,
    provider: Option<&'static dyn ChatConversion>,
    body: &[u8],
    target: Target<'_>,
    keep_stream_options: bool,
) -> Result<Converted, Vec<u8>> {
    let refuse = |e: &ConvertError| refusal(client, e);
    let (chat, chat_body) = match client {
        Dialect::Chat => (None, body.to_vec()),
        Dialect::Messages => {
            let chat = FromMessages.request(body, target).map_err(|e| refuse(&e))?;
            let mut chat_body = chat.body.clone();
            if provider.is_none() && !keep_stream_options {
                if let Some(stripped) =
                    crate::json_model::remove_member(&chat_body, "stream_options")
                {
                    chat_body = stripped;
                }
            }
            (Some(chat), chat_body)
        }
    };
    let (body, stream, native, model) = match provider {
        Some(provider) => {
            let native = provider
                .request(&chat_body, target)
                .map_err(|e| refuse(&e))?;
            let (body, stream, model) = (native.body.clone(), native.stream, native.model.clone());
            (body, stream, Some(without_body(native)), model)
        }
        None => match &chat {
            Some(chat) => (chat_body, chat.stream, None, chat.model.clone()),
            // Chat to a provider that speaks chat: nothing to convert.
            None => return Err(refuse(&ConvertError::new("nothing to convert", None))),
        },
    };
    Ok(Converted {
        body,
        stream,
        converting: Converting {
            client,
            provider,
            chat: chat.map(without_body),
            native,
            model,
            reply: Reply::Pending,
        },
    })
}

/// The 400 for a request that cannot be converted, in the client's dialect.
pub(super) fn refusal(client: Dialect, e: &ConvertError) -> Vec<u8> {
    match client {
        Dialect::Chat => convert::openai_error(
            &format!("llmgate: {}", e.message),
            "invalid_request_error",
            e.param.as_deref(),
            Some(CONVERSION_CODE),
        ),
        Dialect::Messages => FromMessages.refusal(e),
    }
}

impl Converting {
    /// The reply is converted as a stream.
    pub(super) fn streams(&self) -> bool {
        matches!(self.reply, Reply::Stream(_))
    }

    /// The format the client reads the reply in.
    pub(super) fn client_format(&self) -> Format {
        match self.client {
            Dialect::Chat => Format::Chat,
            Dialect::Messages => Format::Messages,
        }
    }

    /// `Pause` holds the headers until the whole reply is in.
    pub(super) fn on_response_headers(
        &mut self,
        host: &mut impl Host,
        status: Option<u32>,
        framing: Framing,
        end_of_stream: bool,
    ) -> Flow {
        let status = status.unwrap_or(UNREADABLE_REPLY);
        let success = (200..300).contains(&status);
        // The length changes either way.
        host.remove_response_header("content-length");
        if success && framing != Framing::Json {
            host.set_response_header("content-type", "text/event-stream");
            let mut steps = Vec::new();
            if let (Some(provider), Some(native)) = (self.provider, &self.native) {
                steps.push(provider.stream(native));
            }
            if let Some(chat) = &self.chat {
                steps.push(FromMessages.stream(chat));
            }
            self.reply = Reply::Stream(Chain(steps));
            return Flow::Continue;
        }
        host.set_response_header("content-type", "application/json");
        self.reply = Reply::Whole { status };
        if end_of_stream {
            // Nothing to convert, and no body can be added any more.
            return Flow::Continue;
        }
        Flow::Pause
    }

    /// Converts what arrived; `read` gets the provider's bytes of this
    /// callback first. For a whole reply Envoy hands over everything so far
    /// each time, so it is read once, at the end. A response guard's
    /// `masking` masks the converted reply, as the client reads it.
    pub(super) fn on_response_body(
        &mut self,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
        read: &mut dyn FnMut(&[u8]),
        masking: Option<(&mut Masking, Option<&Patterns>)>,
    ) -> Flow {
        match &mut self.reply {
            Reply::Pending => Flow::Continue,
            Reply::Stream(chain) => {
                let native = if body_size > 0 {
                    host.response_body(body_size).unwrap_or_default()
                } else {
                    Vec::new()
                };
                read(&native);
                let mut out = chain.feed(&native);
                if end_of_stream {
                    out.extend(chain.end());
                }
                if let Some((masking, patterns)) = masking {
                    out = masking.stream(patterns, &out, end_of_stream);
                }
                host.replace_response_body(body_size, &out);
                Flow::Continue
            }
            Reply::Whole { status } => {
                if !end_of_stream {
                    return Flow::Pause;
                }
                let status = *status;
                let native = host.response_body(body_size).unwrap_or_default();
                read(&native);
                let out = if (200..300).contains(&status) {
                    match self.success(&native) {
                        Ok(out) => match masking.map(|(m, patterns)| m.whole(patterns, &out)) {
                            None | Some(Ok(None)) => out,
                            Some(Ok(Some(masked))) => masked,
                            Some(Err(error)) => {
                                host.set_response_header(":status", &UNREADABLE_REPLY.to_string());
                                error
                            }
                        },
                        Err(e) => {
                            host.set_response_header(":status", &UNREADABLE_REPLY.to_string());
                            self.unreadable(&e)
                        }
                    }
                } else {
                    self.failure(u16::try_from(status).unwrap_or(u16::MAX), &native)
                };
                host.replace_response_body(body_size, &out);
                Flow::Continue
            }
        }
    }

    fn success(&self, native: &[u8]) -> Result<Vec<u8>, ConvertError> {
        let chat = match self.provider {
            Some(provider) => provider.response(native, &self.model)?,
            None => native.to_vec(),
        };
        match self.client {
            Dialect::Chat => Ok(chat),
            Dialect::Messages => FromMessages.response(&chat, &self.model),
        }
    }

    fn failure(&self, status: u16, native: &[u8]) -> Vec<u8> {
        let chat = match self.provider {
            Some(provider) => provider.error(status, native),
            None => native.to_vec(),
        };
        match self.client {
            Dialect::Chat => chat,
            Dialect::Messages => FromMessages.error(status, &chat),
        }
    }

    fn unreadable(&self, e: &ConvertError) -> Vec<u8> {
        let message = format!(
            "llmgate: the provider's reply could not be converted: {}",
            e.message
        );
        match self.client {
            Dialect::Chat => {
                convert::openai_error(&message, "api_error", None, Some("unreadable_reply"))
            }
            Dialect::Messages => messages::anthropic_error("api_error", &message),
        }
    }
}
