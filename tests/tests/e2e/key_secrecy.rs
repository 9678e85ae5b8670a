//! Provider keys reach the provider and nothing else: not Envoy's admin
//! `/config_dump` (with endpoints), not Envoy's log at trace level, not the
//! translator's errors or `llmgate status` — in static (bootstrap) mode and
//! over xDS.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use llmgate_e2e::controller::{eventually, Controller, XdsEnvoy};
use llmgate_e2e::harness::{
    free_port, get, llmgate_binary, start_gateway_logging, translate, try_post, Gateway,
};
use llmgate_e2e::manifests::{
    yaml_stream, AiBackend, Gateway as GatewayDoc, HttpRoute, Manifest, Provider, Secret,
    GATEWAY_PORT,
};
use llmgate_e2e::mock::{MockConfig, MockProvider, RecordedRequest};

/// One provider: its Backend (at its own mock, which accepts only its key),
/// the request a client sends and where the key must arrive.
struct Case {
    name: &'static str,
    key: &'static str,
    /// The key's way into the manifest: in a Secret (`stringData`, or `data`
    /// base64) or inline.
    source: Source,
    provider: fn(token: &str) -> Provider,
    body: &'static str,
    header: &'static str,
    header_value: fn(key: &str) -> String,
}

#[derive(Clone, Copy)]
enum Source {
    SecretString,
    SecretBase64,
    Inline,
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#;

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn bare(key: &str) -> String {
    key.to_owned()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "openai",
            key: "sk-openai-secrecy-7f3a91",
            source: Source::SecretString,
            provider: |token| Provider::new("openai").with("authToken", token),
            body: CHAT,
            header: "authorization",
            header_value: bearer,
        },
        Case {
            name: "azure",
            key: "azure-secrecy-key-2c9d40",
            source: Source::SecretBase64,
            provider: |token| {
                Provider::new("azureopenai")
                    .with("endpoint", "secrecy.openai.azure.com")
                    .with("deploymentName", "gpt-4o-mini")
                    .with("apiVersion", "2024-10-21")
                    .with("authToken", token)
            },
            body: CHAT,
            header: "api-key",
            header_value: bare,
        },
        Case {
            name: "anthropic",
            key: "sk-ant-secrecy-5e1b62",
            source: Source::Inline,
            provider: |token| Provider::new("anthropic").with("authToken", token),
            body: MESSAGES,
            header: "x-api-key",
            header_value: bare,
        },
        Case {
            name: "gemini",
            key: "gemini-secrecy-key-8a4c13",
            source: Source::SecretString,
            provider: |token| {
                Provider::new("gemini")
                    .with("model", "gemini-2.0-flash")
                    .with("apiVersion", "v1beta")
                    .with("authToken", token)
            },
            body: CHAT,
            header: "x-goog-api-key",
            header_value: bare,
        },
        Case {
            name: "vertexai",
            key: "vertex-secrecy-token-3d6f77",
            source: Source::Inline,
            provider: |token| {
                Provider::new("vertexai")
                    .with("model", "gemini-2.5-flash")
                    .with("apiVersion", "v1")
                    .with("projectId", "my-proj")
                    .with("location", "us-central1")
                    .with("publisher", "GOOGLE")
                    .with("authToken", token)
            },
            body: CHAT,
            header: "authorization",
            header_value: bearer,
        },
    ]
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Two priority groups of one Backend, each provider with its own key: a
/// failing OpenAI first, an Anthropic second.
const GROUP_KEYS: [&str; 2] = ["sk-group-primary-41c7e2", "sk-ant-group-backup-9b05d3"];

