//! `tlsgate audit`: every certificate a cluster depends on, with the days it has left.
//!
//! ```text
//!  kubectl get -o json dump ──────┐
//!  live cluster (live.rs) ────────┼─> Inventory::add_objects ──┐
//!  --pki-dir (pki.rs) ────────────┼─> Inventory::add_pki ──────┼─> Inventory ─> rows(&inv, now, days)
//!  --kubeconfig-certs (kubeconfig)┘─> Inventory::add_kubeconfig┘                   │
//!                                                                render: text / JSON / HTML (render.rs)
//! ```
//!
//! Reading files and the cluster happens at the edges ([`pki::read_dir`],
//! [`kubeconfig::read`], [`live`]); everything else is pure and takes `now` as a parameter.
//! The rules are the shared ones: certificates are parsed by [`crate::analysis`], their status
//! is [`crate::analysis::cert_validity`], Istio root mismatches come from [`crate::check::check`].
//! The only new checks live here because nothing else needs them: does a kubeadm leaf's
//! signature verify with its CA's key ([`signed_by`]), and which objects a caBundle protects.

pub mod cabundle;
pub mod kubeconfig;
pub mod live;
pub mod pki;
pub mod render;

pub use cabundle::cabundle_findings;

use crate::analysis::cert::CertInfo;
use crate::analysis::{self, Analyzer};
use crate::check::{check, Ctx};
use crate::exempt::{self, Exemption, Exemptions};
use crate::finding::{Code, Finding};
use crate::lookup::{Index, Lookup, StoredSecret};
use crate::model::Object;
use crate::policy::Policy;
use serde::Serialize;
use std::sync::Arc;

/// What a certificate belongs to; the HTML timeline groups by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    GatewayCredentials,
    IstioCa,
    ControlPlanePki,
    Kubeconfigs,
    CaBundles,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::GatewayCredentials,
        Group::IstioCa,
        Group::ControlPlanePki,
        Group::Kubeconfigs,
        Group::CaBundles,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::GatewayCredentials => "Gateway credentials",
            Group::IstioCa => "Istio CA",
            Group::ControlPlanePki => "Control-plane PKI",
            Group::Kubeconfigs => "Kubeconfigs",
            Group::CaBundles => "caBundles",
        }
    }
}

/// Something wrong with a certificate besides its dates: a shared [`Code`] and a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    /// Who skipped it and why, when an exemption covers it ([`crate::exempt`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Problem {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
            skipped: None,
        }
    }
}

/// The kubeadm `certs check-expiration` facts of a PKI certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PkiFacts {
    /// kubeadm's name: `apiserver`, `etcd-server`, `front-proxy-ca`, ...
    pub certificate: String,
    /// kubeadm's name of the CA that must have signed it; `None` for a CA.
    pub certificate_authority: Option<String>,
    /// The CA's private key is not in the directory (kubeadm's external CA mode).
    pub externally_managed: bool,
    /// Does the signature verify with the CA's public key? `None` for CAs or a missing CA.
    pub signed_by_ca: Option<bool>,
    /// Does the `.key` next to it belong to it? `None` when there is no key file.
    pub key_matches: Option<bool>,
}

/// One certificate the cluster depends on, where it lives, and who uses it.
#[derive(Clone, Debug)]
pub struct AuditedCert {
    pub group: Group,
    /// Kind of the holder: `Secret`, `ConfigMap`, `ValidatingWebhookConfiguration`, `APIService`,
    /// `CustomResourceDefinition`, `kubeadm PKI`, `kubeconfig`.
    pub kind: String,
    pub namespace: Option<String>,
    /// Object name, kubeadm certificate name, or kubeconfig path.
    pub name: String,
    /// Where inside the holder: `data["tls.crt"]`, `webhooks[0].clientConfig.caBundle`,
    /// `users["bob"].client-certificate-data`, `apiserver.crt`.
    pub key: String,
    /// Position in the PEM bundle at `key` (0 for the first).
    pub index: usize,
    /// The same place in x509-certificate-exporter's terms (`audit -o prometheus`).
    pub location: crate::x509_metrics::Location,
    pub cert: Arc<CertInfo>,
    pub used_by: Vec<String>,
    /// `cert-manager` when cert-manager renews it.
    pub managed_by: Option<String>,
    pub pki: Option<PkiFacts>,
    pub problems: Vec<Problem>,
    /// The exemptions of the object that holds it (`tlsgate.io/skip`, policy `exemptions:`).
    pub skips: Vec<Exemption>,
    /// The bundle it sits in (a Secret's key, a ConfigMap's, a caBundle): what an expired
    /// member costs depends on the others ([`analysis::validity::member_validity`]).
    pub bundle: Option<Arc<analysis::Bundle>>,
}

