//! OpenAI chat completions ⇄ Gemini `generateContent` (Gemini API and Vertex
//! AI, which share the body format). The model and the stream switch are in
//! the path (`providers::gemini`, `providers::vertexai`), so the body names
//! neither. References: <https://ai.google.dev/api/generate-content>,
//! <https://ai.google.dev/api/caching#Content>,
//! <https://ai.google.dev/gemini-api/docs/function-calling>,
//! <https://ai.google.dev/gemini-api/docs/thinking>,
//! <https://ai.google.dev/gemini-api/docs/thought-signatures>.
//!
//! # Request
//!
//! | OpenAI | Gemini |
//! |---|---|
//! | `system` / `developer` messages | `systemInstruction.parts[{text}]`, in order |
//! | `user` message | `contents[{role: "user", parts}]` |
//! | `assistant` message | `contents[{role: "model", parts}]` |
//! | text part / string content | `{text}` (empty text dropped) |
//! | `image_url` with a `data:<mime>;base64,` URL | `{inlineData: {mimeType, data}}` |
//! | `image_url` with another URL | `{fileData: {mimeType, fileUri}}`, the type guessed from the extension (default `image/jpeg`) |
//! | assistant `tool_calls[]` | `{functionCall: {name, args}}` parts (arguments parsed; unparsable → 400); each carries Google's documented `thoughtSignature` placeholder `skip_thought_signature_validator` unless the model is a Gemini 1.x / 2.x (Gemini 3 refuses replayed calls without a signature, and OpenAI clients cannot carry the real one) |
//! | `tool` message | `{functionResponse: {name, response}}` in a `user` turn; `name` from the earlier `tool_calls` entry with that `tool_call_id` (unknown id → 400); `response` is the content when it is a JSON object, else `{"content": text}` |
//! | consecutive turns of one role | merged into one turn |
//! | `tools[].function` | `tools[{functionDeclarations[{name, description, parametersJsonSchema}]}]` — `parametersJsonSchema` takes JSON Schema as OpenAI clients write it (`parameters` takes only Google's OpenAPI subset and refuses e.g. `additionalProperties`) |
//! | `tool_choice` `auto` / `none` / `required` / `{function: {name}}` | `toolConfig.functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` + `allowedFunctionNames: [name]` |
//! | `max_completion_tokens`, else `max_tokens` | `generationConfig.maxOutputTokens` |
//! | `temperature`, `top_p`, `seed` | `generationConfig.temperature`, `topP`, `seed` |
//! | `presence_penalty`, `frequency_penalty` | `generationConfig.presencePenalty`, `frequencyPenalty` |
//! | `stop` (string or array) | `generationConfig.stopSequences` |
//! | `n` | `generationConfig.candidateCount` |
//! | `response_format` `json_object` | `generationConfig.responseMimeType: application/json` |
//! | `response_format` `json_schema` | `responseMimeType: application/json` + `responseJsonSchema` (the schema as given) |
//! | `reasoning_effort` `none` / `minimal` / `low` / `medium` / `high` | `generationConfig.thinkingConfig.thinkingBudget` 0 / 1024 / 1024 / 8192 / 24576 (the budgets Google's own OpenAI compatibility layer uses) |
//! | `model` | not sent: the path names it; reported as [`NativeRequest::model`] |
//! | `stream`, `stream_options.include_usage` | not sent: [`NativeRequest::stream`], [`NativeRequest::include_usage`] |
//!
//! Dropped: `logprobs`, `top_logprobs`, `logit_bias`, `user`, `metadata`,
//! `store`, `parallel_tool_calls`, `service_tier`, `modalities`, `audio`,
//! `prediction`, `web_search_options` and anything else not listed. Refused
//! (400): content parts other than text and images, non-`function` tools,
//! roles other than the five above.
//!
//! # Reply
//!
//! | Gemini | OpenAI `chat.completion` |
//! |---|---|
//! | `responseId` | `id` (else `chatcmpl-gemini`) |
//! | — | `created: 0`: the conversion has no clock |
//! | `modelVersion` | `model` (else [`NativeRequest::model`]) |
//! | `candidates[i]` | `choices[i]` (`index` from the candidate) |
//! | text parts | `message.content`, joined |
//! | `thought: true` parts | `message.reasoning_content`, joined (Gemini sends them only when asked with `includeThoughts`) |
//! | `functionCall` parts | `message.tool_calls`, ids `call_0`, `call_1`, … by position (Gemini's own `id` when it sends one), arguments serialised |
//! | `finishReason` `STOP` | `stop`, or `tool_calls` when the candidate called functions |
//! | `MAX_TOKENS` | `length` |
//! | `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_SAFETY` | `content_filter` |
//! | any other reason | `stop` |
//! | no candidates, `promptFeedback.blockReason` | one choice, `content: null`, `content_filter` |
//! | `usageMetadata` | `usage`: prompt = `promptTokenCount`, completion = `candidatesTokenCount` + `thoughtsTokenCount`, total = `totalTokenCount`, `cached_tokens` = `cachedContentTokenCount`, `reasoning_tokens` = `thoughtsTokenCount` |
//!
//! Errors `{"error": {"code", "message", "status"}}` (an array of one such
//! object, as Vertex AI answers some stream errors, too) become OpenAI's shape
//! with `code` = `status`.
//!
//! # Stream
//!
//! Each SSE event is one `GenerateContentResponse`. Per candidate: the first
//! chunk's delta carries `role: assistant`; text, thoughts and whole function
//! calls of an event become one chunk's `content`, `reasoning_content` and
//! `tool_calls` (index counted per candidate, full arguments at once); a
//! `finishReason` becomes its own chunk with an empty delta. With
//! `include_usage`, every chunk has `"usage": null` and `end()` sends one
//! usage chunk from the last `usageMetadata` seen (none when the provider
//! sent none). An `error` event becomes `data: {"error": {...}}`.

