//! OpenAI's (and Azure OpenAI's) endpoints besides chat completions:
//! embeddings, Responses and the model list, plus the tool call a chat
//! completion answers with when the request offers tools. Shapes as in
//! OpenAI's API reference.

use serde_json::{json, Map, Value};

use super::bodies::{self, now_secs, random_alnum};
use super::{ASSISTANT_TEXT, COMPLETION_TOKENS, PROMPT_TOKENS, TOTAL_TOKENS};

/// The operation a path of an OpenAI-style API names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operation {
    Chat,
    Embeddings,
    Responses,
    Models,
    Moderations,
}

impl Operation {
    /// The path after the API's prefix (`/v1/`, `/openai/v1/`, a deployment's).
    pub(super) fn from_suffix(suffix: &str) -> Option<Operation> {
        Some(match suffix {
            "chat/completions" => Operation::Chat,
            "embeddings" => Operation::Embeddings,
            "responses" => Operation::Responses,
            "models" => Operation::Models,
            "moderations" => Operation::Moderations,
            _ => return None,
        })
    }

    /// `GET` for the model list, `POST` for the rest.
    pub(super) fn method(self) -> &'static str {
        match self {
            Operation::Models => "GET",
            _ => "POST",
        }
    }
}

// ---------------------------------------------------------------- tool calls

/// The tool call a chat completion makes when the request offers function
/// tools and the conversation does not already end with a tool's result (nor
/// has `tool_choice: "none"`): a call of the first function, its required
/// arguments filled with placeholders of their JSON Schema type.
pub(super) fn tool_call(request: &Value) -> Option<Value> {
    if request.get("tool_choice").and_then(Value::as_str) == Some("none") {
        return None;
    }
    let last_role = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    if last_role == Some("tool") {
        return None;
    }
    let function = request
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))?
        .get("function")?;
    let name = function.get("name")?.as_str()?;
    let arguments = placeholder_arguments(function.get("parameters"));
    Some(json!({
        "id": format!("call_{}", random_alnum(24)),
        "type": "function",
        "function": {"name": name, "arguments": Value::Object(arguments).to_string()}
    }))
}

/// Arguments for a call of a tool whose JSON Schema is `parameters`: its
/// required properties with placeholders of their type (`"llmgate"` for a
/// string). Every provider's mock answers a tool offer with these.
pub(super) fn placeholder_arguments(parameters: Option<&Value>) -> Map<String, Value> {
    let properties = parameters.and_then(|p| p.get("properties"));
    let mut arguments = Map::new();
    for required in parameters
        .and_then(|p| p.get("required"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let kind = properties
            .and_then(|p| p.get(required))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        let placeholder = match kind {
            Some("string") => json!("llmgate"),
            Some("integer") | Some("number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
        arguments.insert(required.to_owned(), placeholder);
    }
    arguments
}

/// A whole chat completion (`body`, pretty JSON) turned into the same
/// completion answering with `call` instead of text.
pub(super) fn with_tool_call(body: &str, call: Value) -> String {
    let Ok(mut json) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    if let Some(choice) = json.pointer_mut("/choices/0") {
        choice["finish_reason"] = json!("tool_calls");
        choice["message"]["content"] = Value::Null;
        choice["message"]["tool_calls"] = json!([call]);
    }
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

// ---------------------------------------------------------------- embeddings

/// The dimensions of an embedding when the request does not ask for fewer
/// (text-embedding-3-small's, and ada-002's).
const DEFAULT_DIMENSIONS: usize = 1536;

/// `POST …/embeddings`: one embedding per input, as floats or, with
/// `encoding_format: "base64"` (what the official SDKs ask for), as the
/// base64 of the little-endian float32s. Usage: `prompt_tokens` and
/// `total_tokens` both [`PROMPT_TOKENS`]. `Err`: an OpenAI error body.
pub(super) fn embeddings(request: &Value) -> Result<String, String> {
    let invalid = |message: &str, param: &str| {
        bodies::openai_error(message, "invalid_request_error", Some(param), None)
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("you must provide a model parameter", "model"))?;
    let inputs = match request.get("input") {
        Some(Value::String(_)) => 1,
        // A list of strings, of token ids, or of lists of token ids.
        Some(Value::Array(items)) if !items.is_empty() => {
            if items.iter().all(Value::is_number) {
                1
            } else {
                items.len()
            }
        }
        Some(Value::Array(_)) => {
            return Err(invalid(
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                "input",
            ))
        }
        _ => return Err(invalid("Missing required parameter: 'input'.", "input")),
    };
    let dimensions = request
        .get("dimensions")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| *d > 0)
        .unwrap_or(DEFAULT_DIMENSIONS);
    let base64 = match request.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                &format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
                "encoding_format",
            ))
        }
    };
    let data: Vec<Value> = (0..inputs)
        .map(|index| {
            let vector = vector(index, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64_encode(&bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS}
    });
    Ok(serde_json::to_string_pretty(&body).unwrap_or_default())
}

