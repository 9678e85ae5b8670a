//! Anthropic's event stream → OpenAI `chat.completion.chunk` events.
//!
//! The provider's bytes go through an [`SseReader`] (events may be split
//! anywhere); each complete event is converted on its own, so only an
//! unfinished event and a few counters are held, never the stream.
//!
//! | Anthropic event | OpenAI chunk |
//! |---|---|
//! | `message_start` | `delta: {role: assistant, content: ""}`; its `id`, `model` and `usage` are kept for every later chunk |
//! | `content_block_start` `text` / `thinking` | `delta.content` / `delta.reasoning_content` when the block starts with text |
//! | `content_block_start` `tool_use` | `delta.tool_calls: [{index, id, type: function, function: {name, arguments: ""}}]`; `index` counts tool calls, not content blocks |
//! | `content_block_delta` `text_delta` / `thinking_delta` | `delta.content` / `delta.reasoning_content` |
//! | `content_block_delta` `input_json_delta` | `delta.tool_calls: [{index, function: {arguments: partial_json}}]` |
//! | `message_delta` | its cumulative `usage` kept; a `stop_reason` → `delta: {}` with `finish_reason` (as in a reply) |
//! | `message_stop` | the usage chunk (`choices: []`) when the client asked for `include_usage` |
//! | `error` | `data: {"error": {...}}` in OpenAI's error shape, `code` Anthropic's error type |
//! | `ping`, `content_block_stop`, `signature_delta`, `citations_delta`, other blocks and events | nothing |
//!
//! Every chunk carries `id`, `object`, `created: 0`, `model`, `choices`, and
//! `"usage": null` when the client asked for usage. The end of the stream
//! adds the usage chunk if `message_stop` never came, then `data: [DONE]`.

use super::{finish_reason, openai_usage, parts, status_of};
use crate::convert::{
    error_type, openai_error, sse_data, NativeRequest, StreamConversion, SSE_DONE,
};
use crate::sse::SseReader;
use crate::usage::anthropic::Parts;
use serde_json::{json, Map, Value};

/// Tool-use blocks remembered while open; a stream that starts more without
/// ever stopping them only loses the oldest (their later deltas are dropped).
const MAX_OPEN_TOOLS: usize = 64;

/// One converted stream.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    reader: SseReader,
    state: State,
}

#[derive(Debug, Default)]
struct State {
    include_usage: bool,
    id: String,
    model: String,
    /// The `role` chunk was sent.
    started: bool,
    /// `message_start` arrived: there is usage to report.
    usage_known: bool,
    usage: Parts,
    usage_sent: bool,
    /// `[DONE]` was sent.
    done: bool,
    /// Tool calls started so far (the next one's OpenAI `index`).
    tool_calls: u64,
    /// Open `tool_use` blocks: (content block index, tool call index).
    open_tools: Vec<(u64, u64)>,
}

impl AnthropicStream {
    pub fn new(request: &NativeRequest) -> Self {
        AnthropicStream {
            reader: SseReader::new(),
            state: State {
                include_usage: request.include_usage,
                model: request.model.clone(),
                ..State::default()
            },
        }
    }
}

