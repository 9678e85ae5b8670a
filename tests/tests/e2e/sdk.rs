//! The providers' official SDKs (`openai`, `anthropic`, `google-genai`,
//! `boto3`, pinned in tests/sdk/requirements.txt) as the clients, through
//! Envoy to the mock provider, on the routes of `manifests/examples/providers`:
//! one test per row of the table at the bottom, SDK × route → what the SDK
//! returns, and what the gateway counted.
//!
//! The SDK calls are Python snippets in raw strings here rather than `.py`
//! files: short, and read next to the rows that run them. A new row is one
//! line: a name, the client, the route, the call and what it must return.
//!
//! Each row starts its own mock and gateway, so its counters start at zero:
//! a generation must be counted exactly as the SDK reported its usage, and
//! anything else (a token count, a model list, a refusal) not at all.

use std::time::{Duration, Instant};

use llmgate_e2e::harness::{example_manifests, start_gateway, sum_samples, Gateway};
use llmgate_e2e::mock::{MockConfig, MockProvider, ASSISTANT_TEXT, DEFAULT_API_KEY, OPENAI_MODELS};
use llmgate_e2e::sdk;
use serde_json::{json, Value};

/// How a user points each client at a gateway route (`$LLMGATE_BASE_URL`):
/// the gateway injects the provider's key, so the client's is a placeholder
/// (the SDKs insist on one), which the gateway drops. No retries: a failure
/// shows as it happened.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// `openai.OpenAI(base_url=<route>)`: OpenAI, and Azure's v1 API.
    OpenAi,
    /// `openai.AzureOpenAI(azure_endpoint=<route>, api_version=…)`: the
    /// classic deployments API's client.
    AzureOpenAi,
    Anthropic,
    /// `google.genai.Client(http_options=HttpOptions(base_url=<route>))`.
    GoogleGenai,
    /// `boto3.client("bedrock-runtime", endpoint_url=<route>)` with dummy
    /// AWS keys: the gateway signs again with its own.
    Boto3,
}

impl Client {
    fn setup(self) -> &'static str {
        match self {
            Client::OpenAi => {
                r#"
import openai
client = openai.OpenAI(base_url=os.environ["LLMGATE_BASE_URL"], api_key="sk-placeholder", max_retries=0)
"#
            }
            Client::AzureOpenAi => {
                r#"
import openai
client = openai.AzureOpenAI(azure_endpoint=os.environ["LLMGATE_BASE_URL"], api_version="2024-10-21",
                            api_key="placeholder", max_retries=0)
"#
            }
            Client::Anthropic => {
                r#"
import anthropic
client = anthropic.Anthropic(base_url=os.environ["LLMGATE_BASE_URL"], api_key="sk-ant-placeholder", max_retries=0)
"#
            }
            Client::GoogleGenai => {
                r#"
from google import genai
from google.genai import types
client = genai.Client(api_key="placeholder",
                      http_options=types.HttpOptions(base_url=os.environ["LLMGATE_BASE_URL"], api_version="v1beta"))
"#
            }
            Client::Boto3 => {
                r#"
import boto3, botocore.config
client = boto3.client("bedrock-runtime", endpoint_url=os.environ["LLMGATE_BASE_URL"], region_name="us-east-1",
                      aws_access_key_id="AKIAPLACEHOLDER00000", aws_secret_access_key="placeholder",
                      config=botocore.config.Config(retries={"total_max_attempts": 1}))
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
"#
            }
        }
    }
}

// ---------------------------------------------------------------- the calls
//
// Each prints (emit) what the SDK returned: `text`, `tool`, `models`… and,
// for a generation, `usage` as the SDK reported it ({input, output[, total]}).

const OPENAI_CHAT: &str = r#"
r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
emit({"text": r.choices[0].message.content,
      "usage": {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens, "total": r.usage.total_tokens}})
"#;

const OPENAI_CHAT_STREAM: &str = r#"
stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}],
                                        stream=True, stream_options={"include_usage": True})
text, usage = "", None
for chunk in stream:
    # Azure's content-filter chunks have a choice without a delta.
    if chunk.choices and chunk.choices[0].delta:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = {"input": chunk.usage.prompt_tokens, "output": chunk.usage.completion_tokens,
                 "total": chunk.usage.total_tokens}
emit({"text": text, "usage": usage})
"#;

