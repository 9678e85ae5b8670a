//! Keys Envoy injected ahead of the filter: moved into the provider's header
//! with its prefix, the internal headers gone, AWS keys signed with.

use super::*;

fn injected(provider: ProviderConfig) -> Plugin {
    plugin(
        provider,
        TokenSource::Injected {
            header: "x-llmgate-credential-0".into(),
        },
    )
}

#[test]
fn an_injected_key_goes_to_the_providers_header_and_nowhere_else() {
    let cases = [
        (
            injected(ProviderConfig::Openai { model: None }),
            "authorization",
            "Bearer sk-injected",
            "/llm",
        ),
        (
            injected(ProviderConfig::Anthropic {
                model: None,
                api_version: None,
            }),
            "x-api-key",
            "sk-injected",
            "/llm/v1/messages",
        ),
        (
            injected(ProviderConfig::Gemini {
                model: "m".into(),
                api_version: "v1beta".into(),
            }),
            "x-goog-api-key",
            "sk-injected",
            "/llm/v1beta/models/m:generateContent",
        ),
    ];
    // Native calls: a bodiless chat request would not be converted.
    for (p, header, want, path) in cases {
        let mut f = fake(&[
            (":path", path),
            ("authorization", "Bearer client-key"),
            ("x-llmgate-credential-0", "sk-injected"),
        ]);
        let mut s = Stream::new();
        s.on_request_headers(&p, &mut f, true);
        assert_eq!(f.request_header(header).as_deref(), Some(want), "{header}");
        assert_eq!(f.request_header("x-llmgate-credential-0"), None, "{header}");
        let carrying: Vec<&String> = f
            .request_headers
            .iter()
            .filter(|(_, v)| v.contains("sk-injected"))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(carrying, [header], "{header}");
        if header != "authorization" {
            assert_eq!(f.request_header("authorization"), None, "{header}");
        }
    }
}

#[test]
fn without_an_injected_key_no_credential_goes_upstream() {
    let p = injected(ProviderConfig::Openai { model: None });
    let mut f = fake(&[(":path", "/llm"), ("authorization", "Bearer client-key")]);
    Stream::new().on_request_headers(&p, &mut f, true);
    assert_eq!(f.request_header("authorization"), None);
}

#[test]
fn injected_aws_keys_sign_the_final_request() {
    let mut p = plugin(
        ProviderConfig::Bedrock {
            model: "m".into(),
            region: "us-west-2".into(),
            guardrail: None,
        },
        TokenSource::AwsInjected {
            access_key_id_header: "x-llmgate-credential-0-access-key-id".into(),
            secret_access_key_header: "x-llmgate-credential-0-secret-access-key".into(),
            session_token_header: Some("x-llmgate-credential-0-session-token".into()),
        },
    );
    p.cfg.host = "bedrock-runtime.us-west-2.amazonaws.com".into();
    let body: &[u8] = br#"{"messages":[]}"#;
    let mut f = fake(&[
        (":method", "POST"),
        (":path", "/llm"),
        ("content-type", "application/json"),
        ("x-llmgate-credential-0-access-key-id", "AKIDINJECTED"),
        (
            "x-llmgate-credential-0-secret-access-key",
            "secret/injected+key",
        ),
        ("x-llmgate-credential-0-session-token", "session-injected"),
    ]);
    let mut s = Stream::new();
    assert_eq!(s.on_request_headers(&p, &mut f, false), Flow::Pause);
    assert!(
        f.request_headers
            .keys()
            .all(|k| !k.starts_with("x-llmgate")),
        "{:?}",
        f.request_headers
    );
    send_body(&mut s, &p, &mut f, &[body], true);
    let authorization = f.request_header("authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDINJECTED/"),
        "{authorization}"
    );
    assert_eq!(
        f.request_header("x-amz-security-token").as_deref(),
        Some("session-injected")
    );
    let path = f.request_header(":path").unwrap();
    let seconds = f.clock_ms.get() / 1000;
    let want = crate::sigv4::sign(
        &crate::sigv4::SignableRequest {
            method: "POST",
            path_and_query: &path,
            headers: &[
                ("host", "bedrock-runtime.us-west-2.amazonaws.com"),
                ("content-type", "application/json"),
            ],
            body,
        },
        &crate::sigv4::Credentials {
            access_key_id: "AKIDINJECTED",
            secret_access_key: "secret/injected+key",
            session_token: Some("session-injected"),
        },
        "us-west-2",
        "bedrock",
        seconds,
    );
    for (name, value) in want {
        assert_eq!(f.request_header(&name), Some(value), "{name}");
    }
}
