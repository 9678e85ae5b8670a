//! How the gateway verifies an AI Backend's TLS certificate.
//!
//! By default a Backend on port 443 is reached over TLS, verified against the
//! system CA bundle (`--ca-bundle`) with SNI and an exact DNS SAN equal to the
//! host. A Gateway API `BackendTLSPolicy` whose `targetRefs` name the Backend
//! (`group: gateway.kgateway.dev, kind: Backend`) replaces that: TLS on any
//! port, its `validation.hostname` as SNI and expected name, its CA
//! (ConfigMaps' `ca.crt`, or `wellKnownCACertificates: System`) and its
//! `subjectAltNames`. A `sectionName` selects one named provider of a
//! Backend's priority groups; a policy without it covers the whole Backend.
//!
//! Whatever a policy cannot resolve (a missing ConfigMap, an invalid field)
//! makes the Backend unavailable — its routes answer 500 — rather than
//! silently connecting with weaker verification than the policy asks for.
//! The policy's own status says so too (`backend_tls_status`).
//!
//! Not part of BackendTLSPolicy: the Backend annotation
//! `llmgate.io/insecure-skip-tls-verify: "true"` connects over TLS without
//! verifying the certificate at all. Meant for tests against self-signed
//! servers, it is reported as a warning on every translation.

use crate::validate;
use gateway_api::backendtlspolicies::{
    BackendTlsPolicy, BackendTlsPolicyValidation, BackendTlsPolicyValidationSubjectAltNamesType,
};

use crate::backend::Backend;
use crate::problem::{Problem, Unavailable};
use crate::source::{Object, Snapshot};
use crate::status::reason;

use super::BACKEND_GROUP;

pub const SKIP_VERIFY_ANNOTATION: &str = "llmgate.io/insecure-skip-tls-verify";
/// The ConfigMap key that holds the PEM CA certificates (Gateway API).
pub const CA_CERTIFICATE_KEY: &str = "ca.crt";
const PEM_CERTIFICATE_MARKER: &str = "-----BEGIN CERTIFICATE-----";

pub use crate::ir::{SubjectAltName, TrustedCa, UpstreamTls, Validation};

/// TLS for one provider connection, plus warnings to report even though it
/// is served (disabled verification, conflicting policies).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOutcome {
    pub tls: Option<UpstreamTls>,
    pub warnings: Vec<Problem>,
}

/// `host`: the host connected to, the default SNI and expected name.
/// `section_name`: the priority-group provider's `name`, `None` for `spec.ai.llm`.
pub fn upstream_tls(
    backend: &Object<Backend>,
    section_name: Option<&str>,
    host: &str,
    port: u16,
    snapshot: &Snapshot,
) -> Result<TlsOutcome, Unavailable> {
    let mut warnings = Vec::new();
    let policy = applied_policy(backend, section_name, snapshot, &mut warnings);
    let skip_verify = skip_verify(backend, &mut warnings);
    let tls = match (policy, skip_verify) {
        (Some(policy), false) => Some(UpstreamTls {
            server_name: policy_hostname(policy)?,
            validation: Some(validation(policy, snapshot)?),
        }),
        (Some(policy), true) => Some(UpstreamTls {
            server_name: policy_hostname(policy)?,
            validation: None,
        }),
        (None, true) => Some(UpstreamTls {
            server_name: host.to_string(),
            validation: None,
        }),
        // kgateway's rule, kept for compatibility: TLS exactly when the port is 443.
        (None, false) if port == 443 => Some(UpstreamTls {
            server_name: host.to_string(),
            validation: Some(Validation {
                trusted_ca: TrustedCa::System,
                subject_alt_names: vec![SubjectAltName::Dns(host.to_string())],
            }),
        }),
        (None, false) => None,
    };
    if skip_verify {
        warnings.push(
            Problem::warning(format!(
                "certificate verification is DISABLED by the annotation \
                 {SKIP_VERIFY_ANNOTATION}: anyone on the network path can \
                 impersonate the provider and read requests and credentials; outside of \
                 tests, use a BackendTLSPolicy instead"
            ))
            .at(&backend.origin)
            .object(backend.object_ref("Backend"))
            .field(format!("metadata.annotations[{SKIP_VERIFY_ANNOTATION}]")),
        );
    }
    Ok(TlsOutcome { tls, warnings })
}