impl StreamConversion for AnthropicStream {
    fn feed(&mut self, native: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.done {
            return out;
        }
        let state = &mut self.state;
        self.reader
            .feed(native, &mut |e| state.event(e.name, e.data, &mut out));
        out
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.done {
            return out;
        }
        let state = &mut self.state;
        self.reader
            .finish(&mut |e| state.event(e.name, e.data, &mut out));
        state.usage_chunk(&mut out);
        out.extend_from_slice(SSE_DONE);
        state.done = true;
        out
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl State {
    fn event(&mut self, name: &[u8], data: &[u8], out: &mut Vec<u8>) {
        let parsed = serde_json::from_slice::<Value>(data).ok();
        let kind = parsed
            .as_ref()
            .and_then(|v| str_at(v, "/type"))
            .map(str::as_bytes)
            .unwrap_or(name);
        if kind == b"error" || name == b"error" {
            self.error(parsed.as_ref(), out);
            return;
        }
        let Some(event) = parsed.as_ref() else {
            return;
        };
        match kind {
            b"message_start" => self.message_start(event, out),
            b"content_block_start" => self.block_start(event, out),
            b"content_block_delta" => self.block_delta(event, out),
            b"content_block_stop" => {
                if let Some(index) = event.get("index").and_then(Value::as_u64) {
                    self.open_tools.retain(|&(block, _)| block != index);
                }
            }
            b"message_delta" => {
                if let Some(usage) = event.get("usage") {
                    self.usage.update(parts(Some(usage)));
                }
                if let Some(reason) = str_at(event, "/delta/stop_reason") {
                    self.start(out);
                    out.extend(self.chunk(json!({}), Some(finish_reason(reason))));
                }
            }
            b"message_stop" => self.usage_chunk(out),
            _ => {}
        }
    }

    fn message_start(&mut self, event: &Value, out: &mut Vec<u8>) {
        let message = event.get("message");
        if let Some(id) = message.and_then(|m| str_at(m, "/id")) {
            self.id = id.to_owned();
        }
        if let Some(model) = message
            .and_then(|m| str_at(m, "/model"))
            .filter(|m| !m.is_empty())
        {
            self.model = model.to_owned();
        }
        if let Some(usage) = message.and_then(|m| m.get("usage")) {
            self.usage.update(parts(Some(usage)));
        }
        self.usage_known = true;
        self.start(out);
    }

    fn block_start(&mut self, event: &Value, out: &mut Vec<u8>) {
        let Some(block) = event.get("content_block") else {
            return;
        };
        match str_at(block, "/type") {
            Some("text") => self.text("content", str_at(block, "/text"), out),
            Some("thinking") => self.text("reasoning_content", str_at(block, "/thinking"), out),
            Some("tool_use") => {
                let Some(index) = event.get("index").and_then(Value::as_u64) else {
                    return;
                };
                let call = self.tool_calls;
                self.tool_calls = self.tool_calls.saturating_add(1);
                if self.open_tools.len() >= MAX_OPEN_TOOLS {
                    self.open_tools.remove(0);
                }
                self.open_tools.push((index, call));
                let delta = json!({"tool_calls": [{
                    "index": call,
                    "id": str_at(block, "/id").unwrap_or(""),
                    "type": "function",
                    "function": {"name": str_at(block, "/name").unwrap_or(""), "arguments": ""},
                }]});
                self.start(out);
                out.extend(self.chunk(delta, None));
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, event: &Value, out: &mut Vec<u8>) {
        let Some(delta) = event.get("delta") else {
            return;
        };
        match str_at(delta, "/type") {
            Some("text_delta") => self.text("content", str_at(delta, "/text"), out),
            Some("thinking_delta") => {
                self.text("reasoning_content", str_at(delta, "/thinking"), out)
            }
            Some("input_json_delta") => {
                let index = event.get("index").and_then(Value::as_u64);
                let call = self
                    .open_tools
                    .iter()
                    .find(|&&(block, _)| Some(block) == index)
                    .map(|&(_, call)| call);
                let json = str_at(delta, "/partial_json").unwrap_or("");
                if let (Some(call), false) = (call, json.is_empty()) {
                    let delta =
                        json!({"tool_calls": [{"index": call, "function": {"arguments": json}}]});
                    self.start(out);
                    out.extend(self.chunk(delta, None));
                }
            }
            _ => {}
        }
    }

    /// A `content` or `reasoning_content` delta, unless empty.
    fn text(&mut self, field: &str, text: Option<&str>, out: &mut Vec<u8>) {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return;
        };
        self.start(out);
        let mut delta = Map::new();
        delta.insert(field.to_owned(), json!(text));
        out.extend(self.chunk(Value::Object(delta), None));
    }

    /// The first chunk, `role: assistant`, once.
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            out.extend(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        let choice = json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
        let mut chunk = self.envelope();
        chunk.insert("choices".into(), json!([choice]));
        if self.include_usage {
            chunk.insert("usage".into(), Value::Null);
        }
        sse_data(&Value::Object(chunk))
    }

    fn envelope(&self) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("id".into(), json!(self.id));
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        chunk.insert("created".into(), json!(0));
        chunk.insert("model".into(), json!(self.model));
        chunk
    }

    /// The usage chunk, once, when asked for and known.
    fn usage_chunk(&mut self, out: &mut Vec<u8>) {
        if !self.include_usage || !self.usage_known || self.usage_sent {
            return;
        }
        self.usage_sent = true;
        let mut chunk = self.envelope();
        chunk.insert("choices".into(), json!([]));
        chunk.insert("usage".into(), openai_usage(&self.usage));
        out.extend(sse_data(&Value::Object(chunk)));
    }

    fn error(&mut self, event: Option<&Value>, out: &mut Vec<u8>) {
        let error = event.and_then(|e| e.get("error"));
        let kind = error.and_then(|e| str_at(e, "/type"));
        let message = error
            .and_then(|e| str_at(e, "/message"))
            .unwrap_or("the provider reported an error in the stream");
        let status = status_of(kind.unwrap_or(""));
        out.extend_from_slice(b"data: ");
        out.extend(openai_error(message, error_type(status), None, kind));
        out.extend_from_slice(b"\n\n");
    }
}
