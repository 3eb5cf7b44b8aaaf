//! What tlsgate keeps of an X.509 certificate: only public facts, already extracted, so a
//! cache of thousands of them stays small and never needs the DER again.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

/// Public key algorithm and size of a certificate or private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    Ec { curve: Cow<'static, str> },
    Ed25519,
    Other(String),
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ec { curve } => write!(f, "ECDSA {curve}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other(oid) => write!(f, "key algorithm {oid}"),
        }
    }
}

/// The public key material used to match a private key: RSA (n, e) without leading zeros,
/// an EC point, or Ed25519 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        curve: Cow<'static, str>,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
    Unknown,
}

/// RFC 5280 §4.1.2.2: the serial is a positive integer of at most 20 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialProblem {
    Zero,
    Negative,
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStrength {
    Md5,
    Sha1,
    Acceptable,
}

/// The distinguished-name attributes x509-certificate-exporter labels, in its order
/// (`pkg/registry/labels.go` `fieldsAll`): country, state or province, locality,
/// organization, organizational unit, common name.
pub const DN_FIELDS: [&str; 6] = ["C", "ST", "L", "O", "OU", "CN"];

/// The [`DN_FIELDS`] values of the subject, then of the issuer: twelve strings kept as one
/// allocation, separated by U+001F (a value holding one has it replaced by a space), so a
/// certificate costs 16 bytes and the text, not twelve string headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnFields(Box<str>);

const DN_SEP: char = '\u{1f}';

impl DnFields {
    fn new(subject: [String; 6], issuer: [String; 6]) -> Self {
        let all: Vec<String> = subject
            .into_iter()
            .chain(issuer)
            .map(|v| v.replace(DN_SEP, " "))
            .collect();
        DnFields(all.join(&DN_SEP.to_string()).into())
    }

    /// Six values in [`DN_FIELDS`] order; empty strings when unknown.
    fn part(&self, skip: usize) -> impl Iterator<Item = &str> {
        let mut it = self.0.split(DN_SEP).skip(skip).take(6);
        (0..6).map(move |_| it.next().unwrap_or(""))
    }

    pub fn subject(&self) -> impl Iterator<Item = &str> {
        self.part(0)
    }

    pub fn issuer(&self) -> impl Iterator<Item = &str> {
        self.part(6)
    }

    /// Heap bytes, for the cache's estimate.
    pub fn heap_len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: Box<str>,
    pub common_name: Option<Box<str>>,
    /// Interned by the [`super::Analyzer`]: the leaves of one CA share one copy.
    pub issuer: Arc<str>,
    pub issuer_cn: Option<Arc<str>>,
    /// SHA-256 of the DER subject and issuer names: compared (as the names are, byte for byte)
    /// when ordering a chain, in 64 bytes instead of two copies of the names.
    pub subject_digest: [u8; 32],
    /// Shared (interned by the [`super::Analyzer`]) by the leaves of one CA.
    pub issuer_digest: Arc<[u8; 32]>,
    pub has_san_extension: bool,
    /// The subjectAltName extension is there but cannot be parsed (Go refuses the certificate).
    pub san_malformed: bool,
    /// extendedKeyUsage names clientAuth and not serverAuth (or any): a client certificate,
    /// never served, so it needs no DNS name.
    pub client_auth_only: bool,
    /// extendedKeyUsage is present and names neither clientAuth nor anyExtendedKeyUsage: a
    /// server that checks usage (RFC 5280 §4.2.1.12) refuses it as a client certificate.
    pub eku_lacks_client_auth: bool,
    /// extendedKeyUsage is present and names neither serverAuth, anyExtendedKeyUsage nor a
    /// Server Gated Crypto purpose (which Go still takes for serverAuth): TLS clients that check
    /// usage (Go, browsers, OpenSSL's libssl, rustls) refuse it as a server certificate.
    pub eku_lacks_server_auth: bool,
    pub dns_names: Box<[Box<str>]>,
    pub ip_addresses: Box<[IpAddr]>,
    /// URI SANs: Istio workload certificates carry only a SPIFFE ID (`spiffe://cluster.local/ns/..`).
    pub uris: Box<[Box<str>]>,
    pub not_before: i64,
    pub not_after: i64,
    /// The serial number's octets without leading zeros ([`CertInfo::serial_hex`] for messages,
    /// [`CertInfo::serial_decimal`] for the exporter's label).
    pub serial: Box<[u8]>,
    /// The first value of each name attribute in [`DN_FIELDS`] order, empty when absent:
    /// the `subject_C` … `subject_CN` and `issuer_*` labels of the expiry metrics.
    pub dn_fields: DnFields,
    pub serial_problem: Option<SerialProblem>,
    pub signature_algorithm: Cow<'static, str>,
    pub signature_strength: SignatureStrength,
    pub key_algorithm: KeyAlgorithm,
    pub public_key: PublicKeyMaterial,
    pub is_ca: bool,
    pub subject_key_id: Option<Box<[u8]>>,
    /// The issuing CA's key identifier: shared by its leaves, as [`Self::issuer_digest`] is.
    pub authority_key_id: Option<Arc<[u8]>>,
    pub sha256: [u8; 32],
}

