//! Every format, JSON and SSE, through the same reader the filter uses.

use super::*;
use crate::response::{Outcome, ResponseReader};

fn usage(
    input: u64,
    output: u64,
    total: u64,
    cached_input: u64,
    cache_creation_input: u64,
    reasoning: u64,
) -> TokenUsage {
    TokenUsage {
        input,
        output,
        total,
        cached_input,
        cache_creation_input,
        reasoning,
    }
}

#[test]
fn json_bodies() {
    use UsageFormat::*;
    let cases: &[(UsageFormat, &str, Option<&str>, Option<TokenUsage>)] = &[
        (
            OpenAiChat,
            r#"{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,
               "prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},
               "completion_tokens_details":{"reasoning_tokens":1}},"choices":[{"message":{"content":"x"}}]}"#,
            Some("gpt-4o"),
            Some(usage(3, 4, 7, 2, 0, 1)),
        ),
        (
            OpenAiChat,
            r#"{"usage":{"prompt_tokens":5}}"#,
            None,
            Some(usage(5, 0, 5, 0, 0, 0)),
        ),
        (
            OpenAiChat,
            r#"{"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":null}}"#,
            None,
            Some(usage(1, 0, 1, 0, 0, 0)),
        ),
        (OpenAiChat, r#"{"model":"m","usage":null}"#, Some("m"), None),
        (OpenAiChat, r#"{"model":"a\/b\u00e9"}"#, Some("a/bé"), None),
        (
            OpenAiChat,
            r#"{"error":{"message":"bad","code":"x"}}"#,
            None,
            None,
        ),
        (
            OpenAiChat,
            r#"{"choices":[{"usage":{"prompt_tokens":9}}]}"#,
            None,
            None,
        ),
        (
            OpenAiResponses,
            r#"{"id":"resp_1","object":"response","model":"gpt-4.1","output":[],"usage":{"input_tokens":36,
               "input_tokens_details":{"cached_tokens":4},"output_tokens":87,
               "output_tokens_details":{"reasoning_tokens":10},"total_tokens":123}}"#,
            Some("gpt-4.1"),
            Some(usage(36, 87, 123, 4, 0, 10)),
        ),
        (
            Anthropic,
            r#"{"id":"msg_1","type":"message","model":"claude-sonnet-4","content":[{"type":"text","text":"hi"}],
               "usage":{"input_tokens":10,"cache_creation_input_tokens":200,"cache_read_input_tokens":1000,"output_tokens":25}}"#,
            Some("claude-sonnet-4"),
            Some(usage(1210, 25, 1235, 1000, 200, 0)),
        ),
        (
            Anthropic,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            None,
            None,
        ),
        (
            Gemini,
            r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"modelVersion":"gemini-2.5-flash",
               "usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":20,"totalTokenCount":150,
               "cachedContentTokenCount":60,"thoughtsTokenCount":30}}"#,
            Some("gemini-2.5-flash"),
            Some(usage(100, 50, 150, 60, 0, 30)),
        ),
        (
            Gemini,
            r#"[{"modelVersion":"g","usageMetadata":{"promptTokenCount":5}},
                {"modelVersion":"g","usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}]"#,
            Some("g"),
            Some(usage(5, 7, 12, 0, 0, 0)),
        ),
        (
            Bedrock,
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello! How can I help?"}]}},
               "stopReason":"end_turn","usage":{"inputTokens":125,"outputTokens":60,"totalTokens":185},
               "metrics":{"latencyMs":1175}}"#,
            None,
            Some(usage(125, 60, 185, 0, 0, 0)),
        ),
        (
            // Cache write: inputTokens is only the uncached part.
            Bedrock,
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"..."}]}},"stopReason":"end_turn",
               "usage":{"inputTokens":10,"outputTokens":346,"totalTokens":1646,"cacheReadInputTokens":0,
               "cacheWriteInputTokens":1290},"metrics":{"latencyMs":5000}}"#,
            None,
            Some(usage(1300, 346, 1646, 0, 1290, 0)),
        ),
        (
            Bedrock,
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"..."}]}},"stopReason":"max_tokens",
               "usage":{"inputTokens":12,"outputTokens":300,"totalTokens":1602,"cacheReadInputTokens":1290}}"#,
            None,
            Some(usage(1302, 300, 1602, 1290, 0, 0)),
        ),
        (
            Bedrock,
            r#"{"usage":{"inputTokens":3,"outputTokens":4}}"#,
            None,
            Some(usage(3, 4, 7, 0, 0, 0)),
        ),
        (
            Bedrock,
            r#"{"message":"The security token included in the request is invalid."}"#,
            None,
            None,
        ),
    ];
    for (format, body, model, want) in cases {
        let report = parse_body(*format, body.as_bytes()).unwrap();
        assert_eq!(report.model.as_deref(), *model, "{format:?} {body}");
        assert_eq!(report.usage, *want, "{format:?} {body}");
    }
}

