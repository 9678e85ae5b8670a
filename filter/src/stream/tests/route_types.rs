//! What each type of request becomes: the provider's endpoint for it, an
//! answer from the gateway, or a refusal; and only generations are counted.

use super::*;
use crate::route_type::{RouteRule, RouteType};

fn anthropic() -> Plugin {
    plugin(
        ProviderConfig::Anthropic {
            model: None,
            api_version: None,
        },
        TokenSource::Value {
            value: "ant".into(),
        },
    )
}

fn gemini() -> Plugin {
    plugin(
        ProviderConfig::Gemini {
            model: "gemini-2.5-flash".into(),
            api_version: "v1beta".into(),
        },
        TokenSource::Value {
            value: "goog".into(),
        },
    )
}

/// Runs a request with `body` to `path` and, when it went upstream, a 200
/// JSON reply; returns the fake and the path sent (`None`: answered here).
fn run(p: &Plugin, method: &str, path: &str, body: &str, reply: &str) -> (Fake, Option<String>) {
    let mut s = Stream::new();
    let mut f = fake(&[(":method", method), (":path", path)]);
    let flow = s.on_request_headers(p, &mut f, body.is_empty());
    if f.local_reply.is_some() {
        assert_eq!(flow, Flow::Pause);
        s.finish(p, &mut f);
        return (f, None);
    }
    if !body.is_empty() {
        send_body(&mut s, p, &mut f, &[body.as_bytes()], flow == Flow::Pause);
    }
    let sent = f.request_headers.get(":path").cloned();
    respond(
        &mut s,
        p,
        &mut f,
        "200",
        "application/json",
        &[reply.as_bytes()],
    );
    s.finish(p, &mut f);
    (f, sent)
}

fn tokens_counted(f: &Fake) -> u64 {
    f.counters
        .iter()
        .filter(|(k, _)| k.starts_with("llmgate_tokens;") && k.ends_with("token_type=total"))
        .map(|(_, v)| *v)
        .sum()
}

const CHAT_REPLY: &str =
    r#"{"model":"m","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;