impl CertInfo {
    /// "CN=httpbin.example.com" style short name for messages.
    pub fn display_name(&self) -> String {
        match (&self.common_name, self.uris.first()) {
            (Some(cn), _) => format!("CN={cn}"),
            (None, _) if !self.subject.is_empty() => self.subject.to_string(),
            (None, Some(uri)) => uri.to_string(),
            (None, None) => format!("serial {}", self.serial_hex()),
        }
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_digest == *self.issuer_digest
    }

    /// Names the certificate presents for host matching: SAN DNS names, or the CN when there is
    /// no SAN extension at all (the legacy fallback Go ≥ 1.15 and browsers no longer make).
    pub fn host_names(&self) -> Vec<&str> {
        if self.has_san_extension {
            self.dns_names.iter().map(|n| &**n).collect()
        } else {
            self.common_name.iter().map(|n| &**n).collect()
        }
    }

    /// The serial number in lowercase hex, as `openssl x509 -serial` prints it (without `serial=`).
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }

    /// The serial as an unsigned decimal number, as x509-certificate-exporter's
    /// `serial_number` label writes it (Go's `big.Int.String()`); computed when asked, not stored.
    pub fn serial_decimal(&self) -> String {
        decimal(&self.serial)
    }

    pub fn fingerprint_hex(&self) -> String {
        hex(&self.sha256)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses one DER certificate. The error string says what is wrong in words.
pub fn inspect(der: &[u8]) -> Result<(Arc<CertInfo>, X509Certificate<'_>), String> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("is not a valid X.509 certificate ({e})"))?;
    if !rest.is_empty() {
        return Err("has trailing bytes after the certificate".into());
    }
    let info = extract(der, &cert);
    Ok((Arc::new(info), cert))
}

/// Netscape and Microsoft Server Gated Crypto: old server-certificate purposes that Go's
/// crypto/x509 still accepts in place of serverAuth.
const SERVER_GATED_CRYPTO: [&str; 2] = ["2.16.840.1.113730.4.1", "1.3.6.1.4.1.311.10.3.3"];

fn extract(der: &[u8], cert: &X509Certificate<'_>) -> CertInfo {
    use sha2::Digest;
    let tbs = &cert.tbs_certificate;
    let common_name = first_cn(tbs.subject());
    let issuer_cn = first_cn(tbs.issuer());
    let mut has_san_extension = false;
    let mut san_malformed = false;
    let mut client_auth_only = false;
    let mut eku_lacks_client_auth = false;
    let mut eku_lacks_server_auth = false;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut uris = Vec::new();
    let mut is_ca = false;
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                has_san_extension = true;
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => dns_names.push(Box::<str>::from(*d)),
                        GeneralName::URI(u) => uris.push(Box::<str>::from(*u)),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_from_bytes(b) {
                                ip_addresses.push(ip)
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::ParseError { .. }
                if ext.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME =>
            {
                has_san_extension = true;
                san_malformed = true;
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                client_auth_only = eku.client_auth && !eku.server_auth && !eku.any;
                eku_lacks_client_auth = !eku.client_auth && !eku.any;
                eku_lacks_server_auth = !eku.server_auth
                    && !eku.any
                    && !eku
                        .other
                        .iter()
                        .any(|o| SERVER_GATED_CRYPTO.contains(&o.to_id_string().as_str()));
            }
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0.into()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0.into())
            }
            _ => {}
        }
    }
    let raw_serial = tbs.raw_serial();
    let serial_problem = serial_problem(raw_serial);
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature_algorithm, signature_strength) = signature_name(&sig_oid);
    let (key_algorithm, public_key) = public_key_of(tbs.public_key());
    CertInfo {
        subject: tbs.subject().to_string().into(),
        common_name,
        issuer: tbs.issuer().to_string().into(),
        issuer_cn: issuer_cn.map(Arc::from),
        subject_digest: sha2::Sha256::digest(tbs.subject().as_raw()).into(),
        issuer_digest: Arc::new(sha2::Sha256::digest(tbs.issuer().as_raw()).into()),
        has_san_extension,
        san_malformed,
        client_auth_only,
        eku_lacks_client_auth,
        eku_lacks_server_auth,
        dns_names: dns_names.into(),
        ip_addresses: ip_addresses.into(),
        uris: uris.into(),
        not_before: tbs.validity().not_before.timestamp(),
        not_after: tbs.validity().not_after.timestamp(),
        serial: strip_zeros(raw_serial).into(),
        dn_fields: DnFields::new(dn_fields(tbs.subject()), dn_fields(tbs.issuer())),
        serial_problem,
        signature_algorithm,
        signature_strength,
        key_algorithm,
        public_key,
        is_ca,
        subject_key_id,
        authority_key_id,
        sha256: sha2::Sha256::digest(der).into(),
    }
}

