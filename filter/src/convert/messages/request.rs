//! The request: Anthropic Messages → OpenAI chat completions (the mapping
//! table is in the parent module).

use crate::convert::{ConvertError, NativeRequest, Target};
use serde_json::{json, Map, Value};

/// `reasoning_effort` for a thinking budget: `low` up to 2048 tokens,
/// `medium` up to 8192, `high` above.
pub fn reasoning_effort(budget_tokens: u64) -> &'static str {
    match budget_tokens {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

/// What the request may hold for a model, by its name: OpenAI's own model
/// families refuse some fields, other servers take them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    /// OpenAI's reasoning models (`o1`, `o3`, `o4-mini`, `gpt-5`…): they take
    /// `max_completion_tokens` and refuse `max_tokens`, and refuse
    /// `temperature` / `top_p` other than the defaults.
    OpenAiReasoning,
    /// OpenAI's chat models (`gpt-4o`, `gpt-4.1`, `gpt-3.5-turbo`,
    /// `chatgpt-4o-latest`): they refuse `reasoning_effort`.
    OpenAiChat,
    /// Anything else (OpenAI-compatible servers, other providers' models):
    /// every field is sent.
    Other,
}

/// The family of a model name, also behind a router's `vendor/` prefix.
/// Azure deployments are named by their owner, so a deployment under
/// another name is [`ModelFamily::Other`].
pub fn model_family(model: &str) -> ModelFamily {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let family = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', '_']))
    };
    if ["o1", "o3", "o4", "gpt-5"].into_iter().any(family) {
        ModelFamily::OpenAiReasoning
    } else if ["gpt-4", "gpt-4o", "gpt-4.1", "gpt-3.5", "chatgpt"]
        .into_iter()
        .any(family)
    {
        ModelFamily::OpenAiChat
    } else {
        ModelFamily::Other
    }
}

fn bad(param: &str, what: impl Into<String>) -> ConvertError {
    ConvertError::new(what, Some(param))
}

fn bad_message(index: usize, what: impl std::fmt::Display) -> ConvertError {
    ConvertError::new(format!("messages[{index}]: {what}"), Some("messages"))
}

pub(super) fn request(anthropic: &[u8], target: Target<'_>) -> Result<NativeRequest, ConvertError> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(anthropic) else {
        return Err(ConvertError::new(
            crate::invalid_body::problem(anthropic),
            None,
        ));
    };
    refuse_unsupported(&req)?;
    let model = target
        .model
        .or_else(|| req.get("model").and_then(Value::as_str))
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("model", "`model` is required"))?
        .to_owned();

    let mut messages = Vec::new();
    if let Some(system) = system_text(req.get("system"))? {
        messages.push(json!({"role": "system", "content": system}));
    }
    let history = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages", "`messages` must be an array"))?;
    for (i, message) in history.iter().enumerate() {
        convert_message(message, i, &mut messages)?;
    }

    let family = model_family(&model);
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    match req.get("max_tokens") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let Some(n) = v.as_u64().filter(|&n| n > 0) else {
                return Err(bad("max_tokens", "`max_tokens` must be a positive integer"));
            };
            let name = if family == ModelFamily::OpenAiReasoning {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            out.insert(name.into(), json!(n));
        }
    }
    for name in ["temperature", "top_p"] {
        match req.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(_)) if family == ModelFamily::OpenAiReasoning => {}
            Some(v @ Value::Number(_)) => {
                out.insert(name.into(), v.clone());
            }
            Some(_) => return Err(bad(name, format!("`{name}` must be a number"))),
        }
    }
    match req.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                out.insert("stop".into(), Value::Array(a.clone()));
            }
        }
        Some(_) => {
            return Err(bad(
                "stop_sequences",
                "`stop_sequences` must be an array of strings",
            ))
        }
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let tools = tools(req.get("tools"))?;
    let has_tools = !tools.is_empty();
    if has_tools {
        out.insert("tools".into(), Value::Array(tools));
    }
    // OpenAI refuses `tool_choice` and `parallel_tool_calls` without tools.
    let (choice, serial) = tool_choice(req.get("tool_choice"))?;
    if let (Some(choice), true) = (choice, has_tools) {
        out.insert("tool_choice".into(), choice);
    }
    if serial && has_tools {
        out.insert("parallel_tool_calls".into(), Value::Bool(false));
    }
    if let Some(effort) = thinking(req.get("thinking"))? {
        if family != ModelFamily::OpenAiChat {
            out.insert("reasoning_effort".into(), json!(effort));
        }
    }
    let format = req
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| req.get("output_format"));
    if let Some(format) = response_format(format)? {
        out.insert("response_format".into(), format);
    }
    if let Some(user) = req
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        out.insert("user".into(), json!(user));
    }

    Ok(NativeRequest {
        body: serde_json::to_vec(&Value::Object(out)).unwrap_or_default(),
        stream,
        include_usage: stream,
        model,
    })
}

