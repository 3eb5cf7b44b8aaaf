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

/// What a private key is matched against: the SHA-256 of a certificate's public key material
/// (RSA (n, e) without leading zeros, the curve and the EC point as encoded, or the Ed25519
/// bytes), 32 bytes where an RSA 4096 modulus alone is 512. Equal material, equal digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    Digest([u8; 32]),
    Unknown,
}

impl PublicKey {
    fn of(tag: u8, parts: &[&[u8]]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update([tag]);
        for p in parts {
            // Lengths first, so (n, e) cannot be confused with another split of the same bytes.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        PublicKey::Digest(h.finalize().into())
    }

    /// RSA (n, e), each without leading zeros.
    pub fn rsa(n: &[u8], e: &[u8]) -> Self {
        Self::of(1, &[n, e])
    }

    /// An EC point as encoded (every common tool writes it uncompressed), on `curve`.
    pub fn ec(curve: &str, point: &[u8]) -> Self {
        Self::of(2, &[curve.as_bytes(), point])
    }

    pub fn ed25519(public: &[u8]) -> Self {
        Self::of(3, &[public])
    }
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

/// Separates the issuer's six [`DN_FIELDS`] values in [`IssuerFacts`] (a value holding one
/// has it replaced by a space, as the subject's values have).
const DN_SEP: char = '\u{1f}';

/// What a certificate says of its issuer: the same for every leaf of one CA, so the
/// [`super::Analyzer`] keeps one copy for all of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerFacts {
    name: Box<str>,
    common_name: Option<Box<str>>,
    /// SHA-256 of the DER issuer name.
    digest: [u8; 32],
    /// The issuing CA's key identifier (authorityKeyIdentifier's keyIdentifier).
    key_id: Option<Box<[u8]>>,
    /// The issuer's [`DN_FIELDS`] values, joined by [`DN_SEP`].
    dn: Box<str>,
}

impl IssuerFacts {
    /// Heap bytes, for the estimates.
    pub fn heap_len(&self) -> usize {
        self.name.len()
            + self.common_name.as_ref().map_or(0, |c| c.len())
            + self.key_id.as_ref().map_or(0, |k| k.len())
            + self.dn.len()
    }
}

/// The records of a certificate's [`Arena`], in this order; after them the DNS names, the
/// URIs and the IP addresses, each list a count then its records.
const SUBJECT: usize = 0;
const COMMON_NAME: usize = 1;
const SERIAL: usize = 2;
const SUBJECT_KEY_ID: usize = 3;
/// Six records: the subject's [`DN_FIELDS`] values.
const SUBJECT_DN: usize = 4;
/// A signature algorithm's OID when [`SIGNATURES`] does not name it, else empty.
const SIGNATURE_OID: usize = 10;
/// A key algorithm's OID ([`KeyAlgorithm::Other`]) or an EC curve tlsgate does not name.
const KEY_TEXT: usize = 11;
const FIXED_RECORDS: usize = 12;

/// Repeats are looked for in the subject for at most this many records (each a linear
/// search), so a certificate with thousands of SANs costs no quadratic work.
const MAX_REPEAT_SEARCHES: usize = 16;

/// Every variable-length fact of one certificate in one allocation (about 100 bytes for a
/// typical leaf, where a field each cost twenty allocations and their headers). A record is
/// a LEB128 header, `len << 1` followed by its bytes, or `len << 1 | 1` followed by the
/// offset of the same bytes earlier in the arena: the CN, the subject's CN field and a DNS
/// name are usually all in the subject string already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Arena(Box<[u8]>);

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if shift < usize::BITS {
            v |= usize::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

struct ArenaBuilder {
    buf: Vec<u8>,
    /// Where the subject's bytes are, once written, for repeats.
    subject: Option<(usize, usize)>,
    searches: usize,
}

impl ArenaBuilder {
    fn new() -> Self {
        ArenaBuilder {
            buf: Vec::with_capacity(128),
            subject: None,
            searches: 0,
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        put_varint(&mut self.buf, b.len() << 1);
        self.buf.extend_from_slice(b);
    }

    /// A text record: a repeat when the subject holds the same text.
    fn text(&mut self, t: &str) {
        if let Some((start, len)) = self.subject.filter(|_| !t.is_empty()) {
            if self.searches < MAX_REPEAT_SEARCHES {
                self.searches += 1;
                let subject = std::str::from_utf8(&self.buf[start..start + len]).unwrap_or("");
                if let Some(at) = subject.find(t) {
                    put_varint(&mut self.buf, t.len() << 1 | 1);
                    put_varint(&mut self.buf, start + at);
                    return;
                }
            }
        }
        self.bytes(t.as_bytes());
    }

    fn subject(&mut self, t: &str) {
        put_varint(&mut self.buf, t.len() << 1);
        self.subject = Some((self.buf.len(), t.len()));
        self.buf.extend_from_slice(t.as_bytes());
    }

    fn count(&mut self, n: usize) {
        put_varint(&mut self.buf, n);
    }

    fn finish(self) -> Arena {
        Arena(self.buf.into_boxed_slice())
    }
}

/// Reads an [`Arena`]'s records in order.
struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Records<'a> {
    fn record(&mut self) -> &'a [u8] {
        let header = get_varint(self.buf, &mut self.pos);
        let len = header >> 1;
        let start = if header & 1 == 1 {
            get_varint(self.buf, &mut self.pos)
        } else {
            let at = self.pos;
            self.pos = self.pos.saturating_add(len);
            at
        };
        self.buf
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.record();
        }
    }