use super::{
    chat_request, content_parts, content_text, data_url, fallback_error_message, json_object,
    max_tokens, number, openai_error, reply_model, stop_sequences, stream_error, stream_flags,
    usage, ChatConversion, ChunkWriter, ContentPart, ConvertError, NativeRequest, StreamConversion,
    Target, SSE_DONE,
};
use crate::sse::SseReader;
use serde_json::{json, Map, Value};

/// Gemini / Vertex AI `generateContent`.
pub struct ToGemini;

/// Google's documented placeholder for a function call replayed without
/// the signature the model gave it.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The `id` when the reply has no `responseId`.
const DEFAULT_ID: &str = "chatcmpl-gemini";

impl ChatConversion for ToGemini {
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
        let request = chat_request(openai)?;
        let model = reply_model(&request, target);
        let (stream, include_usage) = stream_flags(&request);
        let body = convert_request(&request, &model)?;
        Ok(NativeRequest {
            body: serde_json::to_vec(&body).unwrap_or_default(),
            stream,
            include_usage,
            model,
        })
    }

    fn response(&self, native: &[u8], model: &str) -> Result<Vec<u8>, ConvertError> {
        let reply: Value = serde_json::from_slice(native)
            .map_err(|_| ConvertError::new("the Gemini reply is not JSON", None))?;
        let completion = convert_reply(&reply, model)?;
        Ok(serde_json::to_vec(&completion).unwrap_or_default())
    }

    fn error(&self, status: u16, native: &[u8]) -> Vec<u8> {
        let (message, code) = match serde_json::from_slice::<Value>(native) {
            Ok(value) => read_error(&value),
            Err(_) => (None, None),
        };
        let message = message.unwrap_or_else(|| fallback_error_message(status, native));
        openai_error(&message, super::error_type(status), None, code.as_deref())
    }

    fn stream(&self, request: &NativeRequest) -> Box<dyn StreamConversion> {
        Box::new(GeminiStream {
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
        })
    }
}

// ---- Request.

fn bad_message(message: impl Into<String>) -> ConvertError {
    ConvertError::new(message, Some("messages"))
}

