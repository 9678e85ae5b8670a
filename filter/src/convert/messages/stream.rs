//! OpenAI `chat.completion.chunk` events → Anthropic's Messages stream.
//!
//! The provider's bytes go through an [`SseReader`] (events may be split
//! anywhere); each complete chunk is converted as it arrives, so only an
//! unfinished event, the open block and a few counters are held, never the
//! stream.
//!
//! | OpenAI chunk | Anthropic events |
//! |---|---|
//! | the first chunk (any) | `message_start`: `id` and `model` of the chunk (the request's model when it has none), empty `content`, `stop_reason: null`, `usage` of that chunk or zeros |
//! | `delta.reasoning_content` (or `reasoning`) | a `thinking` block (`content_block_start` with `thinking: ""`, `signature: ""`), then `thinking_delta` |
//! | `delta.content`, `delta.refusal` | a `text` block, then `text_delta` |
//! | `delta.tool_calls[]` with a new `index` (or a new `id`) | a `tool_use` block (`id`, `name`, `input: {}`), then `input_json_delta` with each `function.arguments` piece as `partial_json` |
//! | a delta of another kind than the open block's | `content_block_stop` of the open block, then the new block; `index` counts content blocks from 0 |
//! | `finish_reason` | remembered for `message_delta` (mapping as in a reply; none seen → `stop_reason: null`) |
//! | non-null `usage` (the `include_usage` chunk, `choices: []`) | remembered for `message_delta` |
//! | `data: [DONE]`, or the end of the stream | `content_block_stop` of the open block, `message_delta` (`delta: {stop_reason, stop_sequence: null}`, `usage` with `input_tokens`, `cache_creation_input_tokens: 0`, `cache_read_input_tokens`, `output_tokens`), `message_stop` — once |
//! | `data: {"error": {...}}` | `event: error` with `{"type": "error", "error": {type, message}}`; the stream is over (nothing more is written) |
//! | a stream that ends before any chunk | `event: error` (`api_error`): there is no message to report |
//! | choices other than index 0, empty deltas, comments, chunks that are not JSON objects | nothing |
//!
//! A tool call's arguments arriving after another block was opened (an
//! interleaving OpenAI, Azure and vLLM do not produce) are dropped: an
//! Anthropic block cannot be reopened once stopped.

use super::{anthropic_error, openai_usage, stop_reason, stream_error_type};
use crate::convert::{NativeRequest, StreamConversion};
use crate::sse::SseReader;
use serde_json::{json, Map, Value};

/// One converted stream.
#[derive(Debug, Default)]
pub struct MessagesStream {
    reader: SseReader,
    state: State,
}

/// The content block being written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A tool call by its OpenAI `index` and `id`.
    Tool {
        index: u64,
        id: String,
    },
}

#[derive(Debug, Default)]
struct State {
    id: String,
    model: String,
    /// `message_start` was written.
    started: bool,
    /// The stream is over: `message_stop` or an error was written.
    done: bool,
    open: Option<Open>,
    /// Content blocks started so far (the next one's `index`).
    blocks: u64,
    /// The highest tool call `index` started.
    last_tool: Option<u64>,
    stop_reason: Option<&'static str>,
    /// The latest non-null `usage`.
    usage: Option<Value>,
}

impl MessagesStream {
    pub fn new(request: &NativeRequest) -> Self {
        MessagesStream {
            reader: SseReader::new(),
            state: State {
                model: request.model.clone(),
                ..State::default()
            },
        }
    }
}

impl StreamConversion for MessagesStream {
    fn feed(&mut self, openai: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.done {
            return out;
        }
        let state = &mut self.state;
        self.reader
            .feed(openai, &mut |e| state.event(e.data, &mut out));
        out
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.done {
            return out;
        }
        let state = &mut self.state;
        self.reader.finish(&mut |e| state.event(e.data, &mut out));
        state.finish(&mut out);
        out
    }
}