fn skip_verify(backend: &Object<Backend>, warnings: &mut Vec<Problem>) -> bool {
    let value = backend
        .value
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SKIP_VERIFY_ANNOTATION));
    match value.map(|v| v.trim()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            warnings.push(
                Problem::warning("must be \"true\" or \"false\"; certificates are verified")
                    .at(&backend.origin)
                    .object(backend.object_ref("Backend"))
                    .field(format!("metadata.annotations[{SKIP_VERIFY_ANNOTATION}]")),
            );
            false
        }
    }
}

/// Whether one of a policy's targetRefs names this Backend (and section).
pub(super) fn targets(
    policy: &Object<BackendTlsPolicy>,
    backend: &Object<Backend>,
    section_name: Option<&str>,
) -> bool {
    policy.namespace == backend.namespace
        && policy.value.spec.target_refs.iter().any(|r| {
            r.group == BACKEND_GROUP
                && r.kind == "Backend"
                && r.name == backend.name
                && r.section_name.as_deref() == section_name
        })
}

/// The policy for this Backend (section): one naming the section beats one
/// for the whole Backend; among equals the oldest, then the first by name,
/// wins (the Gateway API's conflict rule). The others are reported.
fn applied_policy<'a>(
    backend: &Object<Backend>,
    section_name: Option<&str>,
    snapshot: &'a Snapshot,
    warnings: &mut Vec<Problem>,
) -> Option<&'a Object<BackendTlsPolicy>> {
    let candidates = |section: Option<&str>| {
        let mut found: Vec<&'a Object<BackendTlsPolicy>> = snapshot
            .backend_tls_policies
            .iter()
            .filter(|p| targets(p, backend, section))
            .collect();
        found.sort_by(|a, b| precedence(a).cmp(&precedence(b)));
        found
    };
    let mut found = section_name
        .map(|s| candidates(Some(s)))
        .unwrap_or_default();
    found.extend(candidates(None));
    let (winner, losers) = found.split_first()?;
    for loser in losers {
        warnings.push(
            Problem::warning(format!(
                "not applied to Backend {}/{}: BackendTLSPolicy {}/{} applies to it",
                backend.namespace, backend.name, winner.namespace, winner.name
            ))
            .at(&loser.origin)
            .object(loser.object_ref("BackendTLSPolicy"))
            .field("spec.targetRefs"),
        );
    }
    Some(*winner)
}

/// The Gateway API's order among policies for one target: the oldest first,
/// then by name (policies and their targets share a namespace).
pub(super) fn precedence(policy: &Object<BackendTlsPolicy>) -> impl Ord + '_ {
    let created = policy
        .value
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0);
    (created, policy.name.as_str())
}

fn policy_problem(policy: &Object<BackendTlsPolicy>, problem: Problem, field: &str) -> Unavailable {
    Box::new(
        problem
            .at(&policy.origin)
            .object(policy.object_ref("BackendTLSPolicy"))
            .field(field),
    )
}

fn policy_hostname(policy: &Object<BackendTlsPolicy>) -> Result<String, Unavailable> {
    let hostname = policy.value.spec.validation.hostname.trim();
    if hostname.is_empty() {
        return Err(policy_problem(
            policy,
            Problem::error("required; routes to the Backends it targets answer 500"),
            "spec.validation.hostname",
        ));
    }
    // Envoy would refuse the cluster's SNI (and the whole cluster update).
    if let Err(why) = validate::hostname::check(hostname, false) {
        return Err(policy_problem(
            policy,
            Problem::error(format!(
                "{why}; routes to the Backends it targets answer 500"
            )),
            "spec.validation.hostname",
        ));
    }
    Ok(hostname.to_string())
}

fn validation(
    policy: &Object<BackendTlsPolicy>,
    snapshot: &Snapshot,
) -> Result<Validation, Unavailable> {
    let checked = checked_spec(policy)?;
    let trusted_ca = match checked.ca {
        CaSource::System => TrustedCa::System,
        CaSource::ConfigMaps => TrustedCa::Pem(ca_certificates(policy, snapshot)?),
    };
    let mut subject_alt_names = checked.subject_alt_names;
    if subject_alt_names.is_empty() {
        subject_alt_names.push(SubjectAltName::Dns(checked.hostname));
    }
    Ok(Validation {
        trusted_ca,
        subject_alt_names,
    })
}

