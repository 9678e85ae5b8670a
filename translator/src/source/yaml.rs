//! Folder-of-YAML source: files or folders of multi-document YAML manifests.
//!
//! Each document is parsed on its own, so one broken document (bad syntax,
//! unknown field, wrong type) is reported and skipped while the rest are kept.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{Object, Snapshot};
use crate::problem::{ObjectRef, Origin, Problem};

const DEFAULT_NAMESPACE: &str = "default";

/// Reads every `.yaml`/`.yml`/`.json` file under `paths` (folders recursively,
/// in name order so the result is stable). What cannot be read is reported
/// and skipped, never fatal to the rest: an unreadable file or subfolder, a
/// FIFO, socket or device (reading one could block forever), a symlink loop.
/// Objects defined twice are errors at both places and neither is used, so
/// the result does not depend on which one was read first.
pub fn load_paths(paths: &[PathBuf]) -> (Snapshot, Vec<Problem>) {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    let files = super::files::manifest_files(paths, &mut problems);
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => load_str(&file, &text, &mut snapshot, &mut problems),
            Err(e) => problems.push(Problem::error(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }
    drop_duplicates(&mut snapshot, &mut problems);
    // A key in one file may be repeated by an error about another.
    crate::redact::Redactor::of_snapshot(&snapshot).problems(&mut problems);
    (snapshot, problems)
}

/// Parses one file's text into `snapshot`, reporting problems per document.
pub fn load_str(file: &Path, text: &str, snapshot: &mut Snapshot, problems: &mut Vec<Problem>) {
    for (line, doc) in split_documents(text) {
        let origin = Origin {
            file: file.to_path_buf(),
            line,
        };
        load_document(&origin, doc, snapshot, problems);
    }
}

/// Splits a YAML stream at `---` lines. Returns each document with the
/// 1-based line number of its first line.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        let is_separator = trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "...";
        if is_separator {
            docs.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = index + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs.retain(|(_, doc)| !is_blank_document(doc));
    docs
}

fn is_blank_document(doc: &str) -> bool {
    doc.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

fn load_document(origin: &Origin, doc: &str, snapshot: &mut Snapshot, problems: &mut Vec<Problem>) {
    let value: serde_json::Value = match crate::yaml::from_str(doc) {
        Ok(v) => v,
        Err(e) => {
            let at = Origin {
                file: origin.file.clone(),
                line: origin.line + e.line.unwrap_or(1) - 1,
            };
            problems.push(Problem::error(format!("YAML syntax error: {}", e.message)).at(&at));
            return;
        }
    };
    if value.is_null() {
        return;
    }
    snapshot
        .sensitive
        .extend(crate::redact::sensitive_values(&value));
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let metadata = value.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(|v| v.as_str())
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_string();

    if kind.is_empty() || api_version.is_empty() {
        problems.push(
            Problem::error("not a Kubernetes object: `apiVersion` and `kind` are required")
                .at(origin),
        );
        return;
    }
    let object = ObjectRef::new(&kind, &namespace, &name);
    if name.is_empty() {
        problems.push(
            Problem::error("missing required field")
                .at(origin)
                .object(object)
                .field("metadata.name"),
        );
        return;
    }

    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let ctx = DocContext {
        origin,
        namespace,
        name,
        object,
    };
    match (group, kind.as_str()) {
        ("", "Secret") => ctx.push(
            value,
            (
                &mut snapshot.secrets,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("", "ConfigMap") => ctx.push(
            value,
            (
                &mut snapshot.config_maps,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("", "Service") => ctx.push(
            value,
            (
                &mut snapshot.services,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("", "Namespace") => ctx.push(
            value,
            (
                &mut snapshot.namespaces,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("discovery.k8s.io", "EndpointSlice") => ctx.push(
            value,
            (
                &mut snapshot.endpoint_slices,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        // v1beta1 and v1 have the same shape.
        ("gateway.networking.k8s.io", "ReferenceGrant") => ctx.push(
            value,
            (
                &mut snapshot.reference_grants,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        // v1alpha3 and v1 have the same shape.
        ("gateway.networking.k8s.io", "BackendTLSPolicy") => ctx.push(
            value,
            (
                &mut snapshot.backend_tls_policies,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("gateway.networking.k8s.io", "GatewayClass") => ctx.push(
            value,
            (
                &mut snapshot.gateway_classes,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("gateway.networking.k8s.io", "Gateway") => ctx.push(
            value,
            (
                &mut snapshot.gateways,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("gateway.networking.k8s.io", "HTTPRoute") => ctx.push(
            value,
            (
                &mut snapshot.http_routes,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("gateway.kgateway.dev", "Backend") => ctx.push(
            value,
            (
                &mut snapshot.backends,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        ("gateway.kgateway.dev", "TrafficPolicy") => ctx.push(
            value,
            (
                &mut snapshot.traffic_policies,
                &mut snapshot.seen,
                &mut snapshot.duplicates,
            ),
            problems,
        ),
        _ => problems.push(
            Problem::warning(format!(
                "ignored: llmgate does not handle {api_version} {kind}"
            ))
            .at(origin)
            .object(ctx.object),
        ),
    }
}

type Seen = std::collections::HashMap<(String, String, String), Origin>;
type Duplicates = std::collections::HashMap<(String, String, String), Vec<Origin>>;

/// Leaves out every object defined more than once, with an error at its
/// first definition too (the later ones were reported as they were read).
pub fn drop_duplicates(snapshot: &mut Snapshot, problems: &mut Vec<Problem>) {
    let duplicates = std::mem::take(&mut snapshot.duplicates);
    if duplicates.is_empty() {
        return;
    }
    for (key, later) in &duplicates {
        let (kind, namespace, name) = key;
        let Some(first) = snapshot.seen.get(key) else {
            continue;
        };
        let others: Vec<String> = later.iter().map(ToString::to_string).collect();
        problems.push(
            Problem::error(format!(
                "duplicate object, also at {}; neither is used",
                others.join(", ")
            ))
            .at(first)
            .object(ObjectRef::new(kind, namespace, name)),
        );
    }
    fn retain<T>(kind: &str, objects: &mut Vec<Object<T>>, duplicates: &Duplicates) {
        objects.retain(|o| {
            !duplicates.contains_key(&(kind.to_string(), o.namespace.clone(), o.name.clone()))
        });
    }
    let s = snapshot;
    retain("Secret", &mut s.secrets, &duplicates);
    retain("ConfigMap", &mut s.config_maps, &duplicates);
    retain("Service", &mut s.services, &duplicates);
    retain("Namespace", &mut s.namespaces, &duplicates);
    retain("EndpointSlice", &mut s.endpoint_slices, &duplicates);
    retain("ReferenceGrant", &mut s.reference_grants, &duplicates);
    retain("BackendTLSPolicy", &mut s.backend_tls_policies, &duplicates);
    retain("GatewayClass", &mut s.gateway_classes, &duplicates);
    retain("Gateway", &mut s.gateways, &duplicates);
    retain("HTTPRoute", &mut s.http_routes, &duplicates);
    retain("Backend", &mut s.backends, &duplicates);
    retain("TrafficPolicy", &mut s.traffic_policies, &duplicates);
}

struct DocContext<'a> {
    origin: &'a Origin,
    namespace: String,
    name: String,
    object: ObjectRef,
}

impl DocContext<'_> {
    fn push<T: DeserializeOwned>(
        self,
        value: serde_json::Value,
        (into, seen, duplicates): (&mut Vec<Object<T>>, &mut Seen, &mut Duplicates),
        problems: &mut Vec<Problem>,
    ) {
        let key = (
            self.object.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        );
        if let Some(first) = seen.get(&key) {
            problems.push(
                Problem::error(format!(
                    "duplicate object, also at {first}; neither is used"
                ))
                .at(self.origin)
                .object(self.object),
            );
            duplicates.entry(key).or_default().push(self.origin.clone());
            return;
        }
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(typed) => {
                seen.insert(key, self.origin.clone());
                into.push(Object {
                    origin: self.origin.clone(),
                    namespace: self.namespace,
                    name: self.name,
                    value: typed,
                })
            }
            Err(e) => {
                let field = e.path().to_string();
                let message = redact_quoted(&e.into_inner().to_string());
                problems.push(
                    Problem::error(message)
                        .at(self.origin)
                        .object(self.object)
                        .field(field),
                );
            }
        }
    }
}

/// serde quotes offending values in its messages ("invalid type: string "…"",
/// "unknown variant `…`"); a value in the wrong place may be an API key, so
/// it is never repeated. (Field names it quotes stay: they say what to fix;
/// [`crate::redact`] still removes a known key from them.)
pub(crate) fn redact_quoted(message: &str) -> String {
    let message = &redact_unknown_variant(message);
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    for c in message.chars() {
        if c == '"' {
            if in_quote {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

/// "unknown variant `<value>`, expected …" → "unknown variant `…`, expected …".
fn redact_unknown_variant(message: &str) -> String {
    const LEAD: &str = "unknown variant `";
    let Some(start) = message.find(LEAD).map(|at| at + LEAD.len()) else {
        return message.to_owned();
    };
    // The value may itself hold a backtick: the quote ends at the last one
    // before ", expected" (or the end).
    let tail = message.get(start..).unwrap_or_default();
    let end = tail
        .find("`, expected")
        .or_else(|| tail.rfind('`'))
        .unwrap_or(tail.len());
    format!(
        "{}…{}",
        message.get(..start).unwrap_or_default(),
        tail.get(end..).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_never_repeats_the_value_it_read() {
        let cases = [
            (
                "unknown variant `sk-abc`, expected one of `Inline`, `SecretRef`",
                "unknown variant `…`, expected one of `Inline`, `SecretRef`",
            ),
            (
                "unknown variant `sk`tick`, expected `AI`",
                "unknown variant `…`, expected `AI`",
            ),
            ("unknown variant `sk-abc`", "unknown variant `…`"),
            (
                "invalid type: string \"sk-abc\", expected u16",
                "invalid type: string \"…\", expected u16",
            ),
            (
                "unknown field `colour`, expected `a`",
                "unknown field `colour`, expected `a`",
            ),
        ];
        for (message, want) in cases {
            assert_eq!(redact_quoted(message), want, "{message}");
        }
    }

    fn load(text: &str) -> (Snapshot, Vec<String>) {
        let mut snapshot = Snapshot::default();
        let mut problems = Vec::new();
        load_str(Path::new("m.yaml"), text, &mut snapshot, &mut problems);
        (snapshot, problems.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn splits_documents_and_keeps_line_numbers() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- \n\n---\n# only a comment\n---\nc: 3\n");
        assert_eq!(docs, vec![(1, "a: 1\n"), (3, "b: 2\n"), (9, "c: 3\n")]);
    }

    #[test]
    fn reports_problems_per_document_and_keeps_the_valid_ones() {
        let cases: &[(&str, &str)] = &[
            (
                "kind: Secret\napiVersion: v1\nmetadata: {name: a\n",
                "error: m.yaml:3: YAML syntax error: unclosed bracket '{'",
            ),
            (
                "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: b, namespace: ns}\nspec:\n  type: AI\n  ai:\n    llm:\n      azureopenai: {endpoint: e, deploymentName: d, apiVersion: v, authToken: {kind: Passthrough}, colour: red}\n",
                "error: m.yaml:1: Backend ns/b: spec.ai.llm.azureopenai.colour: unknown field `colour`",
            ),
            (
                "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: b}\nspec:\n  type: AI\n  ai:\n    llm:\n      azureopenai: {endpoint: e, apiVersion: v, authToken: {kind: Passthrough}}\n",
                "error: m.yaml:1: Backend default/b: spec.ai.llm.azureopenai: missing field `deploymentName`",
            ),
            (
                "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: b}\nspec:\n  type: AI\n  ai:\n    llm:\n      cohere: {authToken: {kind: Passthrough}}\n",
                "error: m.yaml:1: Backend default/b: spec.ai.llm.cohere: unknown field `cohere`, expected one of `openai`, `azureopenai`",
            ),
            (
                "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: b}\nspec:\n  type: AI\n  ai:\n    llm:\n      openai: {authToken: {kind: Inline, inline: [sk-oops]}}\n",
                "error: m.yaml:1: Backend default/b: spec.ai.llm.openai.authToken.inline: invalid type: sequence, expected a string",
            ),
            ("apiVersion: v1\nkind: Secret\nmetadata: {namespace: x}\n", "error: m.yaml:1: Secret x/: metadata.name: missing required field"),
            ("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n", "warning: m.yaml:1: Pod default/c: ignored"),
            ("just text\n", "error: m.yaml:1: not a Kubernetes object"),
        ];
        let valid =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: ok}\nstringData: {Authorization: k}\n";
        for (doc, expected) in cases {
            let (snapshot, problems) = load(&format!("{doc}---\n{valid}"));
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert!(
                problems[0].starts_with(expected),
                "{doc}:\n got {}\nwant {expected}",
                problems[0]
            );
            assert_eq!(
                snapshot.secrets.iter().filter(|s| s.name == "ok").count(),
                1,
                "{doc}: valid Secret lost"
            );
        }
    }

    #[test]
    fn never_repeats_a_misplaced_value() {
        let (_, problems) = load(
            "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {name: b}\nspec:\n  type: AI\n  ai:\n    llm:\n      openai: {authToken: {kind: Inline, inline: x}}\n      port: sk-live-123\n",
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("spec.ai.llm.port"), "{}", problems[0]);
        assert!(!problems[0].contains("sk-live-123"), "{}", problems[0]);
    }

    #[test]
    fn date_like_api_versions_stay_strings() {
        for version in ["2024-02-15-preview", "2024-10-21", "v1", "preview"] {
            let (snapshot, problems) = load(&format!(
                "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: {{name: b}}\nspec:\n  type: AI\n  ai:\n    llm:\n      azureopenai:\n        endpoint: e\n        deploymentName: d\n        apiVersion: {version}\n        authToken: {{kind: Passthrough}}\n"
            ));
            assert!(problems.is_empty(), "{problems:?}");
            let spec = &snapshot.backends[0].value.spec;
            let azure = spec
                .ai
                .as_ref()
                .unwrap()
                .llm
                .as_ref()
                .unwrap()
                .azureopenai
                .as_ref()
                .unwrap();
            assert_eq!(azure.api_version, version);
        }
    }

    #[test]
    fn duplicates_are_errors_at_both_places_and_neither_is_used() {
        let doc = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {Authorization: first}\n";
        let other =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData: {Authorization: t}\n";
        let text = format!("{doc}---\n{}---\n{other}", doc.replace("first", "second"));
        let mut snapshot = Snapshot::default();
        let mut problems = Vec::new();
        load_str(Path::new("m.yaml"), &text, &mut snapshot, &mut problems);
        drop_duplicates(&mut snapshot, &mut problems);
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let names: Vec<&str> = snapshot.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["t"]);
        assert_eq!(
            problems,
            [
                "error: m.yaml:6: Secret default/s: duplicate object, also at m.yaml:1; neither is used",
                "error: m.yaml:1: Secret default/s: duplicate object, also at m.yaml:6; neither is used",
            ]
        );
    }
}