const OPENAI_TOOLS: &str = r#"
weather = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
r = client.chat.completions.create(model="gpt-4o-mini", tools=[weather],
                                   messages=[{"role": "user", "content": "Weather in Paris?"}])
call = r.choices[0].message.tool_calls[0]
emit({"finish_reason": r.choices[0].finish_reason, "tool": call.function.name,
      "arguments": json.loads(call.function.arguments),
      "usage": {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens, "total": r.usage.total_tokens}})
"#;

const OPENAI_EMBEDDINGS: &str = r#"
r = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
emit({"model": r.model, "embeddings": len(r.data), "dimensions": len(r.data[0].embedding),
      "usage": {"input": r.usage.prompt_tokens, "output": 0, "total": r.usage.total_tokens}})
"#;

const OPENAI_RESPONSES: &str = r#"
r = client.responses.create(model="gpt-4o-mini", input="Say hello")
emit({"text": r.output_text,
      "usage": {"input": r.usage.input_tokens, "output": r.usage.output_tokens, "total": r.usage.total_tokens}})
"#;

const OPENAI_RESPONSES_STREAM: &str = r#"
text, usage = "", None
for event in client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True):
    if event.type == "response.output_text.delta":
        text += event.delta
    elif event.type == "response.completed":
        u = event.response.usage
        usage = {"input": u.input_tokens, "output": u.output_tokens, "total": u.total_tokens}
emit({"text": text, "usage": usage})
"#;

const OPENAI_MODELS_LIST: &str = r#"
emit({"models": [m.id for m in client.models.list()]})
"#;

/// An OpenAI call the route's provider has no endpoint for: the SDK's error.
const OPENAI_EMBEDDINGS_REFUSED: &str = r#"
try:
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    emit({"error": None})
except openai.APIStatusError as e:
    emit({"error": type(e).__name__, "status": e.status_code, "code": e.code})
"#;

const OPENAI_RESPONSES_REFUSED: &str = r#"
try:
    client.responses.create(model="gpt-4o-mini", input="Say hello")
    emit({"error": None})
except openai.APIStatusError as e:
    emit({"error": type(e).__name__, "status": e.status_code, "code": e.code})
"#;

const ANTHROPIC_MESSAGE: &str = r#"
m = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}])
emit({"text": m.content[0].text, "usage": {"input": m.usage.input_tokens, "output": m.usage.output_tokens}})
"#;

const ANTHROPIC_STREAM: &str = r#"
with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                            messages=[{"role": "user", "content": "Say hello"}]) as stream:
    text = "".join(stream.text_stream)
    m = stream.get_final_message()
emit({"text": text, "usage": {"input": m.usage.input_tokens, "output": m.usage.output_tokens}})
"#;

const ANTHROPIC_COUNT_TOKENS: &str = r#"
r = client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Say hello"}])
emit({"input_tokens": r.input_tokens})
"#;

/// An Anthropic call the route's provider has no endpoint for: the SDK's error.
const ANTHROPIC_COUNT_TOKENS_REFUSED: &str = r#"
try:
    client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Say hello"}])
    emit({"error": None})
except anthropic.APIStatusError as e:
    emit({"error": type(e).__name__, "status": e.status_code})
"#;

const ANTHROPIC_TOOLS: &str = r#"
weather = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
m = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, tools=[weather],
                           messages=[{"role": "user", "content": "Weather in Paris?"}])
call = [b for b in m.content if b.type == "tool_use"][0]
emit({"stop_reason": m.stop_reason, "tool": call.name, "input": call.input,
      "usage": {"input": m.usage.input_tokens, "output": m.usage.output_tokens}})
"#;

const GEMINI_GENERATE: &str = r#"
r = client.models.generate_content(model="gemini-2.0-flash", contents="Say hello")
u = r.usage_metadata
emit({"text": r.text,
      "usage": {"input": u.prompt_token_count, "output": u.candidates_token_count, "total": u.total_token_count}})
"#;

const GEMINI_STREAM: &str = r#"
text, u = "", None
for chunk in client.models.generate_content_stream(model="gemini-2.0-flash", contents="Say hello"):
    text += chunk.text or ""
    u = chunk.usage_metadata or u
emit({"text": text,
      "usage": {"input": u.prompt_token_count, "output": u.candidates_token_count, "total": u.total_token_count}})
"#;

const GEMINI_COUNT_TOKENS: &str = r#"
r = client.models.count_tokens(model="gemini-2.0-flash", contents="Say hello")
emit({"total_tokens": r.total_tokens})
"#;

