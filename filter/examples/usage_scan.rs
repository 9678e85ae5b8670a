//! The filter's response parsing on the host, for profiling (`make bench`
//! and docs/benchmarks.md): feeds the benchmark's canned Azure answers to
//! [`ResponseReader`] in 16 KiB pieces (what Envoy hands an upstream filter)
//! N times, and — for comparison — the "naive" way: every body and every SSE
//! event parsed whole into a `serde_json::Value`.
//!
//! ```sh
//! python3 bench/fixtures.py /tmp/fx
//! cargo run --release -p llmgate-filter --example usage_scan -- /tmp/fx/chat.json /tmp/fx/stream.sse 1000
//! valgrind --tool=callgrind cargo-built-binary ... 100 filter   # or `naive`
//! ```
//!
//! Args: CHAT_JSON STREAM_SSE [N=1000] [MODE=both]; MODE is `filter`,
//! `naive`, `both`, or one of them with `-json` / `-sse` (one body only).

use llmgate_filter::response::ResponseReader;
use llmgate_filter::usage::UsageFormat;
use std::hint::black_box;
use std::time::Instant;

const PIECE: usize = 16 * 1024;

type Parse = fn(&[u8]) -> u64;

fn filter_json(body: &[u8]) -> u64 {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, false, false);
    for piece in body.chunks(PIECE) {
        if r.wants(piece.len()) {
            r.feed(piece);
        }
    }
    r.finish().usage.map_or(0, |u| u.total)
}

fn filter_sse(body: &[u8]) -> u64 {
    let mut r = ResponseReader::new(UsageFormat::OpenAiChat, true, false);
    for piece in body.chunks(PIECE) {
        r.feed(piece);
    }
    r.finish().usage.map_or(0, |u| u.total)
}

fn total(v: &serde_json::Value) -> u64 {
    v.get("usage")
        .and_then(|u| u.get("total_tokens"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// What a first version of such a filter does: buffer, then parse it all.
fn naive_json(body: &[u8]) -> u64 {
    let mut buf = Vec::new();
    for piece in body.chunks(PIECE) {
        buf.extend_from_slice(piece);
    }
    serde_json::from_slice::<serde_json::Value>(&buf).map_or(0, |v| total(&v))
}

fn naive_sse(body: &[u8]) -> u64 {
    let mut pending = Vec::new();
    let mut seen = 0;
    for piece in body.chunks(PIECE) {
        pending.extend_from_slice(piece);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            if let Some(data) = event.strip_prefix(b"data: ") {
                let data = data.strip_suffix(b"\n\n").unwrap_or(data);
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                    let t = total(&v);
                    if t > 0 {
                        seen = t;
                    }
                }
            }
        }
    }
    seen
}

fn run(name: &str, n: usize, body: &[u8], f: Parse) {
    let start = Instant::now();
    let mut t = 0;
    for _ in 0..n {
        t = f(black_box(body));
    }
    let el = start.elapsed();
    println!(
        "{name:12} {n} x {} B: {:.2} us/response, {:.2} ns/byte (total_tokens {t})",
        body.len(),
        el.as_secs_f64() * 1e6 / n as f64,
        el.as_secs_f64() * 1e9 / (n * body.len()) as f64
    );
}

/// A fixture that cannot be read ends the run, as a panic did, without the
/// panic (the workspace denies it outside tests).
fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(json_path), Some(sse_path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: usage_scan CHAT_JSON STREAM_SSE [N] [filter|naive|both]");
        std::process::exit(2);
    };
    let json = read(json_path);
    let sse = read(sse_path);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mode = args.get(4).map_or("both", String::as_str);
    let (who, what) = mode.split_once('-').unwrap_or((mode, "all"));
    let cases: [(&str, &[u8], Parse); 4] = [
        ("filter json", &json, filter_json),
        ("filter sse", &sse, filter_sse),
        ("naive json", &json, naive_json),
        ("naive sse", &sse, naive_sse),
    ];
    for (name, body, f) in cases {
        let (w, k) = name.split_once(' ').unwrap_or((name, ""));
        if (who == "both" || who == w) && (what == "all" || what == k) {
            run(name, n, body, f);
        }
    }
}
