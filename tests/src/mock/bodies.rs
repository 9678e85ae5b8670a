//! Response bodies and headers, shaped like the real providers' (see the recorded
//! traffic in filter/tests/fixtures/recorded/).
//!
//! Azure serialises its JSON with sorted keys (pretty-printed for whole responses,
//! compact for SSE chunks): `serde_json::Value`'s map is sorted, so `json!` gives
//! exactly that. OpenAI's SSE chunks keep their own field order, hence the structs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use super::{ASSISTANT_TEXT, AZURE_MODEL, COMPLETION_TOKENS, PROMPT_TOKENS, TOTAL_TOKENS};

/// Azure's `system_fingerprint` for the mock deployment.
const AZURE_FINGERPRINT: &str = "fp_4f1c0d3e7a";

// ---------------------------------------------------------------- ids and time

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

pub(super) fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut bits = random_u64();
    let mut left = 10; // 10 six-bit draws per u64
    while out.len() < len {
        if left == 0 {
            bits = random_u64();
            left = 10;
        }
        let i = (bits & 0x3f) as usize;
        bits >>= 6;
        left -= 1;
        if i < ALPHABET.len() {
            out.push(ALPHABET[i] as char);
        }
    }
    out
}

/// A random UUID-v4-looking string.
pub(super) fn uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// `chatcmpl-` + 29 letters and digits, like both providers.
pub(super) fn completion_id() -> String {
    format!("chatcmpl-{}", random_alnum(29))
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- headers

pub(super) type Headers = Vec<(&'static str, String)>;

/// Headers Azure puts on every answer (errors too).
pub(super) fn azure_headers(content_type: &str, deployment: Option<&str>) -> Headers {
    let request_id = uuid();
    let mut h: Headers = vec![
        ("content-type", content_type.to_owned()),
        ("apim-request-id", request_id.clone()),
        ("x-ms-client-request-id", request_id),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains; preload".into(),
        ),
        ("x-content-type-options", "nosniff".into()),
        ("x-ms-region", "East US 2".into()),
    ];
    if let Some(deployment) = deployment {
        h.push(("x-ms-deployment-name", deployment.to_owned()));
    }
    h
}

/// Extra headers on an Azure model answer (success or model-level error).
pub(super) fn azure_model_headers(h: &mut Headers) {
    h.extend([
        ("x-request-id", uuid()),
        ("azureml-model-session", "d031-20250101000000".into()),
        ("x-accel-buffering", "no".into()),
        ("x-ms-rai-invoked", "true".into()),
        ("x-ratelimit-limit-requests", "100".into()),
        ("x-ratelimit-limit-tokens", "100000".into()),
        ("x-ratelimit-remaining-requests", "99".into()),
        ("x-ratelimit-remaining-tokens", "99953".into()),
    ]);
}

/// Headers OpenAI puts on every answer.
pub(super) fn openai_headers(content_type: &str) -> Headers {
    vec![
        ("content-type", content_type.to_owned()),
        ("access-control-expose-headers", "X-Request-ID".into()),
        ("openai-organization", "user-llmgatemock".into()),
        ("openai-processing-ms", "3".into()),
        ("openai-project", "proj_llmgateMock0000000000".into()),
        ("openai-version", "2020-10-01".into()),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains; preload".into(),
        ),
        ("x-content-type-options", "nosniff".into()),
        ("x-ratelimit-limit-requests", "500".into()),
        ("x-ratelimit-limit-tokens", "200000".into()),
        ("x-ratelimit-remaining-requests", "499".into()),
        ("x-ratelimit-remaining-tokens", "199953".into()),
        ("x-ratelimit-reset-requests", "120ms".into()),
        ("x-ratelimit-reset-tokens", "14ms".into()),
        (
            "x-request-id",
            format!("req_{:016x}{:016x}", random_u64(), random_u64()),
        ),
    ]
}

pub(super) const JSON: &str = "application/json";
pub(super) const SSE: &str = "text/event-stream; charset=utf-8";

// ---------------------------------------------------------------- errors