impl AuditedCert {
    /// Marks the problems an exemption covers, the way [`Exemptions::apply`] marks findings.
    fn set_skips(&mut self, skips: &Exemptions) {
        self.skips = skips.list.clone();
        for p in self.problems.iter_mut().filter(|p| p.skipped.is_none()) {
            if let Some(e) = skips.covering(p.code) {
                let note = e.note();
                p.message.push_str(&format!(" ({note})"));
                p.skipped = Some(note);
            }
        }
    }

    /// The finding code of this certificate at `now`, decided as lint and the webhook decide it
    /// ([`analysis::validity::member_validity`]): an expired CA beside a valid one in a bundle is
    /// `chain-cert-expired` here too, not `cert-expired`.
    pub fn code_at(&self, now: i64, threshold_days: i64) -> Option<Code> {
        match &self.bundle {
            Some(b) => {
                analysis::validity::member_validity(&self.key, b, self.index, now, threshold_days)
            }
            None => analysis::cert_validity(&self.cert, now, threshold_days),
        }
        .map(|(code, _)| code)
    }
}

/// The Istio mesh root, from `cacerts` (plug-in CA) or `istio-ca-secret` (self-signed).
#[derive(Clone, Debug)]
pub struct MeshRoot {
    pub namespace: String,
    pub name: String,
    pub cert: Arc<CertInfo>,
}

/// Every certificate found in the inputs, before any clock is applied.
#[derive(Default)]
pub struct Inventory {
    pub certs: Vec<AuditedCert>,
    pub mesh_root: Option<MeshRoot>,
    /// `istio-root-mismatch` findings (root-transition `verify-certs`), from [`crate::check`].
    pub root_mismatches: Vec<Finding>,
    /// Things worth saying that are not certificates: sa.key, missing files, undecodable objects.
    pub notes: Vec<String>,
    /// Places that should hold certificates and could not be read (`x509_cert_error 1`).
    pub unreadable: Vec<crate::x509_metrics::Location>,
}

/// Where a certificate stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Expired,
    NotYetValid,
    ExpiringSoon,
    Ok,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Expired => "expired",
            Status::NotYetValid => "not-yet-valid",
            Status::ExpiringSoon => "expiring-soon",
            Status::Ok => "ok",
        }
    }

    /// Everything but `ok` makes `tlsgate audit` exit 1.
    pub fn fails(self) -> bool {
        self != Status::Ok
    }
}

/// A certificate at `now`: its status and the time it has left (negative once expired).
#[derive(Clone, Debug)]
pub struct Row<'a> {
    pub cert: &'a AuditedCert,
    pub status: Status,
    /// The finding code lint and the webhook would report for it ([`AuditedCert::code_at`]).
    pub code: Option<Code>,
    pub residual_seconds: i64,
    /// The sentence [`analysis::cert_validity`] wrote, when the status is not `ok`.
    pub message: Option<String>,
    /// Who skipped the status and why: a skipped row does not fail the audit.
    pub skipped: Option<String>,
}

/// Status of one certificate, by the shared validity rule.
pub fn status_of(c: &CertInfo, now: i64, threshold_days: i64) -> (Status, Option<String>) {
    match analysis::cert_validity(c, now, threshold_days) {
        None => (Status::Ok, None),
        Some((Code::CertExpired, m)) => (Status::Expired, Some(m)),
        Some((Code::CertNotYetValid, m)) => (Status::NotYetValid, Some(m)),
        Some((_, m)) => (Status::ExpiringSoon, Some(m)),
    }
}

/// Every certificate at `now`, soonest expiry first (ties: group, namespace, name, key).
pub fn rows(inventory: &Inventory, now: i64, threshold_days: i64) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = inventory
        .certs
        .iter()
        .map(|c| {
            let (status, mut message) = status_of(&c.cert, now, threshold_days);
            let code = c.code_at(now, threshold_days);
            let skipped = code
                .and_then(|code| c.skips.iter().find(|e| e.codes.contains(&code)))
                .map(Exemption::note);
            if let (Some(m), Some(note)) = (message.as_mut(), &skipped) {
                m.push_str(&format!(" ({note})"));
            }
            Row {
                cert: c,
                status,
                code,
                residual_seconds: c.cert.not_after - now,
                message,
                skipped,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &Row<'_>| {
            (
                r.cert.cert.not_after,
                r.cert.group,
                r.cert.namespace.clone(),
                r.cert.name.clone(),
                r.cert.key.clone(),
                r.cert.index,
            )
        };
        key(a).cmp(&key(b))
    });
    rows
}

