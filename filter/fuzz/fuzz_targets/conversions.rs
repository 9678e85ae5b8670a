//! Every format conversion on arbitrary bytes, composed the way the filter
//! composes them (`stream/converting.rs`): a client speaking OpenAI chat or
//! Anthropic Messages, a provider speaking Anthropic, Gemini, Bedrock or
//! OpenAI chat, every conversion going through OpenAI chat. Nothing may
//! panic, and whatever is produced must have the shape the client is
//! promised:
//!
//! - a converted request is a JSON object of the provider's shape, its
//!   `stream` flag the body's; a refused one gets an error body in the
//!   client's shape;
//! - a converted reply is a `chat.completion` / an Anthropic `message`, and a
//!   `chat.completion` one conversion produced is always accepted by the next;
//! - an error body is in the client's error shape, and the provider's message
//!   survives the second conversion;
//! - a stream is whole events only, each `feed` returning complete events:
//!   `data: <json>\n\n` chunks (or errors) ending in exactly one
//!   `data: [DONE]\n\n`, or Anthropic's `event: <type>\ndata: <json>\n\n`
//!   with the content blocks opened, filled and closed in order and one
//!   `message_stop` or `error` last; every intermediate OpenAI stream in a
//!   chain is checked too; and the output does not depend on where the input
//!   was cut.
//!
//! Input: `[mode, aux, payload…]`. `mode` bits 0–1 pick the provider
//! (Anthropic, Gemini, Bedrock, OpenAI chat), bit 2 the client (OpenAI chat,
//! Anthropic Messages), bits 3–5 the operation ([`Op`]). `aux` is the cut
//! of a stream (a fraction of the payload's length, /255) or the status of
//! an error. `filter/fuzz/seed-conversions.sh` writes the seed corpus from
//! the conversion golden files with these two bytes prepended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmgate_filter::convert::anthropic::ToAnthropic;
use llmgate_filter::convert::bedrock::ToBedrock;
use llmgate_filter::convert::gemini::ToGemini;
use llmgate_filter::convert::messages::FromMessages;
use llmgate_filter::convert::{
    ChatConversion, ConvertError, NativeRequest, StreamConversion, Target,
};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Anthropic,
    Gemini,
    Bedrock,
    OpenAi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Chat,
    Messages,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// The payload is the client's request.
    Request,
    /// The payload is the provider's successful reply.
    Response,
    /// The payload is the provider's error reply; `aux` picks the status.
    Error,
    /// The payload is the provider's stream, for a stream request without
    /// (`Stream`) or with (`StreamUsage`) `include_usage`.
    Stream,
    StreamUsage,
    /// A fixed valid request is converted first, its result starts the
    /// stream, then the payload is the provider's stream.
    StreamAfterRequest,
    /// The payload is a JSON list of `[kind, type, payload]` events (the
    /// Bedrock golden files' `*.events.json`), framed as the provider
    /// frames them: AWS event-stream messages for Bedrock, SSE events
    /// (`event: <type>\ndata: <payload>`) for the others.
    FramedStream,
    /// The payload is the message of a refused request.
    Refusal,
}

const OPS: [Op; 8] = [
    Op::Request,
    Op::Response,
    Op::Error,
    Op::Stream,
    Op::StreamUsage,
    Op::StreamAfterRequest,
    Op::FramedStream,
    Op::Refusal,
];

const STATUSES: [u16; 16] = [
    400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 503, 504, 529, 0, 200, 65535,
];

fn conversion(provider: Provider) -> Option<&'static dyn ChatConversion> {
    match provider {
        Provider::Anthropic => Some(&ToAnthropic),
        Provider::Gemini => Some(&ToGemini),
        Provider::Bedrock => Some(&ToBedrock),
        Provider::OpenAi => None,
    }
}