/// Every case's Secret, Backend (at its mock) and route `/<name>`, plus the
/// priority-group Backend at `/group`.
fn manifests(cases: &[Case], mocks: &[MockProvider], group: &[MockProvider; 2]) -> String {
    let mut documents: Vec<Box<dyn Manifest>> = vec![Box::new(GatewayDoc::http(GATEWAY_PORT))];
    for (case, mock) in cases.iter().zip(mocks) {
        let secret = format!("{}-key", case.name);
        let token = match case.source {
            Source::SecretString => {
                documents.push(Box::new(
                    Secret::new(&secret).string("Authorization", case.key),
                ));
                format!("{{kind: SecretRef, secretRef: {{name: {secret}}}}}")
            }
            Source::SecretBase64 => {
                documents.push(Box::new(
                    Secret::new(&secret).base64("Authorization", &base64(case.key)),
                ));
                format!("{{kind: SecretRef, secretRef: {{name: {secret}}}}}")
            }
            Source::Inline => format!("{{kind: Inline, inline: {}}}", case.key),
        };
        documents.push(Box::new(
            AiBackend::llm(case.name, (case.provider)(&token)).at("127.0.0.1", mock.addr().port()),
        ));
        documents.push(Box::new(HttpRoute::prefix(
            case.name,
            &format!("/{}", case.name),
            case.name,
        )));
    }
    documents.push(Box::new(
        Secret::new("group-primary").string("Authorization", format!("Bearer {}", GROUP_KEYS[0])),
    ));
    let ai = format!(
        r#"    priorityGroups:
    - providers:
      - name: primary
        host: 127.0.0.1
        port: {}
        openai:
          authToken: {{kind: SecretRef, secretRef: {{name: group-primary}}}}
    - providers:
      - name: backup
        host: 127.0.0.1
        port: {}
        anthropic:
          authToken: {{kind: Inline, inline: {}}}
"#,
        group[0].addr().port(),
        group[1].addr().port(),
        GROUP_KEYS[1]
    );
    documents.push(Box::new(AiBackend::with_ai_yaml("group", &ai)));
    documents.push(Box::new(HttpRoute::prefix("group", "/group", "group")));
    let refs: Vec<&dyn Manifest> = documents.iter().map(|d| d.as_ref()).collect();
    yaml_stream(&refs)
}

fn mocks(cases: &[Case]) -> (Vec<MockProvider>, [MockProvider; 2]) {
    let mocks = cases
        .iter()
        .map(|c| MockProvider::start_blocking(MockConfig::new(c.key)).expect("start mock"))
        .collect();
    let primary = MockProvider::start_blocking(MockConfig {
        force_status: Some(503),
        ..MockConfig::new(GROUP_KEYS[0])
    })
    .expect("start mock");
    let backup = MockProvider::start_blocking(MockConfig::new(GROUP_KEYS[1])).expect("mock");
    (mocks, [primary, backup])
}

fn all_keys(cases: &[Case]) -> Vec<&'static str> {
    cases
        .iter()
        .map(|c| c.key)
        .chain(GROUP_KEYS)
        .collect::<Vec<_>>()
}

/// The keys found in `text`, with where (for the failure message).
fn keys_in(text: &str, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|key| {
            text.find(key).map(|at| {
                let from = at.saturating_sub(200);
                let to = (at + key.len() + 200).min(text.len());
                let around = String::from_utf8_lossy(&text.as_bytes()[from..to]);
                format!("{key} in …{around}…")
            })
        })
        .collect()
}

fn assert_no_key(what: &str, text: &str, keys: &[&str]) {
    let found = keys_in(text, keys);
    assert!(found.is_empty(), "{what} shows keys:\n{}", found.join("\n"));
}

/// Each provider's request succeeds and its mock saw its own key where the
/// provider wants it, and nothing but that; the priority group fails over
/// with each attempt carrying its own provider's key.
fn assert_each_provider_got_its_key(
    url: impl Fn(&str) -> String,
    cases: &[Case],
    mocks: &[MockProvider],
    group: &[MockProvider; 2],
    log: impl Fn() -> String,
) {
    for (case, mock) in cases.iter().zip(mocks) {
        let reply = try_post(
            &url(&format!("/{}", case.name)),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer client-token"),
            ],
            case.body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, log()));
        assert_eq!(
            reply.status,
            200,
            "{}: {}\n{}",
            case.name,
            reply.text(),
            log()
        );
        let sent: Vec<RecordedRequest> = mock.requests();
        assert_eq!(sent.len(), 1, "{}", case.name);
        assert_eq!(
            sent[0].headers_named(case.header),
            [(case.header_value)(case.key)],
            "{}",
            case.name
        );
        let others: Vec<&(String, String)> = sent[0]
            .headers
            .iter()
            .filter(|(n, _)| n != case.header && n.starts_with("x-llmgate"))
            .collect();
        assert!(others.is_empty(), "{}: {others:?}", case.name);
        if case.header != "authorization" {
            assert_eq!(sent[0].header("authorization"), None, "{}", case.name);
        }
    }
    let reply = try_post(
        &url("/group"),
        &[("content-type", "application/json")],
        MESSAGES.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("group: {e}\n{}", log()));
    assert_eq!(reply.status, 200, "group: {}\n{}", reply.text(), log());
    let primary = group[0].requests();
    assert_eq!(primary.len(), 1);
    assert_eq!(
        primary[0].headers_named("authorization"),
        [bearer(GROUP_KEYS[0])]
    );
    assert_eq!(primary[0].header("x-api-key"), None);
    let backup = group[1].requests();
    assert_eq!(backup.len(), 1);
    assert_eq!(backup[0].headers_named("x-api-key"), [GROUP_KEYS[1]]);
    assert_eq!(
        backup[0].header("authorization"),
        None,
        "the primary's key leaked"
    );
    for request in primary.iter().chain(&backup) {
        let internal: Vec<&(String, String)> = request
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-llmgate"))
            .collect();
        assert!(internal.is_empty(), "{internal:?}");
    }
}

