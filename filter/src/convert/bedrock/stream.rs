//! ConverseStream's AWS event-stream messages → OpenAI
//! `chat.completion.chunk` events (the mapping is in the parent module). It
//! is apart because it holds state across messages — the event-stream
//! reader, the role and usage flags, the tool-use blocks seen — while the
//! reply is converted in one go; both share the parent's stop reason, usage
//! and error-message helpers.

use super::{convert_usage, error_message, finish_reason, ID};
use crate::convert::{stream_error, ChunkWriter, NativeRequest, StreamConversion, SSE_DONE};
use crate::event_stream::EventStreamReader;
use serde_json::{json, Map, Value};

/// OpenAI's error `type` for a stream exception.
fn exception_kind(exception: &str) -> &'static str {
    match exception {
        "throttlingException" => "rate_limit_error",
        "validationException" => "invalid_request_error",
        _ => "api_error",
    }
}

/// One event-stream message, copied out of the reader.
struct Event {
    message_type: Option<String>,
    event_type: Option<String>,
    exception_type: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    payload: Vec<u8>,
}

pub(super) struct BedrockStream {
    reader: EventStreamReader,
    writer: ChunkWriter,
    role_sent: bool,
    /// contentBlockIndex of each tool-use block, in order: the position is
    /// the OpenAI tool call index.
    tool_blocks: Vec<u64>,
    usage_sent: bool,
    failure_sent: bool,
    done: bool,
}

impl BedrockStream {
    pub(super) fn new(request: &NativeRequest) -> Self {
        BedrockStream {
            reader: EventStreamReader::new(),
            writer: ChunkWriter {
                id: ID.to_owned(),
                model: request.model.clone(),
                include_usage: request.include_usage,
            },
            role_sent: false,
            tool_blocks: Vec::new(),
            usage_sent: false,
            failure_sent: false,
            done: false,
        }
    }

    fn read(&mut self, native: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        self.reader.feed(native, &mut |message| {
            events.push(Event {
                message_type: message.message_type().map(str::to_owned),
                event_type: message.event_type().map(str::to_owned),
                exception_type: message.exception_type().map(str::to_owned),
                error_code: message.header_str(":error-code").map(str::to_owned),
                error_message: message.header_str(":error-message").map(str::to_owned),
                payload: message.payload.to_vec(),
            });
        });
        events
    }

    /// A delta chunk, with the role when none went out yet.
    fn delta(&mut self, mut delta: Map<String, Value>, finish: Option<&str>) -> Vec<u8> {
        if !self.role_sent {
            self.role_sent = true;
            delta.insert("role".into(), "assistant".into());
        }
        self.writer.delta(0, Value::Object(delta), finish)
    }

    fn on_event(&mut self, event: &Event, out: &mut Vec<u8>) {
        let payload: Value = serde_json::from_slice(&event.payload).unwrap_or(Value::Null);
        match event.message_type.as_deref() {
            Some("exception") => {
                let exception = event.exception_type.as_deref().unwrap_or("exception");
                let message = error_message(&payload).unwrap_or_else(|| exception.to_owned());
                out.extend(stream_error(
                    &message,
                    exception_kind(exception),
                    Some(exception),
                ));
                return;
            }
            Some("error") => {
                let code = event.error_code.as_deref();
                let message = event
                    .error_message
                    .clone()
                    .or_else(|| error_message(&payload))
                    .unwrap_or_else(|| "the event stream reported an error".to_owned());
                out.extend(stream_error(&message, "api_error", code));
                return;
            }
            _ => {}
        }
        match event.event_type.as_deref() {
            Some("messageStart") if !self.role_sent => {
                let mut delta = Map::new();
                delta.insert("content".into(), "".into());
                out.extend(self.delta(delta, None));
            }
            Some("contentBlockStart") => {
                let Some(tool_use) = payload.get("start").and_then(|s| s.get("toolUse")) else {
                    return;
                };
                let block = payload
                    .get("contentBlockIndex")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::MAX);
                let index = self.tool_blocks.len();
                self.tool_blocks.push(block);
                let mut delta = Map::new();
                delta.insert(
                    "tool_calls".into(),
                    json!([{
                        "index": index,
                        "id": tool_use.get("toolUseId").and_then(Value::as_str).unwrap_or_default(),
                        "type": "function",
                        "function": {
                            "name": tool_use.get("name").and_then(Value::as_str).unwrap_or_default(),
                            "arguments": "",
                        },
                    }]),
                );
                out.extend(self.delta(delta, None));
            }
            Some("contentBlockDelta") => {
                let Some(change) = payload.get("delta") else {
                    return;
                };
                let mut delta = Map::new();
                if let Some(text) = change.get("text").and_then(Value::as_str) {
                    delta.insert("content".into(), text.into());
                } else if let Some(input) = change
                    .get("toolUse")
                    .and_then(|t| t.get("input"))
                    .and_then(Value::as_str)
                {
                    if input.is_empty() {
                        return;
                    }
                    let block = payload.get("contentBlockIndex").and_then(Value::as_u64);
                    let index = match self.tool_blocks.iter().position(|b| Some(*b) == block) {
                        Some(index) => index,
                        None => {
                            // Arguments of a block whose start was not seen.
                            self.tool_blocks.push(block.unwrap_or(u64::MAX));
                            self.tool_blocks.len().saturating_sub(1)
                        }
                    };
                    delta.insert(
                        "tool_calls".into(),
                        json!([{"index": index, "function": {"arguments": input}}]),
                    );
                } else if let Some(text) = change
                    .get("reasoningContent")
                    .and_then(|r| r.get("text"))
                    .and_then(Value::as_str)
                {
                    delta.insert("reasoning_content".into(), text.into());
                }
                if !delta.is_empty() {
                    out.extend(self.delta(delta, None));
                }
            }
            Some("messageStop") => {
                let reason = payload
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                out.extend(self.delta(Map::new(), Some(finish_reason(reason))));
            }
            Some("metadata") => {
                if let Some(usage_wire) = payload.get("usage") {
                    if self.writer.include_usage && !self.usage_sent {
                        self.usage_sent = true;
                        out.extend(self.writer.usage(convert_usage(usage_wire)));
                    }
                }
            }
            _ => {}
        }
    }

    fn report_failure(&mut self, out: &mut Vec<u8>) {
        if self.failure_sent {
            return;
        }
        let message = match self.reader.failed() {
            Some(failure) => failure.to_string(),
            None if self.done && self.reader.unfinished() => {
                "the event stream ended inside a message".to_owned()
            }
            None => return,
        };
        self.failure_sent = true;
        out.extend(stream_error(&message, "api_error", None));
    }
}

impl StreamConversion for BedrockStream {
    fn feed(&mut self, native: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.read(native) {
            self.on_event(&event, &mut out);
        }
        self.report_failure(&mut out);
        out
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.report_failure(&mut out);
        out.extend_from_slice(SSE_DONE);
        out
    }
}