/// Where a policy takes its trusted CAs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaSource {
    System,
    ConfigMaps,
}

/// A policy's `validation` as far as it can be checked without the objects
/// it refers to.
pub(super) struct CheckedSpec {
    hostname: String,
    pub(super) ca: CaSource,
    /// Empty: the hostname is the expected name.
    subject_alt_names: Vec<SubjectAltName>,
}

/// The policy's own mistakes (an error: the policy is invalid), whatever it
/// targets and whatever its ConfigMaps hold.
pub(super) fn checked_spec(policy: &Object<BackendTlsPolicy>) -> Result<CheckedSpec, Unavailable> {
    let hostname = policy_hostname(policy)?;
    let spec: &BackendTlsPolicyValidation = &policy.value.spec.validation;
    let invalid = |field: &str, message: &str| {
        policy_problem(
            policy,
            Problem::error(format!(
                "{message}; routes to the Backends it targets answer 500"
            )),
            field,
        )
    };
    let refs = spec.ca_certificate_refs.as_deref().unwrap_or_default();
    let ca = match (refs.is_empty(), spec.well_known_ca_certificates.as_deref()) {
        (false, Some(_)) => {
            return Err(invalid(
                "spec.validation",
                "set caCertificateRefs or wellKnownCACertificates, not both",
            ))
        }
        (true, None) => {
            return Err(invalid(
                "spec.validation",
                "one of caCertificateRefs, wellKnownCACertificates is required",
            ))
        }
        (true, Some("System")) => CaSource::System,
        (true, Some(_)) => {
            return Err(invalid(
                "spec.validation.wellKnownCACertificates",
                "only System is supported",
            ))
        }
        (false, None) => CaSource::ConfigMaps,
    };
    let mut subject_alt_names = Vec::new();
    for (i, san) in spec.subject_alt_names.iter().flatten().enumerate() {
        let field = format!("spec.validation.subjectAltNames[{i}]");
        let (value, name, type_) = match san.r#type {
            BackendTlsPolicyValidationSubjectAltNamesType::Hostname => {
                (&san.hostname, "hostname", "Hostname")
            }
            BackendTlsPolicyValidationSubjectAltNamesType::Uri => (&san.uri, "uri", "URI"),
        };
        let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            return Err(invalid(
                &format!("{field}.{name}"),
                &format!("required when type is {type_}"),
            ));
        };
        subject_alt_names.push(match san.r#type {
            BackendTlsPolicyValidationSubjectAltNamesType::Hostname => {
                SubjectAltName::Dns(value.to_string())
            }
            BackendTlsPolicyValidationSubjectAltNamesType::Uri => {
                SubjectAltName::Uri(value.to_string())
            }
        });
    }
    Ok(CheckedSpec {
        hostname,
        ca,
        subject_alt_names,
    })
}

/// Every referenced ConfigMap's `ca.crt`, concatenated; the first ref that
/// does not resolve makes the Backend unavailable.
fn ca_certificates(
    policy: &Object<BackendTlsPolicy>,
    snapshot: &Snapshot,
) -> Result<String, Unavailable> {
    let resolved = resolve_ca_refs(policy, snapshot);
    match resolved.issues.into_iter().next() {
        None => Ok(resolved.pem),
        Some(issue) => Err(policy_problem(
            policy,
            Problem::warning(format!(
                "{}; routes to the Backends it targets answer 500",
                issue.message
            )),
            &issue.field(),
        )),
    }
}

/// A caCertificateRef that does not resolve, and the Gateway API's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CaRefIssue {
    pub(super) index: usize,
    /// `InvalidKind` or `InvalidCACertificateRef`.
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl CaRefIssue {
    pub(super) fn field(&self) -> String {
        format!("spec.validation.caCertificateRefs[{}]", self.index)
    }
}