/// Azure's own (gateway-level) error shape: `{"error":{"code","message"}}`.
pub(super) fn azure_error(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// OpenAI's error shape (Azure passes these through for model-level errors).
pub(super) fn openai_error(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> String {
    // Real order: message, type, param, code.
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        param: Option<&'a str>,
        code: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Outer<'a> {
        error: Inner<'a>,
    }
    serde_json::to_string(&Outer {
        error: Inner {
            message,
            kind,
            param,
            code,
        },
    })
    .unwrap_or_default()
}

pub(super) fn resource_not_found() -> String {
    azure_error("404", "Resource not found")
}

pub(super) const AZURE_ACCESS_DENIED: &str = "Access denied due to invalid subscription key or wrong API endpoint. \
Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

pub(super) const OPENAI_NO_KEY: &str = "You didn't provide an API key. You need to provide your API key in an \
Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank \
username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain \
an API key from https://platform.openai.com/account/api-keys.";

pub(super) const OPENAI_WRONG_KEY: &str =
    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.";

pub(super) const OPENAI_BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means \
you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid \
JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

/// The body for a forced status (failure injection), per provider.
pub(super) fn forced_error(azure: bool, status: u16, api_version: Option<&str>) -> String {
    if azure {
        match status {
            429 => azure_error(
                "429",
                &format!(
                    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {} have exceeded \
                     token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. Please go \
                     here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
                    api_version.unwrap_or("v1")
                ),
            ),
            500 => azure_error(
                "InternalServerError",
                "The service is temporarily unable to process your request. Please try again later.",
            ),
            503 => azure_error("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
            _ => azure_error(&status.to_string(), &format!("The mock provider was told to answer {status}.")),
        }
    } else {
        match status {
            429 => openai_error(
                "Rate limit reached for requests. Limit 500, Used 500, Requested 1. Please try again in 1s. Visit \
                 https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                Some("requests"),
                Some("rate_limit_exceeded"),
            ),
            500 => openai_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
            503 => openai_error(
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
                None,
            ),
            _ => openai_error(
                &format!("The mock provider was told to answer {status}."),
                "server_error",
                None,
                None,
            ),
        }
    }
}

// ---------------------------------------------------------------- usage and filters

fn usage_value() -> Value {
    json!({
        "completion_tokens": COMPLETION_TOKENS,
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": 0,
            "rejected_prediction_tokens": 0
        },
        "prompt_tokens": PROMPT_TOKENS,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
        "total_tokens": TOTAL_TOKENS
    })
}

fn safe() -> Value {
    json!({"filtered": false, "severity": "safe"})
}

fn not_detected() -> Value {
    json!({"filtered": false, "detected": false})
}

fn prompt_filter_results() -> Value {
    json!([{
        "content_filter_results": {
            "hate": safe(),
            "jailbreak": not_detected(),
            "self_harm": safe(),
            "sexual": safe(),
            "violence": safe()
        },
        "prompt_index": 0
    }])
}

fn completion_filter_results() -> Value {
    json!({
        "hate": safe(),
        "protected_material_code": not_detected(),
        "protected_material_text": not_detected(),
        "self_harm": safe(),
        "sexual": safe(),
        "violence": safe()
    })
}

// ---------------------------------------------------------------- whole answers

/// Azure's non-streaming chat completion (pretty, sorted keys, like the real one).
pub(super) fn azure_completion() -> String {
    let body = json!({
        "choices": [{
            "content_filter_results": completion_filter_results(),
            "finish_reason": "stop",
            "index": 0,
            "logprobs": null,
            "message": {
                "annotations": [],
                "content": ASSISTANT_TEXT,
                "refusal": null,
                "role": "assistant"
            }
        }],
        "created": now_secs(),
        "id": completion_id(),
        "model": AZURE_MODEL,
        "object": "chat.completion",
        "prompt_filter_results": prompt_filter_results(),
        "system_fingerprint": AZURE_FINGERPRINT,
        "usage": usage_value()
    });
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

/// OpenAI's non-streaming chat completion; `model` echoes the request's.
pub(super) fn openai_completion(model: &str, answer: &str) -> String {
    let body = json!({
        "choices": [{
            "finish_reason": "stop",
            "index": 0,
            "logprobs": null,
            "message": {
                "annotations": [],
                "content": answer,
                "refusal": null,
                "role": "assistant"
            }
        }],
        "created": now_secs(),
        "id": completion_id(),
        "model": model,
        "object": "chat.completion",
        "service_tier": "default",
        "system_fingerprint": null,
        "usage": usage_value()
    });
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

// ---------------------------------------------------------------- SSE

/// The assistant text cut into deltas of a few words; they concatenate back to it.
pub(super) fn text_pieces() -> Vec<String> {
    pieces_of(ASSISTANT_TEXT)
}

/// `text` cut into deltas of a few words.
fn pieces_of(text: &str) -> Vec<String> {
    const WORDS_PER_PIECE: usize = 3;
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    words.chunks(WORDS_PER_PIECE).map(|c| c.concat()).collect()
}

fn event(data: &str) -> String {
    format!("data: {data}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

/// Adds `"usage": null` to a chunk when the client asked for usage.
fn with_null_usage(mut chunk: Value, include_usage: bool) -> Value {
    if include_usage {
        if let Some(map) = chunk.as_object_mut() {
            map.insert("usage".into(), Value::Null);
        }
    }
    chunk
}

/// Azure's SSE events: the prompt-filter chunk (empty id), role, content deltas,
/// finish, [usage], a content-filter chunk (empty id, after the finish), `[DONE]`.
pub(super) fn azure_stream(include_usage: bool) -> Vec<String> {
    let id = completion_id();
    let created = now_secs();
    let chunk = |choices: Value| {
        json!({
            "choices": choices,
            "created": created,
            "id": id,
            "model": AZURE_MODEL,
            "object": "chat.completion.chunk",
            "system_fingerprint": AZURE_FINGERPRINT
        })
    };
    let mut events = Vec::new();
    let mut push = |v: Value| events.push(event(&v.to_string()));

    push(with_null_usage(
        json!({
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter_results()
        }),
        include_usage,
    ));
    push(with_null_usage(
        chunk(json!([{
            "content_filter_results": {},
            "delta": {"content": "", "refusal": null, "role": "assistant"},
            "finish_reason": null,
            "index": 0,
            "logprobs": null
        }])),
        include_usage,
    ));
    for piece in text_pieces() {
        push(with_null_usage(
            chunk(json!([{
                "content_filter_results": completion_filter_results(),
                "delta": {"content": piece},
                "finish_reason": null,
                "index": 0,
                "logprobs": null
            }])),
            include_usage,
        ));
    }
    push(with_null_usage(
        chunk(json!([{
            "content_filter_results": {},
            "delta": {},
            "finish_reason": "stop",
            "index": 0,
            "logprobs": null
        }])),
        include_usage,
    ));
    if include_usage {
        let mut usage_chunk = chunk(json!([]));
        if let Some(map) = usage_chunk.as_object_mut() {
            map.insert("usage".into(), usage_value());
        }
        push(usage_chunk);
    }
    // Azure's asynchronous content filter reports after the finish (and after usage).
    let len = ASSISTANT_TEXT.len();
    push(with_null_usage(
        json!({
            "choices": [{
                "content_filter_offsets": {"check_offset": 0, "end_offset": len, "start_offset": 0},
                "content_filter_results": completion_filter_results(),
                "finish_reason": null,
                "index": 0
            }],
            "created": 0,
            "id": "",
            "model": "",
            "object": ""
        }),
        include_usage,
    ));
    events.push(DONE.to_owned());
    events
}

#[derive(Serialize)]
struct OpenAiChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: Option<&'static str>,
    choices: Vec<OpenAiChoice<'a>>,
    /// Absent unless usage was asked for; then `null`, or the usage on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Value>>,
    obfuscation: String,
}

#[derive(Serialize)]
struct OpenAiChoice<'a> {
    index: u32,
    delta: OpenAiDelta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct OpenAiDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    /// `Some(None)` serialises as `"refusal": null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<&'a str>>,
}

/// OpenAI's SSE events: role, content deltas, finish, [usage], `[DONE]`.
pub(super) fn openai_stream(model: &str, include_usage: bool, answer: &str) -> Vec<String> {
    let id = completion_id();
    let created = now_secs();
    let pieces = pieces_of(answer);
    let null_usage = if include_usage { Some(None) } else { None };
    let chunk = |choices: Vec<OpenAiChoice<'_>>, usage: Option<Option<Value>>| {
        let c = OpenAiChunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model,
            service_tier: "default",
            system_fingerprint: None,
            choices,
            usage,
            // Padding that varies the chunk size, like the real one.
            obfuscation: random_alnum((random_u64() % 16) as usize),
        };
        event(&serde_json::to_string(&c).unwrap_or_default())
    };

    let mut events = vec![chunk(
        vec![OpenAiChoice {
            index: 0,
            delta: OpenAiDelta {
                role: Some("assistant"),
                content: Some(""),
                refusal: Some(None),
            },
            finish_reason: None,
        }],
        null_usage.clone(),
    )];
    for piece in &pieces {
        events.push(chunk(
            vec![OpenAiChoice {
                index: 0,
                delta: OpenAiDelta {
                    content: Some(piece),
                    ..OpenAiDelta::default()
                },
                finish_reason: None,
            }],
            null_usage.clone(),
        ));
    }
    events.push(chunk(
        vec![OpenAiChoice {
            index: 0,
            delta: OpenAiDelta::default(),
            finish_reason: Some("stop"),
        }],
        null_usage.clone(),
    ));
    if include_usage {
        events.push(chunk(vec![], Some(Some(usage_value()))));
    }
    events.push(DONE.to_owned());
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rebuild_the_text() {
        let pieces = text_pieces();
        assert!(pieces.len() >= 4, "{pieces:?}");
        assert_eq!(pieces.concat(), ASSISTANT_TEXT);
    }

    #[test]
    fn ids_look_real() {
        let id = completion_id();
        assert_eq!(id.len(), "chatcmpl-".len() + 29);
        assert!(id["chatcmpl-".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, completion_id());
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn openai_error_field_order() {
        assert_eq!(
            openai_error("m", "invalid_request_error", None, Some("c")),
            r#"{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"c"}}"#
        );
    }

    #[test]
    fn openai_chunks_keep_the_real_field_order() {
        let events = openai_stream("gpt-x", true, ASSISTANT_TEXT);
        let first = &events[0];
        assert!(first.starts_with(r#"data: {"id":"chatcmpl-"#), "{first}");
        assert!(
            first.contains(r#""delta":{"role":"assistant","content":"","refusal":null}"#),
            "{first}"
        );
        assert!(first.contains(r#""usage":null,"obfuscation":""#), "{first}");
        let no_usage = openai_stream("gpt-x", false, ASSISTANT_TEXT);
        assert!(no_usage.iter().all(|e| !e.contains("usage")));
    }
}
