//! SARIF 2.1.0 (OASIS), the format code-scanning UIs read: GitHub code scanning, GitLab, Azure
//! DevOps. One run; one rule per finding code that occurs; one result per finding.
//!
//! A result points at the document that holds the object (file and start line): the file it
//! was written in when a rendered stream says so ([`crate::load::Origin`]), else the file read,
//! else the name given to standard input (`--stdin-filename`). GitHub code scanning drops a
//! result without a file, so `lint` refuses to write SARIF with one ([`location`] is `None`).
//! Each result also carries the object (`Kind namespace/name`) and field path as logical
//! locations, and a `partialFingerprints` entry that follows the finding, not its line, so an
//! alert survives edits above it. Each rule has the `help` and `helpUri` of its code's section
//! in docs/codes.md.
//! Types instead of `json!` so the key order is the schema's, whatever serde_json features the
//! build unifies.

use super::{codes, is_stdin, Report, SourceJson};
use crate::finding::{Code, Finding, Severity};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const INFORMATION_URI: &str = "https://github.com/tlsgate/tlsgate";

pub fn render(report: &Report) -> String {
    // Rules sorted by id, so the same findings always give the same file.
    let mut codes: Vec<Code> = report.findings.iter().map(|e| e.finding.code).collect();
    codes.sort_by_key(|c| c.as_str());
    codes.dedup();
    let rules = codes
        .iter()
        .map(|&code| Rule {
            id: code.as_str(),
            short_description: Text {
                text: short_description(code).to_string(),
            },
            help_uri: codes::help_uri(code),
            help: Help {
                text: codes::help_text(code).unwrap_or_else(|| short_description(code).to_string()),
                markdown: codes::help_markdown(code)
                    .unwrap_or_else(|| short_description(code))
                    .to_string(),
            },
            default_configuration: Configuration {
                level: level(code.default_severity()),
            },
        })
        .collect();
    let results = report
        .findings
        .iter()
        .map(|e| {
            let f = &e.finding;
            let physical_location =
                location(e.source.as_ref()).map(|(file, line)| PhysicalLocation {
                    artifact_location: ArtifactLocation { uri: uri(file) },
                    region: Region {
                        start_line: line.max(1),
                    },
                });
            SarifResult {
                rule_id: f.code.as_str(),
                rule_index: codes.iter().position(|&c| c == f.code).unwrap_or_default(),
                level: level(f.severity),
                message: Text {
                    text: format!("{}: {}: {}", f.object, f.path, f.message),
                },
                locations: [Location {
                    physical_location,
                    logical_locations: logical_locations(f),
                }],
                partial_fingerprints: BTreeMap::from([(FINGERPRINT, fingerprint(f))]),
                suppressions: f
                    .skipped
                    .iter()
                    .map(|note| Suppression {
                        kind: if crate::exempt::by_annotation(note) {
                            "inSource"
                        } else {
                            "external"
                        },
                        justification: note.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "tlsgate",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: INFORMATION_URI,
                    rules,
                },
            },
            results,
        }],
    };
    let mut out = serde_json::to_string_pretty(&log)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot write SARIF: {e}\"}}"));
    out.push('\n');
    out
}

/// The file and line a result points at; `None` for standard input that nothing attributes.
pub fn location(source: Option<&SourceJson>) -> Option<(&str, usize)> {
    let s = source?;
    if let Some(o) = &s.origin {
        return Some((&o.file, o.line));
    }
    (!is_stdin(&s.file)).then_some((&s.file, s.line))
}

/// The `partialFingerprints` key; versioned so a change of what is hashed is a new key.
const FINGERPRINT: &str = "tlsgateFinding/v1";

/// Code, object and field: the same finding keeps its alert when lines move or the message's
/// numbers ("expires in 12 days") change.
fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [f.code.as_str(), &f.object.to_string(), &f.path] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Deny => "error",
        Severity::Warn => "warning",
        Severity::Info => "note",
    }
}

/// The object, then the field inside it; `fullyQualifiedName` is what a UI shows.
fn logical_locations(f: &Finding) -> [LogicalLocation; 2] {
    [
        LogicalLocation {
            name: f.object.name.clone(),
            fully_qualified_name: f.object.to_string(),
            kind: "object",
        },
        LogicalLocation {
            name: f.path.clone(),
            fully_qualified_name: format!("{} {}", f.object, f.path),
            kind: "property",
        },
    ]
}

