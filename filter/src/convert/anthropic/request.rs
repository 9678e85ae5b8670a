//! The request: OpenAI chat completions → Anthropic Messages (the mapping
//! table is in the parent module).

use crate::convert::{stream_flags, ConvertError, NativeRequest, Target};
use serde_json::{json, Map, Value};

/// `max_tokens` when the client set no limit: Anthropic requires one. Every
/// current Claude model can produce at least this many tokens.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic's smallest `thinking.budget_tokens`.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// `thinking.budget_tokens` for an OpenAI `reasoning_effort`: Anthropic's
/// minimum for `minimal` and `low`, then a factor of four per step — `high`
/// stays well inside every thinking model's output limit. `Ok(None)`: no
/// thinking.
pub fn thinking_budget(effort: &Value) -> Result<Option<u64>, ConvertError> {
    match effort {
        Value::Null => Ok(None),
        Value::String(s) => match s.as_str() {
            "none" => Ok(None),
            "minimal" | "low" => Ok(Some(MIN_THINKING_BUDGET)),
            "medium" => Ok(Some(4096)),
            "high" => Ok(Some(16384)),
            other => Err(ConvertError::new(
                format!(
                    "`reasoning_effort` {other:?} is not one of none, minimal, low, medium, high"
                ),
                Some("reasoning_effort"),
            )),
        },
        _ => Err(ConvertError::new(
            "`reasoning_effort` must be a string",
            Some("reasoning_effort"),
        )),
    }
}

pub(super) fn request(openai: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(openai) else {
        return Err(ConvertError::new(
            crate::invalid_body::problem(openai),
            None,
        ));
    };
    refuse_unsupported(&req)?;
    let model = target
        .model
        .or_else(|| req.get("model").and_then(Value::as_str))
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ConvertError::new("`model` is required", Some("model")))?
        .to_owned();
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::new("`messages` must be an array", Some("messages")))?;
    let (system, messages) = convert_messages(messages)?;

    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(messages));

    let budget = thinking_budget(req.get("reasoning_effort").unwrap_or(&Value::Null))?;
    let (max_tokens, budget) = max_tokens(requested_max(&req)?, budget)?;
    out.insert("max_tokens".into(), json!(max_tokens));
    if let Some(budget) = budget {
        out.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    for name in ["temperature", "top_p"] {
        if let Some(v) = req.get(name).filter(|v| !v.is_null()) {
            out.insert(name.into(), v.clone());
        }
    }
    match req.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                out.insert("stop_sequences".into(), Value::Array(a.clone()));
            }
        }
        Some(_) => {
            return Err(ConvertError::new(
                "`stop` must be a string or an array of strings",
                Some("stop"),
            ))
        }
    }
    // `include_usage` only for a stream (as every conversion reads them).
    let (stream, include_usage) = stream_flags(&req);
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    let tools = tools(req.get("tools"))?;
    let has_tools = !tools.is_empty();
    if has_tools {
        out.insert("tools".into(), Value::Array(tools));
    }
    let parallel = req.get("parallel_tool_calls").and_then(Value::as_bool);
    if let Some(choice) = tool_choice(req.get("tool_choice"), parallel, has_tools)? {
        out.insert("tool_choice".into(), choice);
    }
    if let Some(format) = output_format(req.get("response_format"))? {
        out.insert("output_config".into(), json!({ "format": format }));
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }

    Ok(NativeRequest {
        body: serde_json::to_vec(&Value::Object(out)).unwrap_or_default(),
        stream,
        include_usage,
        model,
    })
}

/// Fields asking for something Anthropic cannot do.
fn refuse_unsupported(req: &Map<String, Value>) -> Result<(), ConvertError> {
    let present = |name: &str| req.get(name).is_some_and(|v| !v.is_null());
    if req
        .get("n")
        .is_some_and(|n| !n.is_null() && n.as_u64() != Some(1))
    {
        return Err(ConvertError::new(
            "Anthropic returns one choice per request: `n` must be 1",
            Some("n"),
        ));
    }
    if req.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(ConvertError::new(
            "Anthropic does not return log probabilities: `logprobs` is not supported",
            Some("logprobs"),
        ));
    }
    if present("audio") {
        return Err(ConvertError::new(
            "Anthropic does not produce audio: `audio` is not supported",
            Some("audio"),
        ));
    }
    if present("functions") {
        return Err(ConvertError::new(
            "`functions` is not supported for this model; use `tools`",
            Some("functions"),
        ));
    }
    Ok(())
}

