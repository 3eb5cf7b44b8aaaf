//! kubeadm's PKI directory (`/etc/kubernetes/pki`): the certificates `kubeadm certs
//! check-expiration` lists, plus what kubeadm does not check: does each leaf's signature verify
//! with its CA's key, and does the `.key` beside it belong to it.
//!
//! [`read_dir`] reads the files (the only I/O); [`audit`] is pure.

use super::{signed_by, AuditedCert, Group, PkiFacts, Problem};
use crate::analysis::{cert, key, pem};
use crate::finding::Code;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// A CA of the kubeadm layout: its kubeadm name and file stem.
pub const CAS: [(&str, &str); 3] = [
    ("ca", "ca"),
    ("front-proxy-ca", "front-proxy-ca"),
    ("etcd-ca", "etcd/ca"),
];

/// Leaves of the kubeadm layout: kubeadm name, file stem, the CA (kubeadm name) that signs it.
pub const LEAVES: [(&str, &str, &str); 7] = [
    ("apiserver", "apiserver", "ca"),
    ("apiserver-kubelet-client", "apiserver-kubelet-client", "ca"),
    ("apiserver-etcd-client", "apiserver-etcd-client", "etcd-ca"),
    ("front-proxy-client", "front-proxy-client", "front-proxy-ca"),
    ("etcd-server", "etcd/server", "etcd-ca"),
    ("etcd-peer", "etcd/peer", "etcd-ca"),
    (
        "etcd-healthcheck-client",
        "etcd/healthcheck-client",
        "etcd-ca",
    ),
];

/// The files of a PKI directory that kubeadm knows, by path relative to it.
#[derive(Debug, Clone, Default)]
pub struct PkiFiles {
    /// The directory as the user typed it, for messages.
    pub dir: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reads the kubeadm files present under `dir`. Missing files are not errors (external etcd
/// has no `etcd/`); a missing or unreadable directory is, naming `--pki-dir`.
pub fn read_dir(dir: &Path) -> anyhow::Result<PkiFiles> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("--pki-dir {}: cannot read the directory", dir.display()))?;
    anyhow::ensure!(
        meta.is_dir(),
        "--pki-dir {} is not a directory (expected a kubeadm PKI directory like /etc/kubernetes/pki)",
        dir.display()
    );
    let mut files = BTreeMap::new();
    let stems = CAS
        .iter()
        .map(|(_, s)| *s)
        .chain(LEAVES.iter().map(|(_, s, _)| *s));
    let names = stems
        .flat_map(|s| [format!("{s}.crt"), format!("{s}.key")])
        .chain(["sa.key".to_string(), "sa.pub".to_string()]);
    for name in names {
        let p = dir.join(&name);
        match crate::load::read_regular(&p, crate::load::MAX_CONFIG_BYTES) {
            Ok(b) => {
                files.insert(name, b);
            }
            Err(crate::load::FileError::NotFound) => {}
            Err(e) => anyhow::bail!("--pki-dir: {} {e}", p.display()),
        }
    }
    Ok(PkiFiles {
        dir: dir.display().to_string(),
        files,
    })
}

/// One parsed certificate file: facts and DER (for signature checks).
struct Parsed {
    info: std::sync::Arc<cert::CertInfo>,
    der: Vec<u8>,
}

fn parse_cert(bytes: &[u8]) -> Result<Parsed, String> {
    let blocks =
        pem::parse(bytes, crate::analysis::MAX_CERTS_PER_BUNDLE).map_err(|e| e.to_string())?;
    let block = blocks
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or("holds no CERTIFICATE block")?;
    let (info, _) = cert::inspect(&block.der)?;
    Ok(Parsed {
        info,
        der: block.der,
    })
}

/// Does the private key in `bytes` belong to `cert`? The shared rule, [`key::check_pair`].
pub fn key_matches(bytes: &[u8], c: &cert::CertInfo) -> Result<(), key::PairError> {
    key::check_pair(bytes, Some(&c.public_key)).map(|_| ())
}

