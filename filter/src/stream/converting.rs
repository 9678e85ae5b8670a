//! The reply to a converted request, as the client gets it: a stream
//! converted event by event as it passes, or a whole reply (a success or a
//! provider error) held until it is complete and converted at once, so its
//! status can still change when it is not the provider's shape.
//!
//! The usage reader still reads the provider's own bytes ([`Self::native`]
//! hands them over); only what the client sees is converted.

use super::{Flow, Host};
use crate::convert::{self, ChatConversion, NativeRequest, StreamConversion};
use crate::response::Framing;

pub(super) struct Converting {
    conversion: &'static dyn ChatConversion,
    /// The converted request, without its body.
    request: NativeRequest,
    reply: Reply,
}

enum Reply {
    /// Response headers not seen yet.
    Pending,
    Stream(Box<dyn StreamConversion>),
    /// Held whole; `status` is the provider's.
    Whole {
        status: u32,
    },
}

impl std::fmt::Debug for Converting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converting")
            .field("model", &self.request.model)
            .field("stream", &self.request.stream)
            .finish_non_exhaustive()
    }
}

/// A reply that did not have the provider's shape: the client gets this
/// status (a bad gateway, as the upstream's answer could not be used).
const UNREADABLE_REPLY: u32 = 502;

impl Converting {
    pub(super) fn new(conversion: &'static dyn ChatConversion, mut request: NativeRequest) -> Self {
        request.body = Vec::new();
        Converting {
            conversion,
            request,
            reply: Reply::Pending,
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
            self.reply = Reply::Stream(self.conversion.stream(&self.request));
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

    /// Converts what arrived; `native` is the provider's bytes of this
    /// callback, handed to `read` (the usage reader) first. For a whole reply
    /// Envoy hands over everything so far each time, so it is read once, at
    /// the end.
    pub(super) fn on_response_body(
        &mut self,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
        read: &mut dyn FnMut(&[u8]),
    ) -> Flow {
        match &mut self.reply {
            Reply::Pending => Flow::Continue,
            Reply::Stream(stream) => {
                let native = if body_size > 0 {
                    host.response_body(body_size).unwrap_or_default()
                } else {
                    Vec::new()
                };
                read(&native);
                let mut out = stream.feed(&native);
                if end_of_stream {
                    out.extend(stream.end());
                }
                host.replace_response_body(body_size, &out);
                Flow::Continue
            }
            Reply::Whole { status } => {
                if !end_of_stream {
                    return Flow::Pause;
                }
                let native = host.response_body(body_size).unwrap_or_default();
                read(&native);
                let status = *status;
                let out = if (200..300).contains(&status) {
                    match self.conversion.response(&native, &self.request.model) {
                        Ok(out) => out,
                        Err(e) => {
                            host.set_response_header(":status", &UNREADABLE_REPLY.to_string());
                            convert::openai_error(
                                &format!(
                                    "llmgate: the provider's reply could not be converted: {}",
                                    e.message
                                ),
                                "api_error",
                                None,
                                Some("unreadable_reply"),
                            )
                        }
                    }
                } else {
                    let status = u16::try_from(status).unwrap_or(u16::MAX);
                    self.conversion.error(status, &native)
                };
                host.replace_response_body(body_size, &out);
                Flow::Continue
            }
        }
    }
}