/// The client's output limit and the field it came in.
fn requested_max(req: &Map<String, Value>) -> Result<Option<(u64, &'static str)>, ConvertError> {
    for name in ["max_completion_tokens", "max_tokens"] {
        match req.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => {
                return match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some((n, name))),
                    _ => Err(ConvertError::new(
                        format!("`{name}` must be a positive integer"),
                        Some(name),
                    )),
                }
            }
        }
    }
    Ok(None)
}

/// `max_tokens` and the thinking budget: Anthropic counts thinking inside
/// `max_tokens` (as OpenAI counts reasoning inside `max_completion_tokens`)
/// and requires `budget_tokens < max_tokens`.
fn max_tokens(
    requested: Option<(u64, &'static str)>,
    budget: Option<u64>,
) -> Result<(u64, Option<u64>), ConvertError> {
    match (requested, budget) {
        (None, None) => Ok((DEFAULT_MAX_TOKENS, None)),
        (Some((max, _)), None) => Ok((max, None)),
        (None, Some(budget)) => Ok((budget.saturating_add(DEFAULT_MAX_TOKENS), Some(budget))),
        (Some((max, _)), Some(budget)) if max > budget => Ok((max, Some(budget))),
        (Some((max, _)), Some(_)) if max > MIN_THINKING_BUDGET => Ok((max, Some(max - 1))),
        (Some((max, name)), Some(_)) => Err(ConvertError::new(
            format!(
                "`{name}` {max} leaves no room for thinking: Anthropic's smallest thinking budget is {MIN_THINKING_BUDGET} tokens; raise it or set `reasoning_effort` to none"
            ),
            Some(name),
        )),
    }
}

/// One Anthropic message being assembled.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

fn bad_message(index: usize, what: impl std::fmt::Display) -> ConvertError {
    ConvertError::new(format!("messages[{index}]: {what}"), Some("messages"))
}

/// `system` and the Anthropic `messages`.
fn convert_messages(messages: &[Value]) -> Result<(Option<Value>, Vec<Value>), ConvertError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(texts(content, i)?);
                continue;
            }
            "user" => ("user", user_blocks(content, i)?),
            "assistant" => ("assistant", assistant_blocks(message, i)?),
            "tool" => ("user", vec![tool_result(message, i)?]),
            other => return Err(bad_message(i, format!("role {other:?} is not supported"))),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [one] => Some(json!(one)),
        many => Some(Value::Array(many.iter().map(text_block).collect())),
    };
    let messages = turns
        .into_iter()
        .map(|t| json!({"role": t.role, "content": t.blocks}))
        .collect();
    Ok((system, messages))
}

fn text_block(text: impl Into<String>) -> Value {
    json!({"type": "text", "text": text.into()})
}

/// The non-empty texts of a content that may only hold text (`system`,
/// `developer`, `tool`; `refusal` parts count as text for an assistant).
fn texts(content: &Value, index: usize) -> Result<Vec<String>, ConvertError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for part in parts {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                let text = match kind {
                    "text" => part.get("text"),
                    "refusal" => part.get("refusal"),
                    _ => None,
                };
                match text.and_then(Value::as_str) {
                    Some("") => {}
                    Some(t) => out.push(t.to_owned()),
                    None => {
                        return Err(bad_message(
                            index,
                            format!("content part {kind:?} is not supported here (text only)"),
                        ))
                    }
                }
            }
            Ok(out)
        }
        _ => Err(bad_message(index, "`content` must be a string or an array")),
    }
}

fn user_blocks(content: &Value, index: usize) -> Result<Vec<Value>, ConvertError> {
    let Value::Array(parts) = content else {
        return Ok(texts(content, index)?.into_iter().map(text_block).collect());
    };
    let mut blocks = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => match part.get("text").and_then(Value::as_str) {
                Some("") => {}
                Some(t) => blocks.push(text_block(t)),
                None => return Err(bad_message(index, "a text part needs `text`")),
            },
            "image_url" => {
                let image = part.get("image_url");
                let url = image
                    .and_then(|i| i.get("url"))
                    .or(image)
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad_message(index, "an image_url part needs `image_url.url`"))?;
                blocks.push(image_block(url, index)?);
            }
            "file" => blocks.push(document_block(part.get("file"), index)?),
            other => {
                return Err(bad_message(
                    index,
                    format!("content part {other:?} is not supported by Anthropic"),
                ))
            }
        }
    }
    Ok(blocks)
}

fn image_block(url: &str, index: usize) -> Result<Value, ConvertError> {
    let source = if let Some((mime, data)) = crate::convert::data_url(url) {
        json!({"type": "base64", "media_type": mime, "data": data})
    } else if url.starts_with("https://") || url.starts_with("http://") {
        json!({"type": "url", "url": url})
    } else {
        return Err(bad_message(
            index,
            "an image URL must be http(s) or a base64 data URL (data:<type>;base64,...)",
        ));
    };
    Ok(json!({"type": "image", "source": source}))
}

