//! The self-managed certificates as stored in the Secret: parsed from its data, changed by
//! one planned [`Action`] at a time (this is where rcgen makes keys and certificates, at a
//! `now` passed in), and written back as data. No kube client and no clock here.

use super::plan::{Action, Schedule, ServiceName, Stored};
use crate::analysis::cert::CertInfo;
use crate::analysis::{parse_bundle, Role, SecretData};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::sync::Arc;

pub const TLS_CRT: &str = crate::analysis::TLS_PAIR.0;
pub const TLS_KEY: &str = crate::analysis::TLS_PAIR.1;
/// `ca.crt`, where the webhook's clients (and gateways) look for the CA.
pub const CA_BUNDLE: &str = crate::analysis::CA_KEYS[1];
pub const SIGNING_CRT: &str = "ca-signing.crt";
pub const SIGNING_KEY: &str = "ca.key";
pub const NEXT_CRT: &str = "ca-next.crt";
pub const NEXT_KEY: &str = "ca-next.key";

/// A certificate with its private key, both PEM.
#[derive(Clone)]
pub struct Keyed {
    pub cert_pem: String,
    pub key_pem: String,
    pub info: Arc<CertInfo>,
}

impl std::fmt::Debug for Keyed {
    // The key stays out of every Debug print and log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("subject", &self.info.subject())
            .field("not_after", &self.info.not_after)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default)]
pub struct State {
    pub signing: Option<Keyed>,
    pub next: Option<Keyed>,
    /// The CAs to publish, oldest first, each as its own PEM block.
    pub bundle: Vec<(String, Arc<CertInfo>)>,
    pub serving: Option<Keyed>,
    bundle_infos: Vec<Arc<CertInfo>>,
}

impl State {
    /// Reads the Secret's data. What does not parse, or a key that does not match its
    /// certificate, reads as absent and is listed in the second value (without key material).
    pub fn from_data(data: &SecretData) -> (State, Vec<String>) {
        let mut problems = Vec::new();
        let mut keyed = |crt: &str, key: &str| -> Option<Keyed> {
            let (c, k) = (data.get(crt)?, data.get(key));
            match parse_keyed(c, k) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("{crt}/{key}: {e}"));
                    None
                }
            }
        };
        let signing = keyed(SIGNING_CRT, SIGNING_KEY);
        let next = keyed(NEXT_CRT, NEXT_KEY);
        let serving = keyed(TLS_CRT, TLS_KEY);
        let mut bundle = Vec::new();
        if let Some(pem) = data.get(CA_BUNDLE) {
            match split_pem(pem) {
                Ok(v) => bundle = v,
                Err(e) => problems.push(format!("{CA_BUNDLE}: {e}")),
            }
        }
        let mut st = State {
            signing,
            next,
            bundle,
            serving,
            bundle_infos: Vec::new(),
        };
        st.sync_infos();
        (st, problems)
    }

    /// The Secret's data for this state.
    pub fn to_data(&self) -> SecretData {
        let mut d = SecretData::new();
        let mut put = |k: &str, v: &str| {
            d.insert(k.to_string(), v.as_bytes().to_vec());
        };
        if let Some(s) = &self.serving {
            put(TLS_CRT, &s.cert_pem);
            put(TLS_KEY, &s.key_pem);
        }
        if let Some(s) = &self.signing {
            put(SIGNING_CRT, &s.cert_pem);
            put(SIGNING_KEY, &s.key_pem);
        }
        if let Some(s) = &self.next {
            put(NEXT_CRT, &s.cert_pem);
            put(NEXT_KEY, &s.key_pem);
        }
        put(CA_BUNDLE, &self.bundle_pem());
        d
    }

    /// `ca.crt`: what every webhook's caBundle must be, byte for byte.
    pub fn bundle_pem(&self) -> String {
        self.bundle.iter().map(|(p, _)| p.as_str()).collect()
    }

    pub fn stored(&self) -> Stored<'_> {
        Stored {
            signing: self.signing.as_ref().map(|k| &*k.info),
            next: self.next.as_ref().map(|k| &*k.info),
            bundle: &self.bundle_infos,
            serving: self.serving.as_ref().map(|k| &*k.info),
        }
    }

    /// Carries out `action` at `now`. [`Action::Publish`] and [`Action::Idle`] change nothing
    /// stored. Returns whether the state changed.
    pub fn apply(
        &mut self,
        action: &Action,
        names: &ServiceName,
        sched: &Schedule,
        now: i64,
    ) -> Result<bool, rcgen::Error> {
        match action {
            Action::Bootstrap => {
                let ca = new_ca(sched, now)?;
                self.serving = Some(issue_serving(&ca, names, sched, now)?);
                self.bundle = vec![(ca.cert_pem.clone(), ca.info.clone())];
                self.signing = Some(ca);
                self.next = None;
            }
            Action::RepairBundle => {
                for k in [&self.signing, &self.next].into_iter().flatten() {
                    if !self.bundle.iter().any(|(_, c)| c.sha256 == k.info.sha256) {
                        self.bundle.push((k.cert_pem.clone(), k.info.clone()));
                    }
                }
            }
            Action::IssueServing => {
                let Some(ca) = &self.signing else {
                    return Ok(false);
                };
                self.serving = Some(issue_serving(ca, names, sched, now)?);
            }
            Action::StartCaRollover => {
                let ca = new_ca(sched, now)?;
                self.bundle.push((ca.cert_pem.clone(), ca.info.clone()));
                self.next = Some(ca);
            }
            Action::PromoteNextCa => {
                let Some(ca) = self.next.take() else {
                    return Ok(false);
                };
                self.serving = Some(issue_serving(&ca, names, sched, now)?);
                self.signing = Some(ca);
            }
            Action::RetireOldCas(gone) => self.bundle.retain(|(_, c)| !gone.contains(&c.sha256)),
            Action::Publish | Action::Idle { .. } => return Ok(false),
        }
        self.sync_infos();
        Ok(true)
    }

    fn sync_infos(&mut self) {
        self.bundle_infos = self.bundle.iter().map(|(_, c)| c.clone()).collect();
    }
}

