//! Gemini's stream (one `GenerateContentResponse` per SSE event) → OpenAI
//! `chat.completion.chunk` events (the mapping is in the parent module). It
//! is apart because it holds state across events — per-candidate role and
//! tool call counts, the last usage — while the reply is converted in one go;
//! both read candidates with the parent's helpers.

use super::{
    candidate_index, convert_usage, finish_reason, non_empty_str, read_error, read_parts,
    DEFAULT_ID,
};
use crate::convert::{stream_error, ChunkWriter, NativeRequest, StreamConversion, SSE_DONE};
use crate::sse::SseReader;
use serde_json::{json, Map, Value};

/// One candidate of a stream: its index, whether its role went out, and how
/// many tool calls it made so far.
#[derive(Debug, Clone, Copy)]
struct Choice {
    index: u64,
    role_sent: bool,
    calls: usize,
}

pub(super) struct GeminiStream {
    sse: SseReader,
    writer: ChunkWriter,
    /// The first event fixed `id` and `model`.
    started: bool,
    choices: Vec<Choice>,
    usage: Option<Value>,
    done: bool,
}

impl GeminiStream {
    pub(super) fn new(request: &NativeRequest) -> Self {
        GeminiStream {
            sse: SseReader::new(),
            writer: ChunkWriter {
                id: DEFAULT_ID.to_owned(),
                model: request.model.clone(),
                include_usage: request.include_usage,
            },
            started: false,
            choices: Vec::new(),
            usage: None,
            done: false,
        }
    }

    fn on_event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let (Some(message), code) = read_error(&event) {
            out.extend(stream_error(&message, "api_error", code.as_deref()));
            return;
        }
        if !self.started {
            self.started = true;
            if let Some(id) = non_empty_str(&event, "responseId") {
                self.writer.id = id.to_owned();
            }
            if let Some(model) = non_empty_str(&event, "modelVersion") {
                self.writer.model = model.to_owned();
            }
        }
        if let Some(metadata) = event.get("usageMetadata") {
            self.usage = Some(convert_usage(metadata));
        }
        let candidates = event
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let blocked = event
            .get("promptFeedback")
            .is_some_and(|f| non_empty_str(f, "blockReason").is_some());
        if candidates.is_empty() && blocked {
            let choice = self.choice(0);
            self.finish(choice, "content_filter", out);
            return;
        }
        for (position, candidate) in candidates.iter().enumerate() {
            self.on_candidate(candidate_index(candidate, position), candidate, out);
        }
    }

    /// The state of candidate `index`, added when new.
    fn choice(&mut self, index: u64) -> usize {
        match self.choices.iter().position(|c| c.index == index) {
            Some(slot) => slot,
            None => {
                self.choices.push(Choice {
                    index,
                    role_sent: false,
                    calls: 0,
                });
                self.choices.len().saturating_sub(1)
            }
        }
    }

    fn on_candidate(&mut self, index: u64, candidate: &Value, out: &mut Vec<u8>) {
        let said = read_parts(candidate);
        let slot = self.choice(index);
        let Some(state) = self.choices.get_mut(slot) else {
            return;
        };
        let mut delta = Map::new();
        if said.has_text {
            delta.insert("content".into(), said.text.into());
        }
        if said.has_thoughts {
            delta.insert("reasoning_content".into(), said.thoughts.into());
        }
        if !said.calls.is_empty() {
            let before = state.calls;
            let calls: Vec<Value> = said
                .calls
                .into_iter()
                .enumerate()
                .map(|(i, (id, name, arguments))| {
                    let n = before.saturating_add(i);
                    json!({
                        "index": n,
                        "id": id.unwrap_or_else(|| format!("call_{n}")),
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    })
                })
                .collect();
            state.calls = before.saturating_add(calls.len());
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        if !delta.is_empty() {
            if !state.role_sent {
                state.role_sent = true;
                delta.insert("role".into(), "assistant".into());
            }
            out.extend(self.writer.delta(index, Value::Object(delta), None));
        }
        let called = state.calls > 0;
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            self.finish(slot, finish_reason(reason, called), out);
        }
    }

    /// The finish chunk of the candidate in `slot` (after its role chunk
    /// when nothing else was sent for it).
    fn finish(&mut self, slot: usize, reason: &str, out: &mut Vec<u8>) {
        let Some(state) = self.choices.get_mut(slot) else {
            return;
        };
        if !state.role_sent {
            state.role_sent = true;
            out.extend(
                self.writer
                    .delta(state.index, json!({"role": "assistant"}), None),
            );
        }
        out.extend(self.writer.delta(state.index, json!({}), Some(reason)));
    }
}

impl StreamConversion for GeminiStream {
    fn feed(&mut self, native: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut events: Vec<Vec<u8>> = Vec::new();
        self.sse
            .feed(native, &mut |event| events.push(event.data.to_vec()));
        for data in events {
            self.on_event(&data, &mut out);
        }
        out
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        let mut events: Vec<Vec<u8>> = Vec::new();
        self.sse
            .finish(&mut |event| events.push(event.data.to_vec()));
        for data in events {
            self.on_event(&data, &mut out);
        }
        if self.writer.include_usage {
            if let Some(usage) = self.usage.take() {
                out.extend(self.writer.usage(usage));
            }
        }
        out.extend_from_slice(SSE_DONE);
        out
    }
}