    fn count(&mut self) -> usize {
        get_varint(self.buf, &mut self.pos)
    }

    /// Reads past a list: its count, then its records.
    fn skip_list(&mut self) {
        let n = self.count();
        self.skip(n);
    }

    fn list(mut self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let n = self.count();
        (0..n).map(move |_| self.record())
    }
}

impl Arena {
    fn records(&self) -> Records<'_> {
        Records {
            buf: &self.0,
            pos: 0,
        }
    }

    fn at(&self, i: usize) -> &[u8] {
        let mut r = self.records();
        r.skip(i);
        r.record()
    }

    fn text(&self, i: usize) -> &str {
        std::str::from_utf8(self.at(i)).unwrap_or("")
    }

    /// The records of list `n` (0: DNS names, 1: URIs, 2: IP addresses).
    fn list(&self, n: usize) -> impl Iterator<Item = &[u8]> {
        let mut r = self.records();
        r.skip(FIXED_RECORDS);
        for _ in 0..n {
            r.skip_list();
        }
        r.list()
    }
}

/// Signature algorithms tlsgate names, by OID, and how strong they are.
const SIGNATURES: [(&str, &str, SignatureStrength); 12] = {
    use SignatureStrength::*;
    [
        ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", Md5),
        ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption", Sha1),
        ("1.3.14.3.2.29", "sha1WithRSAEncryption", Sha1),
        ("1.2.840.10045.4.1", "ecdsa-with-SHA1", Sha1),
        (
            "1.2.840.113549.1.1.11",
            "sha256WithRSAEncryption",
            Acceptable,
        ),
        (
            "1.2.840.113549.1.1.12",
            "sha384WithRSAEncryption",
            Acceptable,
        ),
        (
            "1.2.840.113549.1.1.13",
            "sha512WithRSAEncryption",
            Acceptable,
        ),
        ("1.2.840.113549.1.1.10", "RSASSA-PSS", Acceptable),
        ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", Acceptable),
        ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", Acceptable),
        ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", Acceptable),
        ("1.3.101.112", "Ed25519", Acceptable),
    ]
};

/// EC curves tlsgate names, by OID; the last is a key without named-curve parameters.
const CURVES: [(&str, &str); 4] = [
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
    ("", "unknown curve"),
];
const UNKNOWN_CURVE: u8 = 3;