/// Certificates of a kubeadm PKI directory, and notes about what is missing or not a
/// certificate (`sa.key`/`sa.pub`).
pub fn audit(pki: &PkiFiles) -> (Vec<AuditedCert>, Vec<String>) {
    let mut certs = Vec::new();
    let mut notes = Vec::new();
    let dir = &pki.dir;
    let mut cas: BTreeMap<&str, (Parsed, bool)> = BTreeMap::new();
    for (name, stem) in CAS {
        let crt = format!("{stem}.crt");
        let Some(bytes) = pki.files.get(&crt) else {
            notes.push(format!("{dir}/{crt} not found: no {name} CA here"));
            continue;
        };
        match parse_cert(bytes) {
            Ok(p) => {
                let external = !pki.files.contains_key(&format!("{stem}.key"));
                cas.insert(name, (p, external));
            }
            Err(e) => notes.push(format!("{dir}/{crt} {e}")),
        }
    }
    for (name, stem) in CAS {
        let Some((p, external)) = cas.get(name) else {
            continue;
        };
        let mut problems = Vec::new();
        let key_ok = check_key(pki, stem, &p.info, &mut problems);
        certs.push(entry(
            name, stem, p, None, *external, None, key_ok, problems,
        ));
    }
    for (name, stem, ca_name) in LEAVES {
        let crt = format!("{stem}.crt");
        let Some(bytes) = pki.files.get(&crt) else {
            notes.push(format!("{dir}/{crt} not found"));
            continue;
        };
        let p = match parse_cert(bytes) {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("{dir}/{crt} {e}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        let key_ok = check_key(pki, stem, &p.info, &mut problems);
        let (signed, external) = match cas.get(ca_name) {
            Some((ca, external)) => {
                let ok = signed_by(&p.der, &ca.der);
                if !ok {
                    problems.push(Problem::new(
                        Code::NotSignedByCa,
                        format!(
                            "{crt} ({}, issuer {}) is not signed by {ca_name} ({}): its signature does not verify with that CA's key; clients trusting {ca_name} reject it",
                            p.info.display_name(),
                            p.info.issuer(),
                            ca.info.subject()
                        ),
                    ));
                }
                (Some(ok), *external)
            }
            None => (None, false),
        };
        certs.push(entry(
            name,
            stem,
            &p,
            Some(ca_name),
            external,
            signed,
            key_ok,
            problems,
        ));
    }
    match (pki.files.get("sa.key"), pki.files.contains_key("sa.pub")) {
        (Some(_), true) => notes.push(format!(
            "{dir}/sa.key, sa.pub: service-account token signing key pair (not a certificate; it does not expire)"
        )),
        (Some(_), false) => notes.push(format!("{dir}/sa.key without sa.pub")),
        (None, true) => notes.push(format!("{dir}/sa.pub without sa.key")),
        (None, false) => notes.push(format!("{dir}/sa.key, sa.pub not found")),
    }
    for c in &mut certs {
        if let crate::x509_metrics::Location::File { path } = &mut c.location {
            *path = format!("{}/{path}", dir.trim_end_matches('/'));
        }
    }
    (certs, notes)
}

fn check_key(
    pki: &PkiFiles,
    stem: &str,
    c: &cert::CertInfo,
    problems: &mut Vec<Problem>,
) -> Option<bool> {
    let key_file = format!("{stem}.key");
    let bytes = pki.files.get(&key_file)?;
    match key_matches(bytes, c) {
        Ok(()) => Some(true),
        Err(e @ key::PairError::Mismatch { .. }) => {
            problems.push(Problem::new(
                e.code(),
                format!(
                    "{key_file} does not belong to {stem}.crt ({}, {}); the component fails to start with this pair",
                    c.display_name(),
                    c.key_algorithm()
                ),
            ));
            Some(false)
        }
        Err(e) => {
            problems.push(Problem::new(e.code(), format!("{key_file} {e}")));
            Some(false)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(
    name: &str,
    stem: &str,
    p: &Parsed,
    ca: Option<&str>,
    externally_managed: bool,
    signed_by_ca: Option<bool>,
    key_matches: Option<bool>,
    problems: Vec<Problem>,
) -> AuditedCert {
    let used_by = match name {
        "ca" => "cluster CA: API server clients, kubelets, kubeconfigs",
        "front-proxy-ca" => "front-proxy CA: aggregated API servers verify the API server's proxy",
        "etcd-ca" => "etcd CA: etcd server, peers and clients",
        "apiserver" => "kube-apiserver serving certificate (kubectl → API server)",
        "apiserver-kubelet-client" => "kube-apiserver → kubelet client certificate (logs, exec)",
        "apiserver-etcd-client" => "kube-apiserver → etcd client certificate",
        "front-proxy-client" => "kube-apiserver → aggregated API servers client certificate",
        "etcd-server" => "etcd serving certificate",
        "etcd-peer" => "etcd peer-to-peer certificate",
        "etcd-healthcheck-client" => "etcd liveness probe client certificate",
        _ => "",
    };
    AuditedCert {
        group: Group::ControlPlanePki,
        kind: "kubeadm PKI".into(),
        namespace: None,
        name: name.to_string(),
        key: format!("{stem}.crt"),
        index: 0,
        // The directory is joined in by [`audit`]; this is the path under it.
        location: crate::x509_metrics::Location::File {
            path: format!("{stem}.crt"),
        },
        cert: p.info.clone(),
        used_by: vec![used_by.to_string()],
        managed_by: Some(if externally_managed {
            "external CA".to_string()
        } else {
            "kubeadm".to_string()
        }),
        pki: Some(PkiFacts {
            certificate: name.to_string(),
            certificate_authority: ca.map(str::to_string),
            externally_managed,
            signed_by_ca,
            key_matches,
        }),
        problems,
        skips: Vec::new(),
        bundle: None,
    }
}

impl super::Inventory {
    /// Adds a kubeadm PKI directory's certificates and notes.
    pub fn add_pki(&mut self, pki: &PkiFiles) {
        let (certs, notes) = audit(pki);
        self.certs.extend(certs);
        self.notes.extend(notes);
    }
}