fn document_block(file: Option<&Value>, index: usize) -> Result<Value, ConvertError> {
    let data = file
        .and_then(|f| f.get("file_data"))
        .and_then(Value::as_str);
    match data.and_then(crate::convert::data_url) {
        Some((mime, data)) => Ok(json!({
            "type": "document",
            "source": {"type": "base64", "media_type": mime, "data": data}
        })),
        None => Err(bad_message(
            index,
            "a file part needs `file.file_data` as a base64 data URL (`file_id` cannot be read by Anthropic)",
        )),
    }
}

fn assistant_blocks(message: &Value, index: usize) -> Result<Vec<Value>, ConvertError> {
    let content = message.get("content").unwrap_or(&Value::Null);
    let mut blocks: Vec<Value> = texts(content, index)?.into_iter().map(text_block).collect();
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(blocks),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(bad_message(index, "`tool_calls` must be an array")),
    };
    for call in calls {
        let id = call.get("id").and_then(Value::as_str);
        let function = call.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let (Some(id), Some(name)) = (id, name) else {
            return Err(bad_message(
                index,
                "a tool call needs `id` and `function.name`",
            ));
        };
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = if arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Err(bad_message(
                        index,
                        format!("the arguments of tool call {id:?} are not a JSON object"),
                    ))
                }
                Err(e) => {
                    return Err(bad_message(
                        index,
                        format!("the arguments of tool call {id:?} are not valid JSON: {e}"),
                    ))
                }
            }
        };
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}

fn tool_result(message: &Value, index: usize) -> Result<Value, ConvertError> {
    let id = message
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_message(index, "a tool message needs `tool_call_id`"))?;
    let content = message.get("content").unwrap_or(&Value::Null);
    let content = match content {
        Value::Array(_) => {
            Value::Array(texts(content, index)?.into_iter().map(text_block).collect())
        }
        _ => json!(texts(content, index)?.concat()),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}

fn tools(tools: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(ConvertError::new("`tools` must be an array", Some("tools"))),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
        let function = tool.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let (Some(function), Some(name), "function") = (function, name, kind) else {
            return Err(ConvertError::new(
                format!(
                    "tools[{i}]: only tools of type function with `function.name` are supported"
                ),
                Some("tools"),
            ));
        };
        let mut converted = Map::new();
        converted.insert("name".into(), json!(name));
        if let Some(d) = function.get("description").filter(|d| !d.is_null()) {
            converted.insert("description".into(), d.clone());
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p) => p.clone(),
        };
        converted.insert("input_schema".into(), schema);
        if function.get("strict").and_then(Value::as_bool) == Some(true) {
            converted.insert("strict".into(), Value::Bool(true));
        }
        out.push(Value::Object(converted));
    }
    Ok(out)
}

fn tool_choice(
    choice: Option<&Value>,
    parallel: Option<bool>,
    has_tools: bool,
) -> Result<Option<Value>, ConvertError> {
    let invalid = || {
        ConvertError::new(
            "`tool_choice` must be auto, required, none or {\"type\": \"function\", \"function\": {\"name\": ...}}",
            Some("tool_choice"),
        )
    };
    let mut converted = match choice {
        None | Some(Value::Null) => json!({"type": "auto"}),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => return Err(invalid()),
        },
        Some(object) => {
            let name = object
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match (object.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(name)) => json!({"type": "tool", "name": name}),
                _ => return Err(invalid()),
            }
        }
    };
    let explicit = choice.is_some_and(|c| !c.is_null());
    let none = matches!(choice, Some(Value::String(s)) if s == "none");
    let serial = parallel == Some(false) && has_tools && !none;
    if serial {
        if let Value::Object(map) = &mut converted {
            map.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
    }
    Ok((explicit || serial).then_some(converted))
}

fn output_format(format: Option<&Value>) -> Result<Option<Value>, ConvertError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_schema") => match format.get("json_schema").and_then(|s| s.get("schema")) {
            Some(schema @ Value::Object(_)) => {
                Ok(Some(json!({"type": "json_schema", "schema": schema})))
            }
            _ => Err(ConvertError::new(
                "`response_format.json_schema.schema` must be a JSON schema object",
                Some("response_format"),
            )),
        },
        Some("json_object") => Err(ConvertError::new(
            "Anthropic has no schema-less JSON mode: use `response_format` of type json_schema",
            Some("response_format"),
        )),
        _ => Err(ConvertError::new(
            "`response_format.type` must be text or json_schema",
            Some("response_format"),
        )),
    }
}
