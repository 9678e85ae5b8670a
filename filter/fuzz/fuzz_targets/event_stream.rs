//! The AWS event-stream reader on arbitrary bytes cut at arbitrary places:
//! it must never panic, and what it reads — messages, the failure, an
//! unfinished tail, the Bedrock usage outcome — must not depend on the cuts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmgate_filter::event_stream::{EventStreamReader, Failure, Message};
use llmgate_filter::response::{Framing, Outcome, ResponseReader};
use llmgate_filter::usage::UsageFormat;

type Read = (Vec<(Vec<String>, Vec<u8>)>, Option<Failure>, bool);

fn messages(chunks: &[&[u8]]) -> Read {
    let mut reader = EventStreamReader::new();
    let mut out = Vec::new();
    for chunk in chunks {
        reader.feed(chunk, &mut |m: Message<'_>| {
            let headers = m
                .headers
                .iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            out.push((headers, m.payload.to_vec()));
        });
    }
    (out, reader.failed(), reader.unfinished())
}

fn outcome(chunks: &[&[u8]]) -> Outcome {
    let mut r = ResponseReader::with_framing(UsageFormat::Bedrock, Framing::AwsEventStream, false);
    for chunk in chunks {
        assert!(r.feed(chunk).is_none(), "never rewritten");
    }
    r.finish()
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
    let bytewise: Vec<&[u8]> = body.chunks(1).collect();

    let want = messages(&whole);
    assert_eq!(want, messages(&split));
    assert_eq!(want, messages(&bytewise));
    let want = outcome(&whole);
    assert_eq!(want, outcome(&split));
    assert_eq!(want, outcome(&bytewise));
});
