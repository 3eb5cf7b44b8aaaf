//! The scale benchmark set (issue 14): N distinct `kubernetes.io/tls` Secrets and the Istio
//! Gateways that reference some of them, made at run time (never committed).
//!
//! Shaped like a cert-manager cluster: each Secret holds its own P-256 key and a leaf signed by
//! one of four CAs, `tls.crt` the leaf then its CA, `ca.crt` the CA, as `kubectl create secret
//! tls ... --dry-run=client -o yaml` writes them. Secrets spread over 100 namespaces; those a
//! Gateway references live in `istio-system`, where the ingress gateway reads them. Every
//! certificate is valid from 2026-01-01 to 2028-01-01, so checks at [`NOW`] find nothing.
//!
//! Shared by `benches/growth.rs` and `tests/cluster_watch.rs` (`#[path]`-included).
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};

/// 2027-01-01T00:00:00Z: inside every generated certificate's validity window.
pub const NOW: &str = "2027-01-01T00:00:00Z";
pub const NOW_UNIX: i64 = 1_798_761_600;
/// How many distinct issuing CAs the Secrets share.
pub const CAS: usize = 4;
/// How many application namespaces the unreferenced Secrets spread over.
pub const NAMESPACES: usize = 100;

pub struct GenSecret {
    pub namespace: String,
    pub name: String,
    /// Leaf then CA, PEM.
    pub tls_crt: String,
    pub tls_key: String,
    pub ca_crt: String,
    pub host: String,
}

pub struct GenGateway {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub credential: String,
}

pub struct Cluster {
    pub secrets: Vec<GenSecret>,
    pub gateways: Vec<GenGateway>,
}

fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

const NOT_BEFORE: i64 = 1_767_225_600; // 2026-01-01
const NOT_AFTER: i64 = 1_830_297_600; // 2028-01-01

fn ca(i: usize) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, format!("bench issuer {i}"));
    p.distinguished_name
        .push(DnType::OrganizationName, "tlsgate bench");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(NOT_BEFORE);
    p.not_after = at(NOT_AFTER);
    let cert = p.self_signed(&key).unwrap();
    let pem = cert.pem();
    (pem, Issuer::new(p, key))
}

fn leaf(host: &str, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(vec![host.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, host);
    p.use_authority_key_identifier_extension = true;
    p.not_before = at(NOT_BEFORE);
    p.not_after = at(NOT_AFTER);
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// `secrets` distinct TLS Secrets and `gateways` Gateways (each referencing one of the first
/// `gateways` Secrets, every `secrets / gateways`-th). Generated on every core.
pub fn tls_cluster(secrets: usize, gateways: usize) -> Cluster {
    let cas: Vec<_> = (0..CAS).map(ca).collect();
    let step = secrets
        .checked_div(gateways)
        .map_or(usize::MAX, |s| s.max(1));
    let referenced = |i: usize| i % step == 0 && i / step < gateways;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = secrets.div_ceil(threads).max(1);
    let mut out: Vec<GenSecret> = Vec::with_capacity(secrets);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..secrets)
            .step_by(chunk)
            .map(|start| {
                let cas = &cas;
                s.spawn(move || {
                    (start..(start + chunk).min(secrets))
                        .map(|i| {
                            let namespace = if referenced(i) {
                                "istio-system".to_string()
                            } else {
                                format!("team-{:02}", i % NAMESPACES)
                            };
                            let host = format!("svc-{i}.{namespace}.example.com");
                            let (ca_pem, issuer) = &cas[i % CAS];
                            let (crt, key) = leaf(&host, issuer);
                            GenSecret {
                                namespace,
                                name: format!("cred-{i}"),
                                tls_crt: format!("{crt}{ca_pem}"),
                                tls_key: key,
                                ca_crt: ca_pem.clone(),
                                host,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            out.extend(h.join().unwrap());
        }
    });
    let gateways = out
        .iter()
        .enumerate()
        .filter(|(i, _)| referenced(*i))
        .map(|(i, s)| GenGateway {
            namespace: "istio-system".into(),
            name: format!("gw-{i}"),
            host: s.host.clone(),
            credential: s.name.clone(),
        })
        .collect();
    Cluster {
        secrets: out,
        gateways,
    }
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(v)
}

impl GenSecret {
    /// As `kubectl create secret tls NAME --cert --key --dry-run=client -o yaml` writes it
    /// (plus `ca.crt`, as cert-manager adds it).
    pub fn yaml(&self) -> String {
        format!(
            "apiVersion: v1\ndata:\n  ca.crt: {}\n  tls.crt: {}\n  tls.key: {}\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: {}\n  namespace: {}\ntype: kubernetes.io/tls\n",
            b64(self.ca_crt.as_bytes()),
            b64(self.tls_crt.as_bytes()),
            b64(self.tls_key.as_bytes()),
            self.name,
            self.namespace
        )
    }

    /// As the API server lists it.
    pub fn json(&self, uid: usize) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": format!("00000000-0000-0000-0000-{uid:012}"),
                "creationTimestamp": "2026-06-01T00:00:00Z",
            },
            "type": "kubernetes.io/tls",
            "data": {
                "ca.crt": b64(self.ca_crt.as_bytes()),
                "tls.crt": b64(self.tls_crt.as_bytes()),
                "tls.key": b64(self.tls_key.as_bytes()),
            },
        })
    }
}

impl GenGateway {
    pub fn yaml(&self) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [{}]\n    tls: {{mode: SIMPLE, credentialName: {}}}\n",
            self.name, self.namespace, self.host, self.credential
        )
    }
}

impl Cluster {
    /// The set as multi-document YAML files of at most 10,000 Secrets each in `dir` (100,000
    /// Secrets are ~290 MiB of YAML, over the 256 MiB limit for one file), Gateways last.
    /// Returns the total bytes written.
    pub fn write_dir(&self, dir: &std::path::Path) -> usize {
        std::fs::create_dir_all(dir).unwrap();
        let mut total = 0;
        for (i, chunk) in self.secrets.chunks(10_000).enumerate() {
            let text: String = chunk.iter().map(|s| s.yaml() + "---\n").collect();
            total += text.len();
            std::fs::write(dir.join(format!("secrets-{i:02}.yaml")), text).unwrap();
        }
        let text: String = self.gateways.iter().map(|g| g.yaml() + "---\n").collect();
        total += text.len();
        std::fs::write(dir.join("gateways.yaml"), text).unwrap();
        total
    }

    /// One multi-document YAML file, Secrets then Gateways.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        for s in &self.secrets {
            out.push_str(&s.yaml());
            out.push_str("---\n");
        }
        for g in &self.gateways {
            out.push_str(&g.yaml());
            out.push_str("---\n");
        }
        out
    }
}
