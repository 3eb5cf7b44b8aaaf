//! The pure core: bytes in, facts and issues out. No kube client, no async, no clock — `now`
//! is always a parameter (rustls-webpki's `check_validity` is the model).
//!
//! [`Analyzer::credential`] turns a Secret's decoded data into a [`CredentialSummary`]: the
//! public facts of every certificate it holds, which key pair a gateway would use, and the
//! issues that do not depend on time. [`validity_issues`] adds the time-dependent ones.
//! Summaries never hold private key bytes, so the webhook's cache can keep them.

pub mod cache;
pub mod cert;
pub mod data;
pub mod hosts;
pub mod inline;
pub mod key;
pub mod pem;
pub mod validity;

use crate::finding::{Code, Issue, Severity};
pub use cert::CertInfo;
use cert::{SerialProblem, SignatureStrength};
use sha2::Digest;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
pub use validity::{cert_validity, human_duration, is_valid_at, rfc3339, window, Window};

/// At most this many certificates in one PEM bundle.
pub const MAX_CERTS_PER_BUNDLE: usize = 100;
/// At most this many bytes of data in one object.
pub const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024;

/// What a bundle of certificates is for; decides which rules apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Role {
    #[default]
    /// Leaf first, then intermediates (`tls.crt`, `cert`, `cert-chain.pem`).
    ServerChain,
    /// Trust anchors for client certificates or the mesh (`ca.crt`, `cacert`, `root-cert.pem`).
    CaBundle,
    /// An Istio signing CA certificate (`ca-cert.pem`).
    SigningCa,
}

impl Role {
    const ALL: [Role; 3] = [Role::ServerChain, Role::CaBundle, Role::SigningCa];

    /// This role's place in [`data::Known`].
    fn slot(self) -> usize {
        self as usize
    }
}

/// A bundle finding with the severity its [`Code`] defaults to: the one place bundle findings
/// get a severity, so the policy file and the docs describe what really happens.
fn issue(code: Code, message: String) -> (Code, Severity, String) {
    (code, code.default_severity(), message)
}

/// The one exception to a code's default: `weak-signature` is a warning for SHA-1, which some
/// clients still accept, but MD5 is denied, because no TLS stack accepts it.
pub const MD5_SEVERITY: Severity = Severity::Deny;

/// A parsed PEM bundle: the certificates and what is wrong with them regardless of time.
#[derive(Debug, Default)]
pub struct Bundle {
    /// What the bundle was checked as; decides what an expired member costs.
    pub role: Role,
    /// Boxed slices: kept as long as the view or the cache holds the bundle, so no room is
    /// left over from pushing and no capacity word is stored.
    pub certs: Box<[Arc<CertInfo>]>,
    pub issues: Box<[(Code, Severity, String)]>,
}

/// A [`Bundle`] while it is checked.
#[derive(Default)]
struct Draft {
    certs: Vec<Arc<CertInfo>>,
    issues: Vec<(Code, Severity, String)>,
}

impl Bundle {
    pub fn leaf(&self) -> Option<&Arc<CertInfo>> {
        self.certs.first()
    }

    fn malformed(role: Role, message: String) -> Self {
        Bundle {
            role,
            certs: Box::default(),
            issues: Box::new([issue(Code::SecretMalformed, message)]),
        }
    }
}

/// Parses certificate bundles once per distinct content: a CA bundle referenced by a hundred
/// secrets is parsed once. Thread-safe; bounded by bytes ([`cache::DEFAULT_BUDGET_BYTES`]).
pub struct Analyzer {
    cache: Mutex<cache::BundleCache>,
    /// The cache's hasher, so lookups hash their content before they take the lock: start-up
    /// analyses on every core, and the lock was the wait.
    hasher: foldhash::quality::RandomState,
    /// Every certificate alive anywhere (cache or cluster view), by DER digest: an issuing CA
    /// repeated in 100,000 chains is one [`CertInfo`].
    certs: Mutex<CertInterner>,
    /// Issuer facts: the 100,000 leaves of four CAs name four issuers.
    issuers: Mutex<Interner<cert::IssuerFacts>>,
    /// Secret types and lists of key names: most Secrets hold the same few.
    shapes: Mutex<Interner<SecretShape>>,
    /// Public facts of private keys read before, by a keyed tag of their base64 text.
    keys: Mutex<cache::KeyCache>,
    /// The key cache's tags, computed before its lock is taken.
    key_tags: cache::KeyTagger,
}

/// Weak references, so the interner holds no certificate alive; dead entries are swept when
/// the map has doubled since the last sweep, so it stays within twice the live certificates.
/// Keyed by the first 8 bytes of the DER's SHA-256 (16 bytes a slot, not 40); a hit is
/// checked against the whole digest the certificate keeps ([`CertInfo::sha256`]).
#[derive(Default)]
struct CertInterner {
    live: HashMap<u64, Weak<CertInfo>>,
    swept_at: usize,
}

/// Strong references, swept (values no certificate holds any more) when the set has doubled
/// since the last sweep, as [`CertInterner`] is.
struct Interner<T: ?Sized> {
    set: std::collections::HashSet<Arc<T>>,
    swept_at: usize,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            set: Default::default(),
            swept_at: 0,
        }
    }
}

impl<T: ?Sized + Eq + std::hash::Hash> Interner<T> {
    fn intern(&mut self, value: &Arc<T>) -> Arc<T> {
        if let Some(hit) = self.set.get(&**value) {
            return hit.clone();
        }
        if self.set.len() >= 2 * self.swept_at.max(1024) {
            self.set.retain(|n| Arc::strong_count(n) > 1);
            self.swept_at = self.set.len();
        }
        self.set.insert(value.clone());
        value.clone()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::with_cache_budget(cache::DEFAULT_BUDGET_BYTES)
    }
}