fn first_cn(name: &X509Name<'_>) -> Option<Box<str>> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(Box::from)
}

/// The first value of each [`DN_FIELDS`] attribute; a value that is not a string type
/// (or not UTF-8) counts as absent, as it would be unreadable in a label anyway.
fn dn_fields(name: &X509Name<'_>) -> [String; 6] {
    fn first<'a>(
        mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
    ) -> String {
        it.next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
            .unwrap_or_default()
    }
    [
        first(name.iter_country()),
        first(name.iter_state_or_province()),
        first(name.iter_locality()),
        first(name.iter_organization()),
        first(name.iter_organizational_unit()),
        first(name.iter_common_name()),
    ]
}

/// A big-endian unsigned integer in decimal (serials are at most 20 octets, RFC 5280 §4.1.2.2,
/// but any length works): repeated division by 10^19 of base-2^32 limbs.
fn decimal(be: &[u8]) -> String {
    let mut limbs: Vec<u32> = Vec::with_capacity(be.len() / 4 + 1);
    let pad = (4 - be.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(0u8, pad)
        .chain(be.iter().copied())
        .collect();
    for c in padded.chunks(4) {
        limbs.push(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    const BASE: u64 = 10_000_000_000_000_000_000;
    let mut parts: Vec<u64> = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | u128::from(*l);
            *l = (cur / u128::from(BASE)) as u32;
            rem = cur % u128::from(BASE);
        }
        parts.push(rem as u64);
    }
    match parts.split_last() {
        None => "0".to_string(),
        Some((first, rest)) => {
            let mut out = first.to_string();
            for p in rest.iter().rev() {
                out.push_str(&format!("{p:019}"));
            }
            out
        }
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn serial_problem(raw: &[u8]) -> Option<SerialProblem> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        Some(SerialProblem::Negative)
    } else if raw.iter().all(|b| *b == 0) {
        Some(SerialProblem::Zero)
    } else if strip_zeros(raw).len() > 20 {
        Some(SerialProblem::TooLong)
    } else {
        None
    }
}

pub(crate) fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

fn signature_name(oid: &str) -> (Cow<'static, str>, SignatureStrength) {
    use SignatureStrength::*;
    let (name, strength) = match oid {
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", Md5),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => ("sha1WithRSAEncryption", Sha1),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", Sha1),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", Acceptable),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", Acceptable),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", Acceptable),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS", Acceptable),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", Acceptable),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", Acceptable),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", Acceptable),
        "1.3.101.112" => ("Ed25519", Acceptable),
        other => return (other.to_string().into(), Acceptable),
    };
    (name.into(), strength)
}

pub(crate) fn curve_name(oid: &str) -> Cow<'static, str> {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        other => other.to_string().into(),
    }
}

fn public_key_of(spki: &SubjectPublicKeyInfo<'_>) -> (KeyAlgorithm, PublicKeyMaterial) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                let n = strip_zeros(rsa.modulus).to_vec();
                let bits = bit_length(&n);
                let e = strip_zeros(rsa.exponent).to_vec();
                (KeyAlgorithm::Rsa { bits }, PublicKeyMaterial::Rsa { n, e })
            }
            _ => (KeyAlgorithm::Rsa { bits: 0 }, PublicKeyMaterial::Unknown),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| curve_name(&o.to_id_string()))
                .unwrap_or(Cow::Borrowed("unknown curve"));
            let point = spki.subject_public_key.data.to_vec();
            (
                KeyAlgorithm::Ec {
                    curve: curve.clone(),
                },
                PublicKeyMaterial::Ec { curve, point },
            )
        }
        "1.3.101.112" => (
            KeyAlgorithm::Ed25519,
            PublicKeyMaterial::Ed25519(spki.subject_public_key.data.to_vec()),
        ),
        other => (
            KeyAlgorithm::Other(other.to_string()),
            PublicKeyMaterial::Unknown,
        ),
    }
}

pub(crate) fn bit_length(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        None => 0,
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
    }
}
