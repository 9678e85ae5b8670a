//! `promptEnrichment`: the policy's messages before (`prepend`) and after
//! (`append`) the client's, written the way the client's format writes them.
//! kgateway names roles `SYSTEM`, `USER`, `ASSISTANT` (any case).
//!
//! | format | SYSTEM | USER / ASSISTANT |
//! |---|---|---|
//! | OpenAI chat | `{"role":"system","content":…}` in `messages` | `{"role":"user"\|"assistant","content":…}` in `messages` |
//! | Anthropic Messages | text blocks of the top-level `system` (a string `system` becomes one block; the client's blocks keep their `cache_control`) | messages with string content (Anthropic joins consecutive turns of one role) |
//! | OpenAI Responses | `instructions`, the texts joined by a blank line (it is one string) | `input` items `{"role","content"}`; a string `input` becomes a user item first |
//! | Gemini | parts of `systemInstruction` (or `system_instruction`, the spelling the client used) | `contents` turns, roles `user` / `model` |
//! | Bedrock Converse | `{"text":…}` blocks of `system` | `messages`, content `[{"text":…}]` |
//!
//! Gemini and Bedrock want turns of alternating roles: an added turn of the
//! same role as the client's turn it meets is merged into it (its parts first
//! when prepended, last when appended). Other roles: OpenAI chat gets the
//! role as written (lower case: `developer` is OpenAI's); elsewhere
//! `developer` is the system prompt and anything else is the user's.
//! A message with empty content adds nothing and is left out.

use serde_json::{json, Map, Value};

use super::Format;
use crate::policy_config::PromptMessage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Role {
    System,
    User,
    Assistant,
    /// Lower case.
    Other(String),
}

impl Role {
    fn of(role: &str) -> Role {
        match role.to_ascii_lowercase().as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => Role::Other(other.to_owned()),
        }
    }

    /// Where the message goes in a format with a separate system prompt.
    fn side(&self) -> Side {
        match self {
            Role::System => Side::System,
            Role::Other(r) if r == "developer" => Side::System,
            Role::Assistant => Side::Assistant,
            Role::User | Role::Other(_) => Side::User,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Message {
    role: Role,
    content: String,
}

pub(super) fn compile(messages: &[PromptMessage]) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| !m.content.is_empty())
        .map(|m| Message {
            role: Role::of(&m.role),
            content: m.content.clone(),
        })
        .collect()
}

/// The body has no place for the messages: the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Misshapen {
    pub field: &'static str,
    pub message: String,
}

impl Misshapen {
    fn new(field: &'static str, shape: &str) -> Self {
        Misshapen {
            field,
            message: format!("`{field}` must be {shape} for this route to add its prompt messages"),
        }
    }
}

/// Adds the messages; `Ok(true)` when the request changed.
pub(super) fn apply(
    format: Format,
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<bool, Misshapen> {
    if prepend.is_empty() && append.is_empty() {
        return Ok(false);
    }
    match format {
        Format::Chat => chat(request, prepend, append)?,
        Format::Messages => anthropic(request, prepend, append)?,
        Format::Responses => responses(request, prepend, append)?,
        Format::Gemini => gemini(request, prepend, append)?,
        Format::Converse => converse(request, prepend, append)?,
        // Guards only.
        Format::Embeddings => return Ok(false),
    }
    Ok(true)
}

/// `field` as a list, created when absent or null.
fn list<'a>(
    request: &'a mut Map<String, Value>,
    field: &'static str,
) -> Result<&'a mut Vec<Value>, Misshapen> {
    let value = request.entry(field).or_insert(Value::Null);
    if value.is_null() {
        *value = Value::Array(Vec::new());
    }
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(Misshapen::new(field, "an array")),
    }
}

fn on(messages: &[Message], side: Side) -> impl Iterator<Item = &Message> {
    messages.iter().filter(move |m| m.role.side() == side)
}

fn turns(messages: &[Message]) -> impl Iterator<Item = &Message> {
    messages.iter().filter(|m| m.role.side() != Side::System)
}

fn has_turns(prepend: &[Message], append: &[Message]) -> bool {
    turns(prepend).chain(turns(append)).next().is_some()
}

fn chat(
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<(), Misshapen> {
    let message = |m: &Message| {
        let role = match &m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Other(role) => role,
        };
        json!({"role": role, "content": m.content})
    };
    let messages = list(request, "messages")?;
    messages.splice(0..0, prepend.iter().map(message));
    messages.extend(append.iter().map(message));
    Ok(())
}