#[test]
fn unreadable_bodies() {
    for format in [
        UsageFormat::OpenAiChat,
        UsageFormat::OpenAiResponses,
        UsageFormat::Anthropic,
        UsageFormat::Gemini,
    ] {
        for body in [
            "",
            "[DONE]",
            "<html>bad gateway</html>",
            r#"{"usage":{"prompt_tokens":1"#,
            r#"{"usage":"lots","usageMetadata":"lots"}"#,
            r#"{"usage":{"prompt_tokens":-1,"input_tokens":-1},"usageMetadata":{"promptTokenCount":-1}}"#,
        ] {
            assert!(
                parse_body(format, body.as_bytes()).is_err(),
                "{format:?} {body}"
            );
        }
    }
    for body in [
        "",
        "<html>bad gateway</html>",
        r#"{"usage":{"inputTokens":1"#,
        r#"{"usage":"lots"}"#,
        r#"{"usage":{"inputTokens":-1}}"#,
        r#"{"usage":{"outputTokens":"4"}}"#,
    ] {
        assert!(
            parse_body(UsageFormat::Bedrock, body.as_bytes()).is_err(),
            "{body}"
        );
    }
}

const ANTHROPIC_SSE: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":10,\"cache_read_input_tokens\":2000,\"output_tokens\":2}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"the \\\"usage\\\" is\"}}\n\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":10}}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n\
event: message_stop\n\
data: {\"type\":\"message_stop\"}\n\n";

const ANTHROPIC_ERROR_SSE: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: error\n\
data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

const GEMINI_SSE: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n\
data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":12,\"totalTokenCount\":45,\"cachedContentTokenCount\":4,\"thoughtsTokenCount\":24},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n";

const GEMINI_ERROR_SSE: &str = "data: {\"candidates\":[],\"modelVersion\":\"g\"}\r\n\r\n\
data: {\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n";

const RESPONSES_SSE: &str = "event: response.created\n\
data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-4.1-2025-04-14\",\"status\":\"in_progress\",\"usage\":null}}\n\n\
event: response.output_text.delta\n\
data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"delta\":\"Hi\"}\n\n\
event: response.completed\n\
data: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-4.1-2025-04-14\",\"status\":\"completed\",\"usage\":{\"input_tokens\":37,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":11,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":48}}}\n\n";

const AZURE_SSE: &str = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null,\"index\":0}],\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"usage\":null}\n\n\
data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"usage\":null}\n\n\
data: {\"choices\":[],\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"usage\":{\"completion_tokens\":19,\"prompt_tokens\":28,\"total_tokens\":47,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n\
data: {\"choices\":[{\"content_filter_offsets\":{\"check_offset\":0},\"content_filter_results\":{},\"finish_reason\":null,\"index\":0}],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"usage\":null}\n\n\
data: [DONE]\n\n";

const OPENAI_ERROR_SSE: &str =
    "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\
: keep-alive\n\n\
data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";

#[test]
fn streams_of_every_format_at_every_split() {
    use UsageFormat::*;
    // (name, format, stream, model, usage, stream errors)
    let cases: &[(
        &str,
        UsageFormat,
        &str,
        Option<&str>,
        Option<TokenUsage>,
        u32,
    )] = &[
        (
            "anthropic: message_start then cumulative message_delta",
            Anthropic,
            ANTHROPIC_SSE,
            Some("claude-sonnet-4-5"),
            Some(usage(2482, 15, 2497, 2000, 10, 0)),
            0,
        ),
        (
            "anthropic: error event",
            Anthropic,
            ANTHROPIC_ERROR_SSE,
            Some("claude-x"),
            Some(usage(5, 1, 6, 0, 0, 0)),
            1,
        ),
        (
            "gemini: crlf, last usageMetadata wins",
            Gemini,
            GEMINI_SSE,
            Some("gemini-2.5-flash"),
            Some(usage(9, 36, 45, 4, 0, 24)),
            0,
        ),
        (
            "gemini: error chunk",
            Gemini,
            GEMINI_ERROR_SSE,
            Some("g"),
            None,
            1,
        ),
        (
            "responses: response.completed",
            OpenAiResponses,
            RESPONSES_SSE,
            Some("gpt-4.1-2025-04-14"),
            Some(usage(37, 11, 48, 0, 0, 0)),
            0,
        ),
        (
            "azure: prompt filter first, content filter after usage",
            OpenAiChat,
            AZURE_SSE,
            Some("gpt-4o-mini-2024-07-18"),
            Some(usage(28, 19, 47, 0, 0, 0)),
            0,
        ),
        (
            "openai: error after 200",
            OpenAiChat,
            OPENAI_ERROR_SSE,
            Some("gpt-4o"),
            None,
            1,
        ),
    ];
    for (name, format, input, model, want, errors) in cases {
        let want = Outcome {
            model: model.map(str::to_owned),
            usage: *want,
            unparsed: false,
            stream_errors: *errors,
            streamed: true,
            text_chars: 0,
        };
        let variants = [
            input.to_string(),
            input.replace("\r\n", "\n").replace('\n', "\r\n"),
            input.replace("\r\n", "\n").replace('\n', "\r"),
        ];
        for variant in &variants {
            let bytes = variant.as_bytes();
            for i in 0..=bytes.len() {
                let mut reader = ResponseReader::new(*format, true, false);
                reader.feed(&bytes[..i]);
                reader.feed(&bytes[i..]);
                assert_eq!(reader.finish(), want, "{name} split at {i}: {variant:?}");
            }
        }
    }
}

#[test]
fn content_deltas_are_not_parsed() {
    // A delta quoting `"usage"` in its text has escaped quotes: no parse.
    let cases: &[(UsageFormat, &str)] = &[
        (
            UsageFormat::OpenAiChat,
            r#"{"choices":[{"delta":{"content":"\"usage\":{\"prompt_tokens\":1}"}}]}"#,
        ),
        (
            UsageFormat::Anthropic,
            r#"{"type":"content_block_delta","delta":{"text":"\"usage\":{}"}}"#,
        ),
        (
            UsageFormat::Gemini,
            r#"{"candidates":[{"content":{"parts":[{"text":"usageMetadata"}]}}]}"#,
        ),
        (
            UsageFormat::OpenAiResponses,
            r#"{"type":"response.output_text.delta","delta":"\"usage\":1"}"#,
        ),
    ];
    for (format, data) in cases {
        let mut s = StreamUsage::new(*format);
        // Model already known, so only usage/error could make it parse.
        s.model = Some("m".into());
        // Garbage after the JSON would make any parse fail: no parse, no flag.
        let broken = format!("{data}garbage");
        s.on_event(b"", broken.as_bytes());
        assert!(!s.bad_event, "{format:?} parsed {data}");
        assert_eq!(s.usage(), None);
    }
}