const TARGETS: [Target<'static>; 2] = [Target { model: None }, Target { model: Some("m") }];

fuzz_target!(|input: &[u8]| {
    let [mode, aux, payload @ ..] = input else {
        return;
    };
    let provider = [
        Provider::Anthropic,
        Provider::Gemini,
        Provider::Bedrock,
        Provider::OpenAi,
    ][usize::from(mode & 3)];
    let client = if mode & 4 == 0 {
        Client::Chat
    } else {
        Client::Messages
    };
    let op = OPS[usize::from((mode >> 3) & 7)];
    let aux = *aux;
    match op {
        Op::Request => {
            for target in TARGETS {
                request(client, provider, payload, target);
            }
        }
        Op::Response => response(client, provider, payload),
        Op::Error => {
            let status = STATUSES[usize::from(aux) % STATUSES.len()];
            error(client, provider, status, payload);
        }
        Op::Stream | Op::StreamUsage => {
            let include_usage = op == Op::StreamUsage;
            let native = stream_request(include_usage);
            let chat = stream_request(true);
            stream(client, provider, Some(&native), Some(&chat), payload, aux);
        }
        Op::StreamAfterRequest => {
            let fixed: &[u8] = match client {
                Client::Chat => FIXED_CHAT,
                Client::Messages => FIXED_MESSAGES,
            };
            let Some((chat, native)) = request(client, provider, fixed, TARGETS[0]) else {
                panic!("the fixed request must convert");
            };
            stream(
                client,
                provider,
                native.as_ref(),
                chat.as_ref(),
                payload,
                aux,
            );
        }
        Op::FramedStream => {
            let Some(framed) = frame(provider, payload) else {
                return;
            };
            let native = stream_request(aux & 1 == 1);
            let chat = stream_request(true);
            stream(client, provider, Some(&native), Some(&chat), &framed, aux);
        }
        Op::Refusal => {
            let message = String::from_utf8_lossy(payload);
            let body = FromMessages.refusal(&ConvertError::new(message.clone(), None));
            let error = anthropic_error(&body);
            assert_eq!(error["type"], "invalid_request_error");
            assert_eq!(error["message"].as_str(), Some(&*message));
        }
    }
});

const FIXED_CHAT: &[u8] = br#"{"model": "m", "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of Portugal?"}
], "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
"stream": true, "stream_options": {"include_usage": true}}"#;

const FIXED_MESSAGES: &[u8] = br#"{"model": "m", "max_tokens": 1024, "system": "Be brief.",
"messages": [{"role": "user", "content": "What is the capital of Portugal?"}],
"tools": [{"name": "lookup", "input_schema": {"type": "object"}}], "stream": true}"#;

fn stream_request(include_usage: bool) -> NativeRequest {
    NativeRequest {
        body: Vec::new(),
        stream: true,
        include_usage,
        model: "m".into(),
    }
}

