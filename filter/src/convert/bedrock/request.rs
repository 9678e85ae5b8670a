//! The request: OpenAI chat completions → a Bedrock Converse body (the
//! mapping table is in the parent module). It is apart because it shares
//! nothing with the reply and the stream: messages, tools, inference and
//! output settings are only ever written, never read back.

use crate::convert::{
    content_parts, content_text, data_url, json_object, max_tokens, number, push_turn,
    stop_sequences, ContentPart, ConvertError,
};
use serde_json::{json, Map, Value};

fn bad_message(message: impl Into<String>) -> ConvertError {
    ConvertError::new(message, Some("messages"))
}

pub(super) fn convert_request(request: &Map<String, Value>) -> Result<Value, ConvertError> {
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
            "user" => push_turn(&mut turns, "user", "content", blocks(content)?),
            "assistant" => {
                let mut content = blocks(content)?;
                for (id, name, input) in tool_calls(message)? {
                    uses_tools = true;
                    content
                        .push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
                }
                push_turn(&mut turns, "assistant", "content", content);
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
                push_turn(&mut turns, "user", "content", vec![block]);
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