impl Analyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An analyzer whose parse cache keeps at most `bytes` (estimated) of parsed bundles.
    pub fn with_cache_budget(bytes: usize) -> Self {
        let cache = cache::BundleCache::new(bytes);
        Analyzer {
            hasher: cache.hasher().clone(),
            cache: Mutex::new(cache),
            certs: Mutex::new(CertInterner::default()),
            issuers: Mutex::new(Interner::default()),
            shapes: Mutex::new(Interner::default()),
            keys: Mutex::new(cache::KeyCache::default()),
            key_tags: cache::KeyTagger::default(),
        }
    }

    /// The type and key names of a Secret's `data`, shared with every Secret like it.
    fn shape(&self, secret_type: &str, data: &SecretData) -> Arc<SecretShape> {
        let names = |present: bool| {
            data.keys()
                .filter(|k| has(data, k) == present)
                .map(|k| key_name(k))
                .collect()
        };
        let shape = Arc::new(SecretShape {
            secret_type: secret_type_name(secret_type),
            keys: names(true),
            empty_keys: names(false),
        });
        let mut shapes = self.shapes.lock().unwrap_or_else(|e| e.into_inner());
        shapes.intern(&shape)
    }

    pub fn bundle(&self, bytes: &[u8], role: Role) -> Arc<Bundle> {
        self.bundle_of(cache::Content::Bytes(bytes), role, || bytes)
    }

    /// The bundle for `content`, parsed from `bytes()` (its decoded form) on a miss.
    fn bundle_of<'a>(
        &self,
        content: cache::Content<'_>,
        role: Role,
        bytes: impl FnOnce() -> &'a [u8],
    ) -> Arc<Bundle> {
        let key = cache::Key::new(&self.hasher, content);
        if let Some(hit) = self.lock().get(&key, role) {
            return hit;
        }
        let parsed = Arc::new(parse_bundle_with(bytes(), role, |der| self.cert(der)));
        let key = key.with_digest();
        self.lock().insert(&key, role, parsed.clone());
        parsed
    }

    /// The bundle of a Secret's `data[key]`: from the cache by its base64 text when it
    /// arrived as text (no decoding on a hit), else by its bytes.
    fn data_bundle(&self, data: &SecretData, key: &str, role: Role) -> Arc<Bundle> {
        if let Some(b) = data.known(key).and_then(|k| k.bundles[role.slot()].clone()) {
            return b;
        }
        let bytes = || data.get(key).map(Vec::as_slice).unwrap_or_default();
        match data.text(key) {
            Some(text) => self.bundle_of(cache::Content::Base64(text), role, bytes),
            None => self.bundle(bytes(), role),
        }
    }

    /// Looks the base64 text of every value that holds certificates up in the parse cache, and
    /// of every private key in the key cache, so a value seen before is known to be there (and
    /// non-empty) without decoding it.
    pub fn resolve(&self, data: &SecretData) {
        for (key, text) in data.unresolved() {
            let known = if BUNDLE_KEYS.contains(&key) {
                let k = cache::Key::new(&self.hasher, cache::Content::Base64(text));
                let mut cache = self.lock();
                let bundles = Role::ALL.map(|r| cache.get(&k, r));
                drop(cache);
                bundles
                    .iter()
                    .any(Option::is_some)
                    .then_some(data::Known { bundles, key: None })
            } else if KEY_KEYS.contains(&key) {
                self.key_tags
                    .tag(text)
                    .and_then(|tag| self.keys_lock().get(&tag))
                    .map(|facts| data::Known {
                        key: Some(facts),
                        ..Default::default()
                    })
            } else {
                None
            };
            if let Some(known) = known {
                data.set_known(key, known);
            }
        }
    }

    fn keys_lock(&self) -> std::sync::MutexGuard<'_, cache::KeyCache> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The public facts of the private key at `data[key]`. A key that arrived as base64 text
    /// is known by a keyed tag of that text once read ([`cache::KeyTagger`]; never by the
    /// text: the cache holds no private bytes), so a repeated review does not decode and parse it again.
    fn key_facts(&self, data: &SecretData, key: &str) -> Result<key::KeyFacts, key::PairError> {
        if let Some(facts) = data.known(key).and_then(|k| k.key.clone()) {
            return Ok(facts);
        }
        let bytes = || data.get(key).map(Vec::as_slice).unwrap_or_default();
        let Some(text) = data.text(key) else {
            return key::read(bytes());
        };
        let Some(tag) = self.key_tags.tag(text) else {
            return key::read(bytes());
        };
        if let Some(facts) = self.keys_lock().get(&tag) {
            return Ok(facts);
        }
        let read = key::read(bytes());
        if let Ok(facts) = &read {
            self.keys_lock().insert(tag, facts.clone());
        }
        read
    }

    /// One DER certificate, parsed once while any bundle holds it.
    fn cert(&self, der: &[u8]) -> Result<Arc<CertInfo>, String> {
        let digest: [u8; 32] = sha2::Sha256::digest(der).into();
        let short = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        let certs = || self.certs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = certs().live.get(&short).and_then(Weak::upgrade) {
            if hit.sha256 == digest {
                return Ok(hit);
            }
        }
        let (mut info, _) = cert::inspect(der)?;
        if let Some(i) = Arc::get_mut(&mut info) {
            let mut issuers = self.issuers.lock().unwrap_or_else(|e| e.into_inner());
            let shared = issuers.intern(i.issuer_facts());
            drop(issuers);
            i.share_issuer(shared);
        }
        let mut c = certs();
        if c.live.len() >= 2 * c.swept_at.max(1024) {
            c.live.retain(|_, w| w.strong_count() > 0);
            c.swept_at = c.live.len();
        }
        c.live.insert(short, Arc::downgrade(&info));
        Ok(info)
    }

    /// Distinct certificates alive (shared by every bundle that holds them).
    pub fn interned_certs(&self) -> usize {
        let c = self.certs.lock().unwrap_or_else(|e| e.into_inner());
        c.live.values().filter(|w| w.strong_count() > 0).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, cache::BundleCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn cached_bundles(&self) -> usize {
        self.lock().len()
    }

    /// Estimated bytes held by the parse cache.
    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes()
    }
}