fn json(bytes: &[u8], what: &str) -> Value {
    match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => panic!(
            "{what} is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// `stream: true` in a request body.
fn asks_stream(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("stream").and_then(Value::as_bool))
        == Some(true)
}

// ---- Requests.

/// The client's request through the chain: `(chat, native)`, the requests
/// that start each step of the reply's conversion, or `None` when refused.
fn request(
    client: Client,
    provider: Provider,
    body: &[u8],
    target: Target<'_>,
) -> Option<(Option<NativeRequest>, Option<NativeRequest>)> {
    let refused = |e: &ConvertError| {
        assert!(!e.message.is_empty(), "a refusal says why");
        if client == Client::Messages {
            let error = anthropic_error(&FromMessages.refusal(e));
            assert_eq!(error["type"], "invalid_request_error");
        }
        None
    };
    let (chat, chat_body) = match client {
        Client::Chat => (None, body.to_vec()),
        Client::Messages => {
            let chat = match FromMessages.request(body, target) {
                Ok(chat) => chat,
                Err(e) => return refused(&e),
            };
            check_request(&chat, body, "OpenAI chat");
            let converted = json(&chat.body, "the converted chat request");
            assert!(converted["messages"].is_array(), "chat `messages`");
            assert!(converted["model"].is_string(), "chat `model`");
            assert_eq!(
                chat.include_usage, chat.stream,
                "a chat stream asks for usage"
            );
            let chat_body = chat.body.clone();
            (Some(chat), chat_body)
        }
    };
    let native = match conversion(provider) {
        Some(conversion) => {
            let native = match conversion.request(&chat_body, target) {
                Ok(native) => native,
                Err(e) => return refused(&e),
            };
            check_request(&native, &chat_body, "the provider's request");
            let converted = json(&native.body, "the provider's request");
            let key = match provider {
                Provider::Anthropic | Provider::Bedrock => "messages",
                Provider::Gemini => "contents",
                Provider::OpenAi => unreachable!(),
            };
            assert!(converted[key].is_array(), "provider request `{key}`");
            if provider == Provider::Anthropic {
                assert!(converted["model"].is_string(), "Anthropic `model`");
                assert!(
                    converted["max_tokens"].is_number(),
                    "Anthropic `max_tokens`"
                );
            }
            Some(native)
        }
        None => None,
    };
    Some((chat, native))
}

fn check_request(converted: &NativeRequest, from: &[u8], what: &str) {
    assert!(
        json(&converted.body, what).is_object(),
        "{what} is an object"
    );
    assert_eq!(converted.stream, asks_stream(from), "{what}: `stream` kept");
    assert!(
        converted.stream || !converted.include_usage,
        "{what}: usage only for a stream"
    );
}

// ---- Whole replies.

fn response(client: Client, provider: Provider, payload: &[u8]) {
    let chat = match conversion(provider) {
        Some(conversion) => match conversion.response(payload, "m") {
            Ok(chat) => {
                check_completion(&chat);
                chat
            }
            Err(e) => {
                assert!(!e.message.is_empty());
                return;
            }
        },
        None => payload.to_vec(),
    };
    if client == Client::Messages {
        match FromMessages.response(&chat, "m") {
            Ok(message) => check_message(&message),
            Err(e) => assert!(
                provider == Provider::OpenAi,
                "a converted chat.completion was refused: {e:?}"
            ),
        }
    }
}

fn check_completion(body: &[u8]) {
    let completion = json(body, "a chat.completion");
    assert_eq!(completion["object"], "chat.completion");
    assert!(completion["id"].is_string(), "`id`");
    assert!(completion["model"].is_string(), "`model`");
    let choices = completion["choices"].as_array().expect("`choices`");
    for choice in choices {
        assert!(choice["index"].is_u64(), "choice `index`");
        let message = &choice["message"];
        assert_eq!(message["role"], "assistant");
        assert!(
            message["content"].is_string() || message["content"].is_null(),
            "`content`"
        );
        if let Some(calls) = message.get("tool_calls") {
            for call in calls.as_array().expect("`tool_calls`") {
                assert!(call["id"].is_string(), "tool call `id`");
                assert!(call["function"]["name"].is_string(), "tool call `name`");
                let arguments = call["function"]["arguments"]
                    .as_str()
                    .expect("`arguments` is a string");
                json(arguments.as_bytes(), "tool call `arguments`");
            }
        }
        assert!(
            choice["finish_reason"].is_string() || choice["finish_reason"].is_null(),
            "`finish_reason`"
        );
    }
    if let Some(usage) = completion.get("usage") {
        check_openai_usage(usage);
    }
}

fn check_openai_usage(usage: &Value) {
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert!(usage[key].is_u64(), "usage `{key}`: {usage}");
    }
}

fn check_message(body: &[u8]) {
    let message = json(body, "an Anthropic message");
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert!(message["id"].is_string() && message["model"].is_string());
    for block in message["content"].as_array().expect("`content`") {
        match block["type"].as_str() {
            Some("text") => assert!(block["text"].is_string()),
            Some("thinking") => assert!(block["thinking"].is_string()),
            Some("tool_use") => {
                assert!(block["id"].is_string() && block["name"].is_string());
                assert!(block["input"].is_object(), "tool_use `input`");
            }
            other => panic!("content block {other:?}"),
        }
    }
    assert!(message["stop_reason"].is_string(), "`stop_reason`");
    check_anthropic_usage(&message["usage"]);
}

fn check_anthropic_usage(usage: &Value) {
    for key in ["input_tokens", "output_tokens"] {
        assert!(usage[key].is_u64(), "usage `{key}`: {usage}");
    }
}

// ---- Errors.