const BEDROCK_CONVERSE: &str = r#"
r = client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Say hello"}]}],
                    inferenceConfig={"maxTokens": 64})
u = r["usage"]
emit({"text": r["output"]["message"]["content"][0]["text"], "stop_reason": r["stopReason"],
      "usage": {"input": u["inputTokens"], "output": u["outputTokens"], "total": u["totalTokens"]}})
"#;

const BEDROCK_CONVERSE_STREAM: &str = r#"
r = client.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Say hello"}]}],
                           inferenceConfig={"maxTokens": 64})
text, usage = "", None
for event in r["stream"]:
    if "contentBlockDelta" in event:
        text += event["contentBlockDelta"]["delta"].get("text", "")
    if "metadata" in event:
        u = event["metadata"]["usage"]
        usage = {"input": u["inputTokens"], "output": u["outputTokens"], "total": u["totalTokens"]}
emit({"text": text, "usage": usage})
"#;

// ---------------------------------------------------------------- expectations

/// What a row expects of the SDK's result (every field of `fields` as given)
/// and of the gateway's token counters.
enum Want {
    /// A generation: counted exactly as the SDK's `usage` says.
    Generation(Value),
    /// Forwarded to the provider but not a generation (a token count, the
    /// provider's model list): nothing counted.
    Uncounted(Value),
    /// Answered by the gateway itself (a model list from the Backend, a
    /// refusal): nothing reaches the provider, nothing counted.
    ByGateway(Value),
}

/// The mock calls the first tool offered with placeholder arguments.
fn tool_call() -> Want {
    Want::Generation(json!({
        "finish_reason": "tool_calls", "tool": "get_weather", "arguments": {"city": "llmgate"}}))
}

fn text() -> Want {
    Want::Generation(json!({"text": ASSISTANT_TEXT}))
}

/// `default/<backend>` for a route of the example (`/openai` → `default/openai`).
fn backend_label(route: &str) -> String {
    format!("default{route}")
}

/// The providers example, plus an OpenAI Backend without a `model` (whose
/// model list is the provider's own) on `/openai-unpinned`.
fn manifests() -> String {
    let unpinned = r#"
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: openai-unpinned, namespace: default}
spec:
  type: AI
  ai:
    llm:
      host: 127.0.0.1
      port: $MOCK_PORT
      openai:
        authToken: {kind: SecretRef, secretRef: {name: openai-secret}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: openai-unpinned, namespace: default}
spec:
  parentRefs: [{name: agentgateway, namespace: default}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /openai-unpinned}}]
    backendRefs: [{name: openai-unpinned, namespace: default, group: gateway.kgateway.dev, kind: Backend}]
"#;
    format!("{}{unpinned}", example_manifests("providers"))
}

/// `llmgate_tokens` of the backend by token type, summed over the other
/// labels; absent counts as 0.
fn counted(gateway: &Gateway, backend: &str) -> Value {
    let text = gateway.prometheus();
    let count = |token_type: &str| {
        let labels = [("backend", backend), ("token_type", token_type)];
        sum_samples(&text, "llmgate_tokens", &labels).unwrap_or(0.0) as u64
    };
    json!({"input": count("input"), "output": count("output"), "total": count("total")})
}

/// `llmgate_requests` of the backend, all status classes.
fn requests(gateway: &Gateway, backend: &str) -> f64 {
    sum_samples(
        &gateway.prometheus(),
        "llmgate_requests",
        &[("backend", backend)],
    )
    .unwrap_or(0.0)
}

