//! Every provider of `spec.ai.llm`: where the gateway connects, what it sends
//! as Host and SNI, the filter configuration, and Bedrock's credentials.

use llmgate_filter::config::{BedrockGuardrail, ProviderConfig, TokenSource};

use super::{cluster, credential, filter_config, routes, run};

/// A Gateway, a Secret `key`, and a route `/llm` to Backend `ai/b`, whose
/// `spec.ai.llm` is appended.
pub(super) const BASE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ai}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: v1
kind: Secret
metadata: {name: key, namespace: ai}
stringData: {Authorization: "Bearer sk-key"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /llm}}]
    backendRefs: [{name: b, group: gateway.kgateway.dev, kind: Backend}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: b, namespace: ai}
spec:
  type: AI
  ai:
    llm:
"#;

/// The manifests with `llm` (YAML at column 0) as Backend `ai/b`'s provider.
pub(super) fn with_llm(llm: &str) -> String {
    let indented: String = llm.lines().map(|l| format!("      {l}\n")).collect();
    format!("{BASE}{indented}")
}

const KEY: &str = "authToken: {kind: SecretRef, secretRef: {name: key}}";

fn socket_address(c: &serde_json::Value) -> (String, u64) {
    let a = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    (
        a["address"].as_str().unwrap().to_string(),
        a["port_value"].as_u64().unwrap(),
    )
}

#[test]
fn each_provider_connects_to_its_endpoint_with_its_configuration() {
    struct Case {
        llm: String,
        address: &'static str,
        port: u64,
        /// SNI (= expected certificate name), or plaintext.
        sni: Option<&'static str>,
        host_header: &'static str,
        provider: ProviderConfig,
    }
    let cases = [
        Case {
            llm: format!("anthropic: {{{KEY}, apiVersion: \"2023-06-01\", model: claude-3-5-haiku-latest}}"),
            address: "api.anthropic.com",
            port: 443,
            sni: Some("api.anthropic.com"),
            host_header: "api.anthropic.com",
            provider: ProviderConfig::Anthropic {
                model: Some("claude-3-5-haiku-latest".into()),
                api_version: Some("2023-06-01".into()),
            },
        },
        Case {
            llm: format!("anthropic: {{{KEY}}}"),
            address: "api.anthropic.com",
            port: 443,
            sni: Some("api.anthropic.com"),
            host_header: "api.anthropic.com",
            provider: ProviderConfig::Anthropic {
                model: None,
                api_version: None,
            },
        },
        Case {
            llm: format!("gemini: {{{KEY}, model: gemini-2.0-flash, apiVersion: v1beta}}"),
            address: "generativelanguage.googleapis.com",
            port: 443,
            sni: Some("generativelanguage.googleapis.com"),
            host_header: "generativelanguage.googleapis.com",
            provider: ProviderConfig::Gemini {
                model: "gemini-2.0-flash".into(),
                api_version: "v1beta".into(),
            },
        },
        Case {
            llm: format!("vertexai: {{{KEY}, model: gemini-2.0-flash, apiVersion: v1, projectId: my-project, location: us-central1, publisher: GOOGLE}}"),
            address: "us-central1-aiplatform.googleapis.com",
            port: 443,
            sni: Some("us-central1-aiplatform.googleapis.com"),
            host_header: "us-central1-aiplatform.googleapis.com",
            provider: ProviderConfig::Vertexai {
                model: "gemini-2.0-flash".into(),
                api_version: "v1".into(),
                project_id: "my-project".into(),
                location: "us-central1".into(),
                model_path: None,
            },
        },
        Case {
            llm: format!("vertexai: {{{KEY}, model: gemini-2.0-flash, apiVersion: v1, projectId: p, location: global, modelPath: countTokens, publisher: GOOGLE}}"),
            address: "aiplatform.googleapis.com",
            port: 443,
            sni: Some("aiplatform.googleapis.com"),
            host_header: "aiplatform.googleapis.com",
            provider: ProviderConfig::Vertexai {
                model: "gemini-2.0-flash".into(),
                api_version: "v1".into(),
                project_id: "p".into(),
                location: "global".into(),
                model_path: Some("countTokens".into()),
            },
        },
        Case {
            llm: "bedrock: {model: anthropic.claude-3-haiku-20240307-v1:0, region: eu-west-3, guardrail: {identifier: gr-1, version: \"2\"}}".into(),
            address: "bedrock-runtime.eu-west-3.amazonaws.com",
            port: 443,
            sni: Some("bedrock-runtime.eu-west-3.amazonaws.com"),
            host_header: "bedrock-runtime.eu-west-3.amazonaws.com",
            provider: ProviderConfig::Bedrock {
                model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
                region: "eu-west-3".into(),
                guardrail: Some(BedrockGuardrail {
                    identifier: "gr-1".into(),
                    version: "2".into(),
                }),
            },
        },
        Case {
            llm: "bedrock: {model: amazon.nova-micro-v1:0}".into(),
            address: "bedrock-runtime.us-east-1.amazonaws.com",
            port: 443,
            sni: Some("bedrock-runtime.us-east-1.amazonaws.com"),
            host_header: "bedrock-runtime.us-east-1.amazonaws.com",
            provider: ProviderConfig::Bedrock {
                model: "amazon.nova-micro-v1:0".into(),
                region: "us-east-1".into(),
                guardrail: None,
            },
        },
        // Overrides: plaintext unless 443, and the Host is what is connected to.
        Case {
            llm: format!("host: 127.0.0.1\nport: 9000\ngemini: {{{KEY}, model: m, apiVersion: v1beta}}"),
            address: "127.0.0.1",
            port: 9000,
            sni: None,
            host_header: "127.0.0.1:9000",
            provider: ProviderConfig::Gemini {
                model: "m".into(),
                api_version: "v1beta".into(),
            },
        },
        Case {
            llm: "host: egress.internal\nport: 443\nbedrock: {model: m, region: us-west-2}".into(),
            address: "egress.internal",
            port: 443,
            sni: Some("egress.internal"),
            host_header: "egress.internal",
            provider: ProviderConfig::Bedrock {
                model: "m".into(),
                region: "us-west-2".into(),
                guardrail: None,
            },
        },
    ];
    for case in cases {
        let (bootstrap, problems) = run(&with_llm(&case.llm));
        assert!(problems.is_empty(), "{}: {problems:?}", case.llm);
        let c = cluster(&bootstrap, "backend_ai_b");
        assert_eq!(
            socket_address(c),
            (case.address.to_string(), case.port),
            "{}",
            case.llm
        );
        let tls = &c["transport_socket"]["typed_config"];
        match case.sni {
            Some(sni) => {
                assert_eq!(tls["sni"], sni, "{}", case.llm);
                let validation = &tls["common_tls_context"]["validation_context"];
                assert_eq!(
                    validation["trusted_ca"]["filename"],
                    "/etc/ssl/certs/ca-certificates.crt"
                );
                assert_eq!(
                    validation["match_typed_subject_alt_names"],
                    serde_json::json!([{ "san_type": "DNS", "matcher": { "exact": sni } }]),
                    "{}",
                    case.llm
                );
            }
            None => assert!(c.get("transport_socket").is_none(), "{}", case.llm),
        }
        let cfg = filter_config(c);
        assert_eq!(cfg.host, case.host_header, "{}", case.llm);
        assert_eq!(cfg.provider, case.provider, "{}", case.llm);
        assert_eq!(cfg.provider_name, None);
        assert_eq!(
            routes(&bootstrap, 8080)[0]["route"]["cluster"],
            "backend_ai_b"
        );
    }
}

