//! Priority groups through Envoy: a rate-limited, failing or unreachable
//! first group hands the request to the next one, each provider gets only
//! its own credentials, and metrics and the access log name the provider
//! that served.

use std::time::{Duration, Instant};

use llmgate_e2e::harness::{ai_route_manifests, free_port, get, start_gateway, Gateway};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const PRIMARY_KEY: &str = "azure-primary-key-5d1";
const BACKUP_KEY: &str = "sk-backup-key-77a";
const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

/// Group 0: Azure (v1, so the filter also rewrites the body's model) on
/// `$MOCK_PORT`; group 1: OpenAI on `backup_port`.
fn manifests(backup_port: u16) -> String {
    let ai = format!(
        r#"    priorityGroups:
    - providers:
      - name: azure-primary
        host: 127.0.0.1
        port: $MOCK_PORT
        azureopenai:
          endpoint: primary.openai.azure.com
          deploymentName: gpt-4o-deployment
          apiVersion: v1
          authToken: {{kind: Inline, inline: {PRIMARY_KEY}}}
    - providers:
      - name: openai-backup
        host: 127.0.0.1
        port: {backup_port}
        openai:
          authToken: {{kind: Inline, inline: {BACKUP_KEY}}}
"#
    );
    ai_route_manifests("llm", "{}", &ai, "")
}

fn post(gateway: &Gateway) -> llmgate_e2e::harness::Reply {
    gateway.post(
        "/llm",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-token"),
        ],
        BODY.as_bytes(),
    )
}

fn mock(key: &str, force_status: Option<u16>) -> MockProvider {
    let mut config = MockConfig::new(key);
    config.force_status = force_status;
    MockProvider::start_blocking(config).unwrap()
}

/// What the backup must have received: its own key only, its own path and
/// Host, and the client's body as the client sent it (not the body the
/// primary's filter configuration rewrote).
fn assert_backup_got_a_clean_request(backup: &MockProvider) {
    let sent = backup.requests();
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.path_and_query, "/v1/chat/completions");
    assert_eq!(
        r.headers_named("authorization"),
        [format!("Bearer {BACKUP_KEY}")]
    );
    assert_eq!(r.header("api-key"), None, "the primary's key leaked");
    assert_eq!(
        r.header("host"),
        Some(&*format!("127.0.0.1:{}", backup.addr().port()))
    );
    assert_eq!(r.body_text(), BODY);
    assert_eq!(r.header("content-length"), Some(&*BODY.len().to_string()));
}

#[test]
fn a_rate_limited_first_group_hands_the_request_to_the_next() {
    let primary = mock(PRIMARY_KEY, Some(429));
    let backup = mock(BACKUP_KEY, None);
    let gateway = start_gateway(&manifests(backup.addr().port()), primary.addr().port());

    let reply = post(&gateway);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, backup.responses()[0], "the backup's bytes");

    let tried = primary.requests();
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].path_and_query, "/openai/v1/chat/completions");
    assert_eq!(tried[0].header("api-key"), Some(PRIMARY_KEY));
    assert_eq!(tried[0].header("authorization"), None);
    assert_eq!(
        tried[0].body_json().unwrap()["model"],
        "gpt-4o-deployment",
        "the primary's own body edit"
    );
    assert_backup_got_a_clean_request(&backup);

    // Both attempts are counted, each under the provider that answered.
    let attempts = [("azure-primary", "4xx"), ("openai-backup", "2xx")];
    for (provider_name, status_class) in attempts {
        let labels = [
            ("backend", "default/llm"),
            ("provider_name", provider_name),
            ("status_class", status_class),
        ];
        assert_eq!(
            gateway.metric("llmgate_requests", &labels, 1.0),
            Some(1.0),
            "{provider_name}: {}",
            gateway.prometheus()
        );
    }
    let labels = [
        ("provider_name", "openai-backup"),
        ("provider", "openai"),
        ("token_type", "total"),
    ];
    assert_eq!(gateway.metric("llmgate_tokens", &labels, 47.0), Some(47.0));
    let log = gateway.access_log(1);
    assert_eq!(log[0]["provider_name"], "openai-backup", "{log:?}");
    assert_eq!(log[0]["status"], 200, "{log:?}");
}

/// Envoy keeps a copy of the body for the next attempt: a 5 MiB one (over
/// Envoy's default 1 MiB buffer) still fails over, the primary getting its
/// rewrite and the backup the client's body.
#[test]
fn a_5_mib_body_still_fails_over() {
    let primary = mock(PRIMARY_KEY, Some(429));
    let backup = mock(BACKUP_KEY, None);
    let gateway = start_gateway(&manifests(backup.addr().port()), primary.addr().port());
    let content = "x".repeat(5 * 1024 * 1024);
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": content}]
    }))
    .unwrap();
    let reply = gateway.post(
        "/llm",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-token"),
        ],
        &body,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let tried = primary.requests();
    assert_eq!(tried.len(), 1);
    let edited = tried[0].body_json().expect("JSON");
    assert_eq!(edited["model"], "gpt-4o-deployment");
    assert_eq!(edited["messages"][0]["content"].as_str(), Some(&*content));
    let served = backup.requests();
    assert_eq!(served.len(), 1);
    assert!(served[0].body == body, "the client's body, whole");
}

#[test]
fn an_unreachable_first_group_hands_the_request_to_the_next() {
    let nothing_listens = free_port();
    let backup = mock(BACKUP_KEY, None);
    let gateway = start_gateway(&manifests(backup.addr().port()), nothing_listens);

    let reply = post(&gateway);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_backup_got_a_clean_request(&backup);
}

#[test]
fn when_every_group_refuses_the_client_gets_the_last_answer_unchanged() {
    let primary = mock(PRIMARY_KEY, Some(429));
    let backup = mock(BACKUP_KEY, Some(429));
    let gateway = start_gateway(&manifests(backup.addr().port()), primary.addr().port());

    let reply = post(&gateway);
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, backup.responses()[0]);
    assert_eq!(
        reply.header("retry-after"),
        Some("1"),
        "for the client to honour"
    );
    assert_eq!((primary.requests().len(), backup.requests().len()), (1, 1));
}

/// `FAILED_OUTLIER_CHECK` shows in the admin `/clusters` output once Envoy
/// has ejected the host (the ejection is applied on Envoy's main thread,
/// shortly after the failing response).
fn wait_for_ejection(gateway: &Gateway, port: u16) -> bool {
    let url = format!("http://127.0.0.1:{}/clusters", gateway.admin_port);
    let needle = format!("127.0.0.1:{port}::health_flags::/failed_outlier_check");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if get(&url).is_ok_and(|(_, text)| text.contains(&needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_failing_provider_is_ejected_and_no_longer_tried_first() {
    let primary = mock(PRIMARY_KEY, Some(503));
    let backup = mock(BACKUP_KEY, None);
    let gateway = start_gateway(&manifests(backup.addr().port()), primary.addr().port());

    // Each request: 503 from the primary, then served by the backup.
    for _ in 0..3 {
        assert_eq!(post(&gateway).status, 200);
    }
    assert_eq!(primary.requests().len(), 3);
    assert!(
        wait_for_ejection(&gateway, primary.addr().port()),
        "{}",
        get(&format!("http://127.0.0.1:{}/clusters", gateway.admin_port))
            .map(|(_, t)| t)
            .unwrap_or_default()
    );
    for _ in 0..4 {
        assert_eq!(post(&gateway).status, 200);
    }
    assert_eq!(primary.requests().len(), 3, "the ejected primary was tried");
    assert_eq!(backup.requests().len(), 7);
}