fn error(client: Client, provider: Provider, status: u16, payload: &[u8]) {
    let chat = match conversion(provider) {
        Some(conversion) => {
            let chat = conversion.error(status, payload);
            openai_error(&chat);
            chat
        }
        None => payload.to_vec(),
    };
    if client == Client::Messages {
        let error = anthropic_error(&FromMessages.error(status, &chat));
        if provider != Provider::OpenAi {
            let message = openai_error(&chat)["message"].clone();
            if message.as_str().is_some_and(|m| !m.is_empty()) {
                assert_eq!(error["message"], message, "the provider's message is kept");
            }
        }
    }
}

/// `{"error": {"message", "type", "param", "code"}}` → its `error`.
fn openai_error(body: &[u8]) -> Value {
    let body = json(body, "an OpenAI error");
    let error = body["error"].clone();
    assert!(error["message"].is_string(), "error `message`: {body}");
    assert!(error["type"].is_string(), "error `type`: {body}");
    error
}

/// `{"type": "error", "error": {"type", "message"}}` → its `error`.
fn anthropic_error(body: &[u8]) -> Value {
    let body = json(body, "an Anthropic error");
    assert_eq!(body["type"], "error");
    let error = body["error"].clone();
    assert!(error["message"].is_string(), "error `message`: {body}");
    assert!(error["type"].is_string(), "error `type`: {body}");
    error
}

// ---- Streams.

/// The stream conversions of one reply, run as the filter runs them: each
/// step's output is the next step's input, and each step's end goes through
/// the steps after it.
struct Chain {
    steps: Vec<(Box<dyn StreamConversion>, Dialect)>,
    /// What each step wrote, by step.
    written: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// OpenAI `chat.completion.chunk` events; `include_usage`.
    Chat(bool),
    Messages,
}

impl Chain {
    fn new(
        client: Client,
        provider: Provider,
        native: Option<&NativeRequest>,
        chat: Option<&NativeRequest>,
    ) -> Self {
        let mut steps = Vec::new();
        if let (Some(conversion), Some(native)) = (conversion(provider), native) {
            steps.push((
                conversion.stream(native),
                Dialect::Chat(native.include_usage),
            ));
        }
        if let (Client::Messages, Some(chat)) = (client, chat) {
            steps.push((FromMessages.stream(chat), Dialect::Messages));
        }
        let written = vec![Vec::new(); steps.len()];
        Chain { steps, written }
    }

    fn pass(&mut self, from: usize, mut bytes: Vec<u8>) -> Vec<u8> {
        for (i, (step, dialect)) in self.steps.iter_mut().enumerate().skip(from) {
            bytes = step.feed(&bytes);
            whole_events(&bytes, *dialect);
            self.written[i].extend_from_slice(&bytes);
        }
        bytes
    }

    fn feed(&mut self, native: &[u8]) -> Vec<u8> {
        self.pass(0, native.to_vec())
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..self.steps.len() {
            let (step, dialect) = &mut self.steps[i];
            let bytes = step.end();
            whole_events(&bytes, *dialect);
            self.written[i].extend_from_slice(&bytes);
            out.extend(self.pass(i + 1, bytes));
        }
        out
    }
}

/// The client's bytes for the payload fed in these pieces; checks every
/// step's whole output.
fn run_chain(
    client: Client,
    provider: Provider,
    native: Option<&NativeRequest>,
    chat: Option<&NativeRequest>,
    pieces: &[&[u8]],
) -> Option<Vec<u8>> {
    let mut chain = Chain::new(client, provider, native, chat);
    if chain.steps.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(chain.feed(piece));
    }
    out.extend(chain.end());
    for ((_, dialect), written) in chain.steps.iter().zip(&chain.written) {
        match dialect {
            Dialect::Chat(include_usage) => check_chat_stream(written, *include_usage),
            Dialect::Messages => check_messages_stream(written),
        }
    }
    Some(out)
}