/// [`KeyAlgorithm`] in 8 bytes: names are table indices, a name no table holds is the
/// arena's [`KEY_TEXT`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyShape {
    Rsa {
        bits: u32,
    },
    /// An index into [`CURVES`], or `u8::MAX`: the curve's OID is in the arena.
    Ec {
        curve: u8,
    },
    Ed25519,
    /// The algorithm's OID is in the arena.
    Other,
}

/// The public facts of one certificate. Fixed-size facts are fields; names, SANs, serial and
/// key identifiers are read through accessors from one allocation ([`Arena`]), and what its
/// issuer says of itself is shared with the other leaves of that issuer ([`IssuerFacts`]).
#[derive(Clone)]
pub struct CertInfo {
    arena: Arena,
    issuer: Arc<IssuerFacts>,
    /// SHA-256 of the DER subject name: compared (as the names are, byte for byte) when
    /// ordering a chain, in 32 bytes instead of a copy of the name.
    pub subject_digest: [u8; 32],
    pub sha256: [u8; 32],
    /// What a private key is matched against ([`super::key::check_pair`]).
    pub public_key: PublicKey,
    pub not_before: i64,
    pub not_after: i64,
    key: KeyShape,
    /// An index into [`SIGNATURES`], or `u8::MAX`: the OID is in the arena.
    signature: u8,
    pub serial_problem: Option<SerialProblem>,
    pub signature_strength: SignatureStrength,
    pub is_ca: bool,
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
    has_common_name: bool,
    has_subject_key_id: bool,
}

/// The facts as the accessors read them, not the arena's bytes.
impl std::fmt::Debug for CertInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertInfo")
            .field("subject", &self.subject())
            .field("common_name", &self.common_name())
            .field("issuer", &self.issuer())
            .field("dns_names", &self.dns_names().collect::<Vec<_>>())
            .field("ip_addresses", &self.ip_addresses())
            .field("uris", &self.uris().collect::<Vec<_>>())
            .field("serial", &self.serial_hex())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_algorithm", &self.key_algorithm())
            .field("signature_algorithm", &self.signature_algorithm())
            .field("is_ca", &self.is_ca)
            .field("sha256", &self.fingerprint_hex())
            .finish_non_exhaustive()
    }
}

impl CertInfo {
    /// The subject as x509-parser writes it (`CN=httpbin.example.com, O=tlsgate`).
    pub fn subject(&self) -> &str {
        self.arena.text(SUBJECT)
    }

    /// The subject's first CN, if it has one (and it is a string).
    pub fn common_name(&self) -> Option<&str> {
        self.has_common_name.then(|| self.arena.text(COMMON_NAME))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer.name
    }

    pub fn issuer_cn(&self) -> Option<&str> {
        self.issuer.common_name.as_deref()
    }

    /// SHA-256 of the DER issuer name (see [`Self::subject_digest`]).
    pub fn issuer_digest(&self) -> &[u8; 32] {
        &self.issuer.digest
    }

    /// What this certificate says of its issuer, shared by the leaves of one issuer.
    pub fn issuer_facts(&self) -> &Arc<IssuerFacts> {
        &self.issuer
    }

    /// Replaces the issuer facts with an equal copy (the [`super::Analyzer`]'s shared one).
    pub(crate) fn share_issuer(&mut self, shared: Arc<IssuerFacts>) {
        debug_assert!(*shared == *self.issuer);
        self.issuer = shared;
    }

