//! What the provider-specific work costs per request, on the host (the wasm
//! build runs the same code under V8's JIT; docs/benchmarks.md):
//! - SigV4 signing of a Bedrock Converse request (SHA-256 of the body, four
//!   HMACs, the canonical request);
//! - the held-body edit (Bedrock's guardrail);
//! - reading usage from a Bedrock ConverseStream reply (AWS event-stream
//!   framing with both CRCs checked) in 16 KiB pieces;
//! - converting an OpenAI chat request of about 2 KiB for Anthropic, Gemini
//!   and Bedrock, a reply back, and a converted stream per event;
//! - a route's prompt policy on a 4 KiB chat prompt: a regex guard with the
//!   four builtins and one pattern of its own (nothing found; and masking),
//!   and enrichment with defaults.
//! - masking a streamed OpenAI chat reply with a response guard (the four
//!   builtins), per event, one event per Envoy chunk, next to only reading
//!   its usage.
//!
//! ```sh
//! cargo run --release -p llmgate-filter --example request_cost -- 20000
//! ```

use std::hint::black_box;
use std::time::Instant;

use llmgate_filter::body_edits::{self, Edit};
use llmgate_filter::convert::{self, ChatConversion, Target};
use llmgate_filter::guard_patterns::Patterns;
use llmgate_filter::policy_config::{
    AiPolicy, Builtin, FieldDefault, Guard, GuardAction, NamedPattern, PromptMessage, RegexGuard,
    Rejection,
};
use llmgate_filter::prompt::{RequestPolicy, Verdict};
use llmgate_filter::reply_guard::{Format, SseMasker};
use llmgate_filter::response::{Framing, ResponseReader};
use llmgate_filter::route_type::RouteType;
use llmgate_filter::sigv4::{self, Credentials, SignableRequest};
use llmgate_filter::usage::UsageFormat;

const PIECE: usize = 16 * 1024;

/// A Converse body of about 2 KiB, a typical chat turn.
fn converse_body() -> Vec<u8> {
    let text = "Summarise the following paragraph in one sentence. ".repeat(36);
    format!(
        r#"{{"messages":[{{"role":"user","content":[{{"text":"{text}"}}]}}],"inferenceConfig":{{"maxTokens":512,"temperature":0.2}},"stream":true}}"#
    )
    .into_bytes()
}

/// One event-stream message as AWS frames it.
fn frame(event_type: &str, payload: &str) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload.as_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A ConverseStream reply with `deltas` text deltas and the usage at the end.
fn converse_stream(deltas: usize) -> Vec<u8> {
    let mut out = frame("messageStart", r#"{"role":"assistant"}"#);
    for i in 0..deltas {
        out.extend(frame(
            "contentBlockDelta",
            &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"token {i} "}}}}"#),
        ));
    }
    out.extend(frame("contentBlockStop", r#"{"contentBlockIndex":0}"#));
    out.extend(frame("messageStop", r#"{"stopReason":"end_turn"}"#));
    out.extend(frame(
        "metadata",
        r#"{"usage":{"inputTokens":28,"outputTokens":19,"totalTokens":47},"metrics":{"latencyMs":812}}"#,
    ));
    out
}

fn per_op(label: &str, n: usize, mut op: impl FnMut() -> u64) {
    let start = Instant::now();
    let mut sink = 0u64;
    for _ in 0..n {
        sink = sink.wrapping_add(op());
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<48} {ns:>10.0} ns/op   (checksum {sink})");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let body = converse_body();
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: Some("session-token-example"),
    };
    let headers = [
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
    ];
    println!("body {} bytes, {n} iterations", body.len());
    per_op("sigv4::sign (2 KiB body, session token)", n, || {
        let req = SignableRequest {
            method: "POST",
            path_and_query: "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
            headers: &headers,
            body: black_box(&body),
        };
        sigv4::sign(&req, &creds, "us-east-1", "bedrock", 1_764_360_000).len() as u64
    });
    per_op("body_edits: add guardrail", n, || {
        let edits = [Edit::AddGuardrail {
            identifier: "gr-abc123",
            version: "1",
        }];
        body_edits::apply(black_box(&body), &edits).map_or(0, |e| e.body.len() as u64)
    });
    let stream = converse_stream(1000);
    println!("ConverseStream reply: 1000 deltas, {} bytes", stream.len());
    per_op("event-stream usage read (1000 deltas)", n / 20, || {
        let mut reader =
            ResponseReader::with_framing(UsageFormat::Bedrock, Framing::AwsEventStream, false);
        for piece in black_box(&stream).chunks(PIECE) {
            reader.feed(piece);
        }
        reader.finish().usage.map_or(0, |u| u.total)
    });
    conversions(n);
    prompt_policy(n);
    reply_masking(n);
}

/// An OpenAI chat stream as gpt-4o sends it: `deltas` events of a word or
/// two each, then the finish and usage events.
fn chat_stream(deltas: usize) -> Vec<Vec<u8>> {
    const WORDS: [&str; 8] = [
        " The", " answer", " is", " in", " the", " report,", " page", " 42.",
    ];
    let event = |delta: &str, finish: &str, usage: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_f9f4fb6dbf\",\"choices\":[{delta}],\"usage\":{usage},\"obfuscation\":\"v8nQ\"}}\n\n{finish}"
        )
        .into_bytes()
    };
    let mut out: Vec<Vec<u8>> = WORDS
        .iter()
        .cycle()
        .take(deltas)
        .map(|word| {
            let word = serde_json::to_string(word).unwrap_or_default();
            event(
                &format!("{{\"index\":0,\"delta\":{{\"content\":{word}}},\"logprobs\":null,\"finish_reason\":null}}"),
                "",
                "null",
            )
        })
        .collect();
    out.push(event(
        "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}",
        "",
        "null",
    ));
    out.push(event(
        "",
        "data: [DONE]\n\n",
        "{\"prompt_tokens\":28,\"completion_tokens\":19,\"total_tokens\":47}",
    ));
    out
}