/// Parses and checks one bundle. Work is bounded by [`MAX_CERTS_PER_BUNDLE`].
pub fn parse_bundle(bytes: &[u8], role: Role) -> Bundle {
    parse_bundle_with(bytes, role, |der| cert::inspect(der).map(|(info, _)| info))
}

/// [`parse_bundle`] with each certificate's DER turned into facts by `inspect` (the
/// [`Analyzer`] shares one [`CertInfo`] per distinct certificate).
fn parse_bundle_with(
    bytes: &[u8],
    role: Role,
    inspect: impl Fn(&[u8]) -> Result<Arc<CertInfo>, String>,
) -> Bundle {
    let blocks = match pem::parse(bytes, MAX_CERTS_PER_BUNDLE) {
        Ok(b) => b,
        Err(e) => return Bundle::malformed(role, e.to_string()),
    };
    let mut bundle = Draft::default();
    for (i, block) in blocks.iter().enumerate() {
        if block.label.contains("PRIVATE KEY") {
            // Never echo the block: say only where it is.
            return Bundle::malformed(role, format!(
                "holds a private key (PEM block #{i}) where certificates belong; move it to the key field"
            ));
        }
        if block.label != "CERTIFICATE" && block.label != "TRUSTED CERTIFICATE" {
            return Bundle::malformed(
                role,
                format!("PEM block #{i} is a {}, not a CERTIFICATE", block.label),
            );
        }
        match inspect(&block.der) {
            Ok(info) => bundle.certs.push(info),
            Err(e) => return Bundle::malformed(role, format!("certificate #{i} {e}")),
        }
    }
    for (i, c) in bundle.certs.iter().enumerate() {
        let who = if bundle.certs.len() == 1 {
            format!("({})", c.display_name())
        } else {
            format!("certificate #{i} ({})", c.display_name())
        };
        per_cert_issues(&mut bundle.issues, &who, c, role);
    }
    match role {
        Role::ServerChain => {
            let which = if bundle.certs.len() == 1 {
                ""
            } else {
                "certificate #0 "
            };
            if let Some(leaf) = bundle.certs.first().filter(|c| c.san_malformed) {
                bundle.issues.push(issue(
                    Code::SanMalformed,
                    format!(
                        "{which}({}) has a subjectAltName extension that cannot be parsed; Go and browsers refuse the certificate and host coverage was not checked; reissue it",
                        leaf.display_name()
                    ),
                ));
            }
            // A client-authentication certificate is never served: it needs no DNS name.
            if let Some(leaf) = bundle
                .certs
                .first()
                .filter(|c| !c.has_san_extension && !c.is_ca && !c.client_auth_only)
            {
                bundle.issues.push(issue(
                    Code::NoSubjectAltName,
                    format!(
                        // The fix names the CN: it is not said twice.
                        "{}{}has no subjectAltName, and Go ≥ 1.15 and browsers ignore its CN; reissue it with -addext subjectAltName=DNS:{}",
                        if bundle.certs.len() == 1 { "" } else { "certificate #0 " },
                        match leaf.common_name() {
                            Some(_) => String::new(),
                            None => format!("({}) ", leaf.display_name()),
                        },
                        leaf.common_name().unwrap_or("HOST")
                    ),
                ));
            }
            chain_order(&mut bundle)
        }
        Role::CaBundle => {
            for (i, c) in bundle.certs.iter().enumerate() {
                if !c.is_ca {
                    bundle.issues.push(issue(
                        Code::CaNotCa,
                        format!(
                            "certificate #{i} ({}) is not a CA (no CA:TRUE), so nothing verifies against it; put the issuing CA here",
                            c.display_name()
                        ),
                    ));
                }
            }
        }
        Role::SigningCa => {}
    }
    Bundle {
        role,
        certs: bundle.certs.into(),
        issues: bundle.issues.into(),
    }
}

/// `who` names the certificate after the key prefix the caller adds: "(CN=x)" alone in its
/// bundle, "certificate #1 (CN=x)" in a chain.
fn per_cert_issues(out: &mut Vec<(Code, Severity, String)>, who: &str, c: &CertInfo, role: Role) {
    if let cert::KeyAlgorithm::Rsa { bits } = c.key_algorithm() {
        if bits < 2048 {
            out.push(issue(
                Code::WeakKey,
                format!("{who} has a {bits}-bit RSA key; use at least 2048 bits"),
            ));
        }
    }
    // A trust anchor's own signature is never checked by a verifier, so only flag it on
    // certificates that are verified: leaves, intermediates and non-self-issued CAs.
    let verified = !(role == Role::CaBundle && c.is_self_issued());
    match c.signature_strength {
        SignatureStrength::Md5 if verified => out.push((
            Code::WeakSignature,
            MD5_SEVERITY,
            format!("{who} is signed with MD5 ({}), which no TLS stack accepts; reissue it", c.signature_algorithm()),
        )),
        SignatureStrength::Sha1 if verified => out.push(issue(
            Code::WeakSignature,
            format!("{who} is signed with SHA-1 ({}), rejected by Go and browsers; reissue it with SHA-256", c.signature_algorithm()),
        )),
        _ => {}
    }
    if let Some(p) = c.serial_problem {
        let what = match p {
            SerialProblem::Zero => "a serial number of 0",
            SerialProblem::Negative => "a negative serial number",
            SerialProblem::TooLong => "a serial number longer than 20 octets",
        };
        out.push(issue(
            Code::SerialInvalid,
            format!("{who} has {what} (RFC 5280 §4.1.2.2), which strict clients reject; sign with -CAcreateserial, not -set_serial 0"),
        ));
    }
}

