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
//!
//! The request is converted in `request.rs`, a stream in `stream.rs`; the
//! reply and the error are here. Tests are in `tests.rs`.

use super::{
    chat_request, error_type, fallback_error_message, openai_error, reply_model, stream_flags,
    usage, ChatConversion, ConvertError, NativeRequest, StreamConversion, Target,
};
use serde_json::{json, Map, Value};

mod request;
mod stream;
#[cfg(test)]
mod tests;

/// Bedrock Converse / ConverseStream.
pub struct ToBedrock;

/// Every reply's `id`: Converse has none in the body.
const ID: &str = "chatcmpl-bedrock";

impl ChatConversion for ToBedrock {
    fn request(&self, openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
        let request = chat_request(openai)?;
        let model = reply_model(&request, target);
        let (stream, include_usage) = stream_flags(&request);
        let body = request::convert_request(&request)?;
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
        Box::new(stream::BedrockStream::new(request))
    }
}

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
pub(crate) fn status_code(status: u16) -> Option<&'static str> {
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