fn config_dumps(admin: impl Fn(&str) -> String) -> String {
    ["/config_dump", "/config_dump?include_eds"]
        .iter()
        .map(|path| admin(path))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn keys_reach_their_providers_and_stay_out_of_config_dump_and_trace_log() {
    let cases = cases();
    let (mocks, group) = mocks(&cases);
    let keys = all_keys(&cases);
    let gateway: Gateway =
        start_gateway_logging(&manifests(&cases, &mocks, &group), 9, "trace", |b| b);
    let dumps = config_dumps(|path| gateway.admin(path));
    // What is looked for is there: the dump is a real one.
    assert!(dumps.contains("secrecy.openai.azure.com"), "{dumps}");
    assert_no_key("/config_dump", &dumps, &keys);
    assert_each_provider_got_its_key(
        |path| gateway.url(path),
        &cases,
        &mocks,
        &group,
        || gateway.envoy_log(),
    );
    let log = gateway.envoy_log();
    assert!(log.contains("[trace]"), "not a trace log:\n{log}");
    assert_no_key("Envoy's trace log", &log, &keys);
    assert_no_key("llmgate translate", &gateway.translated.stderr, &keys);
    // The bootstrap file holds the keys (Envoy reads them from it): only its
    // owner may read it.
    let mode = std::fs::metadata(&gateway.translated.bootstrap)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

fn write_folder(dir: &Path, manifests: &str, gateway_port: u16) {
    std::fs::write(
        dir.join("manifests.yaml"),
        manifests.replace(GATEWAY_PORT, &gateway_port.to_string()),
    )
    .unwrap();
}

#[test]
fn over_xds_keys_reach_their_providers_and_stay_out_of_config_dump_and_trace_log() {
    let cases = cases();
    let (mocks, group) = mocks(&cases);
    let keys = all_keys(&cases);
    let folder = tempfile::tempdir().unwrap();
    let gateway_port = free_port();
    write_folder(
        folder.path(),
        &manifests(&cases, &mocks, &group),
        gateway_port,
    );
    let controller = Controller::start(folder.path());
    let envoy = XdsEnvoy::start_logging(&controller, "secrecy", "trace");
    let url = |path: &str| format!("http://127.0.0.1:{gateway_port}{path}");
    let stat = |name: &str| -> Option<u64> {
        let (_, text) = get(&format!(
            "http://127.0.0.1:{}/stats?filter=^{name}$",
            envoy.admin_port
        ))
        .ok()?;
        text.split_once(": ")?.1.trim().parse().ok()
    };
    eventually(
        "every cluster is warm and the routes are served",
        Duration::from_secs(20),
        || {
            stat("cluster_manager.warming_clusters") == Some(0)
                && stat("cluster_manager.active_clusters").is_some_and(|n| n >= 6)
                && try_post(&url("/nowhere"), &[], b"").is_ok_and(|r| r.status == 404)
        },
    );
    assert_each_provider_got_its_key(url, &cases, &mocks, &group, || {
        format!("{}\n{}", controller.log(), envoy.log())
    });
    let admin = |path: &str| {
        get(&format!("http://127.0.0.1:{}{path}", envoy.admin_port))
            .map(|(_, body)| body)
            .unwrap()
    };
    let dumps = config_dumps(admin);
    assert!(dumps.contains("secrecy.openai.azure.com"), "{dumps}");
    assert_no_key("/config_dump over xDS", &dumps, &keys);
    let log = envoy.log();
    assert!(log.contains("[trace]"), "not a trace log");
    assert_no_key("Envoy's trace log over xDS", &log, &keys);
    assert_no_key("llmgate serve's log", &controller.log(), &keys);
}

/// A Secret's value and an inline token, each also pasted into a field that
/// takes one of a few words: the error names the field, not the value.
#[test]
fn a_key_in_the_wrong_field_is_not_repeated_by_translate_or_status() {
    const SECRET_VALUE: &str = "sk-misplaced-secret-61e0a4";
    const INLINE_VALUE: &str = "sk-misplaced-inline-c3b8f2";
    let documents = format!(
        r#"{gateway}---
apiVersion: v1
kind: Secret
metadata: {{name: openai-key}}
type: Opaque
stringData:
  Authorization: "Bearer {SECRET_VALUE}"
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: enum-kind}}
spec:
  type: AI
  ai:
    llm:
      openai:
        authToken: {{kind: "{SECRET_VALUE}"}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: enum-type}}
spec:
  type: '{INLINE_VALUE}'
  ai:
    llm:
      openai:
        authToken: {{kind: Inline, inline: {INLINE_VALUE}}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: as-a-field}}