/// A unit vector, the same for the same input position.
fn vector(index: usize, dimensions: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..dimensions)
        .map(|i| ((i * 7 + index * 13 + 1) as f32).sin())
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.iter().map(|x| x / norm).collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------- Responses

/// What the checks need from a `POST …/responses` body.
pub(super) struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
}

/// `Err`: an OpenAI error body (400).
pub(super) fn parse_responses(request: &Value) -> Result<ResponsesRequest, String> {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            bodies::openai_error(
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                Some("model"),
                Some("missing_required_parameter"),
            )
        })?;
    Ok(ResponsesRequest {
        model: model.to_owned(),
        stream: request.get("stream").and_then(Value::as_bool) == Some(true),
    })
}

fn responses_usage() -> Value {
    json!({
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": COMPLETION_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": TOTAL_TOKENS
    })
}

/// A Response object; `done` is the completed one (output and usage), else
/// the one `response.created` announces.
fn response_object(id: &str, message_id: &str, model: &str, created: u64, done: bool) -> Value {
    let output = if done {
        json!([output_message(message_id, "completed", ASSISTANT_TEXT)])
    } else {
        json!([])
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": if done { "completed" } else { "in_progress" },
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": if done { responses_usage() } else { Value::Null },
        "user": null,
        "metadata": {}
    })
}

fn output_message(id: &str, status: &str, text: &str) -> Value {
    let content = if status == "completed" {
        json!([output_text(text)])
    } else {
        json!([])
    };
    json!({"id": id, "type": "message", "status": status, "content": content, "role": "assistant"})
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

fn ids() -> (String, String) {
    (
        format!("resp_{}", random_alnum(48)),
        format!("msg_{}", random_alnum(48)),
    )
}

/// The whole Response (`stream` absent or false).
pub(super) fn response(model: &str) -> String {
    let (id, message_id) = ids();
    serde_json::to_string_pretty(&response_object(&id, &message_id, model, now_secs(), true))
        .unwrap_or_default()
}

/// The Responses stream: `response.created`, `response.in_progress`, the
/// message item and its text part added, `response.output_text.delta`…,
/// their `.done` events, and `response.completed` carrying the usage. Each
/// event is `event: <type>` + `data: <json with type and sequence_number>`.
pub(super) fn response_stream(model: &str) -> Vec<String> {
    let (id, message_id) = ids();
    let created = now_secs();
    let mut events = Vec::new();
    let mut push = |kind: &str, mut data: Value| {
        let sequence = events.len();
        data["type"] = json!(kind);
        data["sequence_number"] = json!(sequence);
        events.push(format!("event: {kind}\ndata: {data}\n\n"));
    };
    let started = response_object(&id, &message_id, model, created, false);
    push("response.created", json!({"response": started}));
    push("response.in_progress", json!({"response": started}));
    push(
        "response.output_item.added",
        json!({"output_index": 0, "item": output_message(&message_id, "in_progress", "")}),
    );
    let part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    push(
        "response.content_part.added",
        json!({"item_id": message_id, "output_index": 0, "content_index": 0, "part": part("")}),
    );
    for piece in bodies::text_pieces() {
        push(
            "response.output_text.delta",
            json!({"item_id": message_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}),
        );
    }
    push(
        "response.output_text.done",
        json!({"item_id": message_id, "output_index": 0, "content_index": 0, "text": ASSISTANT_TEXT, "logprobs": []}),
    );
    push(
        "response.content_part.done",
        json!({"item_id": message_id, "output_index": 0, "content_index": 0, "part": part(ASSISTANT_TEXT)}),
    );
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": output_message(&message_id, "completed", ASSISTANT_TEXT)}),
    );
    push(
        "response.completed",
        json!({"response": response_object(&id, &message_id, model, created, true)}),
    );
    events
}