/// RFC 5246 §7.4.2 / RFC 8446 §4.4.2: the sender's certificate first, each following one
/// certifying the one before it.
fn chain_order(bundle: &mut Draft) {
    let certs = &bundle.certs;
    if certs.len() < 2 {
        return;
    }
    if certs[0].is_ca && certs.iter().skip(1).any(|c| !c.is_ca) {
        let pos = certs.iter().position(|c| !c.is_ca).unwrap_or(0);
        bundle.issues.push(issue(
            Code::ChainOrder,
            format!(
                "the leaf certificate ({}) is #{pos}, not first; put it first, then its issuers (`cat leaf.crt intermediate.crt`)",
                certs[pos].display_name()
            ),
        ));
        return;
    }
    for i in 0..certs.len() - 1 {
        if !issued_by(&certs[i], &certs[i + 1]) {
            bundle.issues.push(issue(
                Code::ChainOrder,
                format!(
                    "certificate #{i} ({}) is issued by {}, but the next certificate is {}",
                    certs[i].display_name(),
                    certs[i].issuer(),
                    certs[i + 1].subject()
                ),
            ));
            return;
        }
    }
}

/// Name chaining plus key identifiers when both are present (RFC 5280 §4.2.1.1).
pub fn issued_by(child: &CertInfo, issuer: &CertInfo) -> bool {
    if *child.issuer_digest() != issuer.subject_digest {
        return false;
    }
    match (child.authority_key_id(), issuer.subject_key_id()) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

pub use data::SecretData;

/// Keys whose values analysis reads as private keys: their base64 text is looked up, by its
/// keyed tag ([`cache::KeyTagger`]), in the key cache before anything is decoded.
const KEY_KEYS: [&str; 4] = [TLS_PAIR.1, "key", LINKERD_LEGACY_PAIR.1, "ca-key.pem"];

/// Keys whose values analysis reads as certificate bundles (never a private key's): their
/// base64 text is looked up in the parse cache before anything is decoded.
const BUNDLE_KEYS: [&str; 8] = [
    "tls.crt",
    "cert",
    "cacert",
    "ca.crt",
    "ca-cert.pem",
    "root-cert.pem",
    "cert-chain.pem",
    "crt.pem",
];

/// Secret types analysis tells apart, and the ones most Secrets have.
const SECRET_TYPES: [&str; 5] = [
    "kubernetes.io/tls",
    "Opaque",
    "istio.io/ca-root",
    "istio.io/key-and-cert",
    "kubernetes.io/service-account-token",
];

fn secret_type_name(t: &str) -> Cow<'static, str> {
    SECRET_TYPES
        .iter()
        .find(|known| **known == t)
        .map_or_else(|| Cow::Owned(t.to_string()), |known| Cow::Borrowed(*known))
}

/// A Secret's key name, borrowed from the tables above when analysis reads it (most Secrets
/// hold only such keys), else copied.
pub fn key_name(k: &str) -> Cow<'static, str> {
    KEY_KEYS
        .iter()
        .chain(&BUNDLE_KEYS)
        .chain(&[LINKERD_TRUST_ROOTS_KEY, "token"])
        .find(|known| **known == k)
        .map_or_else(|| Cow::Owned(k.to_string()), |known| Cow::Borrowed(*known))
}

/// The keys of a `kubernetes.io/tls` Secret, as `kubectl create secret tls` writes them.
pub const TLS_PAIR: (&str, &str) = ("tls.crt", "tls.key");
/// Where a gateway finds its server certificate and key, in Istio's order of preference.
pub const SERVER_PAIRS: [(&str, &str); 2] = [("cert", "key"), TLS_PAIR];
/// Where a gateway finds the CA for client certificates, in Istio's order of preference.
pub const CA_KEYS: [&str; 2] = ["cacert", "ca.crt"];
/// The mesh root in `istio-ca-root-cert` ConfigMaps, workload Secrets and `cacerts`.
pub const ROOT_CERT_KEY: &str = "root-cert.pem";

/// The Secret Istio reads the client CA from when the credential `name` has no CA key of its
/// own (MUTUAL): `<name>-cacert`.
pub fn companion_ca_secret(name: &str) -> String {
    format!("{name}-cacert")
}

/// The pair a gateway serves: where its chain is, and the chain (the key's place is not
/// kept: nothing reads it after analysis).
#[derive(Debug, Clone)]
pub struct ServerCredential {
    pub cert_key: &'static str,
    pub chain: Arc<Bundle>,
}