fn convert_request(request: &Map<String, Value>, model: &str) -> Result<Value, ConvertError> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let sign_calls = !(model.contains("gemini-1.") || model.contains("gemini-2."));
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // tool_call_id → function name, from the assistant turns seen so far.
    let mut call_names: Vec<(String, String)> = Vec::new();
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
            "user" => push_turn(&mut contents, "user", user_parts(content)?),
            "assistant" => {
                let mut parts = user_parts(content)?;
                for call in tool_calls(message)? {
                    let (id, name, args) = call;
                    let mut part = json!({"functionCall": {"name": name, "args": args}});
                    if sign_calls {
                        if let Some(object) = part.as_object_mut() {
                            object.insert("thoughtSignature".into(), SKIP_SIGNATURE.into());
                        }
                    }
                    parts.push(part);
                    call_names.push((id, name));
                }
                push_turn(&mut contents, "model", parts);
            }
            "tool" => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad_message("a `tool` message needs `tool_call_id`"))?;
                let name = call_names
                    .iter()
                    .rev()
                    .find(|(call, _)| call == id)
                    .map(|(_, name)| name.clone())
                    .ok_or_else(|| {
                        bad_message(format!(
                            "`tool_call_id` {id:?} matches no earlier assistant tool call"
                        ))
                    })?;
                let text = content_text(content, role)?;
                let response = json_object(&text)
                    .map(Value::Object)
                    .unwrap_or_else(|| json!({"content": text}));
                let part = json!({"functionResponse": {"name": name, "response": response}});
                push_turn(&mut contents, "user", vec![part]);
            }
            other => {
                return Err(bad_message(format!(
                    "messages of role {other:?} are not supported"
                )))
            }
        }
    }

    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if let Some(tools) = tools(request)? {
        body.insert("tools".into(), tools);
    }
    if let Some(config) = tool_config(request)? {
        body.insert("toolConfig".into(), config);
    }
    let generation = generation_config(request)?;
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Ok(Value::Object(body))
}

/// Appends parts to the last turn when it has the same role (Gemini wants
/// alternating turns); a turn without parts is dropped.
fn push_turn(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    if let Some(last) = contents.last_mut() {
        if last.get("role").and_then(Value::as_str) == Some(role) {
            if let Some(Value::Array(existing)) = last.get_mut("parts") {
                existing.extend(parts);
                return;
            }
        }
    }
    contents.push(json!({"role": role, "parts": parts}));
}

fn user_parts(content: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let mut parts = Vec::new();
    for part in content_parts(content)? {
        match part {
            ContentPart::Text("") => {}
            ContentPart::Text(text) => parts.push(json!({"text": text})),
            ContentPart::Image(url) => parts.push(image_part(url)?),
        }
    }
    Ok(parts)
}

fn image_part(url: &str) -> Result<Value, ConvertError> {
    if let Some((mime, data)) = data_url(url) {
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    if url.starts_with("data:") {
        return Err(bad_message(
            "an image `data:` URL must be base64: data:<type>;base64,<data>",
        ));
    }
    Ok(json!({"fileData": {"mimeType": guess_mime(url), "fileUri": url}}))
}

/// The media type of a file URL from its extension.
fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

/// An assistant message's `tool_calls` as (id, name, parsed arguments).
fn tool_calls(message: &Value) -> Result<Vec<(String, String, Value)>, ConvertError> {
    let Some(calls) = message.get("tool_calls") else {
        return Ok(Vec::new());
    };
    let calls = match calls {
        Value::Null => return Ok(Vec::new()),
        Value::Array(calls) => calls,
        _ => return Err(bad_message("`tool_calls` must be an array")),
    };
    calls
        .iter()
        .map(|call| {
            let function = call.get("function");
            let name = function
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad_message("a tool call needs `function.name`"))?;
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
            let args = match function.and_then(|f| f.get("arguments")) {
                None | Some(Value::Null) => json!({}),
                Some(Value::String(s)) if s.trim().is_empty() => json!({}),
                Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| {
                    bad_message(format!(
                        "the arguments of tool call {id:?} are not valid JSON"
                    ))
                })?,
                Some(other) => other.clone(),
            };
            Ok((id.to_owned(), name.to_owned(), args))
        })
        .collect()
}