/// Exit code 1: something is expired, not yet valid, or expires within the threshold, and no
/// exemption skips it.
pub fn failing(rows: &[Row<'_>]) -> bool {
    rows.iter().any(|r| r.status.fails() && r.skipped.is_none())
}

/// Does `child`'s signature verify with `issuer`'s public key (RFC 5280 §6.1.3 (a)(1))?
/// Both are DER. Name chaining alone is not enough: an impostor CA can copy a subject.
pub fn signed_by(child_der: &[u8], issuer_der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    let parse = |d| x509_parser::certificate::X509Certificate::from_der(d).map(|(_, c)| c);
    match (parse(child_der), parse(issuer_der)) {
        (Ok(child), Ok(issuer)) => child.verify_signature(Some(issuer.public_key())).is_ok(),
        _ => false,
    }
}

/// Secret types that only ever copy a CA from elsewhere (the cluster CA in every namespace).
const SKIPPED_SECRET_TYPES: [&str; 1] = ["kubernetes.io/service-account-token"];

/// Codes of a credential's own issues worth showing beside its certificate in an audit.
const SECRET_PROBLEMS: [Code; 3] = [Code::KeyMismatch, Code::KeyEncrypted, Code::IstioCaInvalid];

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the certificates of Kubernetes objects (a `kubectl get -o json` dump or a live list):
    /// Secrets, `istio-ca-root-cert` ConfigMaps, webhook configurations, APIServices and CRDs.
    /// Gateways, VirtualServices and Ingresses only say who uses which Secret.
    pub fn add_objects(
        &mut self,
        values: &[serde_json::Value],
        policy: &Policy,
        analyzer: &Arc<Analyzer>,
    ) {
        let mut objects = Vec::new();
        for v in values {
            match Object::from_value(v) {
                Ok(Some(o)) => {
                    let api_version = v
                        .get("apiVersion")
                        .and_then(|a| a.as_str())
                        .unwrap_or_default()
                        .to_string();
                    objects.push((o, api_version));
                }
                Ok(None) => {}
                Err(e) => self.notes.push(format!("skipped {e}")),
            }
            if exempt::is_ignored_value(v) {
                continue;
            }
            let start = self.certs.len();
            let mut holder = None;
            for source in cabundle::sources(v) {
                holder.get_or_insert_with(|| source.object.clone());
                self.add_cabundle(source, analyzer);
            }
            if let Some(o) = holder {
                let skips = Exemptions::of_value(v, &policy.exemptions);
                self.set_skips(start, &o.to_string(), &skips);
            }
        }
        let mut index = Index::new(analyzer.clone());
        for (o, _) in &objects {
            index.upsert(o);
        }
        self.mesh_root = crate::analysis::ISTIO_CA_SECRETS.iter().find_map(|n| {
            match index.secret(&policy.gateway_namespace, n) {
                crate::lookup::Found::Yes(s) => {
                    s.summary.mesh_root().cloned().map(|cert| MeshRoot {
                        namespace: s.namespace.to_string(),
                        name: s.name.to_string(),
                        cert,
                    })
                }
                _ => None,
            }
        });
        let ctx = Ctx {
            lookup: &index,
            policy,
            analyzer,
            now: 0,
            referrers: false,
        };
        for (o, api_version) in &objects {
            if policy.excluded(Some(o.namespace())) || exempt::is_ignored(&o.meta().labels) {
                continue;
            }
            let mismatches: Vec<Finding> = match o {
                Object::ConfigMap(cm) if cm.metadata.name == "istio-ca-root-cert" => {
                    check(o, api_version, &ctx)
                }
                Object::Secret(s) if s.secret_type == "istio.io/key-and-cert" => {
                    check(o, api_version, &ctx)
                }
                _ => Vec::new(),
            }
            .into_iter()
            .filter(|f| f.code == Code::IstioRootMismatch)
            .collect();
            let start = self.certs.len();
            match o {
                Object::Secret(s) if !SKIPPED_SECRET_TYPES.contains(&s.secret_type.as_str()) => {
                    if let crate::lookup::Found::Yes(stored) = index.secret(o.namespace(), o.name())
                    {
                        self.add_secret(&stored, &index, policy);
                    }
                }
                Object::Route(r) => {
                    if let Some(stored) =
                        crate::lookup::StoredRoute::new(analyzer, o.namespace(), r)
                    {
                        self.add_route(&stored);
                    }
                }
                Object::ConfigMap(cm) => match index.config_map(o.namespace(), o.name()) {
                    crate::lookup::Found::Yes(stored) => self.add_config_map(&stored, &index),
                    _ if cm.metadata.name == crate::lookup::ISTIO_ROOT_CONFIG_MAP => {
                        self.notes.push(format!(
                            "ConfigMap {}/{} has no {}",
                            o.namespace(),
                            cm.metadata.name,
                            analysis::ROOT_CERT_KEY
                        ))
                    }
                    _ => {}
                },
                _ => {}
            }
            for f in &mismatches {
                for c in self.certs[start..]
                    .iter_mut()
                    .filter(|c| c.key == f.path && c.index == 0)
                {
                    c.problems.push(Problem {
                        skipped: f.skipped.clone(),
                        ..Problem::new(f.code, &f.message)
                    });
                }
            }
            let holder = o.object_ref(api_version).to_string();
            self.set_skips(start, &holder, &crate::check::exemptions_of(o, policy));
            self.root_mismatches.extend(mismatches);
        }
        if let Some(root) = &self.mesh_root {
            for c in self.certs.iter_mut().filter(|c| {
                c.namespace.as_deref() == Some(root.namespace.as_str())
                    && c.name == root.name
                    && c.cert.sha256 == root.cert.sha256
            }) {
                c.used_by
                    .push("Istio mesh root: signs every workload certificate".into());
            }
        }
    }

    /// Gives the certificates added since `start` (all of one object, `holder`) its
    /// exemptions; an unknown code in its annotation is an `exemption-invalid` problem on the
    /// first of them, or a note when it holds none.
    fn set_skips(&mut self, start: usize, holder: &str, skips: &Exemptions) {
        for c in &mut self.certs[start..] {
            c.set_skips(skips);
        }
        for i in &skips.invalid {
            match self.certs.get_mut(start) {
                Some(c) => c.problems.push(Problem::new(i.code, &i.message)),
                None => self
                    .notes
                    .push(format!("{holder}: {} [{}]", i.message, i.code)),
            }
        }
    }

    fn add_secret(&mut self, s: &StoredSecret, index: &Index, policy: &Policy) {
        let group = if matches!(
            s.summary.secret_type(),
            "istio.io/ca-root" | "istio.io/key-and-cert"
        ) || crate::analysis::is_istio_ca_secret(&s.name)
        {
            Group::IstioCa
        } else {
            Group::GatewayCredentials
        };
        let used_by = used_by(s, index, policy);
        let problems: Vec<Problem> = s
            .summary
            .issues
            .iter()
            .filter(|i| SECRET_PROBLEMS.contains(&i.code))
            .map(|i| Problem::new(i.code, format!("{}: {}", i.path, i.message)))
            .collect();
        for (b, (key, bundle)) in s.summary.bundles.iter().enumerate() {
            for (i, cert) in bundle.certs.iter().enumerate() {
                self.certs.push(AuditedCert {
                    group,
                    kind: "Secret".into(),
                    namespace: Some(s.namespace.to_string()),
                    name: s.name.to_string(),
                    key: analysis::data_path(key),
                    index: i,
                    location: crate::x509_metrics::Location::Secret {
                        namespace: s.namespace.to_string(),
                        name: s.name.to_string(),
                        key: key.to_string(),
                    },
                    cert: cert.clone(),
                    used_by: used_by.clone(),
                    managed_by: s.cert_manager.then(|| "cert-manager".to_string()),
                    pki: None,
                    problems: if b == 0 && i == 0 {
                        problems.clone()
                    } else {
                        Vec::new()
                    },
                    skips: Vec::new(),
                    bundle: Some(bundle.clone()),
                });
            }
        }
    }

    /// A Route's inline certificates: rows sourced from the Route, used by the Route itself.
    fn add_route(&mut self, r: &crate::lookup::StoredRoute) {
        let problems: Vec<Problem> = r
            .summary
            .issues
            .iter()
            .filter(|i| SECRET_PROBLEMS.contains(&i.code))
            .map(|i| Problem::new(i.code, &i.message))
            .collect();
        for (b, (field, bundle)) in r.summary.bundles.iter().enumerate() {
            let role = if *field == analysis::inline::ROUTE_DESTINATION_CA {
                "verifies the pod"
            } else {
                "served by the router"
            };
            for (i, cert) in bundle.certs.iter().enumerate() {
                self.certs.push(AuditedCert {
                    group: Group::GatewayCredentials,
                    kind: "Route".into(),
                    namespace: Some(r.namespace.clone()),
                    name: r.name.clone(),
                    key: field.to_string(),
                    index: i,
                    location: crate::x509_metrics::Location::Route {
                        namespace: r.namespace.clone(),
                        name: r.name.clone(),
                        field: field.to_string(),
                    },
                    cert: cert.clone(),
                    used_by: vec![format!("Route {}/{} ({role})", r.namespace, r.name)],
                    managed_by: None,
                    pki: None,
                    problems: if b == 0 && i == 0 {
                        problems.clone()
                    } else {
                        Vec::new()
                    },
                    skips: Vec::new(),
                    bundle: Some(bundle.clone()),
                });
            }
        }
    }

    /// A ConfigMap's CA bundle ([`crate::lookup::ca_key_of`]) when something reads it
    /// ([`crate::check::config_map_readers`]): Istio's root ConfigMaps, Linkerd's trust roots,
    /// the CA bundles `caCertificateRefs` name. One that fails to parse is unreadable.
    fn add_config_map(&mut self, cm: &crate::lookup::StoredConfigMap, index: &Index) {
        let used_by = crate::check::config_map_readers(index, cm);
        let Some(bundle) = cm.ca.as_ref().filter(|_| !used_by.is_empty()) else {
            return;
        };
        let istio = cm.ca_key == analysis::ROOT_CERT_KEY;
        let location = crate::x509_metrics::Location::ConfigMap {
            namespace: cm.namespace.clone(),
            name: cm.name.clone(),
            key: cm.ca_key.to_string(),
        };
        if bundle.certs.is_empty() {
            self.unreadable.push(location.clone());
            self.notes.push(format!(
                "ConfigMap {}/{}: {} holds no certificate",
                cm.namespace, cm.name, cm.ca_key
            ));
        }
        for (i, cert) in bundle.certs.iter().enumerate() {
            self.certs.push(AuditedCert {
                group: if istio {
                    Group::IstioCa
                } else {
                    Group::GatewayCredentials
                },
                kind: "ConfigMap".into(),
                namespace: Some(cm.namespace.clone()),
                name: cm.name.clone(),
                key: analysis::data_path(cm.ca_key),
                index: i,
                location: location.clone(),
                cert: cert.clone(),
                used_by: used_by.clone(),
                managed_by: istio.then(|| "istiod".to_string()),
                pki: None,
                problems: Vec::new(),
                skips: Vec::new(),
                bundle: Some(bundle.clone()),
            });
        }
    }

    fn add_cabundle(&mut self, source: cabundle::Source, analyzer: &Analyzer) {
        let location = crate::x509_metrics::Location::CaBundle {
            kind: source.object.kind.clone(),
            name: source.object.name.clone(),
            entry: source.entry.clone(),
        };
        let bytes = match source.bytes {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => return,
            Ok(b) => b,
            Err(e) => {
                self.unreadable.push(location);
                self.notes.push(format!(
                    "{} {}: {}: {e}",
                    source.object.kind, source.object.name, source.path
                ));
                return;
            }
        };
        let bundle = analyzer.bundle(&bytes, analysis::Role::CaBundle);
        if bundle.certs.is_empty() {
            self.unreadable.push(location.clone());
        }
        for (code, _, msg) in &bundle.issues {
            if *code == Code::SecretMalformed {
                self.notes.push(format!(
                    "{} {}: {}: caBundle {msg}",
                    source.object.kind, source.object.name, source.path
                ));
            }
        }
        for (i, cert) in bundle.certs.iter().enumerate() {
            self.certs.push(AuditedCert {
                group: Group::CaBundles,
                kind: source.object.kind.clone(),
                namespace: None,
                name: source.object.name.clone(),
                key: source.path.clone(),
                index: i,
                location: location.clone(),
                cert: cert.clone(),
                used_by: vec![source.protects.clone()],
                managed_by: None,
                pki: None,
                problems: Vec::new(),
                skips: Vec::new(),
                bundle: Some(bundle.clone()),
            });
        }
    }
}

/// Objects that serve this Secret (Gateways, Ingresses), from [`Index::referrers`].
/// `check.rs` resolves the namespace of an Istio credential the same way, in a private helper;
/// this is the small copy the audit needs (the gateway namespace, or the pods' when visible).
fn used_by(s: &StoredSecret, index: &Index, policy: &Policy) -> Vec<String> {
    crate::check::referrers_of(index, policy, &s.namespace, &s.name)
        .into_iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                r.object.kind,
                crate::check::qualified(&r.object),
                r.reference.path
            )
        })
        .collect()
}