#[test]
fn each_type_goes_to_the_providers_endpoint_for_it() {
    let azure_v1 = azure_at("v1");
    let responses_reply =
        r#"{"model":"m","usage":{"input_tokens":5,"output_tokens":6,"total_tokens":11}}"#;
    let embeddings_reply = r#"{"model":"e","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    // (plugin, client path, path sent, reply, tokens counted)
    let cases: Vec<(Plugin, &str, &str, &str, u64)> = vec![
        (
            openai_forcing("gpt-4o"),
            "/openai/chat/completions",
            "/v1/chat/completions",
            CHAT_REPLY,
            7,
        ),
        (
            openai_forcing("gpt-4o"),
            "/openai",
            "/v1/chat/completions",
            CHAT_REPLY,
            7,
        ),
        (
            openai_forcing("gpt-4o"),
            "/openai/v1/responses",
            "/v1/responses",
            responses_reply,
            11,
        ),
        (
            openai_forcing("gpt-4o"),
            "/openai/embeddings",
            "/v1/embeddings",
            embeddings_reply,
            8,
        ),
        (
            azure(),
            "/azure/embeddings",
            "/openai/deployments/dep/embeddings?api-version=2024-02-15-preview",
            embeddings_reply,
            8,
        ),
        (
            azure(),
            "/azure/responses",
            "/openai/responses?api-version=2024-02-15-preview",
            responses_reply,
            11,
        ),
        (
            azure_v1,
            "/azure/v1/responses",
            "/openai/v1/responses",
            responses_reply,
            11,
        ),
        (
            anthropic(),
            "/anthropic/v1/messages",
            "/v1/messages",
            r#"{"model":"c","usage":{"input_tokens":2,"output_tokens":3}}"#,
            5,
        ),
        // A token count is not a generation: nothing is counted.
        (
            anthropic(),
            "/anthropic/v1/messages/count_tokens",
            "/v1/messages/count_tokens",
            r#"{"input_tokens":12}"#,
            0,
        ),
        (
            gemini(),
            "/gemini/v1beta/models/whatever:countTokens",
            "/v1beta/models/gemini-2.5-flash:countTokens",
            r#"{"totalTokens":28}"#,
            0,
        ),
        (
            gemini(),
            "/gemini/v1beta/models/whatever:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}"#,
            3,
        ),
    ];
    for (p, path, want_path, reply, want_tokens) in cases {
        let (f, sent) = run(&p, "POST", path, r#"{"model":"client-model"}"#, reply);
        assert_eq!(sent.as_deref(), Some(want_path), "{path}");
        assert_eq!(tokens_counted(&f), want_tokens, "{path}");
    }
}

#[test]
fn embeddings_keep_their_model_and_chat_gets_the_configured_one() {
    let p = openai_forcing("gpt-4o");
    let cases = [
        (
            "/openai/embeddings",
            r#"{"model":"text-embedding-3-small","input":"x"}"#,
        ),
        (
            "/openai/chat/completions",
            r#"{"model":"gpt-4o","input":"x"}"#,
        ),
    ];
    for (path, want_body) in cases {
        let (f, _) = run(
            &p,
            "POST",
            path,
            r#"{"model":"text-embedding-3-small","input":"x"}"#,
            CHAT_REPLY,
        );
        assert_eq!(
            String::from_utf8_lossy(&f.request_body),
            want_body,
            "{path}"
        );
    }
}

#[test]
fn a_model_list_is_answered_from_the_configuration() {
    let cases: Vec<(Plugin, &str)> = vec![
        (
            openai_forcing("gpt-4o"),
            r#"{"data":[{"created":0,"id":"gpt-4o","object":"model","owned_by":"openai"}],"object":"list"}"#,
        ),
        (
            azure(),
            r#"{"data":[{"created":0,"id":"dep","object":"model","owned_by":"azureopenai"}],"object":"list"}"#,
        ),
        (
            gemini(),
            r#"{"data":[{"created":0,"id":"gemini-2.5-flash","object":"model","owned_by":"gemini"}],"object":"list"}"#,
        ),
        (anthropic(), r#"{"data":[],"object":"list"}"#),
    ];
    for (p, want) in cases {
        let (f, sent) = run(&p, "GET", "/llm/v1/models", "", "");
        assert_eq!(sent, None);
        let (status, headers, body) = f.local_reply.clone().unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(String::from_utf8(body).unwrap(), want);
        assert_eq!(
            f.counters
                .keys()
                .filter(|k| k.contains("status_class=2xx"))
                .count(),
            1,
            "{:?}",
            f.counters
        );
    }
    // Without a configured model, OpenAI (and compatible servers) list their own.
    let own = plugin(
        ProviderConfig::Openai { model: None },
        TokenSource::Value { value: "sk".into() },
    );
    let (f, sent) = run(
        &own,
        "GET",
        "/llm/models",
        "",
        r#"{"object":"list","data":[]}"#,
    );
    assert_eq!(sent.as_deref(), Some("/v1/models"));
    assert_eq!(f.request_headers["authorization"], "Bearer sk");
}

#[test]
fn a_type_the_provider_has_no_endpoint_for_is_refused_never_sent_to_chat() {
    let cases: Vec<(Plugin, &str, &str)> = vec![
        (anthropic(), "/anthropic/v1/embeddings", "Embeddings"),
        (anthropic(), "/anthropic/v1/responses", "Responses"),
        (
            gemini(),
            "/gemini/v1/messages/count_tokens",
            "AnthropicTokenCount",
        ),
        (
            azure(),
            "/azure/v1/messages/count_tokens",
            "AnthropicTokenCount",
        ),
        (
            openai_forcing("gpt-4o"),
            "/openai/v1beta/models/m:countTokens",
            "countTokens",
        ),
    ];
    for (p, path, type_name) in cases {
        let (f, sent) = run(&p, "POST", path, r#"{"model":"m"}"#, "");
        assert_eq!(sent, None, "{path}");
        let (status, _, body) = f.local_reply.clone().unwrap();
        assert_eq!(status, 404, "{path}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "unsupported_route_type");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(type_name), "{message}");
        assert!(message.contains("ns/ai"), "{message}");
        assert!(
            f.counters.keys().any(|k| k.contains("status_class=4xx")),
            "{:?}",
            f.counters
        );
    }
}

#[test]
fn a_passthrough_goes_as_it_is_with_the_credential() {
    let mut p = openai_forcing("gpt-4o");
    p.cfg.routes = vec![RouteRule {
        suffix: "*".into(),
        route_type: RouteType::Passthrough,
    }];
    let body = r#"{"model":"mine","stream":true}"#;
    let (f, sent) = run(&p, "POST", "/openai/v1/files", body, CHAT_REPLY);
    assert_eq!(sent.as_deref(), Some("/openai/v1/files"));
    assert_eq!(String::from_utf8_lossy(&f.request_body), body);
    assert_eq!(f.request_headers["authorization"], "Bearer sk-1");
    assert_eq!(tokens_counted(&f), 0);
}
