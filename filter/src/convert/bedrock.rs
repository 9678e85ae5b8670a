//! OpenAI chat completions ⇄ Amazon Bedrock Converse / ConverseStream. The
//! model and the stream switch are in the path (`providers::bedrock`:
//! `/model/<id>/converse` or `/converse-stream`), so the body names neither.
//! References: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolConfiguration.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_OutputConfig.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>.
//!
//! # Request
//!
//! | OpenAI | Converse |
//! |---|---|
//! | `system` / `developer` messages | `system[{text}]`, in order |
//! | `user` / `assistant` messages | `messages[{role: user / assistant, content}]`; consecutive messages of one role merged (Converse wants alternation) |
//! | text part / string content | `{text}` (empty text dropped: Converse refuses blank text) |
//! | `image_url` with a `data:image/{png,jpeg,gif,webp};base64,` URL | `{image: {format, source: {bytes}}}` (the base64 text is the JSON form of `bytes`) |
//! | `image_url` with any other URL | refused (400): Bedrock cannot fetch URLs, only `data:` URLs are accepted |
//! | assistant `tool_calls[]` | `{toolUse: {toolUseId, name, input}}` (arguments parsed; unparsable → 400) |
//! | `tool` message | `{toolResult: {toolUseId, content: [{json}]}}` when the content is a JSON object, else `[{text}]`, in a `user` message |
//! | `tools[].function` | `toolConfig.tools[{toolSpec: {name, description, inputSchema: {json}}}]` (no `parameters` → an empty object schema) |
//! | `tool_choice` `auto` / `required` / `{function: {name}}` | `toolConfig.toolChoice` `{auto: {}}` / `{any: {}}` / `{tool: {name}}` |
//! | `tool_choice: none` | Converse has no "none": the tools are not sent at all. Converse refuses `toolUse` / `toolResult` blocks without a `toolConfig`, so `none` with tool calls in the history is refused (400) rather than sent to fail |
//! | `max_completion_tokens`, else `max_tokens` | `inferenceConfig.maxTokens` |
//! | `temperature`, `top_p` | `inferenceConfig.temperature`, `topP` |
//! | `stop` (string or array) | `inferenceConfig.stopSequences` |
//! | `n` | 1 or absent only; more is refused (400): Converse answers one message |
//! | `response_format` `json_schema` | `outputConfig.textFormat {type: json_schema, structure: {jsonSchema: {schema: <the schema serialised as a string>, name, description}}}` (models without structured-output support answer Bedrock's own 400) |
//! | `response_format` `json_object` | dropped: Converse has no schema-less JSON mode (OpenAI requires the prompt to ask for JSON, so the answer is JSON by instruction only) |
//! | `reasoning_effort` | dropped: Converse has no cross-model field; reasoning settings are model-specific `additionalModelRequestFields` (e.g. Anthropic's `thinking`) |
//! | `model` | not sent: the path names it; reported as [`NativeRequest::model`] |
//! | `stream`, `stream_options.include_usage` | not sent: [`NativeRequest::stream`], [`NativeRequest::include_usage`] |
//!
//! Also dropped: `seed`, `presence_penalty`, `frequency_penalty`,
//! `logprobs`, `top_logprobs`, `logit_bias`, `user`, `metadata`, `store`,
//! `parallel_tool_calls`, `service_tier` and anything else not listed.
//! Refused (400): content parts other than text and images, non-`function`
//! tools, roles other than the five above.
//!
//! # Reply
//!
//! | Converse | OpenAI `chat.completion` |
//! |---|---|
//! | — | `id`: `chatcmpl-bedrock` (Converse returns no id; the request id is a header the conversion does not see) |
//! | — | `created: 0`: the conversion has no clock |
//! | — | `model`: [`NativeRequest::model`] (the reply names none) |
//! | `output.message.content[].text` | `message.content`, joined |
//! | `reasoningContent.reasoningText.text` | `message.reasoning_content`, joined (redacted reasoning and signatures are not surfaced) |
//! | `toolUse {toolUseId, name, input}` | `message.tool_calls[{id, function: {name, arguments}}]`, `input` serialised |
//! | `stopReason` `end_turn` / `stop_sequence` | `stop` |
//! | `tool_use` | `tool_calls` |
//! | `max_tokens` / `model_context_window_exceeded` | `length` |
//! | `guardrail_intervened` / `content_filtered` | `content_filter` |
//! | any other reason | `stop` |
//! | `usage` | prompt = `inputTokens` + `cacheReadInputTokens` + `cacheWriteInputTokens`, completion = `outputTokens`, total = `totalTokens`, `cached_tokens` = `cacheReadInputTokens` |
//!
//! Errors `{"message": "..."}` become OpenAI's shape; `code` is Bedrock's
//! exception name for the status (400 `ValidationException`, 403
//! `AccessDeniedException`, 404 `ResourceNotFoundException`, 408
//! `ModelTimeoutException`, 424 `ModelErrorException`, 429
//! `ThrottlingException`, 500 `InternalServerException`, 503
//! `ServiceUnavailableException`) — the `x-amzn-errortype` header that names
//! it exactly is not passed to the conversion.
//!
//! # Stream
//!
//! ConverseStream answers AWS event-stream messages: `messageStart` → a
//! chunk with `role: assistant`; `contentBlockStart` with `toolUse` → a
//! `tool_calls` delta with `id`, `name` and empty arguments (its index counts
//! tool calls); `contentBlockDelta` `text` / `toolUse.input` /
//! `reasoningContent.text` → `content` / arguments / `reasoning_content`
//! deltas; `messageStop` → the finish chunk; `metadata.usage` → the usage
//! chunk right away, once, only with `include_usage`. An exception message
//! (`:message-type: exception`, e.g. `throttlingException`) becomes
//! `data: {"error": {...}}` with the exception name as `code`; so does a
//! broken or cut-short event stream. `end()` sends `data: [DONE]`.