/// Fields asking for something an OpenAI chat model cannot do.
fn refuse_unsupported(req: &Map<String, Value>) -> Result<(), ConvertError> {
    let non_empty = |name: &str| match req.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if non_empty("mcp_servers") {
        return Err(bad(
            "mcp_servers",
            "`mcp_servers` is not supported for this model: the gateway cannot call MCP servers on the model's behalf; declare the tools instead",
        ));
    }
    Ok(())
}

/// The top-level `system`: a string or an array of text blocks, joined by a
/// blank line into one `system` message (what every OpenAI-compatible server
/// accepts).
fn system_text(system: Option<&Value>) -> Result<Option<String>, ConvertError> {
    let texts = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for block in blocks {
                match (
                    block.get("type").and_then(Value::as_str),
                    block.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => texts.push(text),
                    _ => {
                        return Err(bad(
                            "system",
                            "`system` blocks must be text blocks with a string `text`",
                        ))
                    }
                }
            }
            texts
        }
        Some(_) => {
            return Err(bad(
                "system",
                "`system` must be a string or an array of text blocks",
            ))
        }
    };
    let texts: Vec<&str> = texts.into_iter().filter(|t| !t.is_empty()).collect();
    Ok((!texts.is_empty()).then(|| texts.join("\n\n")))
}

/// One Anthropic message → its OpenAI messages, appended to `out`.
fn convert_message(
    message: &Value,
    index: usize,
    out: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    let blocks = match message.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({"role": role_name(role, index)?, "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(bad_message(
                index,
                "`content` must be a string or an array of content blocks",
            ))
        }
    };
    match role_name(role, index)? {
        "user" => user_message(blocks, index, out),
        _ => assistant_message(blocks, index, out),
    }
}

fn role_name(role: &str, index: usize) -> Result<&'static str, ConvertError> {
    match role {
        "user" => Ok("user"),
        "assistant" => Ok("assistant"),
        other => Err(bad_message(
            index,
            format!("role {other:?} is not supported (user or assistant)"),
        )),
    }
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn text_of(block: &Value, index: usize) -> Result<&str, ConvertError> {
    block
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_message(index, "a text block needs a string `text`"))
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A message's content from its parts: one text part is a plain string (what
/// every OpenAI-compatible server reads), anything else an array of parts.
fn content_of(parts: Vec<Value>) -> Value {
    if let [part] = parts.as_slice() {
        if block_type(part) == "text" {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                return json!(text);
            }
        }
    }
    if parts.is_empty() {
        Value::Null
    } else {
        Value::Array(parts)
    }
}