/// Polls (the filter counts when the stream ends, which may be just after
/// the client has its answer) until `done`, for up to 5 s.
fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check(client: Client, route: &str, call: &str, want: Want) {
    let mock = MockProvider::start_blocking(MockConfig::new(DEFAULT_API_KEY)).expect("mock");
    let gateway = start_gateway(&manifests(), mock.addr().port());
    let base_url = gateway.url(route);
    let script = format!("{}{call}", client.setup());
    let got = sdk::run_json(&script, &[("LLMGATE_BASE_URL", &base_url)]);
    let (Want::Generation(fields) | Want::Uncounted(fields) | Want::ByGateway(fields)) = &want;
    for (name, value) in fields.as_object().expect("fields") {
        assert_eq!(&got[name], value, "{name} of {got:#}");
    }
    let backend = backend_label(route);
    match want {
        Want::Generation(_) => {
            let reported = &got["usage"];
            let mut expected = json!({"input": reported["input"], "output": reported["output"]});
            // Without a total from the SDK (Anthropic), the gateway's is the sum.
            expected["total"] = reported.get("total").cloned().unwrap_or_else(|| {
                json!(
                    reported["input"].as_u64().unwrap_or(0)
                        + reported["output"].as_u64().unwrap_or(0)
                )
            });
            wait_until(|| counted(&gateway, &backend) == expected);
            assert_eq!(
                counted(&gateway, &backend),
                expected,
                "{backend}: counted vs the SDK's usage\n{}",
                gateway.prometheus()
            );
        }
        Want::Uncounted(_) => {
            assert_eq!(mock.requests().len(), 1, "{:#?}", mock.requests());
            // The request is accounted when its stream ends: then its tokens were not.
            wait_until(|| requests(&gateway, &backend) >= 1.0);
            assert_eq!(
                requests(&gateway, &backend),
                1.0,
                "{}",
                gateway.prometheus()
            );
            assert_eq!(
                counted(&gateway, &backend),
                json!({"input": 0, "output": 0, "total": 0}),
                "{}",
                gateway.prometheus()
            );
        }
        Want::ByGateway(_) => {
            assert!(mock.requests().is_empty(), "{:#?}", mock.requests());
            assert_eq!(
                counted(&gateway, &backend),
                json!({"input": 0, "output": 0, "total": 0}),
                "{}",
                gateway.prometheus()
            );
        }
    }
}

// ---------------------------------------------------------------- the table

/// One `#[test]` per row: `name: Client "/route" CALL => want;`.
macro_rules! rows {
    ($($name:ident: $client:ident $route:literal $call:ident => $want:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(Client::$client, $route, $call, $want);
            }
        )*
    };
}