/// What many Secrets share, so it is kept once for all of them (interned by the analyzer):
/// their type and which keys they hold.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct SecretShape {
    /// Borrowed for the types tlsgate knows ([`SECRET_TYPES`]).
    pub secret_type: Cow<'static, str>,
    /// Keys with a non-empty value; the names analysis reads ([`key_name`]) are not copied.
    pub keys: Box<[Cow<'static, str>]>,
    /// Keys present with an empty (or all-whitespace) value.
    pub empty_keys: Box<[Cow<'static, str>]>,
}

/// Everything tlsgate keeps of a Secret: public facts and issues, never private bytes.
#[derive(Debug, Clone, Default)]
pub struct CredentialSummary {
    /// The type and key names: 100,000 `kubernetes.io/tls` Secrets with the same keys share
    /// one.
    pub shape: Arc<SecretShape>,
    pub server: Option<ServerCredential>,
    /// A CA for client certificates (`cacert`, `ca.crt`) is there; its bundle is in `bundles`.
    pub has_ca: bool,
    /// Every certificate bundle in the secret, by key, for expiry checks and audits.
    /// Keys are tlsgate's own constants (`tls.crt`, `ca.crt`, ...), never the user's strings.
    pub bundles: Vec<(&'static str, Arc<Bundle>)>,
    /// Issues that do not depend on time, each with its `data["key"]` path.
    pub issues: Vec<Issue>,
    pub has_token: bool,
    /// What few Secrets have ([`Rare`]): one pointer for the others.
    pub rare: Option<Box<Rare>>,
}

/// The parts of a [`CredentialSummary`] that few Secrets have.
#[derive(Debug, Clone, Default)]
pub struct Rare {
    /// The certificate half of a pair whose key is missing: still analysed, so an expired
    /// certificate or an uncovered host is reported with the missing key, not after its fix.
    pub lone_chain: Option<(&'static str, Arc<Bundle>)>,
    /// Istio root certificate, for root consistency checks (`istio-ca-secret`, `cacerts`).
    pub mesh_root: Option<Arc<CertInfo>>,
    /// DER of the certificate a `linkerd-identity-issuer` Secret holds, kept (public bytes
    /// only) so its signature can be checked against the trust roots when either is replaced.
    pub linkerd_issuer_der: Option<Box<[u8]>>,
}

impl CredentialSummary {
    /// The certificate half of a pair whose key is missing.
    pub fn lone_chain(&self) -> Option<&(&'static str, Arc<Bundle>)> {
        self.rare.as_ref()?.lone_chain.as_ref()
    }

    /// Istio root certificate (`istio-ca-secret`, `cacerts`, `istio.io/key-and-cert`).
    pub fn mesh_root(&self) -> Option<&Arc<CertInfo>> {
        self.rare.as_ref()?.mesh_root.as_ref()
    }

    /// DER of a `linkerd-identity-issuer` Secret's certificate.
    pub fn linkerd_issuer_der(&self) -> Option<&[u8]> {
        self.rare.as_ref()?.linkerd_issuer_der.as_deref()
    }

    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    pub fn secret_type(&self) -> &str {
        &self.shape.secret_type
    }

    /// Keys with a non-empty value.
    pub fn keys(&self) -> &[Cow<'static, str>] {
        &self.shape.keys
    }

    /// Keys present with an empty (or all-whitespace) value.
    pub fn empty_keys(&self) -> &[Cow<'static, str>] {
        &self.shape.empty_keys
    }

    /// Where the served certificate chain is (`tls.crt` or `cert`), if any half of a pair is there.
    pub fn cert_key(&self) -> Option<&'static str> {
        self.server
            .as_ref()
            .map(|s| s.cert_key)
            .or(self.lone_chain().map(|(k, _)| *k))
    }

    /// The field path findings on the certificate point at: `data["tls.crt"]`, or `data`
    /// when no key holds one.
    pub fn cert_path(&self) -> String {
        self.cert_key().map_or("data".to_string(), data_path)
    }

    /// "tls.crt, ca.crt (tls.key is empty)", "no keys".
    pub fn describe_keys(&self) -> String {
        let mut s = if self.keys().is_empty() {
            "no keys".to_string()
        } else {
            hosts::list_some(self.keys())
        };
        if !self.empty_keys().is_empty() {
            let verb = if self.empty_keys().len() == 1 {
                "is"
            } else {
                "are"
            };
            let empty = hosts::list_some(self.empty_keys());
            s.push_str(&format!(" ({empty} {verb} empty)"));
        }
        s
    }

    /// Whether exactly one half of a certificate/key pair is there (reported as
    /// `secret-malformed` at the missing half's key).
    pub fn has_lone_half(&self) -> bool {
        let has = |k: &str| self.keys().iter().any(|x| &**x == k);
        self.server.is_none() && SERVER_PAIRS.iter().any(|(c, k)| has(c) != has(k))
    }

    pub fn leaf(&self) -> Option<&Arc<CertInfo>> {
        self.server
            .as_ref()
            .map(|s| &s.chain)
            .or(self.lone_chain().map(|(_, b)| b))
            .and_then(|b| b.leaf())
    }
}

pub fn data_path(key: &str) -> String {
    format!("data[\"{key}\"]")
}

/// Whether `data[key]` is there and not empty (or whitespace): known without decoding when
/// its base64 text is a parse-cache entry's (only non-empty bundles are cached by text).
fn has(data: &SecretData, key: &str) -> bool {
    data.known(key).is_some() || non_empty(data, key).is_some()
}

fn non_empty<'a>(data: &'a SecretData, key: &str) -> Option<&'a [u8]> {
    data.get(key)
        .map(Vec::as_slice)
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
}

/// Keys tlsgate reads from a Secret somewhere; a key not among them that is close to a
/// missing one is probably a typo (`tls.cert` for `tls.crt`).
const KNOWN_KEYS: [&str; 13] = [
    "tls.crt",
    "tls.key",
    "cert",
    "key",
    "cacert",
    "ca.crt",
    "ca-cert.pem",
    "ca-key.pem",
    "root-cert.pem",
    "cert-chain.pem",
    "key.pem",
    "token",
    "tls.ocsp-staple",
];