fn reply_masking(n: usize) {
    let Ok(patterns) = Patterns::new(
        &[],
        &[
            Builtin::Ssn,
            Builtin::CreditCard,
            Builtin::PhoneNumber,
            Builtin::Email,
        ],
    ) else {
        println!("the builtins do not compile");
        return;
    };
    let deltas = 1000;
    let events = chat_stream(deltas);
    let bytes: usize = events.iter().map(Vec::len).sum();
    println!(
        "OpenAI chat stream: {} events, {} bytes, one event per chunk",
        events.len(),
        bytes
    );
    let runs = (n / 20).max(1);
    let per_event = |label: &str, op: &mut dyn FnMut() -> u64| {
        let start = Instant::now();
        let mut sink = 0u64;
        for _ in 0..runs {
            sink = sink.wrapping_add(op());
        }
        let ns = start.elapsed().as_nanos() as f64 / (runs * events.len()) as f64;
        println!("{label:<48} {ns:>10.0} ns/op   (checksum {sink})");
    };
    per_event("read usage only, per event", &mut || {
        let mut reader = ResponseReader::new(UsageFormat::OpenAiChat, true, false);
        for event in black_box(&events) {
            reader.feed(event);
        }
        reader.finish().usage.map_or(0, |u| u.total)
    });
    per_event("mask with 4 builtins, per event", &mut || {
        let mut masker = SseMasker::new(Format::Chat);
        let mut sent = 0;
        for event in black_box(&events) {
            sent += masker.feed(&patterns, event).len();
        }
        (sent + masker.end(&patterns).len()) as u64
    });
}

/// An OpenAI chat request of about 2 KiB with a system prompt.
fn chat_body() -> Vec<u8> {
    let text = "Summarise the following paragraph in one sentence. ".repeat(36);
    format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{text}"}}],"max_tokens":512,"temperature":0.2,"stream":true,"stream_options":{{"include_usage":true}}}}"#
    )
    .into_bytes()
}

/// An Anthropic stream with `deltas` text deltas.
fn anthropic_stream(deltas: usize) -> Vec<u8> {
    let mut out = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":28,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for i in 0..deltas {
        out.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} \"}}}}\n\n"
        ));
    }
    out.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":19}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out.into_bytes()
}

