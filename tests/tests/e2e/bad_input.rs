//! Broken or incomplete manifests: clear problems, and everything valid still
//! served.

use llmgate_e2e::harness::start_gateway;
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, Secret, GATEWAY_PORT,
};
use llmgate_e2e::mock::{MockConfig, MockProvider};

const KEY: &str = "key-for-the-good-backend";

/// Azure OpenAI Backend `name` at the mock, its key in Secret `secret`,
/// routed from `/<name>`: documents to append to [`base`].
fn backend(name: &str, secret: &str) -> String {
    let documents = yaml_stream(&[
        &AiBackend::azure(
            name,
            "my-endpoint.openai.azure.com",
            "gpt-4o-mini",
            "2024-10-21",
            AuthToken::secret(secret),
        ),
        &HttpRoute::prefix(name, &format!("/{name}"), name),
    ]);
    format!("---\n{documents}")
}

/// The Gateway, and Secret `good-secret` holding [`KEY`] (base64).
fn base() -> String {
    yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &Secret::new("good-secret").base64("Authorization", "a2V5LWZvci10aGUtZ29vZC1iYWNrZW5k"),
    ])
}

const BODY: &[u8] = br#"{"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn a_missing_secret_makes_only_its_routes_answer_500() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let manifests = format!(
        "{}{}{}",
        base(),
        backend("good", "good-secret"),
        backend("orphan", "no-such-secret")
    );
    let gateway = start_gateway(&manifests, mock.addr().port());
    let t = &gateway.translated;
    assert!(
        t.status.success(),
        "a missing Secret is a warning, not an error: {}",
        t.stderr
    );
    assert!(
        t.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains("Backend default/orphan: spec.ai.llm.azureopenai.authToken.secretRef: Secret default/no-such-secret not found")),
        "{}",
        t.stderr
    );

    let reply = gateway.post("/orphan", &[], BODY);
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().contains("backend not ready"),
        "{}",
        reply.text()
    );
    let reply = gateway.post("/good", &[], BODY);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        mock.requests().len(),
        1,
        "the orphan route reached the provider"
    );
    // `data` is base64; the decoded key is what is sent.
    assert_eq!(mock.requests()[0].headers_named("api-key"), [KEY]);
}

#[test]
fn an_invalid_document_is_an_error_that_names_it_and_the_rest_is_served() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let broken = backend("broken", "good-secret")
        .replace("deploymentName: gpt-4o-mini", "deploymentNmae: gpt-4o-mini");
    let syntax = "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: [unclosed\n";
    let manifests = format!(
        "{}{}{broken}{syntax}",
        base(),
        backend("good", "good-secret")
    );
    let gateway = start_gateway(&manifests, mock.addr().port());
    let t = &gateway.translated;
    assert_eq!(t.status.code(), Some(1), "{}", t.stderr);
    let errors: Vec<&str> = t
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 2, "{}", t.stderr);
    assert!(
        errors.iter().any(|l| l.contains("manifests.yaml:")
            && l.contains(
                "Backend default/broken: spec.ai.llm.azureopenai.deploymentNmae: unknown field"
            )),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|l| l.contains("YAML syntax error")),
        "{errors:?}"
    );

    assert_eq!(gateway.post("/good", &[], BODY).status, 200);
    assert_eq!(gateway.post("/broken", &[], BODY).status, 500);
}