/// A user message: its `tool_result` blocks first, one `tool` message each in
/// order, then one `user` message with the rest (and any images the tool
/// results held).
fn user_message(blocks: &[Value], index: usize, out: &mut Vec<Value>) -> Result<(), ConvertError> {
    let mut parts = Vec::new();
    let mut tool_images = Vec::new();
    for block in blocks {
        match block_type(block) {
            "text" => {
                let text = text_of(block, index)?;
                if !text.is_empty() {
                    parts.push(text_part(text));
                }
            }
            "image" => parts.push(image_part(block, index)?),
            "document" => parts.push(document_part(block, index)?),
            "tool_result" => out.push(tool_message(block, index, &mut tool_images)?),
            "thinking" | "redacted_thinking" => {}
            "tool_use" => {
                return Err(bad_message(
                    index,
                    "a `tool_use` block belongs in an assistant message",
                ))
            }
            other => {
                return Err(bad_message(
                    index,
                    format!("content blocks of type {other:?} are not supported for this model"),
                ))
            }
        }
    }
    tool_images.extend(parts);
    if !tool_images.is_empty() {
        out.push(json!({"role": "user", "content": content_of(tool_images)}));
    }
    Ok(())
}

/// An assistant message: its text and its `tool_use` blocks as `tool_calls`;
/// thinking blocks are dropped.
fn assistant_message(
    blocks: &[Value],
    index: usize,
    out: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block_type(block) {
            "text" => {
                let text = text_of(block, index)?;
                if !text.is_empty() {
                    parts.push(text_part(text));
                }
            }
            "tool_use" => calls.push(tool_call(block, index)?),
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(bad_message(
                    index,
                    format!(
                    "assistant content blocks of type {other:?} are not supported for this model"
                ),
                ))
            }
        }
    }
    if parts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert("content".into(), content_of(parts));
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(message));
    Ok(())
}

fn tool_call(block: &Value, index: usize) -> Result<Value, ConvertError> {
    let id = block.get("id").and_then(Value::as_str);
    let name = block.get("name").and_then(Value::as_str);
    let (Some(id), Some(name)) = (id, name) else {
        return Err(bad_message(
            index,
            "a `tool_use` block needs `id` and `name`",
        ));
    };
    let input = match block.get("input") {
        None | Some(Value::Null) => json!({}),
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => {
            return Err(bad_message(
                index,
                format!("the `input` of tool use {id:?} must be an object"),
            ))
        }
    };
    Ok(json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": serde_json::to_string(&input).unwrap_or_default()},
    }))
}

/// A `tool_result` block → a `tool` message whose content is the result's
/// text (`Error: ` in front when `is_error`); images in the result go to
/// `images`, for the user message that follows.
fn tool_message(
    block: &Value,
    index: usize,
    images: &mut Vec<Value>,
) -> Result<Value, ConvertError> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_message(index, "a `tool_result` block needs `tool_use_id`"))?;
    let mut text = String::new();
    match block.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => text.push_str(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                match block_type(part) {
                    "text" => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(text_of(part, index)?);
                    }
                    "image" => images.push(image_part(part, index)?),
                    other => {
                        return Err(bad_message(
                            index,
                            format!("tool results holding {other:?} blocks are not supported for this model"),
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad_message(
                index,
                "a `tool_result`'s `content` must be a string or an array of blocks",
            ))
        }
    }
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        text.insert_str(0, "Error: ");
    }
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

/// `source` of an image or document block: (type, the block's source).
fn source(block: &Value, index: usize) -> Result<(&str, &Value), ConvertError> {
    let source = block
        .get("source")
        .ok_or_else(|| bad_message(index, "an image or document block needs a `source`"))?;
    Ok((
        source.get("type").and_then(Value::as_str).unwrap_or(""),
        source,
    ))
}

fn source_str<'a>(source: &'a Value, field: &str, index: usize) -> Result<&'a str, ConvertError> {
    source.get(field).and_then(Value::as_str).ok_or_else(|| {
        bad_message(
            index,
            format!("the block's source needs a string `{field}`"),
        )
    })
}