    /// SAN DNS names, in the certificate's order.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> {
        self.arena
            .list(0)
            .map(|b| std::str::from_utf8(b).unwrap_or(""))
    }

    /// URI SANs: Istio workload certificates carry only a SPIFFE ID (`spiffe://cluster.local/ns/..`).
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.arena
            .list(1)
            .map(|b| std::str::from_utf8(b).unwrap_or(""))
    }

    /// IP address SANs (4 or 16 octets; others are not kept).
    pub fn ip_addresses(&self) -> Vec<IpAddr> {
        self.arena.list(2).filter_map(ip_from_bytes).collect()
    }

    /// The serial number's octets without leading zeros ([`CertInfo::serial_hex`] for messages,
    /// [`CertInfo::serial_decimal`] for the exporter's label).
    pub fn serial(&self) -> &[u8] {
        self.arena.at(SERIAL)
    }

    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.has_subject_key_id
            .then(|| self.arena.at(SUBJECT_KEY_ID))
    }

    /// The issuing CA's key identifier.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.issuer.key_id.as_deref()
    }

    /// The first value of each subject name attribute in [`DN_FIELDS`] order, empty when
    /// absent: the `subject_C` … `subject_CN` labels of the expiry metrics.
    pub fn subject_dn(&self) -> [&str; 6] {
        let mut r = self.arena.records();
        r.skip(SUBJECT_DN);
        std::array::from_fn(|_| std::str::from_utf8(r.record()).unwrap_or(""))
    }

    /// The issuer's [`DN_FIELDS`] values, as [`Self::subject_dn`]: the `issuer_*` labels.
    pub fn issuer_dn(&self) -> [&str; 6] {
        let mut it = self.issuer.dn.split(DN_SEP);
        std::array::from_fn(|_| it.next().unwrap_or(""))
    }

    /// `sha256WithRSAEncryption`, ..., or the OID of an algorithm tlsgate does not name.
    pub fn signature_algorithm(&self) -> &str {
        match SIGNATURES.get(usize::from(self.signature)) {
            Some((_, name, _)) => name,
            None => self.arena.text(SIGNATURE_OID),
        }
    }

    pub fn key_algorithm(&self) -> KeyAlgorithm {
        match self.key {
            KeyShape::Rsa { bits } => KeyAlgorithm::Rsa {
                bits: bits as usize,
            },
            KeyShape::Ec { curve } => KeyAlgorithm::Ec {
                curve: match CURVES.get(usize::from(curve)) {
                    Some((_, name)) => Cow::Borrowed(*name),
                    None => Cow::Owned(self.arena.text(KEY_TEXT).to_string()),
                },
            },
            KeyShape::Ed25519 => KeyAlgorithm::Ed25519,
            KeyShape::Other => KeyAlgorithm::Other(self.arena.text(KEY_TEXT).to_string()),
        }
    }

    /// Heap bytes this certificate holds itself (its issuer's are shared), for the estimates.
    pub fn heap_len(&self) -> usize {
        self.arena.0.len()
    }

    /// "CN=httpbin.example.com" style short name for messages.
    pub fn display_name(&self) -> String {
        match (self.common_name(), self.uris().next()) {
            (Some(cn), _) => format!("CN={cn}"),
            (None, _) if !self.subject().is_empty() => self.subject().to_string(),
            (None, Some(uri)) => uri.to_string(),
            (None, None) => format!("serial {}", self.serial_hex()),
        }
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_digest == self.issuer.digest
    }

    /// Names the certificate presents for host matching: SAN DNS names, or the CN when there is
    /// no SAN extension at all (the legacy fallback Go ≥ 1.15 and browsers no longer make).
    pub fn host_names(&self) -> Vec<&str> {
        if self.has_san_extension {
            self.dns_names().collect()
        } else {
            self.common_name().into_iter().collect()
        }
    }

    /// The serial number in lowercase hex, as `openssl x509 -serial` prints it (without `serial=`).
    pub fn serial_hex(&self) -> String {
        hex(self.serial())
    }

    /// The serial as an unsigned decimal number, as x509-certificate-exporter's
    /// `serial_number` label writes it (Go's `big.Int.String()`); computed when asked, not stored.
    pub fn serial_decimal(&self) -> String {
        decimal(self.serial())
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
    let mut has_san_extension = false;
    let mut san_malformed = false;
    let mut client_auth_only = false;
    let mut eku_lacks_client_auth = false;
    let mut eku_lacks_server_auth = false;
    let mut dns_names: Vec<&str> = Vec::new();
    let mut ip_addresses: Vec<&[u8]> = Vec::new();
    let mut uris: Vec<&str> = Vec::new();
    let mut is_ca = false;
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                has_san_extension = true;
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => dns_names.push(d),
                        GeneralName::URI(u) => uris.push(u),
                        GeneralName::IPAddress(b) if ip_from_bytes(b).is_some() => {
                            ip_addresses.push(b)
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
            ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    let raw_serial = tbs.raw_serial();
    let serial_problem = serial_problem(raw_serial);
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let signature = SIGNATURES.iter().position(|(oid, _, _)| *oid == sig_oid);
    let signature_strength = signature.map_or(SignatureStrength::Acceptable, |i| SIGNATURES[i].2);
    let (key, key_text, public_key) = public_key_of(tbs.public_key());

    let mut arena = ArenaBuilder::new();
    arena.subject(&tbs.subject().to_string());
    arena.text(common_name.unwrap_or(""));
    arena.bytes(strip_zeros(raw_serial));
    arena.bytes(subject_key_id.unwrap_or_default());
    for v in dn_fields(tbs.subject()) {
        arena.text(&v);
    }
    arena.text(if signature.is_some() { "" } else { &sig_oid });
    arena.text(&key_text);
    for list in [&dns_names, &uris] {
        arena.count(list.len());
        for n in list {
            arena.text(n);
        }
    }
    arena.count(ip_addresses.len());
    for ip in &ip_addresses {
        arena.bytes(ip);
    }

    let issuer = IssuerFacts {
        name: tbs.issuer().to_string().into(),
        common_name: first_cn(tbs.issuer()).map(Box::from),
        digest: sha2::Sha256::digest(tbs.issuer().as_raw()).into(),
        key_id: authority_key_id.map(Box::from),
        dn: dn_fields(tbs.issuer()).join(&DN_SEP.to_string()).into(),
    };
    CertInfo {
        arena: arena.finish(),
        issuer: Arc::new(issuer),
        subject_digest: sha2::Sha256::digest(tbs.subject().as_raw()).into(),
        sha256: sha2::Sha256::digest(der).into(),
        public_key,
        not_before: tbs.validity().not_before.timestamp(),
        not_after: tbs.validity().not_after.timestamp(),
        key,
        signature: signature.map_or(u8::MAX, |i| i as u8),
        serial_problem,
        signature_strength,
        is_ca,
        has_san_extension,
        san_malformed,
        client_auth_only,
        eku_lacks_client_auth,
        eku_lacks_server_auth,
        has_common_name: common_name.is_some(),
        has_subject_key_id: subject_key_id.is_some(),
    }
}

fn first_cn<'a>(name: &'a X509Name<'_>) -> Option<&'a str> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
}