fn conversions(n: usize) {
    let chat = chat_body();
    let target = Target { model: Some("m") };
    let providers: [(&str, &dyn ChatConversion); 3] = [
        ("anthropic", &convert::anthropic::ToAnthropic),
        ("gemini", &convert::gemini::ToGemini),
        ("bedrock", &convert::bedrock::ToBedrock),
    ];
    for (name, conversion) in providers {
        per_op(
            &format!("convert request → {name} (2 KiB chat)"),
            n,
            || {
                conversion
                    .request(black_box(&chat), target)
                    .map_or(0, |r| r.body.len() as u64)
            },
        );
    }
    let reply = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"A short answer of a sentence or two, as a model would write it."}],"stop_reason":"end_turn","usage":{"input_tokens":28,"output_tokens":19}}"#;
    per_op("convert reply ← anthropic", n, || {
        convert::anthropic::ToAnthropic
            .response(black_box(reply), "claude")
            .map_or(0, |r| r.len() as u64)
    });
    let deltas = 1000;
    let Ok(request) = convert::anthropic::ToAnthropic.request(&chat, target) else {
        println!("the benchmark's chat request does not convert");
        return;
    };
    let streams: [(&str, &dyn ChatConversion, Vec<u8>); 2] = [
        (
            "anthropic",
            &convert::anthropic::ToAnthropic,
            anthropic_stream(deltas),
        ),
        (
            "bedrock",
            &convert::bedrock::ToBedrock,
            converse_stream(deltas),
        ),
    ];
    for (name, conversion, stream) in streams {
        let runs = (n / 20).max(1);
        let start = Instant::now();
        let mut sink = 0u64;
        for _ in 0..runs {
            let mut converter = conversion.stream(&request);
            for piece in black_box(&stream).chunks(PIECE) {
                sink = sink.wrapping_add(converter.feed(piece).len() as u64);
            }
            sink = sink.wrapping_add(converter.end().len() as u64);
        }
        let ns = start.elapsed().as_nanos() as f64 / (runs * deltas) as f64;
        let label = format!("convert stream ← {name}, per event ({deltas} events)");
        println!("{label:<48} {ns:>10.0} ns/op   (checksum {sink})");
    }
}

/// A chat request whose user prompt is about 4 KiB of prose with the
/// numbers prose has (dates, order numbers, amounts, times).
fn prompt_body(extra: &str) -> Vec<u8> {
    let sentence = "On 2024-01-15 order 48213 for 3 items (total $129.50) shipped from \
                    warehouse 7 at 10:45; summarise what happened next in one sentence. ";
    let mut text = String::new();
    while text.len() < 4096 - extra.len() {
        text.push_str(sentence);
    }
    text.push_str(extra);
    format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"{text}"}}],"max_tokens":512,"stream":true}}"#
    )
    .into_bytes()
}

fn prompt_policy(n: usize) {
    let guard = |action| {
        Guard::Regex(RegexGuard {
            matches: vec![NamedPattern {
                pattern: r"(?i)\bproject\s+falcon\b".into(),
                name: Some("CODENAME".into()),
            }],
            builtins: vec![
                Builtin::Ssn,
                Builtin::CreditCard,
                Builtin::PhoneNumber,
                Builtin::Email,
            ],
            action,
            rejection: Rejection {
                status: 403,
                message: "rejected".into(),
            },
        })
    };
    let clean = prompt_body("");
    let with_pii = prompt_body(" Card 4111 1111 1111 1111, mail jane@example.com.");
    println!(
        "prompt policy: chat bodies of {} / {} bytes",
        clean.len(),
        with_pii.len()
    );
    let policies = [
        (
            "guard (4 builtins + 1 pattern), reject: passes",
            guard(GuardAction::Reject),
            &clean,
        ),
        (
            "guard (4 builtins + 1 pattern), mask: 2 masked",
            guard(GuardAction::Mask),
            &with_pii,
        ),
    ];
    for (label, guard, body) in policies {
        let policy = RequestPolicy::new(&AiPolicy {
            request_guards: vec![guard],
            ..AiPolicy::default()
        });
        let Some(plan) = policy.plan(RouteType::Completions) else {
            println!("no plan for chat");
            return;
        };
        per_op(label, n, || {
            match policy.apply(plan, black_box(body)).verdict {
                Verdict::Forward(Some(edited)) => edited.len() as u64,
                Verdict::Forward(None) => 1,
                Verdict::Answer(answer) => u64::from(answer.status),
            }
        });
    }
    let enrich = RequestPolicy::new(&AiPolicy {
        prepend: vec![PromptMessage {
            role: "SYSTEM".into(),
            content: "Answer in French.".into(),
        }],
        defaults: vec![
            FieldDefault {
                field: "temperature".into(),
                value: 0.2.into(),
                override_: false,
            },
            FieldDefault {
                field: "max_tokens".into(),
                value: 256.into(),
                override_: true,
            },
        ],
        ..AiPolicy::default()
    });
    let Some(plan) = enrich.plan(RouteType::Completions) else {
        println!("no plan for chat");
        return;
    };
    per_op("enrichment (1 system) + 2 defaults", n, || {
        match enrich.apply(plan, black_box(&clean)).verdict {
            Verdict::Forward(Some(edited)) => edited.len() as u64,
            _ => 0,
        }
    });
}
