//! The SSE reader and the stream rewriter on arbitrary bytes cut at arbitrary
//! places: they must never panic, and what they see and forward must not
//! depend on where the cuts are.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmgate_filter::response::ResponseReader;
use llmgate_filter::sse::SseReader;
use llmgate_filter::usage::UsageFormat;

/// Events (name, data) as the reader reports them for these chunks.
fn events(chunks: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut reader = SseReader::new();
    let mut out = Vec::new();
    let mut push = |e: llmgate_filter::sse::Event<'_>| out.push((e.name.to_vec(), e.data.to_vec()));
    for chunk in chunks {
        reader.feed(chunk, &mut push);
    }
    reader.finish(&mut push);
    out
}

/// What a client gets through the include_usage rewriter, and the outcome.
fn rewritten(chunks: &[&[u8]]) -> (Vec<u8>, llmgate_filter::response::Outcome) {
    let mut reader = ResponseReader::new(UsageFormat::OpenAiChat, true, true);
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(reader.feed(chunk).unwrap_or_default());
    }
    out.extend(reader.end().unwrap_or_default());
    (out, reader.finish())
}

fuzz_target!(|input: &[u8]| {
    // The first two bytes pick the cuts; the rest is the stream.
    let (cuts, body) = match input {
        [a, b, rest @ ..] => ((*a as usize, *b as usize), rest),
        _ => return,
    };
    let first = cuts.0.min(body.len());
    let second = (first + cuts.1).min(body.len());
    let split = [&body[..first], &body[first..second], &body[second..]];
    let whole = [body];

    assert_eq!(events(&whole), events(&split));

    let bytewise: Vec<&[u8]> = body.chunks(1).collect();
    let (out_whole, outcome_whole) = rewritten(&whole);
    let (out_split, outcome_split) = rewritten(&split);
    let (out_bytes, outcome_bytes) = rewritten(&bytewise);
    assert_eq!(out_whole, out_split);
    assert_eq!(out_whole, out_bytes);
    assert_eq!(outcome_whole, outcome_split);
    assert_eq!(outcome_whole, outcome_bytes);
    // The rewriter only ever removes bytes.
    assert!(out_whole.len() <= body.len());

    for format in [
        UsageFormat::OpenAiChat,
        UsageFormat::OpenAiResponses,
        UsageFormat::Anthropic,
        UsageFormat::Gemini,
    ] {
        let read = |chunks: &[&[u8]]| {
            let mut r = ResponseReader::new(format, true, false);
            for c in chunks {
                r.feed(c);
            }
            r.finish()
        };
        assert_eq!(read(&whole), read(&split));
    }
});
