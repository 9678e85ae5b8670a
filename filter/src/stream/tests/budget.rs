//! Token budgets: requests are let in while their buckets hold tokens,
//! refused with 429 once they are spent, charged with what their replies
//! used; buckets in the fake's shared data outlive each request, as in
//! Envoy's they outlive each worker's streams.

use super::*;
use crate::budget::bucket::{Bucket, Shape};
use crate::budget::key;
use crate::policy_config::{TokenBudget, TokenCount};
use crate::route_type::{RouteRule, RouteType};
use crate::stream::budget::{charge, ChargeError, CAS_ATTEMPTS};
use serde_json::{json, Value};

const MINUTE: u64 = 60_000;

fn budget(id: &str, max_tokens: u64, count: TokenCount) -> TokenBudget {
    TokenBudget {
        id: id.into(),
        max_tokens,
        tokens_per_fill: max_tokens,
        fill_interval_ms: MINUTE,
        count,
        client_header: None,
        global: false,
    }
}

fn with_budgets(p: Plugin, budgets: Vec<TokenBudget>) -> Plugin {
    let mut cfg = p.cfg;
    cfg.policy.token_budgets = budgets;
    Plugin::new(cfg)
}

type Reply = (u32, Vec<(String, String)>, Vec<u8>);

/// One whole request on `f`, whose shared data, clock and counters carry
/// over from the requests before; its reply is `status` with `body` when it
/// goes upstream. Returns the gateway's own answer, if it gave one.
fn request(
    p: &Plugin,
    f: &mut Fake,
    headers: &[(&str, &str)],
    status: &str,
    body: &[u8],
) -> Option<Reply> {
    f.request_headers.clear();
    f.request_body.clear();
    f.response_headers.clear();
    f.client_got.clear();
    f.filter_state.clear();
    f.local_reply = None;
    for (k, v) in headers {
        f.request_headers.insert((*k).into(), (*v).into());
    }
    let mut s = Stream::new();
    let flow = s.on_request_headers(p, f, false);
    if f.local_reply.is_some() {
        assert_eq!(flow, Flow::Pause);
        // Envoy's `on_log`.
        s.finish(p, f);
        return f.local_reply.clone();
    }
    send_body(&mut s, p, f, &[br#"{"model":"m"}"#], flow == Flow::Pause);
    assert!(f.local_reply.is_none());
    respond(&mut s, p, f, status, "application/json", &[body]);
    s.finish(p, f);
    None
}

/// A chat request; the reply reports 3 input, 4 output, 7 total tokens.
fn chat(p: &Plugin, f: &mut Fake, headers: &[(&str, &str)]) -> Option<Reply> {
    let mut all = vec![(":path", "/v1/chat/completions")];
    all.extend_from_slice(headers);
    request(p, f, &all, "200", USAGE_JSON)
}

fn tokens_left(f: &Fake, key: &str) -> Option<i64> {
    let (bytes, _) = f.shared.get(key)?;
    Bucket::decode(bytes).map(|b| b.tokens)
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn advance(f: &Fake, ms: u64) {
    f.clock_ms.set(f.clock_ms.get() + ms);
}

#[test]
fn a_budget_admits_until_spent_then_refuses_until_refilled() {
    let p = with_budgets(azure(), vec![budget("ns/p/0", 10, TokenCount::Total)]);
    let mut f = fake(&[]);
    let key = "llmgate/budget/ns/p/0";
    // 10 tokens: the first request leaves 3, the second a debt of 4.
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(tokens_left(&f, key), Some(3));
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(tokens_left(&f, key), Some(-4));

    let refused = chat(&p, &mut f, &[("authorization", "Bearer client")]).unwrap();
    assert_eq!(refused.0, 429);
    assert_eq!(header(&refused, "content-type"), Some("application/json"));
    assert_eq!(header(&refused, "retry-after"), Some("60"), "the next fill");
    assert_eq!(
        header(&refused, "x-envoy-ratelimited"),
        Some("true"),
        "no retry on another priority-group member"
    );
    let body: Value = serde_json::from_slice(&refused.2).unwrap();
    assert_eq!(
        body,
        json!({"error": {
            "message": "llmgate: token budget ns/p/0 is exhausted; retry in 60 s",
            "type": "rate_limit_error",
            "param": null,
            "code": "token_budget_exhausted"
        }})
    );
    // Nothing was done for upstream: no path, no key.
    assert_eq!(
        f.request_header(":path").as_deref(),
        Some("/v1/chat/completions")
    );
    assert_eq!(f.request_header("api-key"), None);
    assert_eq!(
        f.request_header("authorization").as_deref(),
        Some("Bearer client")
    );
    assert_eq!(tokens_left(&f, key), Some(-4), "a refusal costs nothing");
    let rejected = "llmgate_token_budget_rejected;route=ns/r/rule/0;backend=ns/ai;budget=ns/p/0";
    assert_eq!(f.counters.get(rejected), Some(&1));
    let base = "route=ns/r/rule/0;backend=ns/ai;provider=azureopenai;provider_name=azureopenai";
    assert_eq!(
        f.counters.get(&format!(
            "llmgate_requests;{base};request_model=unknown;response_model=unknown;status_class=4xx"
        )),
        Some(&1)
    );

    // Still within the minute: still refused, with less to wait.
    advance(&f, 30_000);
    let refused = chat(&p, &mut f, &[]).unwrap();
    assert_eq!(header(&refused, "retry-after"), Some("30"));
    assert_eq!(f.counters.get(rejected), Some(&2));

    // The fill pays the debt and more: admitted again.
    advance(&f, 30_000);
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(tokens_left(&f, key), Some(-1), "-4 + 10 - 7");
}

#[test]
fn each_budget_charges_what_it_counts_and_the_longest_wait_answers() {
    let p = with_budgets(
        azure(),
        vec![
            budget("ns/p/in", 100, TokenCount::Input),
            budget("ns/p/out", 100, TokenCount::Output),
            budget("ns/p/total", 8, TokenCount::Total),
        ],
    );
    let mut f = fake(&[]);
    assert_eq!(chat(&p, &mut f, &[]), None);
    let left = |f: &Fake, id: &str| tokens_left(f, &key::of(id, None));
    assert_eq!(left(&f, "ns/p/in"), Some(97));
    assert_eq!(left(&f, "ns/p/out"), Some(96));
    assert_eq!(left(&f, "ns/p/total"), Some(1));
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(left(&f, "ns/p/total"), Some(-6));
    let refused = chat(&p, &mut f, &[]).unwrap();
    assert_eq!(refused.0, 429);
    // Only the spent budget refused, and names itself.
    assert!(String::from_utf8_lossy(&refused.2).contains("ns/p/total"));
    let rejections: Vec<&String> = f
        .counters
        .keys()
        .filter(|k| k.starts_with("llmgate_token_budget_rejected"))
        .collect();
    assert_eq!(
        rejections,
        ["llmgate_token_budget_rejected;route=ns/r/rule/0;backend=ns/ai;budget=ns/p/total"]
    );
    assert_eq!(left(&f, "ns/p/in"), Some(94), "refused: not charged");
}

#[test]
fn clients_have_their_own_buckets_and_their_header_is_never_a_key() {
    let mut per_user = budget("ns/p/0", 5, TokenCount::Total);
    per_user.client_header = Some("X-User-Id".into());
    let p = with_budgets(azure(), vec![per_user]);
    let mut f = fake(&[]);
    let alice = [("x-user-id", "alice-secret")];
    assert_eq!(chat(&p, &mut f, &alice), None);
    assert_eq!(chat(&p, &mut f, &alice).map(|r| r.0), Some(429));
    assert_eq!(chat(&p, &mut f, &[("x-user-id", "bob")]), None);
    // Requests without the header share one bucket, apart from everyone's.
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(chat(&p, &mut f, &[]).map(|r| r.0), Some(429));
    assert_eq!(chat(&p, &mut f, &[("x-user-id", "carol")]), None);
    assert_eq!(
        chat(&p, &mut f, &[("x-user-id", "")]).map(|r| r.0),
        Some(429)
    );

    let keys: Vec<&String> = f.shared.keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in &keys {
        assert!(!k.contains("alice") && !k.contains("bob"), "{k}");
    }
    assert_eq!(
        tokens_left(&f, &key::of("ns/p/0", Some("alice-secret"))),
        Some(-2)
    );
    assert_eq!(tokens_left(&f, &key::of("ns/p/0", Some("bob"))), Some(-2));
    let counted: String = f.counters.keys().cloned().collect();
    assert!(!counted.contains("alice"), "{counted}");
}

#[test]
fn global_budgets_are_not_enforced_here_but_get_the_tokens_published() {
    let mut global = budget("ns/p/0", 1, TokenCount::Total);
    global.global = true;
    let p = with_budgets(azure(), vec![global]);
    let mut f = fake(&[]);
    for _ in 0..3 {
        assert_eq!(chat(&p, &mut f, &[]), None);
        let published: Vec<(&str, &str)> = f
            .filter_state
            .iter()
            .filter(|(k, _)| k.starts_with("llmgate_tokens_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            published,
            [
                ("llmgate_tokens_input", "3"),
                ("llmgate_tokens_output", "4"),
                ("llmgate_tokens_total", "7"),
            ]
        );
    }
    assert!(f.shared.is_empty(), "no local bucket");

    // Without a global budget nothing is published for it.
    let local = with_budgets(azure(), vec![budget("ns/p/0", 100, TokenCount::Total)]);
    assert_eq!(chat(&local, &mut f, &[]), None);
    assert!(!f.filter_state.contains_key("llmgate_tokens_total"));
}

#[test]
fn usage_estimated_is_charged_and_failures_without_usage_are_free() {
    let p = with_budgets(azure(), vec![budget("ns/p/0", 100, TokenCount::Input)]);
    let key = key::of("ns/p/0", None);
    let mut f = fake(&[]);
    let path = [(":path", "/v1/chat/completions")];
    // A 200 without usage: the 13-byte request is estimated at 4 tokens.
    assert_eq!(
        request(&p, &mut f, &path, "200", br#"{"choices":[]}"#),
        None
    );
    assert_eq!(tokens_left(&f, &key), Some(96));
    // Errors without usage cost nothing.
    let error = br#"{"error":{"message":"overloaded"}}"#;
    assert_eq!(request(&p, &mut f, &path, "503", error), None);
    assert_eq!(request(&p, &mut f, &path, "429", error), None);
    assert_eq!(tokens_left(&f, &key), Some(96));
}

#[test]
fn an_anthropic_client_is_refused_in_anthropics_shape() {
    let p = with_budgets(azure(), vec![budget("ns/p/0", 1, TokenCount::Total)]);
    let mut f = fake(&[]);
    assert_eq!(chat(&p, &mut f, &[]), None);
    let refused = request(&p, &mut f, &[(":path", "/x/v1/messages")], "200", b"").unwrap();
    assert_eq!(refused.0, 429);
    // A debt of 6 at 1 token a minute: 7 minutes until above zero.
    assert_eq!(header(&refused, "retry-after"), Some("420"));
    let body: Value = serde_json::from_slice(&refused.2).unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {
            "type": "rate_limit_error",
            "message": "llmgate: token budget ns/p/0 is exhausted; retry in 420 s"
        }})
    );
}

#[test]
fn what_uses_no_tokens_is_neither_refused_nor_charged() {
    let mut p = with_budgets(azure(), vec![budget("ns/p/0", 1, TokenCount::Total)]);
    p.cfg.routes = vec![RouteRule {
        suffix: "/raw".into(),
        route_type: RouteType::Passthrough,
    }];
    let mut f = fake(&[]);
    assert_eq!(chat(&p, &mut f, &[]), None);
    assert_eq!(chat(&p, &mut f, &[]).map(|r| r.0), Some(429));
    // The gateway's own model list, a type the provider lacks, a passthrough.
    let models = request(
        &p,
        &mut f,
        &[(":method", "GET"), (":path", "/x/models")],
        "200",
        b"",
    );
    assert_eq!(models.map(|r| r.0), Some(200));
    let count = request(
        &p,
        &mut f,
        &[(":path", "/x/v1/messages/count_tokens")],
        "200",
        b"",
    );
    assert_eq!(count.map(|r| r.0), Some(404));
    assert_eq!(
        request(&p, &mut f, &[(":path", "/x/raw")], "200", USAGE_JSON),
        None
    );
    assert_eq!(tokens_left(&f, &key::of("ns/p/0", None)), Some(-6));
}

#[test]
fn priority_group_members_share_the_routes_bucket() {
    let member = |name: &str| {
        let mut cfg = azure().cfg;
        cfg.provider_name = Some(name.into());
        cfg.policy.token_budgets = vec![budget("ns/p/0", 5, TokenCount::Total)];
        Plugin::new(cfg).in_priority_groups()
    };
    let (primary, backup) = (member("primary"), member("backup"));
    let mut f = fake(&[]);
    assert_eq!(chat(&primary, &mut f, &[]), None);
    let refused = chat(&backup, &mut f, &[]).unwrap();
    assert_eq!(refused.0, 429);
    assert_eq!(f.shared.len(), 1);
    assert_eq!(tokens_left(&f, &key::of("ns/p/0", None)), Some(-2));
}

#[test]
fn a_charge_swaps_in_after_other_workers_charges() {
    let shape = Shape::new(100, 100, MINUTE);
    let rival = |tokens| {
        Bucket {
            tokens,
            updated_ms: 0,
        }
        .encode()
    };
    // (other workers' writes in between, result, tokens left)
    let cases = [
        (vec![], Ok(()), 90),
        (vec![rival(80)], Ok(()), 70),
        (vec![rival(80), rival(60), rival(50)], Ok(()), 40),
        (
            (0..CAS_ATTEMPTS - 1).map(|_| rival(30)).collect(),
            Ok(()),
            20,
        ),
        (
            (0..CAS_ATTEMPTS).map(|_| rival(30)).collect(),
            Err(ChargeError::Contended),
            30,
        ),
    ];
    for (rivals, want, left) in cases {
        let mut f = fake(&[]);
        f.store_shared("k", rival(100));
        let n = rivals.len();
        f.rival_writes = rivals.into();
        assert_eq!(charge(&mut f, "k", shape, 10), want, "{n} rivals");
        assert_eq!(tokens_left(&f, "k"), Some(left), "{n} rivals");
    }
    // A bucket nobody created yet starts full; a refused write is an error.
    let mut f = fake(&[]);
    assert_eq!(charge(&mut f, "k", shape, 10), Ok(()));
    assert_eq!(tokens_left(&f, "k"), Some(90));
    f.shared_writes_fail = true;
    assert_eq!(charge(&mut f, "k", shape, 10), Err(ChargeError::Failed));
    assert_eq!(tokens_left(&f, "k"), Some(90));
}

#[test]
fn a_request_in_flight_is_charged_on_top_of_what_others_spent_meanwhile() {
    let p = with_budgets(azure(), vec![budget("ns/p/0", 100, TokenCount::Total)]);
    let key = key::of("ns/p/0", None);
    let mut f = fake(&[(":path", "/v1/chat/completions")]);
    let mut s = Stream::new();
    s.on_request_headers(&p, &mut f, false);
    send_body(&mut s, &p, &mut f, &[br#"{"model":"m"}"#], false);
    // Another worker charges 50 before this reply ends.
    let now = f.clock_ms.get();
    f.rival_writes.push_back(
        Bucket {
            tokens: 50,
            updated_ms: now,
        }
        .encode(),
    );
    respond(&mut s, &p, &mut f, "200", "application/json", &[USAGE_JSON]);
    assert_eq!(tokens_left(&f, &key), Some(43));
}
