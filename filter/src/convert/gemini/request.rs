//! The request: OpenAI chat completions → a Gemini `generateContent` body
//! (the mapping table is in the parent module). It is apart because it
//! shares nothing with the reply and the stream, which read Gemini's
//! candidates with the same helpers in the parent.

use crate::convert::{
    content_parts, content_text, data_url, json_object, max_tokens, number, push_turn,
    stop_sequences, ContentPart, ConvertError,
};
use serde_json::{json, Map, Value};

/// Google's documented placeholder for a function call replayed without
/// the signature the model gave it.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn bad_message(message: impl Into<String>) -> ConvertError {
    ConvertError::new(message, Some("messages"))
}

pub(super) fn convert_request(
    request: &Map<String, Value>,
    model: &str,
) -> Result<Value, ConvertError> {
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
            "user" => push_turn(&mut contents, "user", "parts", user_parts(content)?),
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
                push_turn(&mut contents, "model", "parts", parts);
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
                push_turn(&mut contents, "user", "parts", vec![part]);
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