fn stream(
    client: Client,
    provider: Provider,
    native: Option<&NativeRequest>,
    chat: Option<&NativeRequest>,
    payload: &[u8],
    aux: u8,
) {
    let at = payload.len() * usize::from(aux) / 255;
    let (a, b) = payload.split_at(at.min(payload.len()));
    let Some(whole) = run_chain(client, provider, native, chat, &[payload]) else {
        return;
    };
    let split = run_chain(client, provider, native, chat, &[a, b]);
    assert!(
        Some(&whole) == split.as_ref(),
        "the cut at {at} changed the output:\n{:?}\n{:?}",
        String::from_utf8_lossy(&whole),
        split
            .as_ref()
            .map(|s| String::from_utf8_lossy(s).into_owned())
    );
}

/// The SSE events of a converter's output: `(event name, data)`. Every
/// event is one `event:` line (optional) and one `data:` line, blank-line
/// terminated, and the output ends at an event's end.
fn sse_events(bytes: &[u8]) -> Vec<(Option<&str>, &str)> {
    let text = std::str::from_utf8(bytes).expect("the output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "the output ends inside an event: {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = match event.split_once('\n') {
                Some((first, data)) => {
                    let name = first
                        .strip_prefix("event: ")
                        .unwrap_or_else(|| panic!("not an event line: {event:?}"));
                    (Some(name), data)
                }
                None => (None, event),
            };
            let data = data
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data line: {event:?}"));
            assert!(!data.contains('\n'), "one data line: {event:?}");
            (name, data)
        })
        .collect()
}

/// One step's output of one call: whole events of its dialect.
fn whole_events(bytes: &[u8], dialect: Dialect) {
    for (name, data) in sse_events(bytes) {
        match dialect {
            Dialect::Chat(_) => assert!(name.is_none(), "chat events have no name"),
            Dialect::Messages => assert!(name.is_some(), "Anthropic events are named"),
        }
        if data != "[DONE]" || dialect == Dialect::Messages {
            json(data.as_bytes(), "an event's data");
        }
    }
}

fn check_chat_stream(bytes: &[u8], include_usage: bool) {
    let events = sse_events(bytes);
    let done = events.iter().filter(|(_, d)| *d == "[DONE]").count();
    assert_eq!(done, 1, "one [DONE]");
    assert_eq!(events.last().map(|e| e.1), Some("[DONE]"), "[DONE] last");
    let mut usage_chunks = 0;
    for (_, data) in &events[..events.len() - 1] {
        let chunk = json(data.as_bytes(), "a chunk");
        if chunk.get("error").is_some() {
            openai_error(data.as_bytes());
            continue;
        }
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert!(
            chunk["id"].is_string() && chunk["model"].is_string(),
            "{chunk}"
        );
        let choices = chunk["choices"].as_array().expect("`choices`");
        for choice in choices {
            assert!(choice["index"].is_u64(), "{chunk}");
            assert!(choice["delta"].is_object(), "{chunk}");
            let finish = &choice["finish_reason"];
            assert!(finish.is_null() || finish.is_string(), "{chunk}");
            if let Some(calls) = choice["delta"].get("tool_calls") {
                for call in calls.as_array().expect("`tool_calls`") {
                    assert!(call["index"].is_u64(), "tool call `index`: {chunk}");
                }
            }
        }
        match chunk.get("usage") {
            None => assert!(!include_usage, "`usage` in every chunk: {chunk}"),
            Some(Value::Null) => assert!(include_usage, "`usage` only when asked: {chunk}"),
            Some(usage) => {
                assert!(include_usage, "a usage chunk only when asked");
                assert!(choices.is_empty(), "the usage chunk has no choices");
                check_openai_usage(usage);
                usage_chunks += 1;
            }
        }
    }
    assert!(usage_chunks <= 1, "one usage chunk at most");
}