#[test]
fn token_providers_read_the_authorization_key() {
    for llm in [
        format!("anthropic: {{{KEY}}}"),
        format!("gemini: {{{KEY}, model: m, apiVersion: v1}}"),
        format!("vertexai: {{{KEY}, model: m, apiVersion: v1, projectId: p, location: l, publisher: GOOGLE}}"),
    ] {
        let (bootstrap, problems) = run(&with_llm(&llm));
        assert!(problems.is_empty(), "{llm}: {problems:?}");
        assert_eq!(
            credential(&bootstrap, cluster(&bootstrap, "backend_ai_b")),
            TokenSource::Value {
                value: "sk-key".into()
            },
            "{llm}"
        );
    }
}

const AWS_SECRET: &str =
    "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: aws, namespace: ai}\n";

#[test]
fn bedrock_credentials_come_from_the_secret_or_the_client() {
    let with_secret = "bedrock: {model: m, auth: {type: Secret, secretRef: {name: aws}}}";
    let cases: [(&str, Option<&str>, Result<TokenSource, &str>); 8] = [
        (
            with_secret,
            Some("stringData: {accessKey: AKIAEXAMPLE, secretKey: wJalrXUtnFEMI}"),
            Ok(TokenSource::Aws {
                access_key_id: "AKIAEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI".into(),
                session_token: None,
            }),
        ),
        (
            with_secret,
            // base64 `data`, as `kubectl create secret` writes it.
            Some("data: {accessKey: QUtJQUVYQU1QTEU=, secretKey: d0phbHJYVXRuRkVNSQ==, sessionToken: RndvR1pYSXZZWGR6RUJZYUQ=}"),
            Ok(TokenSource::Aws {
                access_key_id: "AKIAEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI".into(),
                session_token: Some("FwoGZXIvYXdzEBYaD".into()),
            }),
        ),
        (
            with_secret,
            Some("stringData: {Authorization: \"Bearer bedrock-api-key\"}"),
            Ok(TokenSource::Value {
                value: "bedrock-api-key".into(),
            }),
        ),
        (
            "bedrock: {model: m}",
            None,
            Ok(TokenSource::Passthrough),
        ),
        (
            with_secret,
            Some("stringData: {accessKey: AKIAEXAMPLE}"),
            Err("spec.ai.llm.bedrock.auth.secretRef: Secret ai/aws has no (non-empty) key `secretKey`"),
        ),
        (
            with_secret,
            Some("stringData: {secretKey: wJalrXUtnFEMI, Authorization: k}"),
            Err("spec.ai.llm.bedrock.auth.secretRef: Secret ai/aws has no (non-empty) key `accessKey`"),
        ),
        (
            with_secret,
            Some("stringData: {other: x}"),
            Err("Secret ai/aws has no (non-empty) keys `accessKey` and `secretKey`"),
        ),
        (
            with_secret,
            None,
            Err("spec.ai.llm.bedrock.auth.secretRef: Secret ai/aws not found"),
        ),
    ];
    for (llm, secret, want) in cases {
        let mut text = with_llm(llm);
        if let Some(data) = secret {
            text.push_str(&format!("{AWS_SECRET}{data}\n"));
        }
        let (bootstrap, problems) = run(&text);
        match want {
            Ok(token) => {
                assert!(problems.is_empty(), "{secret:?}: {problems:?}");
                let got = credential(&bootstrap, cluster(&bootstrap, "backend_ai_b"));
                assert_eq!(got, token, "{secret:?}");
            }
            Err(why) => {
                assert!(
                    problems.iter().any(|p| p.starts_with("warning")
                        && p.contains("Backend ai/b: ")
                        && p.contains(why)),
                    "{why}: {problems:?}"
                );
                for p in &problems {
                    assert!(
                        !p.contains("AKIAEXAMPLE") && !p.contains("wJalrXUtnFEMI"),
                        "a credential in {p}"
                    );
                }
                assert_eq!(
                    routes(&bootstrap, 8080)[0]["direct_response"]["status"],
                    500
                );
            }
        }
    }
}