rows! {
    // OpenAI (the example pins the model gpt-4o-mini).
    openai_chat: OpenAi "/openai" OPENAI_CHAT => text();
    openai_chat_stream_with_usage: OpenAi "/openai" OPENAI_CHAT_STREAM => text();
    openai_chat_tool_call: OpenAi "/openai" OPENAI_TOOLS => tool_call();
    openai_embeddings: OpenAi "/openai" OPENAI_EMBEDDINGS => Want::Generation(json!({
        // The Backend's model is for chat: embeddings keep theirs.
        "model": "text-embedding-3-small", "embeddings": 2, "dimensions": 1536}));
    openai_responses: OpenAi "/openai" OPENAI_RESPONSES => text();
    openai_responses_stream: OpenAi "/openai" OPENAI_RESPONSES_STREAM => text();
    openai_models_from_the_backend: OpenAi "/openai" OPENAI_MODELS_LIST => Want::ByGateway(json!({"models": ["gpt-4o-mini"]}));
    openai_models_from_the_provider: OpenAi "/openai-unpinned" OPENAI_MODELS_LIST => Want::Uncounted(json!({"models": OPENAI_MODELS}));

    // Azure OpenAI, the v1 API (deployment gpt-4o-mini).
    azure_v1_chat: OpenAi "/azure-openai-v1" OPENAI_CHAT => text();
    azure_v1_chat_stream_with_usage: OpenAi "/azure-openai-v1" OPENAI_CHAT_STREAM => text();
    azure_v1_models: OpenAi "/azure-openai-v1" OPENAI_MODELS_LIST => Want::ByGateway(json!({"models": ["gpt-4o-mini"]}));
    // The classic client's /openai/deployments/…?api-version=… path is
    // replaced by the Backend's (the v1 API's, without the client's query).
    azure_client_chat: AzureOpenAi "/azure-openai-v1" OPENAI_CHAT => text();
    azure_client_chat_stream_with_usage: AzureOpenAi "/azure-openai-v1" OPENAI_CHAT_STREAM => text();

    // Anthropic.
    anthropic_message: Anthropic "/anthropic" ANTHROPIC_MESSAGE => text();
    anthropic_message_stream: Anthropic "/anthropic" ANTHROPIC_STREAM => text();
    anthropic_count_tokens: Anthropic "/anthropic" ANTHROPIC_COUNT_TOKENS => Want::Uncounted(json!({"input_tokens": 28}));
    // OpenAI chat on the routes of providers with their own API: converted
    // both ways, streams chunk by chunk.
    openai_chat_on_anthropic: OpenAi "/anthropic" OPENAI_CHAT => text();
    openai_chat_stream_on_anthropic: OpenAi "/anthropic" OPENAI_CHAT_STREAM => text();
    openai_chat_on_gemini: OpenAi "/gemini" OPENAI_CHAT => text();
    openai_chat_stream_on_gemini: OpenAi "/gemini" OPENAI_CHAT_STREAM => text();
    openai_chat_on_vertexai: OpenAi "/vertexai" OPENAI_CHAT => text();
    openai_chat_stream_on_vertexai: OpenAi "/vertexai" OPENAI_CHAT_STREAM => text();
    openai_chat_on_bedrock: OpenAi "/bedrock" OPENAI_CHAT => text();
    openai_tool_call_on_anthropic: OpenAi "/anthropic" OPENAI_TOOLS => tool_call();
    openai_tool_call_on_gemini: OpenAi "/gemini" OPENAI_TOOLS => tool_call();
    openai_tool_call_on_bedrock: OpenAi "/bedrock" OPENAI_TOOLS => tool_call();
    openai_models_on_gemini_from_the_backend: OpenAi "/gemini" OPENAI_MODELS_LIST => Want::ByGateway(json!({"models": ["gemini-2.0-flash"]}));
    openai_responses_on_gemini_refused: OpenAi "/gemini" OPENAI_RESPONSES_REFUSED => Want::ByGateway(json!({
        "error": "NotFoundError", "status": 404, "code": "unsupported_route_type"}));
    openai_chat_stream_on_bedrock: OpenAi "/bedrock" OPENAI_CHAT_STREAM => text();
    // Anthropic Messages (the Anthropic SDK, Claude Code) on the routes of
    // providers without a Messages API: converted through OpenAI chat.
    anthropic_message_on_openai: Anthropic "/openai" ANTHROPIC_MESSAGE => text();
    anthropic_message_stream_on_openai: Anthropic "/openai" ANTHROPIC_STREAM => text();
    anthropic_tool_use_on_openai: Anthropic "/openai" ANTHROPIC_TOOLS => Want::Generation(json!({
        "stop_reason": "tool_use", "tool": "get_weather", "input": {"city": "llmgate"}}));
    anthropic_tool_use_on_bedrock: Anthropic "/bedrock" ANTHROPIC_TOOLS => Want::Generation(json!({
        "stop_reason": "tool_use", "tool": "get_weather", "input": {"city": "llmgate"}}));
    anthropic_message_on_azure: Anthropic "/azure-openai-v1" ANTHROPIC_MESSAGE => text();
    anthropic_message_stream_on_azure: Anthropic "/azure-openai-v1" ANTHROPIC_STREAM => text();
    anthropic_message_on_openai_compatible: Anthropic "/deepseek" ANTHROPIC_MESSAGE => text();
    anthropic_message_on_bedrock: Anthropic "/bedrock" ANTHROPIC_MESSAGE => text();
    anthropic_message_stream_on_bedrock: Anthropic "/bedrock" ANTHROPIC_STREAM => text();
    anthropic_message_on_gemini: Anthropic "/gemini" ANTHROPIC_MESSAGE => text();
    anthropic_message_stream_on_gemini: Anthropic "/gemini" ANTHROPIC_STREAM => text();
    anthropic_count_tokens_on_openai_refused: Anthropic "/openai" ANTHROPIC_COUNT_TOKENS_REFUSED => Want::ByGateway(json!({
        "error": "NotFoundError", "status": 404}));
    openai_embeddings_on_anthropic_refused: OpenAi "/anthropic" OPENAI_EMBEDDINGS_REFUSED => Want::ByGateway(json!({
        "error": "NotFoundError", "status": 404, "code": "unsupported_route_type"}));

    // Gemini (model gemini-2.0-flash).
    gemini_generate_content: GoogleGenai "/gemini" GEMINI_GENERATE => text();
    gemini_generate_content_stream: GoogleGenai "/gemini" GEMINI_STREAM => text();
    gemini_count_tokens: GoogleGenai "/gemini" GEMINI_COUNT_TOKENS => Want::Uncounted(json!({"total_tokens": 28}));

    // Bedrock (SigV4 with the example's keys).
    bedrock_converse: Boto3 "/bedrock" BEDROCK_CONVERSE => Want::Generation(json!({"text": ASSISTANT_TEXT, "stop_reason": "end_turn"}));
    bedrock_converse_stream: Boto3 "/bedrock" BEDROCK_CONVERSE_STREAM => text();
}