fn image_part(block: &Value, index: usize) -> Result<Value, ConvertError> {
    let url = match source(block, index)? {
        ("base64", s) => format!(
            "data:{};base64,{}",
            source_str(s, "media_type", index)?,
            source_str(s, "data", index)?
        ),
        ("url", s) => source_str(s, "url", index)?.to_owned(),
        (other, _) => {
            return Err(bad_message(
                index,
                format!(
                "image sources of type {other:?} are not supported for this model (base64 or url)"
            ),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `document` block: a base64 PDF becomes a `file` part with `file_data`,
/// a plain-text document a text part; URL and file sources are refused (an
/// OpenAI `file` part takes neither).
fn document_part(block: &Value, index: usize) -> Result<Value, ConvertError> {
    match source(block, index)? {
        ("base64", s) => {
            let media_type = source_str(s, "media_type", index)?;
            let data = source_str(s, "data", index)?;
            let filename = block
                .get("title")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .unwrap_or("document.pdf");
            Ok(json!({"type": "file", "file": {
                "filename": filename,
                "file_data": format!("data:{media_type};base64,{data}"),
            }}))
        }
        ("text", s) => Ok(text_part(source_str(s, "data", index)?)),
        (other, _) => Err(bad_message(
            index,
            format!("document sources of type {other:?} are not supported for this model (base64 or text)"),
        )),
    }
}

fn tools(tools: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("tools", "`tools` must be an array")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => {}
            Some(other) => {
                return Err(bad(
                    "tools",
                    format!("tools[{i}]: server tools ({other:?}) are not supported for this model; only tools the client runs (name, description, input_schema)"),
                ))
            }
        }
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return Err(bad("tools", format!("tools[{i}]: a tool needs a `name`")));
        };
        let mut function = Map::new();
        function.insert("name".into(), json!(name));
        if let Some(d) = tool.get("description").filter(|d| d.is_string()) {
            function.insert("description".into(), d.clone());
        }
        let schema = match tool.get("input_schema") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(schema @ Value::Object(_)) => schema.clone(),
            Some(_) => {
                return Err(bad(
                    "tools",
                    format!("tools[{i}]: `input_schema` must be a JSON schema object"),
                ))
            }
        };
        function.insert("parameters".into(), schema);
        if tool.get("strict").and_then(Value::as_bool) == Some(true) {
            function.insert("strict".into(), Value::Bool(true));
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// `tool_choice` and whether parallel tool calls are disabled.
fn tool_choice(choice: Option<&Value>) -> Result<(Option<Value>, bool), ConvertError> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        return Ok((None, false));
    };
    let serial = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true);
    let converted = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => match choice.get("name").and_then(Value::as_str) {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => {
                return Err(bad(
                    "tool_choice",
                    "`tool_choice` of type tool needs a `name`",
                ))
            }
        },
        _ => {
            return Err(bad(
                "tool_choice",
                "`tool_choice.type` must be auto, any, tool or none",
            ))
        }
    };
    Ok((Some(converted), serial))
}

/// `thinking` → `reasoning_effort`; disabled (or adaptive, which leaves the
/// effort to the model) → none.
fn thinking(thinking: Option<&Value>) -> Result<Option<&'static str>, ConvertError> {
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => match thinking.get("budget_tokens").and_then(Value::as_u64) {
            Some(budget) => Ok(Some(reasoning_effort(budget))),
            None => Err(bad(
                "thinking",
                "`thinking.budget_tokens` must be a non-negative integer",
            )),
        },
        Some("disabled" | "adaptive") => Ok(None),
        _ => Err(bad(
            "thinking",
            "`thinking.type` must be enabled, disabled or adaptive",
        )),
    }
}

/// Anthropic's structured output format → OpenAI's `response_format`.
fn response_format(format: Option<&Value>) -> Result<Option<Value>, ConvertError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match (
        format.get("type").and_then(Value::as_str),
        format.get("schema"),
    ) {
        (Some("json_schema"), Some(schema @ Value::Object(_))) => Ok(Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        }))),
        _ => Err(bad(
            "output_config",
            "`output_config.format` must be {\"type\": \"json_schema\", \"schema\": {...}}",
        )),
    }
}
