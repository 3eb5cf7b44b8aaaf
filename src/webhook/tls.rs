//! The serving certificate: loaded, validated with the core's own checks, and swapped for new
//! handshakes without touching established connections. A webhook that guards TLS must never
//! be the one serving an expired or mismatched pair (the galley outage in the seeds).

use crate::analysis::{self, Analyzer};
use crate::finding::Severity;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// A validated serving pair and what the operator needs to know about it.
#[derive(Debug)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub not_after: i64,
    pub subject: String,
    pub fingerprint: String,
    /// basicConstraints CA:TRUE on the leaf.
    pub is_ca: bool,
    /// The names the leaf presents for host matching (SAN DNS names, or the CN without SANs).
    pub names: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
}

/// Parses and validates a PEM pair with the same rules `lint` applies to Secrets: key match,
/// validity at `now`, malformed input. Messages never include key material.
pub fn load_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    now: i64,
    analyzer: &Analyzer,
) -> Result<Loaded, String> {
    let mut data = analysis::SecretData::new();
    data.insert(analysis::TLS_PAIR.0.into(), cert_pem.to_vec());
    data.insert(analysis::TLS_PAIR.1.into(), key_pem.to_vec());
    let summary = analyzer.credential("tlsgate-serving", "kubernetes.io/tls", &data);
    let problems: Vec<String> = summary
        .issues
        .iter()
        .chain(analysis::validity_issues(&summary, now, 0).iter())
        .filter(|i| i.severity == Severity::Deny)
        .map(|i| format!("{}: {}", i.code, i.message))
        .collect();
    let leaf = summary.leaf().cloned();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let leaf = leaf.ok_or("tls.crt holds no certificate")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.crt is not PEM ({e})"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "tls.key holds no usable private key".to_string())?;
    let signing = aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| format!("tls.key cannot sign: {e}"))?;
    Ok(Loaded {
        key: Arc::new(CertifiedKey::new(certs, signing)),
        not_after: leaf.not_after,
        subject: leaf.display_name(),
        fingerprint: leaf.fingerprint_hex(),
        is_ca: leaf.is_ca,
        names: leaf.host_names().into_iter().map(str::to_string).collect(),
        ips: leaf.ip_addresses(),
    })
}

/// What is servable but likely wrong about a serving pair: a CA certificate as the leaf, or a
/// leaf that does not name `host`, the name the API server verifies. Warnings, not refusals:
/// a webhook reached by `clientConfig.url` is verified against another name.
pub fn serving_warnings(loaded: &Loaded, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    if loaded.is_ca {
        out.push(format!(
            "the serving certificate ({}) is a CA (basicConstraints CA:TRUE); serve a leaf certificate issued by it instead",
            loaded.subject
        ));
    }
    let names: Vec<&str> = loaded.names.iter().map(String::as_str).collect();
    let named = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => loaded.ips.contains(&ip),
        Err(_) => names
            .iter()
            .any(|n| crate::analysis::hosts::name_covers(n, host)),
    };
    if !named {
        let shown: Vec<&str> = names.iter().take(3).copied().collect();
        let more = names.len().saturating_sub(shown.len());
        let listed = if shown.is_empty() {
            "no DNS names".to_string()
        } else if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        };
        out.push(format!(
            "the serving certificate ({}) does not name {host}, the host the API server calls (from --service-name/--namespace); it names {listed}; reissue it with -addext subjectAltName=DNS:{host}",
            loaded.subject
        ));
    }
    out
}

/// Hands the current pair to every new handshake; `set` swaps it atomically.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    not_after: AtomicI64,
    fingerprint: RwLock<String>,
}

impl CertStore {
    pub fn new(first: Loaded) -> Arc<Self> {
        Arc::new(CertStore {
            current: RwLock::new(first.key),
            not_after: AtomicI64::new(first.not_after),
            fingerprint: RwLock::new(first.fingerprint),
        })
    }

    pub fn set(&self, next: Loaded) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next.key;
        self.not_after.store(next.not_after, Ordering::Relaxed);
        *self.fingerprint.write().unwrap_or_else(|e| e.into_inner()) = next.fingerprint;
    }

    pub fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// rustls server config: TLS 1.2 and 1.3 only (rustls has nothing older), aws-lc-rs, ALPN
/// h2 and http/1.1 as the API server speaks both.
pub fn server_config(store: Arc<CertStore>) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(store);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(rel),
        )
        .unwrap()
    }

    /// 2030-01-01: inside every fixture's validity window used here.
    const NOW: i64 = 1_893_456_000;

    fn loaded(cert: &str, key: &str) -> Loaded {
        load_pair(&fixture(cert), &fixture(key), NOW, &Analyzer::new()).unwrap()
    }

    #[test]
    fn a_ca_certificate_as_the_serving_pair_is_warned_about() {
        let l = loaded("certs/chain/root.crt", "certs/chain/root.key");
        let w = serving_warnings(&l, "tlsgate.tlsgate-system.svc");
        assert!(
            w.iter()
                .any(|w| w.contains("is a CA (basicConstraints CA:TRUE)")),
            "{w:?}"
        );
    }

    #[test]
    fn a_serving_certificate_not_naming_the_service_host_is_warned_about() {
        let l = loaded("certs/dated/long-valid.crt", "certs/dated/long-valid.key");
        let w = serving_warnings(&l, "tlsgate.tlsgate-system.svc");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("does not name tlsgate.tlsgate-system.svc"),
            "{w:?}"
        );
        assert!(w[0].contains("it names httpbin.example.com"), "{w:?}");
    }

    #[test]
    fn a_leaf_naming_the_host_gets_no_warning() {
        let l = loaded("certs/dated/long-valid.crt", "certs/dated/long-valid.key");
        assert!(serving_warnings(&l, "httpbin.example.com").is_empty());
    }
}
