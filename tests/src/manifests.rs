//! The Gateway API and kgateway documents the e2e tests write, typed, and
//! rendered to the YAML `llmgate` reads: one place that knows their shape,
//! so a test says only what is particular to it.
//!
//! Values are YAML as written into the document (`2024-10-21`, `"yes"`,
//! `{full: /v1}`), so a test can hand over quoted or flow-style values as is.
//! Ports are text too: the harness's `$GATEWAY_PORT` and `$MOCK_PORT`
//! placeholders ([`GATEWAY_PORT`], [`MOCK_PORT`]) or numbers.

use std::fmt::Display;

/// Replaced by the gateway's port in [`crate::harness::start_gateway`].
pub const GATEWAY_PORT: &str = "$GATEWAY_PORT";
/// Replaced by the mock provider's port in [`crate::harness::start_gateway`].
pub const MOCK_PORT: &str = "$MOCK_PORT";

const GATEWAY_API: &str = "gateway.networking.k8s.io/v1";
const KGATEWAY_API: &str = "gateway.kgateway.dev/v1alpha1";
const KGATEWAY_GROUP: &str = "gateway.kgateway.dev";

/// One YAML document.
pub trait Manifest {
    fn to_yaml(&self) -> String;
}

/// The documents as one multi-document YAML text, in order.
pub fn yaml_stream(documents: &[&dyn Manifest]) -> String {
    documents
        .iter()
        .map(|d| d.to_yaml())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// `{name: n}` or `{name: n, namespace: ns}`, plus `annotations` if any.
fn metadata(name: &str, namespace: Option<&str>, annotations: Option<&str>) -> String {
    let mut out = format!("{{name: {name}");
    if let Some(namespace) = namespace {
        out.push_str(&format!(", namespace: {namespace}"));
    }
    if let Some(annotations) = annotations {
        out.push_str(&format!(", annotations: {annotations}"));
    }
    out.push('}');
    out
}

/// A Gateway of class `llmgate` with one plain-HTTP listener `http`.
#[derive(Clone, Debug)]
pub struct Gateway {
    name: String,
    namespace: Option<String>,
    port: String,
}

impl Gateway {
    /// Gateway `gw` listening for HTTP on `port`.
    pub fn http(port: impl Display) -> Self {
        Gateway {
            name: "gw".into(),
            namespace: None,
            port: port.to_string(),
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
}

impl Manifest for Gateway {
    fn to_yaml(&self) -> String {
        format!(
            "apiVersion: {GATEWAY_API}\nkind: Gateway\nmetadata: {}\nspec:\n  gatewayClassName: llmgate\n  \
             listeners: [{{name: http, protocol: HTTP, port: {}}}]\n",
            metadata(&self.name, self.namespace.as_deref(), None),
            self.port
        )
    }
}

/// Where a provider's key comes from (`authToken`).
#[derive(Clone, Debug)]
pub enum AuthToken {
    /// The key in the manifest.
    Inline(String),
    /// The `Authorization` entry of a Secret in the Backend's namespace.
    SecretRef(String),
    /// The client's own key, forwarded.
    Passthrough,
}

impl AuthToken {
    pub fn inline(key: impl Display) -> Self {
        AuthToken::Inline(key.to_string())
    }

    pub fn secret(name: &str) -> Self {
        AuthToken::SecretRef(name.into())
    }

    fn to_yaml(&self) -> String {
        match self {
            AuthToken::Inline(key) => format!("{{kind: Inline, inline: {key}}}"),
            AuthToken::SecretRef(name) => {
                format!("{{kind: SecretRef, secretRef: {{name: {name}}}}}")
            }
            AuthToken::Passthrough => "{kind: Passthrough}".into(),
        }
    }
}

/// One provider of `spec.ai.llm`: its kind (`azureopenai`, `openai`, …) and
/// its fields, in order.
#[derive(Clone, Debug)]
pub struct Provider {
    kind: String,
    fields: Vec<(String, String)>,
}

impl Provider {
    pub fn new(kind: &str) -> Self {
        Provider {
            kind: kind.into(),
            fields: Vec::new(),
        }
    }

    /// Azure OpenAI: the deployment `deployment` of `endpoint` at `api_version`.
    pub fn azure(endpoint: &str, deployment: &str, api_version: &str, token: AuthToken) -> Self {
        Provider::new("azureopenai")
            .with("endpoint", endpoint)
            .with("deploymentName", deployment)
            .with("apiVersion", api_version)
            .with("authToken", token.to_yaml())
    }

    pub fn openai(token: AuthToken) -> Self {
        Provider::new("openai").with("authToken", token.to_yaml())
    }

    pub fn anthropic(token: AuthToken) -> Self {
        Provider::new("anthropic").with("authToken", token.to_yaml())
    }

    /// Adds `key: value` (`value` as YAML).
    pub fn with(mut self, key: &str, value: impl Display) -> Self {
        self.fields.push((key.into(), value.to_string()));
        self
    }
}

/// A kgateway Backend of type AI with one provider (`spec.ai.llm`) at
/// `host:port`, or with `spec.ai` given as YAML.
#[derive(Clone, Debug)]
pub struct AiBackend {
    name: String,
    namespace: Option<String>,
    annotations: Option<String>,
    ai: Ai,
}

#[derive(Clone, Debug)]
enum Ai {
    Llm {
        host: String,
        port: String,
        /// `spec.ai.llm` fields beside the provider (`path`, `authHeader`).
        fields: Vec<(String, String)>,
        provider: Provider,
    },
    /// The YAML under `ai:`, indented by four spaces.
    Yaml(String),
}

impl AiBackend {
    /// `provider` at the mock provider (`127.0.0.1:$MOCK_PORT`).
    pub fn llm(name: &str, provider: Provider) -> Self {
        AiBackend {
            name: name.into(),
            namespace: None,
            annotations: None,
            ai: Ai::Llm {
                host: "127.0.0.1".into(),
                port: MOCK_PORT.into(),
                fields: Vec::new(),
                provider,
            },
        }
    }

    /// Azure OpenAI at the mock provider.
    pub fn azure(
        name: &str,
        endpoint: &str,
        deployment: &str,
        api_version: &str,
        token: AuthToken,
    ) -> Self {
        AiBackend::llm(
            name,
            Provider::azure(endpoint, deployment, api_version, token),
        )
    }

    /// OpenAI at the mock provider.
    pub fn openai(name: &str, token: AuthToken) -> Self {
        AiBackend::llm(name, Provider::openai(token))
    }

    /// `spec.ai` written out: priority groups, or what the builder has no words for.
    pub fn with_ai_yaml(name: &str, ai: &str) -> Self {
        AiBackend {
            name: name.into(),
            namespace: None,
            annotations: None,
            ai: Ai::Yaml(ai.into()),
        }
    }

    /// The upstream's address instead of the mock provider's.
    pub fn at(mut self, new_host: &str, new_port: impl Display) -> Self {
        if let Ai::Llm { host, port, .. } = &mut self.ai {
            *host = new_host.into();
            *port = new_port.to_string();
        }
        self
    }

    /// Adds `key: value` to `spec.ai.llm`, before the provider.
    pub fn llm_field(mut self, key: &str, value: impl Display) -> Self {
        if let Ai::Llm { fields, .. } = &mut self.ai {
            fields.push((key.into(), value.to_string()));
        }
        self
    }

    /// Adds `key: value` to the provider's own fields.
    pub fn provider_field(mut self, key: &str, value: impl Display) -> Self {
        if let Ai::Llm { provider, .. } = &mut self.ai {
            provider.fields.push((key.into(), value.to_string()));
        }
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// `annotations` as a YAML flow map, e.g. `{llmgate.io/x: "true"}`.
    pub fn annotations(mut self, annotations: &str) -> Self {
        self.annotations = Some(annotations.into());
        self
    }
}

impl Manifest for AiBackend {
    fn to_yaml(&self) -> String {
        let mut out = format!(
            "apiVersion: {KGATEWAY_API}\nkind: Backend\nmetadata: {}\nspec:\n  type: AI\n  ai:\n",
            metadata(
                &self.name,
                self.namespace.as_deref(),
                self.annotations.as_deref()
            )
        );
        match &self.ai {
            Ai::Llm {
                host,
                port,
                fields,
                provider,
            } => {
                out.push_str(&format!(
                    "    llm:\n      host: {host}\n      port: {port}\n"
                ));
                for (key, value) in fields {
                    out.push_str(&format!("      {key}: {value}\n"));
                }
                out.push_str(&format!("      {}:\n", provider.kind));
                for (key, value) in &provider.fields {
                    out.push_str(&format!("        {key}: {value}\n"));
                }
            }
            Ai::Yaml(ai) => {
                out.push_str(ai);
                if !ai.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// An HTTPRoute with one rule: requests under a path prefix go to an AI
/// Backend. Its namespace, when set, is also the parent's and the Backend's.
#[derive(Clone, Debug)]
pub struct HttpRoute {
    name: String,
    namespace: Option<String>,
    parent: String,
    prefix: String,
    backend: String,
}

impl HttpRoute {
    /// Route `name`: `PathPrefix prefix` on Gateway `gw` → Backend `backend`.
    pub fn prefix(name: &str, prefix: &str, backend: &str) -> Self {
        HttpRoute {
            name: name.into(),
            namespace: None,
            parent: "gw".into(),
            prefix: prefix.into(),
            backend: backend.into(),
        }
    }

    /// Attached to Gateway `gateway` instead of `gw`.
    pub fn on(mut self, gateway: &str) -> Self {
        self.parent = gateway.into();
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
}

impl Manifest for HttpRoute {
    fn to_yaml(&self) -> String {
        let namespace = self.namespace.as_deref();
        let backend_ref = match namespace {
            Some(ns) => format!("{{name: {}, namespace: {ns}", self.backend),
            None => format!("{{name: {}", self.backend),
        };
        format!(
            "apiVersion: {GATEWAY_API}\nkind: HTTPRoute\nmetadata: {}\nspec:\n  parentRefs: [{}]\n  rules:\n  \
             - matches: [{{path: {{type: PathPrefix, value: {}}}}}]\n    \
             backendRefs: [{backend_ref}, group: {KGATEWAY_GROUP}, kind: Backend}}]\n",
            metadata(&self.name, namespace, None),
            metadata(&self.parent, namespace, None),
            self.prefix,
        )
    }
}

/// A Secret with `stringData` (plain) or `data` (base64) entries.
#[derive(Clone, Debug)]
pub struct Secret {
    name: String,
    namespace: Option<String>,
    string_data: Vec<(String, String)>,
    data: Vec<(String, String)>,
}

impl Secret {
    pub fn new(name: &str) -> Self {
        Secret {
            name: name.into(),
            namespace: None,
            string_data: Vec::new(),
            data: Vec::new(),
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// A `stringData` entry: the value as is.
    pub fn string(mut self, key: &str, value: impl Display) -> Self {
        self.string_data.push((key.into(), value.to_string()));
        self
    }

    /// A `data` entry: the value base64-encoded already.
    pub fn base64(mut self, key: &str, value: &str) -> Self {
        self.data.push((key.into(), value.into()));
        self
    }
}

impl Manifest for Secret {
    fn to_yaml(&self) -> String {
        let mut out = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {}\ntype: Opaque\n",
            metadata(&self.name, self.namespace.as_deref(), None)
        );
        for (section, entries) in [("stringData", &self.string_data), ("data", &self.data)] {
            if entries.is_empty() {
                continue;
            }
            out.push_str(&format!("{section}:\n"));
            for (key, value) in entries {
                out.push_str(&format!("  {key}: {value}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered documents mean what the hand-written YAML they replace
    /// meant: compared as parsed values, not as text.
    fn parsed(yaml: &str) -> Vec<serde_json::Value> {
        serde_saphyr::from_multiple(yaml).unwrap()
    }

    #[test]
    fn an_ai_route_renders_as_the_documents_written_by_hand() {
        let built = yaml_stream(&[
            &Gateway::http(GATEWAY_PORT),
            &AiBackend::azure(
                "azure",
                "e.openai.azure.com",
                "d",
                "2024-10-21",
                AuthToken::inline("k"),
            )
            .llm_field("path", "{full: /v1}"),
            &HttpRoute::prefix("llm", "/llm", "azure"),
        ]);
        let by_hand = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: llmgate
  listeners: [{name: http, protocol: HTTP, port: $GATEWAY_PORT}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: azure}
spec:
  type: AI
  ai:
    llm:
      host: 127.0.0.1
      port: $MOCK_PORT
      path: {full: /v1}
      azureopenai: {endpoint: e.openai.azure.com, deploymentName: d, apiVersion: 2024-10-21, authToken: {kind: Inline, inline: k}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /llm}}]
    backendRefs: [{name: azure, group: gateway.kgateway.dev, kind: Backend}]
"#;
        assert_eq!(parsed(&built), parsed(by_hand), "{built}");
    }

    #[test]
    fn namespaces_reach_every_reference_and_secrets_keep_their_sections() {
        let built = yaml_stream(&[
            &Gateway::http(8080).named("agw").in_namespace("ai"),
            &Secret::new("s")
                .in_namespace("ai")
                .string("Authorization", "k"),
            &Secret::new("b").base64("Authorization", "aw=="),
            &AiBackend::with_ai_yaml("pg", "    priorityGroups: []")
                .in_namespace("ai")
                .annotations("{a: \"true\"}"),
            &HttpRoute::prefix("r", "/x", "pg")
                .on("agw")
                .in_namespace("ai"),
        ]);
        let docs = parsed(&built);
        assert_eq!(docs.len(), 5, "{built}");
        assert_eq!(docs[0]["metadata"]["namespace"], "ai");
        assert_eq!(docs[0]["spec"]["listeners"][0]["port"], 8080);
        assert_eq!(docs[1]["stringData"]["Authorization"], "k");
        assert_eq!(docs[1].get("data"), None);
        assert_eq!(docs[2]["data"]["Authorization"], "aw==");
        assert_eq!(docs[3]["metadata"]["annotations"]["a"], "true");
        assert_eq!(
            docs[3]["spec"]["ai"]["priorityGroups"],
            serde_json::json!([])
        );
        let route = &docs[4]["spec"];
        assert_eq!(
            route["parentRefs"],
            serde_json::json!([{"name": "agw", "namespace": "ai"}])
        );
        assert_eq!(
            route["rules"][0]["backendRefs"],
            serde_json::json!([{"name": "pg", "namespace": "ai", "group": "gateway.kgateway.dev", "kind": "Backend"}])
        );
    }
}