// ---------------------------------------------------------------- models

/// The models `GET …/models` lists.
pub const MODELS: &[&str] = &["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"];

/// `GET …/models`.
pub(super) fn model_list() -> String {
    let data: Vec<Value> = MODELS
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_715_367_049, "owned_by": "system"}))
        .collect();
    serde_json::to_string_pretty(&json!({"object": "list", "data": data})).unwrap_or_default()
}

/// `POST /v1/moderations`: one result per input text, flagged when the text
/// contains [`FLAGGED_WORD`].
pub(super) fn moderation(request: &Value) -> Result<String, String> {
    let texts: Vec<&str> = match &request["input"] {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(super::bodies::openai_error(
                "'input' is a required property",
                "invalid_request_error",
                Some("input"),
                None,
            ))
        }
    };
    let results: Vec<Value> = texts
        .iter()
        .map(|t| {
            let flagged = t.contains(FLAGGED_WORD);
            serde_json::json!({"flagged": flagged, "categories": {"violence": flagged}})
        })
        .collect();
    Ok(serde_json::json!({
        "id": "modr-mock",
        "model": request["model"].as_str().unwrap_or("omni-moderation-latest"),
        "results": results,
    })
    .to_string())
}

/// What the mock's moderation flags.
pub const FLAGGED_WORD: &str = "FLAGME";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_known_bytes() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (bytes, want) in cases {
            assert_eq!(base64_encode(bytes), want);
        }
    }

    #[test]
    fn one_embedding_per_input_in_the_format_asked() {
        let cases = [
            (json!({"model": "m", "input": "hi"}), 1, false),
            (
                json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}),
                2,
                true,
            ),
            (json!({"model": "m", "input": [1, 2, 3]}), 1, false),
            (
                json!({"model": "m", "input": [[1], [2]], "dimensions": 4}),
                2,
                false,
            ),
        ];
        for (request, count, base64) in cases {
            let body: Value = serde_json::from_str(&embeddings(&request).unwrap()).unwrap();
            let data = body["data"].as_array().unwrap();
            assert_eq!(data.len(), count, "{request}");
            assert_eq!(data[0]["embedding"].is_string(), base64, "{request}");
            assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS);
        }
        for bad in [
            json!({"input": "x"}),
            json!({"model": "m"}),
            json!({"model": "m", "input": "x", "encoding_format": "int8"}),
        ] {
            assert!(embeddings(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tool_call_only_when_tools_are_offered_and_not_yet_answered() {
        let tools = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                           "required": ["city", "days"]}}}]);
        let user = json!([{"role": "user", "content": "Weather?"}]);
        let answered = json!([{"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": []}, {"role": "tool", "tool_call_id": "c", "content": "sunny"}]);
        let call = tool_call(&json!({"messages": user, "tools": tools})).unwrap();
        assert_eq!(call["function"]["name"], "get_weather");
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "llmgate", "days": 1}));
        assert!(tool_call(&json!({"messages": answered, "tools": tools})).is_none());
        assert!(
            tool_call(&json!({"messages": user, "tools": tools, "tool_choice": "none"})).is_none()
        );
        assert!(tool_call(&json!({"messages": user})).is_none());
    }

    #[test]
    fn the_stream_ends_with_the_completed_response_and_its_usage() {
        let events = response_stream("gpt-4o-mini");
        let last = events.last().unwrap();
        assert!(last.starts_with("event: response.completed\n"), "{last}");
        let data: Value =
            serde_json::from_str(last.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["response"]["usage"]["total_tokens"], TOTAL_TOKENS);
        assert_eq!(data["sequence_number"], events.len() - 1);
    }
}