/// The did-you-mean hint for the first half of a pair that is missing, if a key is a near miss.
pub fn pair_hint(data: &SecretData) -> String {
    SERVER_PAIRS
        .iter()
        .flat_map(|(c, k)| [*c, *k])
        .filter(|k| !has(data, k))
        .map(|k| missing_hint(data, k))
        .find(|h| !h.is_empty())
        .unwrap_or_default()
}

/// "; it has `tls.cert`: did you mean `tls.crt`?" for a missing key with a near miss.
fn missing_hint(data: &SecretData, missing: &str) -> String {
    let candidates = data
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k));
    match hosts::closest(missing, candidates) {
        Some(near) => format!("; it has `{near}`: did you mean `{missing}`?"),
        None => String::new(),
    }
}

/// The Secrets istiod reads its CA from, in its order of preference: `cacerts` (a plugged-in
/// CA) before `istio-ca-secret` (the self-signed one istiod creates).
pub const ISTIO_CA_SECRETS: [&str; 2] = ["cacerts", "istio-ca-secret"];

/// Is `name` one of the Secrets istiod reads its CA from?
pub fn is_istio_ca_secret(name: &str) -> bool {
    ISTIO_CA_SECRETS.contains(&name)
}

/// Linkerd's control-plane namespace, where its identity issuer and trust roots live.
pub const LINKERD_NAMESPACE: &str = "linkerd";
/// The Secret Linkerd's identity controller signs proxy certificates with.
pub const LINKERD_ISSUER_SECRET: &str = "linkerd-identity-issuer";
/// The pair of a `linkerd-identity-issuer` Secret made before Linkerd 2.9 (`kubernetes.io/tls`
/// with `ca.crt` since; both are read).
pub const LINKERD_LEGACY_PAIR: (&str, &str) = ("crt.pem", "key.pem");
/// The ConfigMap holding the trust anchors every proxy verifies identities with, and its key.
pub const LINKERD_TRUST_ROOTS: &str = "linkerd-identity-trust-roots";
pub const LINKERD_TRUST_ROOTS_KEY: &str = "ca-bundle.crt";
/// `linkerd check` warns this many days before the issuer or a trust anchor expires.
pub const LINKERD_EXPIRY_WARNING_DAYS: i64 = 60;

/// Is `name` the Secret Linkerd's identity issuer is read from?
pub fn is_linkerd_issuer(name: &str) -> bool {
    name == LINKERD_ISSUER_SECRET
}

/// Is this Secret one tlsgate has an opinion about on its own (without a referrer)?
pub fn is_tls_secret(name: &str, secret_type: &str, data: &SecretData) -> bool {
    matches!(
        secret_type,
        "kubernetes.io/tls" | "istio.io/key-and-cert" | "istio.io/ca-root"
    ) || is_istio_ca_secret(name)
        || is_linkerd_issuer(name)
        || [
            "tls.crt",
            "cert",
            "cacert",
            "ca.crt",
            "ca-cert.pem",
            "root-cert.pem",
            "cert-chain.pem",
        ]
        .iter()
        .any(|k| data.contains_key(k))
}

impl Analyzer {
    /// Analyses a Secret's data as Istio, Envoy and ingress controllers would read it.
    pub fn credential(
        &self,
        name: &str,
        secret_type: &str,
        data: &SecretData,
    ) -> CredentialSummary {
        self.resolve(data);
        let mut s = CredentialSummary {
            shape: self.shape(secret_type, data),
            has_token: data.contains_key("token"),
            ..Default::default()
        };
        let mut total = data.decoded_len_bound();
        if total > MAX_OBJECT_BYTES {
            total = data.values().map(Vec::len).sum();
        }
        if total > MAX_OBJECT_BYTES {
            s.issues.push(Issue::new(
                Code::SecretMalformed,
                "data",
                format!("holds {total} bytes, above the {MAX_OBJECT_BYTES}-byte limit; it was not inspected"),
            ));
            return s;
        }
        if secret_type == "kubernetes.io/tls" {
            for k in [TLS_PAIR.0, TLS_PAIR.1] {
                if !has(data, k) {
                    s.issues.push(Issue::new(
                        Code::SecretMalformed,
                        data_path(k),
                        format!(
                            "a kubernetes.io/tls secret needs a non-empty {k}{}",
                            missing_hint(data, k)
                        ),
                    ));
                }
            }
        }
        if secret_type == "istio.io/ca-root" || is_istio_ca_secret(name) {
            self.istio_ca(&mut s, data);
            return s;
        }
        if secret_type == "istio.io/key-and-cert" {
            self.key_and_cert(&mut s, data);
            return s;
        }
        if is_linkerd_issuer(name) {
            self.linkerd_issuer(&mut s, data);
        } else {
            self.server_pair(&mut s, data);
        }
        for ca_key in CA_KEYS {
            if has(data, ca_key) {
                self.add_bundle(&mut s, ca_key, data, Role::CaBundle);
                s.has_ca = true;
                break;
            }
        }
        s
    }

    fn add_bundle(
        &self,
        s: &mut CredentialSummary,
        key: &'static str,
        data: &SecretData,
        role: Role,
    ) -> Arc<Bundle> {
        let b = self.data_bundle(data, key, role);
        for (code, sev, msg) in &b.issues {
            s.issues.push(
                Issue::new(*code, data_path(key), format!("{key} {msg}")).with_severity(*sev),
            );
        }
        s.bundles.push((key, b.clone()));
        b
    }