/// `event: <type>\ndata: <json>\n\n`, one event of an Anthropic stream.
pub fn sse_event(kind: &str, data: &Value) -> Vec<u8> {
    let mut out = format!("event: {kind}\ndata: ").into_bytes();
    out.extend(serde_json::to_vec(data).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    out
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

impl State {
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.finish(out);
            return;
        }
        let Ok(Value::Object(chunk)) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            self.error(error, out);
            return;
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        self.start(&chunk, out);
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta") {
                self.delta(delta, out);
            }
            if let Some(reason) = str_at(choice, "finish_reason") {
                self.stop_reason = Some(stop_reason(reason));
            }
        }
    }

    /// `message_start`, once, with the first chunk's id, model and usage.
    fn start(&mut self, chunk: &Map<String, Value>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(id) = chunk.get("id").and_then(Value::as_str) {
            self.id = id.to_owned();
        }
        if let Some(model) = chunk
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            self.model = model.to_owned();
        }
        let message = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": openai_usage(self.usage.as_ref()),
        });
        out.extend(sse_event(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ));
    }

    fn delta(&mut self, delta: &Value, out: &mut Vec<u8>) {
        let text = |key: &str| str_at(delta, key).filter(|t| !t.is_empty());
        if let Some(thinking) = text("reasoning_content").or_else(|| text("reasoning")) {
            self.open_block(Open::Thinking, out);
            self.block_delta(json!({"type": "thinking_delta", "thinking": thinking}), out);
        }
        for key in ["content", "refusal"] {
            if let Some(text) = text(key) {
                self.open_block(Open::Text, out);
                self.block_delta(json!({"type": "text_delta", "text": text}), out);
            }
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for (position, call) in calls.into_iter().flatten().enumerate() {
            self.tool_call(call, position as u64, out);
        }
    }

    fn tool_call(&mut self, call: &Value, position: u64, out: &mut Vec<u8>) {
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let id = str_at(call, "id").unwrap_or("");
        let function = call.get("function");
        let arguments = function.and_then(|f| str_at(f, "arguments")).unwrap_or("");
        let continues = match &self.open {
            Some(Open::Tool {
                index: open,
                id: open_id,
            }) => *open == index && (id.is_empty() || id == open_id),
            _ => false,
        };
        if !continues {
            let new_index = self.last_tool.is_none_or(|last| index > last);
            let new_id = !id.is_empty()
                && matches!(&self.open, Some(Open::Tool { index: open, id: open_id }) if *open == index && id != open_id);
            if !new_index && !new_id {
                return;
            }
            let id = if id.is_empty() {
                format!("call_{}_{index}", self.id)
            } else {
                id.to_owned()
            };
            let name = function.and_then(|f| str_at(f, "name")).unwrap_or("");
            self.last_tool = Some(self.last_tool.map_or(index, |last| last.max(index)));
            let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
            self.start_block(Open::Tool { index, id }, block, out);
        }
        if !arguments.is_empty() {
            self.block_delta(
                json!({"type": "input_json_delta", "partial_json": arguments}),
                out,
            );
        }
    }

    /// Opens a thinking or text block unless one of that kind is open.
    fn open_block(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open.as_ref() == Some(&kind) {
            return;
        }
        let block = match kind {
            Open::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            _ => json!({"type": "text", "text": ""}),
        };
        self.start_block(kind, block, out);
    }

    fn start_block(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) {
        self.close_block(out);
        self.open = Some(kind);
        out.extend(sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.blocks, "content_block": block}),
        ));
    }

    fn block_delta(&self, delta: Value, out: &mut Vec<u8>) {
        out.extend(sse_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.blocks, "delta": delta}),
        ));
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            out.extend(sse_event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.blocks}),
            ));
            self.blocks = self.blocks.saturating_add(1);
        }
    }

    /// The end: the open block's stop, `message_delta` and `message_stop`.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.started {
            self.done = true;
            out.extend(error_event(
                "api_error",
                "the provider's stream ended before any reply",
            ));
            return;
        }
        self.close_block(out);
        self.done = true;
        out.extend(sse_event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": openai_usage(self.usage.as_ref()),
            }),
        ));
        out.extend(sse_event("message_stop", &json!({"type": "message_stop"})));
    }

    fn error(&mut self, error: &Value, out: &mut Vec<u8>) {
        self.done = true;
        let message = match error {
            Value::String(s) => Some(s.as_str()),
            _ => str_at(error, "message"),
        }
        .unwrap_or("the provider reported an error in the stream");
        out.extend(error_event(stream_error_type(error), message));
    }
}

fn error_event(kind: &str, message: &str) -> Vec<u8> {
    let mut out = b"event: error\ndata: ".to_vec();
    out.extend(anthropic_error(kind, message));
    out.extend_from_slice(b"\n\n");
    out
}