fn tools(request: &Map<String, Value>) -> Result<Option<Value>, ConvertError> {
    let bad = |m: &str| ConvertError::new(m.to_owned(), Some("tools"));
    let tools = match request.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("`tools` must be an array")),
    };
    let mut declarations = Vec::new();
    for tool in tools {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Err(bad("only `function` tools are supported for this provider"));
        }
        let function = tool.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a tool needs `function.name`"))?;
        let mut declaration = Map::new();
        declaration.insert("name".into(), name.into());
        if let Some(description) = function.and_then(|f| f.get("description")) {
            if description.is_string() {
                declaration.insert("description".into(), description.clone());
            }
        }
        if let Some(parameters) = function.and_then(|f| f.get("parameters")) {
            if parameters.is_object() {
                declaration.insert("parametersJsonSchema".into(), parameters.clone());
            }
        }
        declarations.push(Value::Object(declaration));
    }
    Ok(Some(json!([{"functionDeclarations": declarations}])))
}

fn tool_config(request: &Map<String, Value>) -> Result<Option<Value>, ConvertError> {
    let config = match request.get("tool_choice") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(choice)) => match choice.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            _ => {
                return Err(ConvertError::new(
                    "`tool_choice` must be `auto`, `none`, `required` or a function",
                    Some("tool_choice"),
                ))
            }
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ConvertError::new("`tool_choice` needs `function.name`", Some("tool_choice"))
                })?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
    };
    Ok(Some(json!({"functionCallingConfig": config})))
}

fn generation_config(request: &Map<String, Value>) -> Result<Map<String, Value>, ConvertError> {
    let mut config = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.to_owned(), value);
        }
    };
    put("maxOutputTokens", max_tokens(request)?);
    put("temperature", number(request, "temperature")?);
    put("topP", number(request, "top_p")?);
    put("seed", number(request, "seed")?);
    put("presencePenalty", number(request, "presence_penalty")?);
    put("frequencyPenalty", number(request, "frequency_penalty")?);
    put("candidateCount", number(request, "n")?);
    put("stopSequences", stop_sequences(request)?.map(Value::Array));
    match request.get("response_format") {
        None | Some(Value::Null) => {}
        Some(format) => match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => put("responseMimeType", Some("application/json".into())),
            Some("json_schema") => {
                let schema = format
                    .get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .ok_or_else(|| {
                        ConvertError::new(
                            "`response_format.json_schema.schema` is required",
                            Some("response_format"),
                        )
                    })?;
                put("responseMimeType", Some("application/json".into()));
                put("responseJsonSchema", Some(schema.clone()));
            }
            _ => {
                return Err(ConvertError::new(
                    "`response_format.type` must be `text`, `json_object` or `json_schema`",
                    Some("response_format"),
                ))
            }
        },
    }
    match request.get("reasoning_effort") {
        None | Some(Value::Null) => {}
        Some(effort) => {
            let budget =
                match effort.as_str() {
                    Some("none") => 0,
                    Some("minimal" | "low") => 1024,
                    Some("medium") => 8192,
                    Some("high") => 24576,
                    _ => return Err(ConvertError::new(
                        "`reasoning_effort` must be `none`, `minimal`, `low`, `medium` or `high`",
                        Some("reasoning_effort"),
                    )),
                };
            put("thinkingConfig", Some(json!({"thinkingBudget": budget})));
        }
    }
    Ok(config)
}

// ---- Reply.

fn finish_reason(reason: &str, called: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ if called => "tool_calls",
        _ => "stop",
    }
}

/// What one candidate (or one streamed piece of it) says.
#[derive(Debug, Default)]
struct Said {
    text: String,
    has_text: bool,
    thoughts: String,
    has_thoughts: bool,
    /// (id from Gemini if any, name, args serialised)
    calls: Vec<(Option<String>, String, String)>,
}