use super::{
    chat_request, content_parts, content_text, data_url, error_type, fallback_error_message,
    json_object, max_tokens, number, openai_error, reply_model, stop_sequences, stream_error,
    stream_flags, usage, ChatConversion, ChunkWriter, ContentPart, ConvertError, NativeRequest,
    StreamConversion, Target, SSE_DONE,
};
use crate::event_stream::EventStreamReader;
use serde_json::{json, Map, Value};

/// Bedrock Converse / ConverseStream.
pub struct ToBedrock;

/// Every reply's `id`: Converse has none in the body.
const ID: &str = "chatcmpl-bedrock";

impl ChatConversion for ToBedrock {
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
        let request = chat_request(openai)?;
        let model = reply_model(&request, target);
        let (stream, include_usage) = stream_flags(&request);
        let body = convert_request(&request)?;
        Ok(NativeRequest {
            body: serde_json::to_vec(&body).unwrap_or_default(),
            stream,
            include_usage,
            model,
        })
    }

    fn response(&self, native: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
        let reply: Value = serde_json::from_slice(native)
            .map_err(|_| ConvertError::new("the Bedrock reply is not JSON", None))?;
        let completion = convert_reply(&reply, model)?;
        Ok(serde_json::to_vec(&completion).unwrap_or_default())
    }

    fn error(&self, status: u16, native: &[u8]) -> Vec<u8> {
        let message = serde_json::from_slice::<Value>(native)
            .ok()
            .as_ref()
            .and_then(error_message)
            .unwrap_or_else(|| fallback_error_message(status, native));
        openai_error(&message, error_type(status), None, status_code(status))
    }

    fn stream(&self, request: &NativeRequest) -> Box<dyn StreamConversion> {
        Box::new(BedrockStream {
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
        })
    }
}

// ---- Request.

fn bad_message(message: impl Into<String>) -> ConvertError {
    ConvertError::new(message, Some("messages"))
}

fn convert_request(request: &Map<String, Value>) -> Result<Value, ConvertError> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    let mut uses_tools = false;
    for message in messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content");
        match role {
            "system" | "developer" => {
                let text = content_text(content, role)?;
                if !text.is_empty() {
                    system.push(json!({"text": text}));
                }
            }
            "user" => push_turn(&mut turns, "user", blocks(content)?),
            "assistant" => {
                let mut content = blocks(content)?;
                for (id, name, input) in tool_calls(message)? {
                    uses_tools = true;
                    content
                        .push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
                }
                push_turn(&mut turns, "assistant", content);
            }
            "tool" => {
                uses_tools = true;
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad_message("a `tool` message needs `tool_call_id`"))?;
                let text = content_text(content, role)?;
                let result = match json_object(&text) {
                    Some(object) => json!([{"json": object}]),
                    None => json!([{"text": text}]),
                };
                let block = json!({"toolResult": {"toolUseId": id, "content": result}});
                push_turn(&mut turns, "user", vec![block]);
            }
            other => {
                return Err(bad_message(format!(
                    "messages of role {other:?} are not supported"
                )))
            }
        }
    }

    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(turns));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let inference = inference_config(request)?;
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(config) = tool_config(request, uses_tools)? {
        body.insert("toolConfig".into(), config);
    }
    if let Some(output) = output_config(request)? {
        body.insert("outputConfig".into(), output);
    }
    Ok(Value::Object(body))
}