spec:
  type: AI
  ai:
    llm:
      openai:
        authToken: {{kind: Inline, inline: x}}
        {SECRET_VALUE}: 1
"#,
        gateway = GatewayDoc::http(8080).to_yaml()
    );
    let keys = [SECRET_VALUE, INLINE_VALUE];
    let translated = translate(&documents, 19000);
    assert!(!translated.status.success());
    for field in [
        "Backend default/enum-kind: spec.ai.llm.openai.authToken.kind",
        "Backend default/enum-type: spec.type",
        "Backend default/as-a-field: spec.ai.llm.openai",
    ] {
        assert!(
            translated.stderr.contains(field),
            "no error for {field}:\n{}",
            translated.stderr
        );
    }
    assert_no_key("llmgate translate", &translated.stderr, &keys);

    let manifests = translated.dir.path().join("manifests.yaml");
    let status = Command::new(llmgate_binary())
        .args(["status", "-f", &manifests.display().to_string()])
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(out.contains("enum-kind"), "{out}");
    assert_no_key("llmgate status", &out, &keys);
}

/// A Secret's new value reaches the provider over SDS, without restarting
/// Envoy, and the old one is no longer sent.
#[test]
fn over_xds_a_rotated_key_reaches_the_provider_without_a_restart() {
    const OLD: &str = "sk-rotation-old-4a7c21";
    const NEW: &str = "sk-rotation-new-9e3b58";
    let mock = MockProvider::start_blocking(MockConfig::new(NEW)).expect("mock");
    let folder = tempfile::tempdir().unwrap();
    let gateway_port = free_port();
    let write = |key: &str| {
        let documents = yaml_stream(&[
            &GatewayDoc::http(gateway_port),
            &Secret::new("openai-key").string("Authorization", key),
            &AiBackend::llm(
                "openai",
                Provider::new("openai").with(
                    "authToken",
                    "{kind: SecretRef, secretRef: {name: openai-key}}",
                ),
            )
            .at("127.0.0.1", mock.addr().port()),
            &HttpRoute::prefix("openai", "/openai", "openai"),
        ]);
        // Written beside and renamed, as editors do.
        let tmp = folder.path().join("manifests.yaml.tmp");
        std::fs::write(&tmp, documents).unwrap();
        std::fs::rename(tmp, folder.path().join("manifests.yaml")).unwrap();
    };
    write(OLD);
    let controller = Controller::start(folder.path());
    let mut envoy = XdsEnvoy::start(&controller, "rotation");
    let url = format!("http://127.0.0.1:{gateway_port}/openai");
    let status = || {
        try_post(
            &url,
            &[("content-type", "application/json")],
            CHAT.as_bytes(),
        )
        .map_or(0, |r| r.status)
    };
    // The mock only knows the new key.
    eventually("the old key is served", Duration::from_secs(20), || {
        status() == 401
    });
    assert_eq!(
        mock.requests()[0].headers_named("authorization"),
        [bearer(OLD)]
    );
    write(NEW);
    eventually("the new key is served", Duration::from_secs(20), || {
        status() == 200
    });
    assert!(envoy.is_running(), "Envoy restarted");
    let last = mock.requests().pop().unwrap();
    assert_eq!(last.headers_named("authorization"), [bearer(NEW)]);
}