    fn server_pair(&self, s: &mut CredentialSummary, data: &SecretData) {
        let present: Vec<_> = SERVER_PAIRS
            .iter()
            .filter(|(c, k)| has(data, c) && has(data, k))
            .collect();
        let Some(&&(cert_key, key_key)) = present.first() else {
            // A lone half of a pair is a mistake worth naming once, at the missing key; the
            // half that is there is still analysed.
            for (c, k) in SERVER_PAIRS {
                let (have, missing) = match (has(data, c), has(data, k)) {
                    (true, false) => (c, k),
                    (false, true) => (k, c),
                    _ => continue,
                };
                let path = data_path(missing);
                // Already named (kubernetes.io/tls needs both): say it once, with the pair.
                s.issues
                    .retain(|i| !(i.code == Code::SecretMalformed && i.path == path));
                s.issues.push(Issue::new(
                    Code::SecretMalformed,
                    path,
                    format!(
                        "has {have} but no non-empty {missing}; a gateway needs both halves of the pair{}",
                        missing_hint(data, missing)
                    ),
                ));
                if have == c && s.lone_chain().is_none() {
                    let chain = self.add_bundle(s, c, data, Role::ServerChain);
                    s.rare_mut().lone_chain = Some((c, chain));
                } else if have == k {
                    self.check_key(s, k, data, None, c);
                }
            }
            return;
        };
        if present.len() > 1 {
            s.issues.push(Issue::new(
                Code::CredentialKeysShadowed,
                data_path(cert_key),
                format!("both cert/key and tls.crt/tls.key are set; Istio gateways use {cert_key}/{key_key} and ignore the other pair"),
            ));
        }
        let chain = self.add_bundle(s, cert_key, data, Role::ServerChain);
        self.check_key(s, key_key, data, chain.leaf().cloned(), cert_key);
        s.server = Some(ServerCredential { cert_key, chain });
    }

    /// `linkerd-identity-issuer`: `tls.crt`/`tls.key`, or the legacy `crt.pem`/`key.pem`.
    fn linkerd_issuer(&self, s: &mut CredentialSummary, data: &SecretData) {
        let (c, k) = LINKERD_LEGACY_PAIR;
        if !has(data, TLS_PAIR.0) && has(data, c) {
            match non_empty(data, k) {
                Some(_) => {
                    let chain = self.add_bundle(s, c, data, Role::ServerChain);
                    self.check_key(s, k, data, chain.leaf().cloned(), c);
                    s.server = Some(ServerCredential { cert_key: c, chain });
                }
                None => {
                    s.issues.push(Issue::new(
                        Code::SecretMalformed,
                        data_path(k),
                        format!("has {c} but no non-empty {k}; Linkerd's identity controller needs both halves of the issuer pair"),
                    ));
                    let chain = self.add_bundle(s, c, data, Role::ServerChain);
                    s.rare_mut().lone_chain = Some((c, chain));
                }
            }
        } else {
            self.server_pair(s, data);
        }
        let cert_key = s.cert_key();
        if let Some(der) = cert_key
            .and_then(|key| non_empty(data, key))
            .and_then(first_cert_der)
        {
            s.rare_mut().linkerd_issuer_der = Some(der.into_boxed_slice());
        }
    }

    /// Parses the private key at `key_key` and matches it against `cert`.
    fn check_key(
        &self,
        s: &mut CredentialSummary,
        key_key: &str,
        data: &SecretData,
        cert: Option<Arc<CertInfo>>,
        cert_key: &str,
    ) {
        let path = data_path(key_key);
        let read = self.key_facts(data, key_key);
        let Err(e) = read.and_then(|f| key::check_facts(f, cert.as_ref().map(|c| &c.public_key)))
        else {
            return;
        };
        let message = match (&e, &cert) {
            (key::PairError::Mismatch { facts }, Some(cert)) => format!(
                "{key_key} ({} {}) does not belong to the certificate in {cert_key} ({}, {}); the pair was mixed up",
                facts.algorithm, facts.encoding, cert.display_name(), cert.key_algorithm()
            ),
            _ => format!("{key_key} {e}"),
        };
        s.issues.push(Issue::new(e.code(), path, message));
    }

    fn key_and_cert(&self, s: &mut CredentialSummary, data: &SecretData) {
        self.require(s, data, &["cert-chain.pem", "key.pem", "root-cert.pem"]);
        if has(data, "cert-chain.pem") {
            let chain = self.add_bundle(s, "cert-chain.pem", data, Role::ServerChain);
            if non_empty(data, "key.pem").is_some() {
                self.check_key(s, "key.pem", data, chain.leaf().cloned(), "cert-chain.pem");
            }
        }
        if has(data, "root-cert.pem") {
            let root = self.add_bundle(s, "root-cert.pem", data, Role::CaBundle);
            if let Some(leaf) = root.leaf() {
                s.rare_mut().mesh_root = Some(leaf.clone());
            }
        }
    }

    fn require(&self, s: &mut CredentialSummary, data: &SecretData, keys: &[&str]) -> bool {
        let mut ok = true;
        for k in keys {
            if !has(data, k) {
                ok = false;
                s.issues.push(Issue::new(
                    Code::SecretMalformed,
                    data_path(k),
                    format!("{k} is missing or empty"),
                ));
            }
        }
        ok
    }