/// Appends blocks to the last message when it has the same role; a message
/// without blocks is dropped.
fn push_turn(turns: &mut Vec<Value>, role: &str, content: Vec<Value>) {
    if content.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut() {
        if last.get("role").and_then(Value::as_str) == Some(role) {
            if let Some(Value::Array(existing)) = last.get_mut("content") {
                existing.extend(content);
                return;
            }
        }
    }
    turns.push(json!({"role": role, "content": content}));
}

fn blocks(content: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let mut blocks = Vec::new();
    for part in content_parts(content)? {
        match part {
            ContentPart::Text("") => {}
            ContentPart::Text(text) => blocks.push(json!({"text": text})),
            ContentPart::Image(url) => blocks.push(image_block(url)?),
        }
    }
    Ok(blocks)
}

fn image_block(url: &str) -> Result<Value, ConvertError> {
    let Some((mime, data)) = data_url(url) else {
        return Err(bad_message(
            "Bedrock cannot fetch image URLs: only base64 `data:` URLs \
             (data:image/png;base64,...) are accepted for this provider",
        ));
    };
    let format = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return Err(bad_message(format!(
                "image type {mime:?} is not supported: png, jpeg, gif or webp"
            )))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

/// An assistant message's `tool_calls` as (id, name, parsed arguments).
fn tool_calls(message: &Value) -> Result<Vec<(String, String, Value)>, ConvertError> {
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(bad_message("`tool_calls` must be an array")),
    };
    calls
        .iter()
        .map(|call| {
            let function = call.get("function");
            let name = function
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad_message("a tool call needs `function.name`"))?;
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_message("a tool call needs an `id`"))?;
            let input = match function.and_then(|f| f.get("arguments")) {
                None | Some(Value::Null) => json!({}),
                Some(Value::String(s)) if s.trim().is_empty() => json!({}),
                Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| {
                    bad_message(format!(
                        "the arguments of tool call {id:?} are not valid JSON"
                    ))
                })?,
                Some(other) => other.clone(),
            };
            Ok((id.to_owned(), name.to_owned(), input))
        })
        .collect()
}

fn inference_config(request: &Map<String, Value>) -> Result<Map<String, Value>, ConvertError> {
    let mut config = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.to_owned(), value);
        }
    };
    put("maxTokens", max_tokens(request)?);
    put("temperature", number(request, "temperature")?);
    put("topP", number(request, "top_p")?);
    put("stopSequences", stop_sequences(request)?.map(Value::Array));
    if let Some(n) = number(request, "n")? {
        if n.as_u64() != Some(1) {
            return Err(ConvertError::new(
                "Bedrock answers one choice: `n` must be 1",
                Some("n"),
            ));
        }
    }
    Ok(config)
}

fn tool_config(
    request: &Map<String, Value>,
    uses_tools: bool,
) -> Result<Option<Value>, ConvertError> {
    let bad = |m: &str| ConvertError::new(m.to_owned(), Some("tools"));
    let bad_choice = |m: &str| ConvertError::new(m.to_owned(), Some("tool_choice"));
    let choice = match request.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(choice)) => match choice.as_str() {
            "auto" => Some(json!({"auto": {}})),
            "required" => Some(json!({"any": {}})),
            "none" if uses_tools => {
                return Err(bad_choice(
                    "Bedrock has no `tool_choice: none`, and it refuses tool calls and \
                     results in the messages without tools: leave `tool_choice` out \
                     or use `auto`",
                ))
            }
            "none" => return Ok(None),
            _ => {
                return Err(bad_choice(
                    "`tool_choice` must be `auto`, `none`, `required` or a function",
                ))
            }
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad_choice("`tool_choice` needs `function.name`"))?;
            Some(json!({"tool": {"name": name}}))
        }
    };
    let tools = match request.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("`tools` must be an array")),
    };
    let mut specs = Vec::new();
    for tool in tools {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Err(bad("only `function` tools are supported for this provider"));
        }
        let function = tool.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a tool needs `function.name`"))?;
        let mut spec = Map::new();
        spec.insert("name".into(), name.into());
        if let Some(description) = function.and_then(|f| f.get("description")) {
            if description.as_str().is_some_and(|d| !d.is_empty()) {
                spec.insert("description".into(), description.clone());
            }
        }
        let schema = function
            .and_then(|f| f.get("parameters"))
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        spec.insert("inputSchema".into(), json!({"json": schema}));
        specs.push(json!({"toolSpec": spec}));
    }
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(specs));
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Ok(Some(Value::Object(config)))
}