/// The first value of each [`DN_FIELDS`] attribute; a value that is not a string type
/// (or not UTF-8) counts as absent, as it would be unreadable in a label anyway. A
/// [`DN_SEP`] in a value becomes a space.
fn dn_fields(name: &X509Name<'_>) -> [String; 6] {
    fn first<'a>(
        mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
    ) -> String {
        it.next()
            .and_then(|a| a.as_str().ok())
            .map(|v| v.replace(DN_SEP, " "))
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

pub(crate) fn curve_name(oid: &str) -> Cow<'static, str> {
    match CURVES[..UNKNOWN_CURVE as usize]
        .iter()
        .find(|(o, _)| *o == oid)
    {
        Some((_, name)) => Cow::Borrowed(*name),
        None => Cow::Owned(oid.to_string()),
    }
}

/// The key's shape, the text the arena keeps for it ([`KEY_TEXT`]: an OID tlsgate does not
/// name, else empty) and the digest a private key is matched against.
fn public_key_of(spki: &SubjectPublicKeyInfo<'_>) -> (KeyShape, String, PublicKey) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                let n = strip_zeros(rsa.modulus);
                let bits = u32::try_from(bit_length(n)).unwrap_or(u32::MAX);
                let e = strip_zeros(rsa.exponent);
                (KeyShape::Rsa { bits }, String::new(), PublicKey::rsa(n, e))
            }
            _ => (KeyShape::Rsa { bits: 0 }, String::new(), PublicKey::Unknown),
        },
        "1.2.840.10045.2.1" => {
            let oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let curve = match &oid {
                Some(oid) => curve_name(oid),
                None => Cow::Borrowed(CURVES[UNKNOWN_CURVE as usize].1),
            };
            let point = spki.subject_public_key.data.as_ref();
            let public = PublicKey::ec(&curve, point);
            match CURVES.iter().position(|(_, name)| *name == curve) {
                Some(i) => (KeyShape::Ec { curve: i as u8 }, String::new(), public),
                None => (KeyShape::Ec { curve: u8::MAX }, curve.into_owned(), public),
            }
        }
        "1.3.101.112" => (
            KeyShape::Ed25519,
            String::new(),
            PublicKey::ed25519(&spki.subject_public_key.data),
        ),
        other => (KeyShape::Other, other.to_string(), PublicKey::Unknown),
    }
}