fn read_parts(candidate: &Value) -> Said {
    let mut said = Said::default();
    let parts = candidate
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for part in parts {
        if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
            said.calls.push((
                id,
                name.to_owned(),
                serde_json::to_string(&args).unwrap_or_default(),
            ));
        } else if let Some(text) = part
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                said.thoughts.push_str(text);
                said.has_thoughts = true;
            } else {
                said.text.push_str(text);
                said.has_text = true;
            }
        }
    }
    said
}

fn candidate_index(candidate: &Value, position: usize) -> u64 {
    candidate
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(position as u64)
}

fn convert_usage(metadata: &Value) -> Value {
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64).unwrap_or(0);
    let prompt = count("promptTokenCount");
    let thoughts = count("thoughtsTokenCount");
    let completion = count("candidatesTokenCount").saturating_add(thoughts);
    let total = metadata
        .get("totalTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(prompt.saturating_add(completion));
    usage(
        prompt,
        completion,
        total,
        count("cachedContentTokenCount"),
        thoughts,
    )
}

fn non_empty_str<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn convert_reply(reply: &Value, model: &str) -> Result<Value, ConvertError> {
    let not_gemini =
        || ConvertError::new("the reply is not a Gemini GenerateContentResponse", None);
    if !reply.is_object() {
        return Err(not_gemini());
    }
    let candidates = match reply.get("candidates") {
        Some(Value::Array(candidates)) => candidates.as_slice(),
        None | Some(Value::Null) if reply.get("promptFeedback").is_some() => &[],
        _ => return Err(not_gemini()),
    };
    let mut choices = Vec::new();
    for (position, candidate) in candidates.iter().enumerate() {
        let said = read_parts(candidate);
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert(
            "content".into(),
            if said.has_text {
                said.text.into()
            } else {
                Value::Null
            },
        );
        if said.has_thoughts {
            message.insert("reasoning_content".into(), said.thoughts.into());
        }
        let called = !said.calls.is_empty();
        if called {
            let calls: Vec<Value> = said
                .calls
                .into_iter()
                .enumerate()
                .map(|(i, (id, name, arguments))| {
                    json!({
                        "id": id.unwrap_or_else(|| format!("call_{i}")),
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    })
                })
                .collect();
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        let reason = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .unwrap_or("STOP");
        choices.push(json!({
            "index": candidate_index(candidate, position),
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reason, called),
        }));
    }
    if choices.is_empty() {
        // The prompt itself was blocked (`promptFeedback.blockReason`).
        choices.push(json!({
            "index": 0,
            "message": {"role": "assistant", "content": null},
            "logprobs": null,
            "finish_reason": "content_filter",
        }));
    }
    let mut completion = json!({
        "id": non_empty_str(reply, "responseId").unwrap_or(DEFAULT_ID),
        "object": "chat.completion",
        "created": 0,
        "model": non_empty_str(reply, "modelVersion").unwrap_or(model),
        "choices": choices,
    });
    if let (Some(metadata), Some(object)) = (reply.get("usageMetadata"), completion.as_object_mut())
    {
        object.insert("usage".into(), convert_usage(metadata));
    }
    Ok(completion)
}

/// `(message, status)` of a Gemini error body (or an array holding one).
fn read_error(value: &Value) -> (Option<String>, Option<String>) {
    let value = match value {
        Value::Array(items) => items.first().unwrap_or(&Value::Null),
        other => other,
    };
    let Some(error) = value.get("error") else {
        return (None, None);
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let status = error
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (message, status)
}

// ---- Stream.

/// One candidate of a stream: its index, whether its role went out, and how
/// many tool calls it made so far.
#[derive(Debug, Clone, Copy)]
struct Choice {
    index: u64,
    role_sent: bool,
    calls: usize,
}

struct GeminiStream {
    sse: SseReader,
    writer: ChunkWriter,
    /// The first event fixed `id` and `model`.
    started: bool,
    choices: Vec<Choice>,
    usage: Option<Value>,
    done: bool,
}

impl GeminiStream {
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

#[cfg(test)]
mod tests;