#[test]
fn invalid_providers_are_errors_that_name_the_field() {
    let cases = [
        (
            format!("gemini: {{{KEY}, model: \"\", apiVersion: v1beta}}"),
            "spec.ai.llm.gemini.model: must not be empty",
        ),
        (
            format!("gemini: {{{KEY}, model: m, apiVersion: \" \"}}"),
            "spec.ai.llm.gemini.apiVersion: must not be empty",
        ),
        (
            format!("anthropic: {{{KEY}, apiVersion: \"\"}}"),
            "spec.ai.llm.anthropic.apiVersion: must not be empty",
        ),
        (
            format!("vertexai: {{{KEY}, model: m, apiVersion: v1, projectId: \"\", location: l, publisher: GOOGLE}}"),
            "spec.ai.llm.vertexai.projectId: must not be empty",
        ),
        (
            format!("vertexai: {{{KEY}, model: m, apiVersion: v1, projectId: p, location: evil.com/x, publisher: GOOGLE}}"),
            "spec.ai.llm.vertexai.location: must be 1-63 characters of a-z, 0-9 and -",
        ),
        (
            "bedrock: {model: \"\"}".to_string(),
            "spec.ai.llm.bedrock.model: must not be empty",
        ),
        (
            "bedrock: {model: m, region: US_EAST_1}".to_string(),
            "spec.ai.llm.bedrock.region: must be 1-63 characters",
        ),
        (
            "bedrock: {model: m, region: \"\"}".to_string(),
            "spec.ai.llm.bedrock.region: must be 1-63 characters",
        ),
        (
            "bedrock: {model: m, guardrail: {identifier: \"\", version: \"1\"}}".to_string(),
            "spec.ai.llm.bedrock.guardrail.identifier: must not be empty",
        ),
        (
            "bedrock: {model: m, auth: {type: Irsa}}".to_string(),
            "spec.ai.llm.bedrock.auth.type: unsupported auth type \"Irsa\"",
        ),
        (
            "bedrock: {model: m, auth: {type: Secret}}".to_string(),
            "spec.ai.llm.bedrock.auth.secretRef.name: required when type is Secret",
        ),
        (
            format!("anthropic: {{{KEY}}}\nopenai: {{{KEY}}}"),
            "spec.ai.llm: exactly one provider must be set, found openai, anthropic",
        ),
    ];
    for (llm, want) in cases {
        let (bootstrap, problems) = run(&with_llm(&llm));
        assert!(
            problems.iter().any(|p| p.starts_with("error: m.yaml:")
                && p.contains("Backend ai/b: ")
                && p.contains(want)),
            "{want}: {problems:?}"
        );
        assert_eq!(
            routes(&bootstrap, 8080)[0]["direct_response"]["status"],
            500,
            "{want}"
        );
    }
}

#[test]
fn metric_labels_cannot_capture_one_another() {
    let labels = crate::emit::FILTER_LABELS;
    let provider = labels.iter().position(|l| *l == "provider").unwrap();
    assert_eq!(labels.get(provider + 1), Some(&"provider_name"));
    let tags = crate::emit::stats_tags();
    assert!(tags
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["tag_name"] == "provider_name" && t["regex"] == "(;provider_name=([^;]*))"));
    // Each regex is `(<literal>([^;]*))`: the literal of `provider` must not
    // occur in a `provider_name` pair, or it would take that pair's value.
    let provider_regex = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag_name"] == "provider")
        .unwrap()["regex"]
        .as_str()
        .unwrap()
        .to_string();
    let literal = provider_regex
        .strip_prefix('(')
        .and_then(|r| r.split('(').next())
        .unwrap();
    assert_eq!(literal, ";provider=");
    assert!(!";provider_name=primary".contains(literal));
}