pub(crate) fn bit_length(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        None => 0,
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Arc<CertInfo> {
        let pem = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/certs")
                .join(name),
        )
        .unwrap();
        let der = crate::analysis::first_cert_der(&pem).unwrap();
        inspect(&der).unwrap().0
    }

    /// `openssl req -subj "/CN=httpbin.example.com/O=httpbin organization"
    /// -addext subjectAltName=DNS:httpbin.example.com`: the CN, the subject's CN field and the
    /// DNS name are read back as written, and kept once (in the subject).
    #[test]
    fn names_repeated_from_the_subject_read_back_and_are_kept_once() {
        let c = fixture("httpbin-san.crt");
        assert_eq!(
            c.subject(),
            "CN=httpbin.example.com, O=httpbin organization"
        );
        assert_eq!(c.common_name(), Some("httpbin.example.com"));
        assert_eq!(c.dns_names().collect::<Vec<_>>(), ["httpbin.example.com"]);
        assert_eq!(
            c.subject_dn(),
            [
                "",
                "",
                "",
                "httpbin organization",
                "",
                "httpbin.example.com"
            ]
        );
        let once = c.subject().len() + c.serial().len() + c.subject_key_id().map_or(0, <[u8]>::len);
        assert!(
            c.heap_len() < once + 32,
            "{} bytes for {once} of facts",
            c.heap_len()
        );
    }

    /// Thousands of SANs of every kind: each list reads back whole and in order.
    #[test]
    fn thousands_of_sans_read_back_in_order() {
        let dns: Vec<String> = (0..3_000).map(|i| format!("h{i}.example.com")).collect();
        let mut sans: Vec<rcgen::SanType> = dns
            .iter()
            .map(|d| rcgen::SanType::DnsName(d.clone().try_into().unwrap()))
            .collect();
        sans.push(rcgen::SanType::IpAddress("10.0.0.1".parse().unwrap()));
        sans.push(rcgen::SanType::IpAddress("2001:db8::1".parse().unwrap()));
        sans.push(rcgen::SanType::URI(
            "spiffe://cluster.local/ns/a/sa/b".try_into().unwrap(),
        ));
        let mut p = rcgen::CertificateParams::default();
        p.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let (c, _) = inspect(cert.der()).unwrap();
        assert_eq!(c.dns_names().collect::<Vec<_>>(), dns);
        assert_eq!(
            c.ip_addresses(),
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
        assert_eq!(
            c.uris().collect::<Vec<_>>(),
            ["spiffe://cluster.local/ns/a/sa/b"]
        );
    }

    /// `-addext subjectAltName=IP:10.1.2.3`.
    #[test]
    fn an_ip_san_reads_back_as_an_address() {
        let c = fixture("names/ip.crt");
        assert_eq!(c.ip_addresses(), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.dns_names().count(), 0);
    }
}