/// The path as the user gave it, as a URI reference: relative paths stay relative (code
/// scanning resolves them against the checkout), absolute ones become `file://` URIs, and
/// characters a URI cannot hold are percent-encoded.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One line per code for the rule list and `tlsgate codes`. Exhaustive on purpose: a new code
/// does not compile until it has a description here.
pub fn short_description(code: Code) -> &'static str {
    match code {
        Code::SecretMalformed => "Secret data is missing, not base64, or not PEM",
        Code::CertExpired => "Certificate has expired",
        Code::CertNotYetValid => "Certificate is not valid yet",
        Code::CertExpiringSoon => "Certificate expires within the warning window",
        Code::ChainCertExpired => {
            "A chain or CA-bundle certificate has expired while a valid path remains"
        }
        Code::GatewayWorkloadNotFound => "Istio Gateway selector matches no workload",
        Code::LimitExceeded => "Object is past a size limit, so a check was not run",
        Code::KeyMismatch => "Private key does not belong to the certificate",
        Code::KeyEncrypted => "Private key is encrypted, so the proxy cannot load it",
        Code::ChainOrder => "Certificate chain is not in leaf-to-root order",
        Code::HostNotCovered => "Certificate does not cover a host that is served with it",
        Code::NoSubjectAltName => "Certificate has no subjectAltName",
        Code::SanMalformed => "Certificate subjectAltName extension cannot be parsed",
        Code::WeakKey => "Key is too small",
        Code::WeakSignature => "Certificate is signed with a weak hash algorithm",
        Code::SerialInvalid => "Certificate serial number breaks RFC 5280",
        Code::CaMissing => "TLS that verifies the peer has no CA to verify it with",
        Code::CaNotCa => "Client CA bundle holds a certificate that is not a CA",
        Code::IstioCaInvalid => "Istio CA secret is inconsistent",
        Code::IstioRootMismatch => "Mesh root certificate is not the current root",
        Code::CredentialNotFound => "Referenced credential Secret is not found where it is read",
        Code::CredentialNameReserved => "credentialName uses a prefix Istio reserves",
        Code::CredentialHasToken => "Credential Secret has a token key, which Istio refuses",
        Code::CredentialKeysShadowed => "Secret has both cert/key and tls.crt/tls.key",
        Code::TlsModeIgnoresCredential => "TLS mode ignores credentialName",
        Code::IstioMutualWithCredential => "ISTIO_MUTUAL must not set credentialName",
        Code::GatewayNotFound => "VirtualService names a Gateway that is not found",
        Code::VirtualserviceHostNotInGateway => "VirtualService host is not served by its Gateway",
        Code::RefNotPermitted => "Cross-namespace certificateRef without a ReferenceGrant",
        Code::ClientAuthMissing => "Client certificate's extendedKeyUsage lacks clientAuth",
        Code::ClientValidationOptional => {
            "Client certificate validation lets invalid clients through (AllowInsecureFallback)"
        }
        Code::HostnameInvalid => "BackendTLSPolicy hostname is not a precise DNS name",
        Code::SystemCasUsed => "Backend certificates are verified with the implementation's CAs",
        Code::TargetNotFound => "Policy targets a Service that does not exist",
        Code::LeafOutlivesIssuer => "Certificate's duration outlives its issuer's CA",
        Code::CredentialNamesConflict => {
            "Istio credentialNames are not one RSA and one ECDSA alternative"
        }
        Code::RefInvalidKind => "certificateRef to a kind that cannot hold a certificate",
        Code::RouteDefaultCertificate => {
            "OpenShift Route terminates TLS with the router's default certificate"
        }
        Code::SecretInUse => "Secret being deleted is still referenced",
        Code::ViewNotSynced => "Cluster view was not synced yet",
        Code::ManifestInvalid => "Document is not a valid Kubernetes object",
        Code::NotSignedByCa => "Certificate is not signed by the CA it must chain to",
        Code::ExemptionInvalid => "tlsgate.io/skip annotation names an unknown finding code",
    }
}

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Text,
    help_uri: String,
    help: Help,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    /// SARIF §3.27.23: a finding skipped by an exemption is suppressed, not left out, so code
    /// scanning shows it as such instead of as an open alert.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
}

#[derive(Serialize)]
struct Suppression {
    /// `inSource` for the annotation on the object, `external` for the policy file.
    kind: &'static str,
    justification: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    logical_locations: [LogicalLocation; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn relative_paths_stay_relative() {
        assert_eq!(uri("k8s/prod/gw.yaml"), "k8s/prod/gw.yaml");
        assert_eq!(uri("./k8s/gw.yaml"), "k8s/gw.yaml");
    }

    #[test]
    fn absolute_paths_become_file_uris() {
        assert_eq!(uri("/src/k8s/gw.yaml"), "file:///src/k8s/gw.yaml");
    }

    #[test]
    fn spaces_and_percent_are_encoded() {
        assert_eq!(uri("my dir/100%.yaml"), "my%20dir/100%25.yaml");
    }
}
