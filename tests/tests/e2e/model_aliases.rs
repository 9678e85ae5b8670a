//! `modelAliases` through Envoy: the official OpenAI SDK asks for an alias,
//! the provider gets the model it stands for, and the gateway counts the
//! request under the name the client asked for.

use llmgate_e2e::harness::start_gateway;
use llmgate_e2e::manifests::{yaml_stream, AiBackend, AuthToken, Gateway, HttpRoute, GATEWAY_PORT};
use llmgate_e2e::mock::{MockConfig, MockProvider};
use llmgate_e2e::sdk;

const KEY: &str = "sk-openai-alias-5e1d";

#[test]
fn the_openai_sdk_asks_for_an_alias_and_the_provider_gets_its_model() {
    let mock = MockProvider::start_blocking(MockConfig::new(KEY)).unwrap();
    let manifests = yaml_stream(&[
        &Gateway::http(GATEWAY_PORT),
        &AiBackend::openai("openai", AuthToken::inline(KEY))
            .llm_field("modelAliases", "{fast: gpt-4o-mini, smart: gpt-4.1}"),
        &HttpRoute::prefix("openai", "/openai", "openai"),
    ]);
    let gateway = start_gateway(&manifests, mock.addr().port());
    let script = r#"
import openai
client = openai.OpenAI(base_url=os.environ["LLMGATE_BASE_URL"], api_key="sk-placeholder", max_retries=0)
r = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Say hello"}])
emit({"model": r.model, "input": r.usage.prompt_tokens})
"#;
    let base_url = gateway.url("/openai/v1");
    let got = sdk::run_json(script, &[("LLMGATE_BASE_URL", &base_url)]);

    let upstream = &mock.requests()[0];
    let body = upstream.body_json().expect("a JSON body upstream");
    assert_eq!(body["model"], "gpt-4o-mini", "{}", upstream.body_text());
    assert_eq!(
        upstream.header("content-length"),
        Some(&*upstream.body.len().to_string())
    );
    let input = got["input"].as_f64().expect("usage reported");
    let labels = [
        ("backend", "default/openai"),
        ("request_model", "fast"),
        ("response_model", got["model"].as_str().unwrap_or_default()),
        ("token_type", "input"),
    ];
    assert_eq!(
        gateway.metric("llmgate_tokens", &labels, input),
        Some(input),
        "{}",
        gateway.prometheus()
    );
}