pub(super) struct ResolvedCaRefs {
    pub(super) pem: String,
    pub(super) refs: usize,
    pub(super) issues: Vec<CaRefIssue>,
}

/// Every caCertificateRef, resolved: the PEM of those that resolve and why
/// the others do not. Checked for a PEM certificate here: Envoy would reject
/// the whole cluster update otherwise.
pub(super) fn resolve_ca_refs(
    policy: &Object<BackendTlsPolicy>,
    snapshot: &Snapshot,
) -> ResolvedCaRefs {
    let mut out = ResolvedCaRefs {
        pem: String::new(),
        refs: 0,
        issues: Vec::new(),
    };
    let refs = policy
        .value
        .spec
        .validation
        .ca_certificate_refs
        .iter()
        .flatten();
    for (index, r) in refs.enumerate() {
        out.refs += 1;
        let mut issue = |reason, message| {
            out.issues.push(CaRefIssue {
                index,
                reason,
                message,
            })
        };
        if !matches!(r.group.as_str(), "" | "core") || r.kind != "ConfigMap" {
            issue(
                reason::INVALID_KIND,
                format!(
                    "{} {} is not supported: only ConfigMaps (group \"\") hold CA certificates",
                    if r.group.is_empty() { "core" } else { &r.group },
                    r.kind
                ),
            );
            continue;
        }
        let Some(config_map) = snapshot.config_map(&policy.namespace, &r.name) else {
            issue(
                reason::INVALID_CA_CERTIFICATE_REF,
                format!("ConfigMap {}/{} not found", policy.namespace, r.name),
            );
            continue;
        };
        let value = config_map
            .value
            .data
            .as_ref()
            .and_then(|d| d.get(CA_CERTIFICATE_KEY))
            .map(|v| v.trim())
            .unwrap_or_default();
        if !value.contains(PEM_CERTIFICATE_MARKER) {
            issue(
                reason::INVALID_CA_CERTIFICATE_REF,
                format!(
                    "ConfigMap {}/{} has no PEM certificate in key `{CA_CERTIFICATE_KEY}`",
                    policy.namespace, r.name
                ),
            );
            continue;
        }
        if let Err(why) = validate::tls::ca_bundle(value) {
            issue(
                reason::INVALID_CA_CERTIFICATE_REF,
                format!("ConfigMap {}/{}: {why}", policy.namespace, r.name),
            );
            continue;
        }
        out.pem.push_str(value);
        out.pem.push('\n');
    }
    out
}

/// Problems of the policies themselves that no Backend resolution reports:
/// targets llmgate does not serve, Backends or sections that do not exist.
pub fn policy_problems(snapshot: &Snapshot) -> Vec<Problem> {
    let mut problems = Vec::new();
    for policy in &snapshot.backend_tls_policies {
        for (i, r) in policy.value.spec.target_refs.iter().enumerate() {
            let problem = |message: String| {
                Problem::warning(message)
                    .at(&policy.origin)
                    .object(policy.object_ref("BackendTLSPolicy"))
                    .field(format!("spec.targetRefs[{i}]"))
            };
            if r.group != BACKEND_GROUP || r.kind != "Backend" {
                let group = if r.group.is_empty() { "core" } else { &r.group };
                problems.push(problem(format!(
                    "ignored: llmgate applies BackendTLSPolicy to {BACKEND_GROUP} Backends, not to {group} {}",
                    r.kind
                )));
                continue;
            }
            let Some(backend) = snapshot.backend(&policy.namespace, &r.name) else {
                problems.push(problem(format!(
                    "Backend {}/{} not found",
                    policy.namespace, r.name
                )));
                continue;
            };
            if let Some(section) = &r.section_name {
                if !provider_names(&backend.value).any(|n| n == section) {
                    problems.push(problem(format!(
                        "Backend {}/{} has no priority-group provider named {section:?}; not applied",
                        policy.namespace, r.name
                    )));
                }
            }
        }
    }
    problems
}

pub(super) fn provider_names(backend: &Backend) -> impl Iterator<Item = &str> {
    backend
        .spec
        .ai
        .iter()
        .flat_map(|ai| ai.priority_groups.iter().flatten())
        .flat_map(|g| g.providers.iter())
        .map(|p| p.name.as_str())
}