fn output_config(request: &Map<String, Value>) -> Result<Option<Value>, ConvertError> {
    let bad = |m: &str| ConvertError::new(m.to_owned(), Some("response_format"));
    let Some(format) = request.get("response_format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text" | "json_object") => Ok(None),
        Some("json_schema") => {
            let definition = format.get("json_schema");
            let schema = definition
                .and_then(|d| d.get("schema"))
                .ok_or_else(|| bad("`response_format.json_schema.schema` is required"))?;
            let mut json_schema = Map::new();
            json_schema.insert(
                "schema".into(),
                serde_json::to_string(schema).unwrap_or_default().into(),
            );
            for key in ["name", "description"] {
                if let Some(value) = definition
                    .and_then(|d| d.get(key))
                    .filter(|v| v.is_string())
                {
                    json_schema.insert(key.into(), value.clone());
                }
            }
            Ok(Some(json!({"textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": json_schema},
            }})))
        }
        _ => Err(bad(
            "`response_format.type` must be `text`, `json_object` or `json_schema`",
        )),
    }
}

// ---- Reply.

fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

fn convert_usage(usage_wire: &Value) -> Value {
    let count = |key: &str| usage_wire.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cached = count("cacheReadInputTokens");
    let prompt = count("inputTokens")
        .saturating_add(cached)
        .saturating_add(count("cacheWriteInputTokens"));
    let completion = count("outputTokens");
    let total = usage_wire
        .get("totalTokens")
        .and_then(Value::as_u64)
        .unwrap_or(prompt.saturating_add(completion));
    usage(prompt, completion, total, cached, 0)
}

fn convert_reply(reply: &Value, model: &str) -> Result<Value, ConvertError> {
    let blocks = reply
        .get("output")
        .and_then(|o| o.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::new("the reply is not a Bedrock Converse response", None))?;
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut calls = Vec::new();
    for block in blocks {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.get_or_insert_with(String::new).push_str(t);
        } else if let Some(tool_use) = block.get("toolUse") {
            let input = tool_use.get("input").cloned().unwrap_or_else(|| json!({}));
            calls.push(json!({
                "id": tool_use.get("toolUseId").and_then(Value::as_str).unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": tool_use.get("name").and_then(Value::as_str).unwrap_or_default(),
                    "arguments": serde_json::to_string(&input).unwrap_or_default(),
                },
            }));
        } else if let Some(t) = block
            .get("reasoningContent")
            .and_then(|r| r.get("reasoningText"))
            .and_then(|r| r.get("text"))
            .and_then(Value::as_str)
        {
            reasoning.get_or_insert_with(String::new).push_str(t);
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert("content".into(), text.map_or(Value::Null, Value::String));
    if let Some(reasoning) = reasoning {
        message.insert("reasoning_content".into(), reasoning.into());
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let reason = reply
        .get("stopReason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let mut completion = json!({
        "id": ID,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reason),
        }],
    });
    if let (Some(usage_wire), Some(object)) = (reply.get("usage"), completion.as_object_mut()) {
        object.insert("usage".into(), convert_usage(usage_wire));
    }
    Ok(completion)
}

/// `message` (or `Message`) of a Bedrock error body.
fn error_message(body: &Value) -> Option<String> {
    body.get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Bedrock's exception name for an HTTP status.
fn status_code(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        500 => "InternalServerException",
        503 => "ServiceUnavailableException",
        _ => return None,
    })
}

/// OpenAI's error `type` for a stream exception.
fn exception_kind(exception: &str) -> &'static str {
    match exception {
        "throttlingException" => "rate_limit_error",
        "validationException" => "invalid_request_error",
        _ => "api_error",
    }
}

// ---- Stream.

/// One event-stream message, copied out of the reader.
struct Event {
    message_type: Option<String>,
    event_type: Option<String>,
    exception_type: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    payload: Vec<u8>,
}

struct BedrockStream {
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

#[cfg(test)]
mod tests;
