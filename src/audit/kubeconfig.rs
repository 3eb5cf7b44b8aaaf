//! Kubeconfig files: the cluster CAs (`certificate-authority[-data]`) and user client
//! certificates (`client-certificate[-data]`) in them, per cluster and user, with the contexts
//! that use each. An expired client certificate is the seed's "Unable to connect to the server:
//! x509: certificate has expired or is not yet valid".
//!
//! [`read`] reads the file and every file it references (relative paths resolve against the
//! kubeconfig's directory, as kubectl does); [`audit`] is pure.

use super::{signed_by, AuditedCert, Group, Problem};
use crate::analysis::{pem, MAX_CERTS_PER_BUNDLE};
use crate::finding::Code;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Kubeconfig {
    clusters: Vec<Named<Cluster>>,
    users: Vec<NamedUser>,
    contexts: Vec<NamedContext>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named<T> {
    name: String,
    cluster: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedContext {
    name: String,
    context: Context_,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context_ {
    cluster: String,
    user: String,
}

/// A kubeconfig and the bytes of the files it references, by the path as written in it.
#[derive(Debug, Clone, Default)]
pub struct KubeconfigFile {
    pub path: String,
    pub text: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reads a kubeconfig and the certificate/key files it references. Errors name `--kubeconfig-certs`,
/// the file, and for a referenced file the field that references it.
pub fn read(path: &Path) -> anyhow::Result<KubeconfigFile> {
    let text = crate::load::read_text(path, crate::load::MAX_CONFIG_BYTES)
        .map_err(|e| anyhow::anyhow!("--kubeconfig-certs {e}"))?;
    let kc: Kubeconfig = yaml_serde::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--kubeconfig-certs {}: not a kubeconfig: {}",
            path.display(),
            crate::redact::serde_error(&e.to_string())
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut refs: Vec<(String, String)> = Vec::new();
    for c in &kc.clusters {
        if let Some(f) = &c.cluster.certificate_authority {
            refs.push((
                format!("clusters[\"{}\"].certificate-authority", c.name),
                f.clone(),
            ));
        }
    }
    for u in &kc.users {
        for (field, f) in [
            ("client-certificate", &u.user.client_certificate),
            ("client-key", &u.user.client_key),
        ] {
            if let Some(f) = f {
                refs.push((format!("users[\"{}\"].{field}", u.name), f.clone()));
            }
        }
    }
    let mut files = BTreeMap::new();
    for (field, f) in refs {
        let p = base.join(&f);
        let bytes = crate::load::read_regular(&p, crate::load::MAX_CONFIG_BYTES).map_err(|e| {
            anyhow::anyhow!(
                "--kubeconfig-certs {}: {field}: cannot read it: {} {e}",
                path.display(),
                p.display()
            )
        })?;
        files.insert(f, bytes);
    }
    Ok(KubeconfigFile {
        path: path.display().to_string(),
        text,
        files,
    })
}

/// PEM from a `*-data` field (base64) or a referenced file.
fn material(
    kc: &KubeconfigFile,
    data: &Option<String>,
    file: &Option<String>,
    field: &str,
) -> Option<(String, Result<Vec<u8>, String>)> {
    if let Some(d) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| format!("is not valid base64 ({e})"));
        return Some((format!("{field}-data"), bytes));
    }
    let f = file.as_ref()?;
    let bytes = kc
        .files
        .get(f)
        .cloned()
        .ok_or_else(|| format!("references {f}, which was not read"));
    Some((field.to_string(), bytes))
}

/// A certificate's facts and its DER (for signature checks).
type CertAndDer = (std::sync::Arc<crate::analysis::cert::CertInfo>, Vec<u8>);

/// Certificates of a PEM bundle, or why there are none.
fn certs_of(bytes: &[u8]) -> Result<Vec<CertAndDer>, String> {
    let blocks = pem::parse(bytes, MAX_CERTS_PER_BUNDLE).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in blocks.into_iter().filter(|b| b.label == "CERTIFICATE") {
        let (info, _) = crate::analysis::cert::inspect(&b.der)?;
        out.push((info, b.der));
    }
    if out.is_empty() {
        return Err("holds no CERTIFICATE block".into());
    }
    Ok(out)
}

/// The certificates at a kubeconfig field (inline `*-data` or a file), with the field's name;
/// `None` when the field is absent, or unreadable (then a note says why).
fn certs_at(
    kc: &KubeconfigFile,
    data: &Option<String>,
    file: &Option<String>,
    field: &str,
    notes: &mut Vec<String>,
) -> Option<(String, Vec<CertAndDer>)> {
    let (key, bytes) = material(kc, data, file, field)?;
    match bytes.and_then(|b| certs_of(&b)) {
        Ok(certs) => Some((key, certs)),
        Err(e) => {
            notes.push(format!("{}: {key} {e}", kc.path));
            None
        }
    }
}

/// One certificate of a kubeconfig, as the audit lists it.
#[allow(clippy::too_many_arguments)]
fn entry(
    kc: &KubeconfigFile,
    key: &str,
    (embedded_kind, embedded_key): (&str, &str),
    index: usize,
    cert: std::sync::Arc<crate::analysis::cert::CertInfo>,
    used_by: Vec<String>,
    problems: Vec<Problem>,
) -> AuditedCert {
    AuditedCert {
        group: Group::Kubeconfigs,
        kind: "kubeconfig".into(),
        namespace: None,
        name: kc.path.clone(),
        key: key.to_string(),
        index,
        location: crate::x509_metrics::Location::Kubeconfig {
            path: kc.path.clone(),
            embedded_kind: embedded_kind.to_string(),
            embedded_key: embedded_key.to_string(),
        },
        cert,
        used_by,
        managed_by: None,
        pki: None,
        problems,
        skips: Vec::new(),
        bundle: None,
    }
}

/// Cluster CAs and client certificates of one kubeconfig, and notes about what could not be read.
pub fn audit(kc: &KubeconfigFile) -> (Vec<AuditedCert>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let parsed: Kubeconfig = match yaml_serde::from_str(&kc.text) {
        Ok(k) => k,
        Err(e) => {
            notes.push(format!(
                "{}: not a kubeconfig ({})",
                kc.path,
                crate::redact::serde_error(&e.to_string())
            ));
            return (out, notes);
        }
    };
    let contexts_with = |pick: &dyn Fn(&Context_) -> bool, server: Option<&str>| -> Vec<String> {
        let v: Vec<String> = parsed
            .contexts
            .iter()
            .filter(|c| pick(&c.context))
            .map(|c| match server {
                Some(s) if !s.is_empty() => format!("context {} ({s})", c.name),
                _ => format!("context {}", c.name),
            })
            .collect();
        if v.is_empty() {
            vec!["no context uses it".to_string()]
        } else {
            v
        }
    };
    let mut cluster_cas: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for c in &parsed.clusters {
        let field = format!("clusters[\"{}\"].certificate-authority", c.name);
        let Some((key, certs)) = certs_at(
            kc,
            &c.cluster.certificate_authority_data,
            &c.cluster.certificate_authority,
            &field,
            &mut notes,
        ) else {
            continue;
        };
        let used_by = contexts_with(&|ctx| ctx.cluster == c.name, Some(&c.cluster.server));
        for (i, (info, der)) in certs.into_iter().enumerate() {
            cluster_cas.entry(c.name.as_str()).or_default().push(der);
            out.push(entry(
                kc,
                &key,
                ("cluster", &c.name),
                i,
                info,
                used_by.clone(),
                Vec::new(),
            ));
        }
    }
    for u in &parsed.users {
        let field = format!("users[\"{}\"].client-certificate", u.name);
        let Some((key, certs)) = certs_at(
            kc,
            &u.user.client_certificate_data,
            &u.user.client_certificate,
            &field,
            &mut notes,
        ) else {
            continue;
        };
        let mut problems = Vec::new();
        let key_field = format!("users[\"{}\"].client-key", u.name);
        if let (Some((kkey, Ok(kbytes))), Some((leaf, _))) = (
            material(kc, &u.user.client_key_data, &u.user.client_key, &key_field),
            certs.first(),
        ) {
            match super::pki::key_matches(&kbytes, leaf) {
                Ok(()) => {}
                Err(e @ crate::analysis::key::PairError::Mismatch { .. }) => {
                    problems.push(Problem::new(
                        e.code(),
                        format!("{kkey} does not belong to {key} ({})", leaf.display_name()),
                    ))
                }
                Err(e) => problems.push(Problem::new(e.code(), format!("{kkey} {e}"))),
            }
        }
        // The client certificate must be signed by the CA of every cluster it is used with
        // (when the API server's client CA is the cluster CA, as with kubeadm).
        if let Some((leaf, der)) = certs.first() {
            for ctx in parsed.contexts.iter().filter(|c| c.context.user == u.name) {
                let Some(cas) = cluster_cas.get(ctx.context.cluster.as_str()) else {
                    continue;
                };
                if !cas.iter().any(|ca| signed_by(der, ca)) {
                    problems.push(Problem::new(
                        Code::NotSignedByCa,
                        format!(
                            "{key} ({}, issuer {}) is not signed by the certificate-authority of cluster {} (context {}); a kubeadm API server rejects it",
                            leaf.display_name(),
                            leaf.issuer(),
                            ctx.context.cluster,
                            ctx.name
                        ),
                    ));
                }
            }
        }
        let used_by = contexts_with(&|ctx| ctx.user == u.name, None);
        for (i, (info, _)) in certs.into_iter().enumerate() {
            let problems = if i == 0 {
                std::mem::take(&mut problems)
            } else {
                Vec::new()
            };
            out.push(entry(
                kc,
                &key,
                ("user", &u.name),
                i,
                info,
                used_by.clone(),
                problems,
            ));
        }
    }
    (out, notes)
}

impl super::Inventory {
    /// Adds a kubeconfig's cluster CAs and client certificates.
    pub fn add_kubeconfig(&mut self, kc: &KubeconfigFile) {
        let (certs, notes) = audit(kc);
        self.certs.extend(certs);
        self.notes.extend(notes);
    }
}