fn anthropic(
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<(), Misshapen> {
    let block = |m: &Message| json!({"type": "text", "text": m.content});
    if on(prepend, Side::System)
        .chain(on(append, Side::System))
        .next()
        .is_some()
    {
        let system = request.entry("system").or_insert(Value::Null);
        let client = match system {
            Value::Null => Vec::new(),
            Value::String(text) if text.is_empty() => Vec::new(),
            Value::String(text) => vec![json!({"type": "text", "text": text})],
            Value::Array(blocks) => std::mem::take(blocks),
            _ => return Err(Misshapen::new("system", "a string or an array of blocks")),
        };
        let blocks = on(prepend, Side::System)
            .map(block)
            .chain(client)
            .chain(on(append, Side::System).map(block))
            .collect();
        *system = Value::Array(blocks);
    }
    if has_turns(prepend, append) {
        let message = |m: &Message| {
            let role = if m.role.side() == Side::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": m.content})
        };
        let messages = list(request, "messages")?;
        messages.splice(0..0, turns(prepend).map(message));
        messages.extend(turns(append).map(message));
    }
    Ok(())
}

fn responses(
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<(), Misshapen> {
    if on(prepend, Side::System)
        .chain(on(append, Side::System))
        .next()
        .is_some()
    {
        let instructions = request.entry("instructions").or_insert(Value::Null);
        let client = match instructions {
            Value::Null => None,
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(std::mem::take(text)),
            _ => return Err(Misshapen::new("instructions", "a string")),
        };
        let texts: Vec<String> = on(prepend, Side::System)
            .map(|m| m.content.clone())
            .chain(client)
            .chain(on(append, Side::System).map(|m| m.content.clone()))
            .collect();
        *instructions = Value::String(texts.join("\n\n"));
    }
    if has_turns(prepend, append) {
        let item = |m: &Message| {
            let role = if m.role.side() == Side::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": m.content})
        };
        if let Some(input) = request.get_mut("input") {
            if let Value::String(text) = input {
                *input = json!([{"role": "user", "content": std::mem::take(text)}]);
            }
        }
        let input = list(request, "input")
            .map_err(|_| Misshapen::new("input", "a string or an array of items"))?;
        input.splice(0..0, turns(prepend).map(item));
        input.extend(turns(append).map(item));
    }
    Ok(())
}

fn gemini(
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<(), Misshapen> {
    let part = |m: &Message| json!({"text": m.content});
    if on(prepend, Side::System)
        .chain(on(append, Side::System))
        .next()
        .is_some()
    {
        // Gemini takes either spelling, not both: keep the client's.
        let field = if request.contains_key("system_instruction")
            && !request.contains_key("systemInstruction")
        {
            "system_instruction"
        } else {
            "systemInstruction"
        };
        let instruction = request.entry(field).or_insert(Value::Null);
        if instruction.is_null() {
            *instruction = json!({});
        }
        let Value::Object(instruction) = instruction else {
            return Err(Misshapen::new(field, "an object"));
        };
        let parts = list(instruction, "parts")
            .map_err(|_| Misshapen::new(field, "an object with a `parts` array"))?;
        parts.splice(0..0, on(prepend, Side::System).map(part));
        parts.extend(on(append, Side::System).map(part));
    }
    if has_turns(prepend, append) {
        let role = |m: &Message| {
            if m.role.side() == Side::Assistant {
                "model"
            } else {
                "user"
            }
        };
        let contents = list(request, "contents")?;
        let before = alternating(turns(prepend), role, part, "parts");
        let after = alternating(turns(append), role, part, "parts");
        join(contents, before, after, "parts", "user");
    }
    Ok(())
}

fn converse(
    request: &mut Map<String, Value>,
    prepend: &[Message],
    append: &[Message],
) -> Result<(), Misshapen> {
    let block = |m: &Message| json!({"text": m.content});
    if on(prepend, Side::System)
        .chain(on(append, Side::System))
        .next()
        .is_some()
    {
        let system = list(request, "system")?;
        system.splice(0..0, on(prepend, Side::System).map(block));
        system.extend(on(append, Side::System).map(block));
    }
    if has_turns(prepend, append) {
        let role = |m: &Message| {
            if m.role.side() == Side::Assistant {
                "assistant"
            } else {
                "user"
            }
        };
        let messages = list(request, "messages")?;
        let before = alternating(turns(prepend), role, block, "content");
        let after = alternating(turns(append), role, block, "content");
        join(messages, before, after, "content", "user");
    }
    Ok(())
}

/// The messages as turns `{"role", key: [item]}`, consecutive ones of one
/// role merged.
fn alternating<'m>(
    messages: impl Iterator<Item = &'m Message>,
    role: impl Fn(&Message) -> &'static str,
    item: impl Fn(&Message) -> Value,
    key: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    for m in messages {
        crate::convert::push_turn(&mut out, role(m), key, vec![item(m)]);
    }
    out
}

/// `before` + the client's `turns` + `after`, a turn of ours merged into the
/// client's turn it meets when both have one role (a turn without `role` is
/// `default_role`'s).
fn join(
    turns: &mut Vec<Value>,
    mut before: Vec<Value>,
    after: Vec<Value>,
    key: &str,
    default_role: &str,
) {
    let role = |turn: &Value| {
        turn.get("role")
            .and_then(Value::as_str)
            .unwrap_or(default_role)
            .to_owned()
    };
    let items = |turn: &mut Value| match turn.get_mut(key) {
        Some(Value::Array(items)) => Some(std::mem::take(items)),
        _ => None,
    };
    if let (Some(ours), Some(theirs)) = (before.last_mut(), turns.first_mut()) {
        if role(ours) == role(theirs) && matches!(theirs.get(key), Some(Value::Array(_))) {
            let ours = items(ours).unwrap_or_default();
            if let Some(Value::Array(theirs)) = theirs.get_mut(key) {
                theirs.splice(0..0, ours);
            }
            before.pop();
        }
    }
    turns.splice(0..0, before);
    let mut after = after.into_iter();
    if let Some(mut first) = after.next() {
        match turns.last_mut() {
            Some(last)
                if role(last) == role(&first) && matches!(last.get(key), Some(Value::Array(_))) =>
            {
                let ours = items(&mut first).unwrap_or_default();
                if let Some(Value::Array(theirs)) = last.get_mut(key) {
                    theirs.extend(ours);
                }
            }
            _ => turns.push(first),
        }
    }
    turns.extend(after);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(list: &[(&str, &str)]) -> Vec<Message> {
        compile(
            &list
                .iter()
                .map(|(role, content)| PromptMessage {
                    role: (*role).into(),
                    content: (*content).into(),
                })
                .collect::<Vec<_>>(),
        )
    }

    fn enriched(
        format: Format,
        request: Value,
        prepend: &[(&str, &str)],
        append: &[(&str, &str)],
    ) -> Result<Value, Misshapen> {
        let Value::Object(mut request) = request else {
            panic!("not an object")
        };
        apply(format, &mut request, &messages(prepend), &messages(append))?;
        Ok(Value::Object(request))
    }

    const SYS: (&str, &str) = ("SYSTEM", "Be brief.");
    const USER: (&str, &str) = ("user", "Answer in French.");
    const ASSISTANT: (&str, &str) = ("Assistant", "D'accord.");

    #[test]
    fn each_format_gets_the_messages_its_own_way() {
        // (format, client request, prepend, append, want)
        let cases: Vec<(Format, Value, Vec<(&str, &str)>, Vec<(&str, &str)>, Value)> = vec![
            (
                Format::Chat,
                json!({"model": "m", "messages": [{"role": "system", "content": "mine"}, {"role": "user", "content": "hi"}]}),
                vec![SYS],
                vec![USER],
                json!({"model": "m", "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "system", "content": "mine"},
                    {"role": "user", "content": "hi"},
                    {"role": "user", "content": "Answer in French."}]}),
            ),
            (
                Format::Chat,
                json!({"model": "m"}),
                vec![("DEVELOPER", "dev"), ASSISTANT],
                vec![],
                json!({"model": "m", "messages": [
                    {"role": "developer", "content": "dev"},
                    {"role": "assistant", "content": "D'accord."}]}),
            ),
            (
                Format::Messages,
                json!({"system": "mine", "messages": [{"role": "user", "content": "hi"}]}),
                vec![SYS, USER],
                vec![("system", "Last."), ASSISTANT],
                json!({
                    "system": [
                        {"type": "text", "text": "Be brief."},
                        {"type": "text", "text": "mine"},
                        {"type": "text", "text": "Last."}],
                    "messages": [
                        {"role": "user", "content": "Answer in French."},
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "D'accord."}]}),
            ),
            (
                Format::Messages,
                json!({"system": [{"type": "text", "text": "mine", "cache_control": {"type": "ephemeral"}}],
                       "messages": [{"role": "user", "content": "hi"}]}),
                vec![],
                vec![SYS],
                json!({
                    "system": [
                        {"type": "text", "text": "mine", "cache_control": {"type": "ephemeral"}},
                        {"type": "text", "text": "Be brief."}],
                    "messages": [{"role": "user", "content": "hi"}]}),
            ),
            (
                Format::Messages,
                json!({"messages": [{"role": "user", "content": "hi"}]}),
                vec![SYS],
                vec![],
                json!({"system": [{"type": "text", "text": "Be brief."}],
                       "messages": [{"role": "user", "content": "hi"}]}),
            ),
            (
                Format::Responses,
                json!({"instructions": "mine", "input": "hi"}),
                vec![SYS, USER],
                vec![("system", "Last.")],
                json!({"instructions": "Be brief.\n\nmine\n\nLast.", "input": [
                    {"role": "user", "content": "Answer in French."},
                    {"role": "user", "content": "hi"}]}),
            ),
            (
                Format::Responses,
                json!({"input": "hi"}),
                vec![SYS],
                vec![],
                json!({"instructions": "Be brief.", "input": "hi"}),
            ),
            (
                Format::Responses,
                json!({"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}),
                vec![],
                vec![ASSISTANT],
                json!({"input": [
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                    {"role": "assistant", "content": "D'accord."}]}),
            ),
            (
                Format::Gemini,
                json!({"systemInstruction": {"parts": [{"text": "mine"}]},
                       "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
                vec![SYS, USER],
                vec![("system", "Last."), ASSISTANT],
                json!({"systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "mine"}, {"text": "Last."}]},
                       "contents": [
                           {"role": "user", "parts": [{"text": "Answer in French."}, {"text": "hi"}]},
                           {"role": "model", "parts": [{"text": "D'accord."}]}]}),
            ),
            (
                Format::Gemini,
                json!({"system_instruction": {"parts": [{"text": "mine"}]},
                       "contents": [{"parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "yes"}]}]}),
                vec![SYS, ASSISTANT],
                vec![ASSISTANT, USER],
                json!({"system_instruction": {"parts": [{"text": "Be brief."}, {"text": "mine"}]},
                       "contents": [
                           {"role": "model", "parts": [{"text": "D'accord."}]},
                           {"parts": [{"text": "hi"}]},
                           {"role": "model", "parts": [{"text": "yes"}, {"text": "D'accord."}]},
                           {"role": "user", "parts": [{"text": "Answer in French."}]}]}),
            ),
            (
                Format::Gemini,
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
                vec![SYS],
                vec![],
                json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
                       "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            ),
            (
                Format::Converse,
                json!({"system": [{"text": "mine"}],
                       "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
                vec![SYS, USER, USER],
                vec![SYS, USER],
                json!({"system": [{"text": "Be brief."}, {"text": "mine"}, {"text": "Be brief."}],
                       "messages": [
                           {"role": "user", "content": [
                               {"text": "Answer in French."}, {"text": "Answer in French."}, {"text": "hi"},
                               {"text": "Answer in French."}]}]}),
            ),
            (
                Format::Converse,
                json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
                vec![SYS],
                vec![ASSISTANT],
                json!({"system": [{"text": "Be brief."}],
                       "messages": [
                           {"role": "user", "content": [{"text": "hi"}]},
                           {"role": "assistant", "content": [{"text": "D'accord."}]}]}),
            ),
            // Empty messages add nothing; embeddings get none.
            (
                Format::Chat,
                json!({"messages": []}),
                vec![("system", "")],
                vec![],
                json!({"messages": []}),
            ),
            (
                Format::Embeddings,
                json!({"input": "x"}),
                vec![SYS],
                vec![USER],
                json!({"input": "x"}),
            ),
        ];
        for (format, request, prepend, append, want) in cases {
            let got = enriched(format, request.clone(), &prepend, &append);
            assert_eq!(got, Ok(want), "{format:?} {request}");
        }
    }

    #[test]
    fn a_body_without_a_place_for_them_is_refused() {
        let cases = [
            (Format::Chat, json!({"messages": "hi"}), "messages"),
            (
                Format::Messages,
                json!({"system": 1, "messages": []}),
                "system",
            ),
            (
                Format::Responses,
                json!({"instructions": [], "input": "x"}),
                "instructions",
            ),
            (Format::Responses, json!({"input": 5}), "input"),
            (
                Format::Gemini,
                json!({"systemInstruction": "x"}),
                "systemInstruction",
            ),
            (
                Format::Gemini,
                json!({"systemInstruction": {"parts": {}}}),
                "systemInstruction",
            ),
            (Format::Converse, json!({"system": "x"}), "system"),
        ];
        for (format, request, field) in cases {
            let got = enriched(format, request.clone(), &[SYS, USER], &[]);
            assert_eq!(got.map_err(|e| e.field), Err(field), "{format:?} {request}");
        }
    }
}