/// Anthropic's event stream: `message_start` first (or an error), content
/// blocks started, filled with deltas of their kind and stopped in index
/// order, then `message_delta` and `message_stop` — or an `error`, last.
fn check_messages_stream(bytes: &[u8]) {
    let events = sse_events(bytes);
    let mut started = false;
    let mut over = false;
    let mut delta_seen = false;
    let mut next_block = 0;
    let mut open: Option<String> = None;
    for (name, data) in events {
        let name = name.expect("a named event");
        let event = json(data.as_bytes(), "an Anthropic event");
        assert_eq!(event["type"], name, "the data's `type` is the event's");
        assert!(!over, "nothing after the end: {name} {event}");
        if name == "error" {
            anthropic_error(data.as_bytes());
            over = true;
            continue;
        }
        if name != "message_start" {
            assert!(started, "{name} before message_start");
        }
        match name {
            "message_start" => {
                assert!(!started, "one message_start");
                started = true;
                let message = &event["message"];
                assert_eq!(message["type"], "message");
                assert_eq!(message["role"], "assistant");
                assert!(message["content"].as_array().is_some_and(Vec::is_empty));
                check_anthropic_usage(&message["usage"]);
            }
            "content_block_start" => {
                assert!(!delta_seen && open.is_none(), "a block inside a block");
                assert_eq!(event["index"], next_block, "block index");
                let block = &event["content_block"];
                let kind = block["type"].as_str().expect("block `type`").to_owned();
                match kind.as_str() {
                    "text" => assert_eq!(block["text"], ""),
                    "thinking" => assert_eq!(block["thinking"], ""),
                    "tool_use" => {
                        assert!(block["id"].is_string() && block["name"].is_string());
                        assert!(block["input"].is_object());
                    }
                    other => panic!("block type {other}"),
                }
                open = Some(kind);
            }
            "content_block_delta" => {
                assert_eq!(event["index"], next_block, "delta index");
                let delta = &event["delta"];
                let (kind, field) = match open.as_deref() {
                    Some("text") => ("text_delta", "text"),
                    Some("thinking") => ("thinking_delta", "thinking"),
                    Some("tool_use") => ("input_json_delta", "partial_json"),
                    _ => panic!("a delta outside a block: {event}"),
                };
                assert_eq!(delta["type"], kind, "{event}");
                assert!(delta[field].is_string(), "{event}");
            }
            "content_block_stop" => {
                assert!(open.take().is_some(), "a stop outside a block");
                assert_eq!(event["index"], next_block, "stop index");
                next_block += 1;
            }
            "message_delta" => {
                assert!(open.is_none(), "message_delta inside a block");
                assert!(!delta_seen, "one message_delta");
                delta_seen = true;
                let reason = &event["delta"]["stop_reason"];
                assert!(reason.is_null() || reason.is_string());
                check_anthropic_usage(&event["usage"]);
            }
            "message_stop" => {
                assert!(delta_seen, "message_stop after message_delta");
                over = true;
            }
            other => panic!("event {other}"),
        }
    }
    assert!(over, "the stream ends with message_stop or an error");
}

// ---- Framing structured events.

/// `[[kind, type, payload], …]` as the provider's stream bytes.
fn frame(provider: Provider, payload: &[u8]) -> Option<Vec<u8>> {
    let Ok(Value::Array(events)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    let mut out = Vec::new();
    for event in &events {
        let kind = event.get(0).and_then(Value::as_str).unwrap_or("event");
        let name = event.get(1).and_then(Value::as_str).unwrap_or("");
        let data = match event.get(2) {
            Some(Value::String(raw)) => raw.clone(),
            Some(value) => value.to_string(),
            None => String::new(),
        };
        if provider == Provider::Bedrock {
            let kind_header = if kind == "exception" {
                ":exception-type"
            } else {
                ":event-type"
            };
            out.extend(aws_message(
                &[
                    (kind_header, name),
                    (":content-type", "application/json"),
                    (":message-type", kind),
                ],
                data.as_bytes(),
            )?);
        } else {
            if !name.is_empty() && !name.contains(['\r', '\n']) {
                out.extend_from_slice(format!("event: {name}\n").as_bytes());
            }
            for line in data.split('\n') {
                out.extend_from_slice(format!("data: {line}\n").as_bytes());
            }
            out.push(b'\n');
        }
    }
    Some(out)
}

/// One AWS event-stream message with string headers.
fn aws_message(headers: &[(&str, &str)], payload: &[u8]) -> Option<Vec<u8>> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).ok()?);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&u16::try_from(value.len()).ok()?.to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(12 + h.len() + payload.len() + 4).ok()?;
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(h.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    Some(out)
}