    /// `istio-ca-secret` (self-signed, `ca-cert.pem` + `ca-key.pem`) and plugged-in `cacerts`
    /// (`ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem`).
    fn istio_ca(&self, s: &mut CredentialSummary, data: &SecretData) {
        if !self.require(s, data, &["ca-cert.pem", "ca-key.pem"]) {
            return;
        }
        let ca = self.add_bundle(s, "ca-cert.pem", data, Role::SigningCa);
        let Some(ca_cert) = ca.leaf().cloned() else {
            return;
        };
        let invalid = |msg: String| Issue::new(Code::IstioCaInvalid, data_path("ca-cert.pem"), msg);
        if !ca_cert.is_ca {
            s.issues.push(invalid(format!(
                "ca-cert.pem ({}) is not a CA certificate (no basicConstraints CA:TRUE); istiod cannot sign workload certificates with it",
                ca_cert.display_name()
            )));
        }
        let before = s.issues.len();
        self.check_key(s, "ca-key.pem", data, Some(ca_cert.clone()), "ca-cert.pem");
        for issue in &mut s.issues[before..] {
            if issue.code == Code::KeyMismatch {
                issue.code = Code::IstioCaInvalid;
                issue.severity = issue.code.default_severity();
            }
        }
        let root = has(data, "root-cert.pem")
            .then(|| self.add_bundle(s, "root-cert.pem", data, Role::CaBundle));
        if has(data, "cert-chain.pem") {
            self.add_bundle(s, "cert-chain.pem", data, Role::ServerChain);
        }
        s.rare_mut().mesh_root = root
            .as_ref()
            .and_then(|r| r.leaf().cloned())
            .or_else(|| Some(ca_cert.clone()));
        if let Some(root_bytes) = non_empty(data, "root-cert.pem") {
            let chain_bytes = non_empty(data, "cert-chain.pem");
            if let Err(msg) = verify_istio_chain(&data["ca-cert.pem"], chain_bytes, root_bytes) {
                s.issues.push(invalid(msg));
            }
        }
    }
}

/// Does `ca-cert.pem` chain to `root-cert.pem` through `cert-chain.pem`, by signature?
/// This is the check that failed in the Citadel outage ("cannot verify the cert with the
/// provided root chain and cert pool").
fn parse_der(d: &[u8]) -> Option<x509_parser::certificate::X509Certificate<'_>> {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(d)
        .ok()
        .map(|(_, c)| c)
}

/// The DER of the first certificate in a PEM bundle.
pub fn first_cert_der(pem_bytes: &[u8]) -> Option<Vec<u8>> {
    pem::parse(pem_bytes, MAX_CERTS_PER_BUNDLE)
        .ok()?
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
}

/// Every certificate's DER in a PEM bundle (none when it does not parse).
pub fn cert_ders(pem_bytes: &[u8]) -> Vec<Vec<u8>> {
    pem::parse(pem_bytes, MAX_CERTS_PER_BUNDLE)
        .map(|b| {
            b.into_iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(|b| b.der)
                .collect()
        })
        .unwrap_or_default()
}

fn verify_istio_chain(
    ca_pem: &[u8],
    chain_pem: Option<&[u8]>,
    root_pem: &[u8],
) -> Result<(), String> {
    let ders = |bytes: &[u8]| -> Vec<Vec<u8>> {
        crate::analysis::pem::parse(bytes, MAX_CERTS_PER_BUNDLE)
            .map(|b| {
                b.into_iter()
                    .filter(|b| b.label == "CERTIFICATE")
                    .map(|b| b.der)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ca = ders(ca_pem);
    let roots = ders(root_pem);
    let mut pool = ders(chain_pem.unwrap_or_default());
    pool.extend(roots.iter().cloned());
    let (Some(mut current), false) = (ca.first().and_then(|d| parse_der(d)), roots.is_empty())
    else {
        return Err("ca-cert.pem or root-cert.pem holds no parsable certificate".into());
    };
    let roots: Vec<_> = roots.iter().filter_map(|d| parse_der(d)).collect();
    let pool: Vec<_> = pool.iter().filter_map(|d| parse_der(d)).collect();
    for _ in 0..=pool.len() {
        if roots.iter().any(|r| {
            current.verify_signature(Some(r.public_key())).is_ok() || current.as_raw() == r.as_raw()
        }) {
            return Ok(());
        }
        match pool.iter().find(|p| {
            p.as_raw() != current.as_raw() && current.verify_signature(Some(p.public_key())).is_ok()
        }) {
            Some(next) => current = next.clone(),
            None => break,
        }
    }
    // The CN names a CA well enough; the whole subject would crowd out the fix.
    let name = |c: &x509_parser::certificate::X509Certificate<'_>| match c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        Some(cn) => format!("CN={cn}"),
        None => c.subject().to_string(),
    };
    let root_name = roots.first().map(name).unwrap_or_default();
    Err(format!(
        "ca-cert.pem ({}) does not chain to root-cert.pem ({root_name}) through cert-chain.pem, so istiod will not start; put the root that signed it in root-cert.pem",
        ca.first().and_then(|d| parse_der(d)).map(|c| name(&c)).unwrap_or_default()
    ))
}

/// Time-dependent issues for every certificate in every bundle of a credential, by the
/// rule in [`validity`].
pub fn validity_issues(summary: &CredentialSummary, now: i64, warn_within_days: i64) -> Vec<Issue> {
    summary
        .bundles
        .iter()
        .flat_map(|(key, bundle)| validity::bundle_validity(key, bundle, now, warn_within_days))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA bundle verifies client certificates (Gateway frontend validation), a backend's
    /// certificate (BackendTLSPolicy, DestinationRule `ca.crt`) or a webhook's: the finding
    /// says what holds in all of them.
    #[test]
    fn a_leaf_in_a_ca_bundle_is_ca_not_ca_without_naming_what_it_verifies() {
        let pem = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/certs/httpbin.example.com.crt"),
        )
        .unwrap();
        let bundle = parse_bundle(&pem, Role::CaBundle);
        let messages: Vec<&str> = bundle
            .issues
            .iter()
            .filter(|(code, _, _)| *code == Code::CaNotCa)
            .map(|(_, _, m)| m.as_str())
            .collect();
        assert_eq!(
            messages,
            ["certificate #0 (CN=httpbin.example.com) is not a CA (no CA:TRUE), so nothing verifies against it; put the issuing CA here"]
        );
    }
}
