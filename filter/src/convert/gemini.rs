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
//!
//! The request is converted in `request.rs`, a stream in `stream.rs`; the
//! reply, the error and what both read of a candidate are here. Tests are in
//! `tests.rs`.

use super::{
    chat_request, fallback_error_message, openai_error, reply_model, stream_flags, usage,
    ChatConversion, ConvertError, NativeRequest, StreamConversion, Target,
};
use serde_json::{json, Map, Value};

mod request;
mod stream;
#[cfg(test)]
mod tests;

/// Gemini / Vertex AI `generateContent`.
pub struct ToGemini;

/// The `id` when the reply has no `responseId`.
const DEFAULT_ID: &str = "chatcmpl-gemini";

impl ChatConversion for ToGemini {
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
        let request = chat_request(openai)?;
        let model = reply_model(&request, target);
        let (stream, include_usage) = stream_flags(&request);
        let body = request::convert_request(&request, &model)?;
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
        Box::new(stream::GeminiStream::new(request))
    }
}

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