fn parse_keyed(cert: &[u8], key: Option<&Vec<u8>>) -> Result<Keyed, String> {
    let key = key.ok_or("the private key is missing")?;
    let cert_pem = String::from_utf8(cert.to_vec()).map_err(|_| "not PEM text")?;
    let key_pem = String::from_utf8(key.to_vec()).map_err(|_| "key is not PEM text")?;
    let b = parse_bundle(cert, Role::ServerChain);
    let info = b.leaf().cloned().ok_or("holds no certificate")?;
    // The same key↔certificate rule as lint, the webhook and the audit.
    match crate::analysis::key::check_pair(key, Some(&info.public_key)) {
        Ok(_) => {}
        Err(crate::analysis::key::PairError::Mismatch { .. }) => {
            return Err("the private key does not match the certificate".into())
        }
        Err(e) => return Err(format!("the private key {e}")),
    }
    Ok(Keyed {
        cert_pem,
        key_pem,
        info,
    })
}

fn split_pem(pem: &[u8]) -> Result<Vec<(String, Arc<CertInfo>)>, String> {
    let b = parse_bundle(pem, Role::CaBundle);
    let blocks = crate::analysis::pem::parse(pem, crate::analysis::MAX_CERTS_PER_BUNDLE)
        .map_err(|e| e.to_string())?;
    if blocks.len() != b.certs.len() {
        return Err("holds something other than certificates".into());
    }
    Ok(blocks
        .iter()
        .zip(&b.certs)
        .map(|(blk, c)| (to_pem(&blk.der), c.clone()))
        .collect())
}

fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

fn at(unix: i64) -> Result<time::OffsetDateTime, rcgen::Error> {
    time::OffsetDateTime::from_unix_timestamp(unix).map_err(|_| rcgen::Error::Time)
}

fn keyed(cert: rcgen::Certificate, key: &KeyPair) -> Result<Keyed, rcgen::Error> {
    let cert_pem = cert.pem();
    let info = parse_bundle(cert_pem.as_bytes(), Role::CaBundle)
        .leaf()
        .cloned()
        .ok_or(rcgen::Error::CouldNotParseCertificate)?;
    Ok(Keyed {
        cert_pem,
        key_pem: key.serialize_pem(),
        info,
    })
}

/// A CA valid for `sched.ca_lifetime` from `now`. Each CA's name carries its issue time, so
/// two CAs in one bundle are told apart by name as well as by key.
pub fn new_ca(sched: &Schedule, now: i64) -> Result<Keyed, rcgen::Error> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, format!("tlsgate CA {now}"));
    p.distinguished_name
        .push(DnType::OrganizationName, "tlsgate");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(now - sched.backdate)?;
    p.not_after = at(now + sched.ca_lifetime)?;
    let cert = p.self_signed(&key)?;
    keyed(cert, &key)
}

/// A serving certificate for `names` from `ca`, valid for `sched.serving_lifetime` from
/// `now` but never past the CA's own notAfter.
pub fn issue_serving(
    ca: &Keyed,
    names: &ServiceName,
    sched: &Schedule,
    now: i64,
) -> Result<Keyed, rcgen::Error> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let dns = names.dns_names();
    let mut p = CertificateParams::new(dns.clone())?;
    p.distinguished_name
        .push(DnType::CommonName, dns[0].clone());
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p.not_before = at(now - sched.backdate)?;
    p.not_after = at((now + sched.serving_lifetime).min(ca.info.not_after))?;
    let cert = p.signed_by(&key, &issuer)?;
    keyed(cert, &key)
}
