//! The Backend's limit on request bodies: under, at and over it, declared or
//! chunked, held or streamed, on a single provider or a priority group.

use super::*;
use crate::config::envoy_buffer_limit;

const LIMIT: usize = 64 * 1024;

/// A chat request of exactly `n` bytes.
fn chat_of(n: usize) -> Vec<u8> {
    let head = br#"{"model":"client-model","messages":[{"role":"user","content":""#;
    let tail = br#""}]}"#;
    let mut body = head.to_vec();
    body.resize(n - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

#[derive(Debug, Clone, Copy)]
enum Provider {
    /// The model override: the body is held and must be rewritten.
    ForcedModel,
    /// `include_usage` only: held while it fits, else sent as it is.
    OptionalEdit,
    /// Nothing to edit: streamed through.
    Streamed,
    /// A priority-group member (nothing to edit): Envoy buffers the body
    /// for failover.
    FailoverMember,
}

impl Provider {
    fn plugin(self) -> Plugin {
        let limit = LIMIT as u64;
        match self {
            Provider::ForcedModel => with_limit(openai_forcing("gpt-4o-mini"), limit),
            Provider::OptionalEdit => with_limit(azure_at("2024-10-21"), limit),
            Provider::Streamed => with_limit(azure(), limit),
            Provider::FailoverMember => with_limit(azure(), limit).in_priority_groups(),
        }
    }
}

#[derive(Debug)]
enum Want {
    /// Reaches the provider whole, `model` as given.
    Upstream(&'static str),
    /// Passed on as it came, chunk by chunk.
    Streamed,
    /// 413 with this message, at the request headers or from the body.
    Refused { at_headers: bool, message: String },
}

fn over(n: usize) -> String {
    format!("llmgate: the request body is {n} bytes, over this route's limit of {LIMIT} bytes")
}

fn at_least(n: usize) -> String {
    format!(
        "llmgate: the request body is at least {n} bytes, over this route's limit of {LIMIT} bytes"
    )
}

#[test]
fn bodies_under_at_and_over_the_limit() {
    use Provider::*;
    const CHUNK: usize = 16 * 1024;
    // The chunk that takes a 3×LIMIT body over the limit: 5 of 16 KiB.
    let first_over = (LIMIT / CHUNK + 1) * CHUNK;
    let refused_at_headers = |n| Want::Refused {
        at_headers: true,
        message: over(n),
    };
    let refused_in_body = |message| Want::Refused {
        at_headers: false,
        message,
    };
    // (provider, content-length sent, body size, what happens)
    let cases: Vec<(Provider, bool, usize, Want)> = vec![
        (ForcedModel, true, 100, Want::Upstream("gpt-4o-mini")),
        (ForcedModel, true, LIMIT, Want::Upstream("gpt-4o-mini")),
        (ForcedModel, true, LIMIT + 1, refused_at_headers(LIMIT + 1)),
        (ForcedModel, false, LIMIT, Want::Upstream("gpt-4o-mini")),
        // The last byte comes with the end of the stream: its size is known.
        (
            ForcedModel,
            false,
            LIMIT + 1,
            refused_in_body(over(LIMIT + 1)),
        ),
        (
            ForcedModel,
            false,
            3 * LIMIT,
            refused_in_body(at_least(first_over)),
        ),
        (OptionalEdit, true, LIMIT, Want::Upstream("client-model")),
        (OptionalEdit, true, LIMIT + 1, Want::Streamed),
        (OptionalEdit, false, LIMIT, Want::Upstream("client-model")),
        (OptionalEdit, false, 3 * LIMIT, Want::Streamed),
        (Streamed, true, 3 * LIMIT, Want::Streamed),
        (Streamed, false, 3 * LIMIT, Want::Streamed),
        (FailoverMember, true, LIMIT, Want::Streamed),
        (FailoverMember, false, LIMIT, Want::Streamed),
        (
            FailoverMember,
            true,
            LIMIT + 1,
            refused_at_headers(LIMIT + 1),
        ),
        (
            FailoverMember,
            false,
            LIMIT + 1,
            refused_in_body(over(LIMIT + 1)),
        ),
        (
            FailoverMember,
            false,
            3 * LIMIT,
            refused_in_body(at_least(first_over)),
        ),
    ];
    for (provider, declared, size, want) in cases {
        let name = format!("{provider:?} declared={declared} {size}");
        let p = provider.plugin();
        let body = chat_of(size);
        let len = size.to_string();
        let mut f = if declared {
            fake(&[("content-length", &len)])
        } else {
            fake(&[])
        };
        let mut s = Stream::new();
        let held = s.on_request_headers(&p, &mut f, false) == Flow::Pause;
        let chunks: Vec<&[u8]> = body.chunks(CHUNK).collect();
        let flows = if f.local_reply.is_none() {
            send_body(&mut s, &p, &mut f, &chunks, held)
        } else {
            Vec::new()
        };
        match &want {
            Want::Upstream(model) => {
                assert!(f.local_reply.is_none(), "{name}");
                assert_eq!(flows.last(), Some(&Flow::Continue), "{name}");
                let sent: serde_json::Value = serde_json::from_slice(&f.request_body).expect(&name);
                assert_eq!(sent["model"], *model, "{name}");
                let client: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(
                    sent["messages"], client["messages"],
                    "{name}: the whole body"
                );
                respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
            }
            Want::Streamed => {
                assert!(f.local_reply.is_none(), "{name}");
                assert_eq!(flows.last(), Some(&Flow::Continue), "{name}");
                assert_eq!(
                    f.request_body,
                    *chunks.last().unwrap(),
                    "{name}: the last chunk passed on as it came"
                );
                respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
            }
            Want::Refused {
                at_headers,
                message,
            } => {
                assert_eq!(flows.is_empty(), *at_headers, "{name}: {flows:?}");
                assert_eq!(flows.last().copied().unwrap_or(Flow::Pause), Flow::Pause);
                let (status, headers, reply) = f.local_reply.clone().expect(&name);
                assert_eq!(status, 413, "{name}");
                assert_eq!(
                    headers,
                    [("content-type".to_owned(), "application/json".to_owned())]
                );
                let want = serde_json::json!({"error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": null,
                    "code": "request_too_large"
                }});
                let got: serde_json::Value = serde_json::from_slice(&reply).unwrap();
                assert_eq!(got, want, "{name}");
                s.finish(&p, &mut f);
            }
        }
        let class = match want {
            Want::Refused { .. } => "4xx",
            _ => "2xx",
        };
        let requests: Vec<_> = f
            .counters
            .iter()
            .filter(|(k, _)| k.starts_with("llmgate_requests;"))
            .collect();
        assert_eq!(requests.len(), 1, "{name}: {:?}", f.counters);
        assert!(
            requests[0].0.ends_with(&format!("status_class={class}")) && *requests[0].1 == 1,
            "{name}: {requests:?}"
        );
    }
}

/// An edit that makes the body bigger than Envoy can hold: the filter
/// answers rather than hand Envoy a body it would refuse from inside
/// `set_buffer` (which crashes the VM). Optional edits are dropped instead.
#[test]
fn an_edit_past_envoys_buffer_is_refused_or_dropped() {
    let buffer = envoy_buffer_limit(LIMIT as u64);
    let huge_model = "m".repeat(usize::try_from(buffer).unwrap());
    let body = chat_of(1000);
    let len = body.len().to_string();
    let p = with_limit(openai_forcing(&huge_model), LIMIT as u64);
    let mut f = fake(&[("content-length", &len)]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    let flows = send_body(&mut s, &p, &mut f, &[&body], true);
    assert_eq!(flows, [Flow::Pause]);
    let (status, _, reply) = f.local_reply.clone().unwrap();
    assert_eq!(status, 413);
    let got: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    let edited = body.len() + huge_model.len() - "client-model".len();
    assert_eq!(
        got["error"]["message"],
        format!(
            "llmgate: the request body is {edited} bytes once rewritten for the provider, over \
             the {buffer} bytes this route can hold (its limit of {LIMIT} bytes plus room for \
             the gateway's edits)"
        )
    );
    assert_eq!(f.request_body, body, "never replaced");
}
