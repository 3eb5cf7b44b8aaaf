//! The parse cache behind [`super::Analyzer`]: one parsed [`Bundle`] per distinct content and
//! role, bounded by an estimate of the bytes it holds (not only by entry count), so that a
//! stream of distinct large Secrets (`kubectl apply --dry-run=server` in a loop) cannot grow
//! the webhook past its memory limit. Oldest entries go first. An entry is an `Arc`: the
//! cluster view may keep sharing an evicted bundle; the cache only lets go of its own reference.

use super::{Bundle, CertInfo, Role};
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::Arc;

/// Bytes of parsed bundles the cache keeps, by [`estimated_bytes`] plus the bytes of the
/// content each entry is known by. 32 MiB is a few thousand typical chains (about 4 KiB each,
/// and as much again for their base64 text) and leaves the Deployment's 128 MiB limit room for
/// the cluster view and request bodies (see the README's "Limits and hardening").
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;
/// And at most this many entries, whatever their size.
pub const MAX_ENTRIES: usize = 50_000;

/// What a bundle is looked up by: the base64 text a Secret's value arrived as (a hit then
/// skips base64 decoding and hashing), or the bytes themselves (files, ConfigMaps).
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    Base64(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Content<'a> {
    fn tagged(self) -> (u8, &'a [u8]) {
        match self {
            Content::Base64(t) => (0, t.as_bytes()),
            Content::Bytes(b) => (1, b),
        }
    }
}

/// How an entry's content is checked on a hit: by its SHA-256 when first stored (32 bytes,
/// whatever the content's size: 100,000 distinct Secrets in the view cost no copy of their
/// text), then by its bytes once it was seen again (a hit compares them, so a hash collision
/// is never confused for a hit, and the next hit needs no SHA-256). Content that may hold
/// secrets (no certificate parsed from it, or a private key inside) keeps its digest only.
enum Stored {
    Bytes(Box<[u8]>),
    Digest([u8; 32]),
}

struct Entry {
    tag: u8,
    stored: Stored,
    bundle: Arc<Bundle>,
    size: usize,
}

/// Bucket: the fast hash of the content and the role it was checked for.
type Bucket = (u64, Role);

pub struct BundleCache {
    budget: usize,
    bytes: usize,
    len: usize,
    /// Random per process: content is the requester's to choose, so collisions cannot be
    /// aimed at a bucket.
    hasher: foldhash::quality::RandomState,
    entries: HashMap<Bucket, Vec<Entry>>,
    /// Buckets in insertion order; a bucket's entries are in insertion order too, so the
    /// oldest entry of the front bucket is the oldest of all.
    order: VecDeque<Bucket>,
}

/// A lookup prepared once: its hash, and the SHA-256 when a digest-checked entry needs it.
pub struct Key<'a> {
    content: Content<'a>,
    hash: u64,
    digest: std::cell::OnceCell<[u8; 32]>,
}

impl<'a> Key<'a> {
    /// `hasher` is the cache's ([`BundleCache::hasher`]): the key hashes the content once, and
    /// not under the lock that guards the cache.
    pub fn new(hasher: &foldhash::quality::RandomState, content: Content<'a>) -> Self {
        Key {
            hash: hasher.hash_one(content.tagged()),
            content,
            digest: Default::default(),
        }
    }

    /// The SHA-256 an insert stores, computed now (outside the lock) rather than under it.
    pub fn with_digest(self) -> Self {
        self.digest();
        self
    }

    fn digest(&self) -> &[u8; 32] {
        self.digest.get_or_init(|| {
            let (tag, bytes) = self.content.tagged();
            let mut h = sha2::Sha256::new();
            h.update([tag]);
            h.update(bytes);
            h.finalize().into()
        })
    }

    fn matches(&self, e: &Entry) -> bool {
        let (tag, bytes) = self.content.tagged();
        e.tag == tag
            && match &e.stored {
                Stored::Bytes(b) => **b == *bytes,
                Stored::Digest(d) => d == self.digest(),
            }
    }
}

impl BundleCache {
    pub fn new(budget: usize) -> Self {
        BundleCache {
            budget,
            bytes: 0,
            len: 0,
            hasher: Default::default(),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Hashes `content`. [`Key::new`] with [`Self::hasher`] does it outside the cache's lock.
    pub fn key<'a>(&self, content: Content<'a>) -> Key<'a> {
        Key::new(&self.hasher, content)
    }

    /// The cache's hasher, for [`Key::new`].
    pub fn hasher(&self) -> &foldhash::quality::RandomState {
        &self.hasher
    }

    pub fn get(&mut self, key: &Key<'_>, role: Role) -> Option<Arc<Bundle>> {
        let e = self
            .entries
            .get_mut(&(key.hash, role))?
            .iter_mut()
            .find(|e| key.matches(e))?;
        if matches!(e.stored, Stored::Digest(_)) && cacheable_bytes(&e.bundle) {
            let content = key.content.tagged().1;
            if self.bytes + content.len() <= self.budget {
                e.stored = Stored::Bytes(content.into());
                e.size += content.len();
                self.bytes += content.len();
            }
        }
        Some(e.bundle.clone())
    }

    /// Keeps `bundle` unless it alone is over the budget; evicts the oldest entries until the
    /// total fits.
    pub fn insert(&mut self, key: &Key<'_>, role: Role, bundle: Arc<Bundle>) {
        if self.get(key, role).is_some() {
            return;
        }
        let tag = key.content.tagged().0;
        let stored = Stored::Digest(*key.digest());
        let size = estimated_bytes(&bundle);
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget || self.len >= MAX_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(bucket) = self.entries.get_mut(&old) {
                let e = bucket.remove(0);
                self.bytes -= e.size;
                self.len -= 1;
                if bucket.is_empty() {
                    self.entries.remove(&old);
                }
            }
        }
        self.bytes += size;
        self.len += 1;
        let bucket = (key.hash, role);
        // One entry a bucket but on a collision: room for one, not the four `push` reserves.
        self.entries
            .entry(bucket)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(Entry {
                tag,
                stored,
                bundle,
                size,
            });
        self.order.push_back(bucket);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The estimated bytes held, always at most the budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Bytes of key facts [`KeyCache`] keeps, by estimate: the public half of each key (an RSA
/// modulus is 256 bytes at 2048 bits), so a few thousand keys.
pub const KEY_BUDGET_BYTES: usize = 2 * 1024 * 1024;

/// What a private key is known by in [`KeyCache`]: a 128-bit tag of the base64 text it
/// arrived as, never the text, keyed by a secret drawn once per process.
pub type KeyTag = [u8; 16];

/// Tags private keys for [`KeyCache`]: GMAC, i.e. AES-128-GCM's tag over the text as
/// additional data with nothing encrypted. It replaced a SHA-256 of the text, which was the
/// largest single cost of a repeated review (a 2048-bit key's text is 2.3 KB); GHASH runs on
/// the carry-less multiply the TLS record layer uses, several times faster than SHA-NI.
///
/// Why a collision cannot be aimed: only the tag is kept, so two texts with one tag would give
/// the second Secret the first one's key facts (a `key-mismatch` missed or made up). GHASH
/// under a secret key H is a universal hash: two different texts of at most L 16-byte blocks
/// share a tag for at most L + 1 of the 2^128 values of H (about 2^-112 for a 1 MiB Secret).
/// H comes from a random AES key drawn per process (see [`KeyTagger::default`]), and no tag ever leaves the
/// process (not logged, returned, or compared with anything a client sees), so a requester
/// learns nothing about H to aim a collision with. The cache holds a few thousand keys; even
/// 100,000 keys of 1 MiB each would hold a colliding pair with a chance below 2^-79. The nonce is fixed because nothing is encrypted: the
/// tag is a map key, not a message sent anywhere (the nonce rule protects the secrecy of
/// ciphertexts and the unforgeability of tags an attacker sees; neither exists here).
pub struct KeyTagger {
    /// `None` if aws-lc refused the key: then no key is cached.
    key: Option<aws_lc_rs::aead::LessSafeKey>,
}

impl Default for KeyTagger {
    /// The AES key is two outputs of std's SipHash under its per-process random keys (from the
    /// OS at the first use): aws-lc's own random source would first spend ~0.1 s gathering
    /// jitter entropy, on every `lint` run and in every test, for 16 bytes.
    fn default() -> Self {
        use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_128_GCM};
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new();
        let mut secret = [0u8; 16];
        for (i, half) in secret.chunks_exact_mut(8).enumerate() {
            let mut h = random.build_hasher();
            h.write_usize(i);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
        let key = UnboundKey::new(&AES_128_GCM, &secret)
            .ok()
            .map(LessSafeKey::new);
        KeyTagger { key }
    }
}

impl KeyTagger {
    /// The tag of a key's base64 text (`None`: not cacheable; read the key).
    pub fn tag(&self, text: &str) -> Option<KeyTag> {
        use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
        let key = self.key.as_ref()?;
        let nonce = Nonce::assume_unique_for_key([0; NONCE_LEN]);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(text.as_bytes()), &mut [])
            .ok()?;
        tag.as_ref().try_into().ok()
    }
}

/// The public facts of private keys read before, by their [`KeyTag`]: never the text itself.
/// Oldest first out, bounded by [`KEY_BUDGET_BYTES`].
#[derive(Default)]
pub struct KeyCache {
    bytes: usize,
    entries: HashMap<KeyTag, (super::key::KeyFacts, usize)>,
    order: VecDeque<KeyTag>,
}

impl KeyCache {
    pub fn get(&self, tag: &KeyTag) -> Option<super::key::KeyFacts> {
        self.entries.get(tag).map(|(f, _)| f.clone())
    }

    pub fn insert(&mut self, tag: KeyTag, facts: super::key::KeyFacts) {
        const ENTRY_OVERHEAD: usize = 128;
        // The public half is a digest inside the facts: nothing on the heap but an unnamed
        // algorithm's OID.
        let size = ENTRY_OVERHEAD + size_of::<super::key::KeyFacts>();
        if size > KEY_BUDGET_BYTES || self.entries.contains_key(&tag) {
            return;
        }
        while self.bytes + size > KEY_BUDGET_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, n)) = self.entries.remove(&old) {
                self.bytes -= n;
            }
        }
        self.bytes += size;
        self.entries.insert(tag, (facts, size));
        self.order.push_back(tag);
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Content is kept for the collision check only when it is certificates: a bundle that parsed
/// none, or found a private key, may be secret, and is known by its SHA-256 instead.
fn cacheable_bytes(b: &Bundle) -> bool {
    !b.certs.is_empty()
        && !b
            .issues
            .iter()
            .any(|(c, _, _)| *c == super::Code::SecretMalformed)
}

/// What a parsed bundle holds on the heap, plus the cache's own bookkeeping per entry. An
/// estimate (allocator overhead is not counted), but it grows with everything an input
/// controls: the number of certificates, names, SANs, keys and messages.
pub fn estimated_bytes(b: &Bundle) -> usize {
    const ENTRY_OVERHEAD: usize = 128;
    let certs: usize = b.certs.iter().map(|c| cert_bytes(c)).sum();
    let issues: usize = b
        .issues
        .iter()
        .map(|(_, _, m)| size_of::<(super::Code, super::Severity, String)>() + m.len())
        .sum();
    ENTRY_OVERHEAD + size_of::<Bundle>() + certs + issues
}

pub(crate) fn cert_bytes(c: &CertInfo) -> usize {
    // The issuer facts are shared between the leaves of one CA, but counted here for each.
    cert_own_bytes(c) + size_of::<super::cert::IssuerFacts>() + c.issuer_facts().heap_len()
}

/// [`cert_bytes`] without the issuer facts the certificate shares.
pub(crate) fn cert_own_bytes(c: &CertInfo) -> usize {
    size_of::<Arc<CertInfo>>() + size_of::<CertInfo>() + c.heap_len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with_message(len: usize) -> Arc<Bundle> {
        Arc::new(Bundle {
            role: super::super::Role::default(),
            certs: Box::default(),
            issues: Box::new([(
                super::super::Code::SecretMalformed,
                super::super::Severity::Deny,
                "x".repeat(len),
            )]),
        })
    }

    fn name(i: u32) -> Vec<u8> {
        i.to_be_bytes().to_vec()
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_entries() {
        let mut c = BundleCache::new(10_000);
        for i in 0..100 {
            let n = name(i);
            let k = c.key(Content::Bytes(&n));
            c.insert(&k, Role::ServerChain, bundle_with_message(1_000));
            assert!(c.bytes() <= 10_000, "{} bytes cached", c.bytes());
        }
        assert!(c.len() < 10);
        let (last, first) = (name(99), name(0));
        assert!(c
            .get(&c.key(Content::Bytes(&last)), Role::ServerChain)
            .is_some());
        assert!(c
            .get(&c.key(Content::Bytes(&first)), Role::ServerChain)
            .is_none());
    }

    #[test]
    fn an_entry_over_the_whole_budget_is_not_kept() {
        let mut c = BundleCache::new(1_000);
        let n = name(1);
        let k = c.key(Content::Bytes(&n));
        c.insert(&k, Role::ServerChain, bundle_with_message(5_000));
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn base64_text_and_bytes_with_the_same_content_are_different_entries() {
        let mut c = BundleCache::new(100_000);
        let k = c.key(Content::Base64("QUJD"));
        c.insert(&k, Role::ServerChain, bundle_with_message(10));
        assert!(c
            .get(&c.key(Content::Bytes(b"QUJD")), Role::ServerChain)
            .is_none());
        assert!(c
            .get(&c.key(Content::Base64("QUJD")), Role::ServerChain)
            .is_some());
        assert!(c
            .get(&c.key(Content::Base64("QUJD")), Role::CaBundle)
            .is_none());
    }

    /// A bundle with a certificate (from the repository's fixtures), whose content the cache
    /// may keep.
    fn bundle_with_a_certificate() -> Arc<Bundle> {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/certs/httpbin.example.com.crt"
        ))
        .unwrap();
        Arc::new(super::super::parse_bundle(&pem, Role::ServerChain))
    }

    /// Two different contents forced into the same bucket (a hash collision): each hit is
    /// checked against the content, so neither is taken for the other.
    #[test]
    fn a_hash_collision_with_different_content_is_not_a_hit() {
        let mut c = BundleCache::new(100_000);
        let a = c.key(Content::Base64("QUFB"));
        let mut b = c.key(Content::Base64("QkJC"));
        b.hash = a.hash;
        c.insert(&a, Role::ServerChain, bundle_with_message(1));
        assert!(c.get(&b, Role::ServerChain).is_none());
        c.insert(&b, Role::ServerChain, bundle_with_message(2));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&a, Role::ServerChain).unwrap().issues[0].2.len(), 1);
        assert_eq!(c.get(&b, Role::ServerChain).unwrap().issues[0].2.len(), 2);
    }

    /// Once seen twice, an entry is checked by its bytes: a colliding content still misses.
    #[test]
    fn a_hash_collision_with_an_entry_kept_by_its_bytes_is_not_a_hit() {
        let mut c = BundleCache::new(100_000);
        let a = c.key(Content::Base64("QUFB"));
        c.insert(&a, Role::ServerChain, bundle_with_a_certificate());
        let before = c.bytes();
        assert!(c.get(&a, Role::ServerChain).is_some());
        assert_eq!(c.bytes(), before + "QUFB".len(), "kept by its bytes");
        let mut b = c.key(Content::Base64("QUFC"));
        b.hash = a.hash;
        assert!(c.get(&b, Role::ServerChain).is_none());
        let again = c.key(Content::Base64("QUFB"));
        assert!(c.get(&again, Role::ServerChain).is_some());
    }

    /// The key text of a real fixture: its tag is stable within a process, and a one-byte edit
    /// (a different key) or another process's secret gives another tag.
    fn key_text() -> String {
        use base64::Engine;
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/certs/chain/leaf.key"
        ))
        .unwrap();
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    #[test]
    fn a_key_text_has_one_tag_in_a_process() {
        let t = KeyTagger::default();
        let text = key_text();
        assert_eq!(t.tag(&text), t.tag(&text.clone()));
        assert!(t.tag(&text).is_some());
    }

    #[test]
    fn a_one_byte_edit_of_a_key_text_has_another_tag() {
        let t = KeyTagger::default();
        let text = key_text();
        let mut edited = text.clone().into_bytes();
        edited[100] = if edited[100] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert_ne!(t.tag(&text), t.tag(&edited));
    }

    #[test]
    fn two_processes_tag_one_key_text_differently() {
        let text = key_text();
        assert_ne!(
            KeyTagger::default().tag(&text),
            KeyTagger::default().tag(&text)
        );
    }

    #[test]
    fn content_that_parsed_no_certificate_is_never_kept_by_its_bytes() {
        let mut c = BundleCache::new(100_000);
        let a = c.key(Content::Base64("QUFB"));
        c.insert(&a, Role::ServerChain, bundle_with_message(1));
        let before = c.bytes();
        assert!(c.get(&a, Role::ServerChain).is_some());
        assert_eq!(c.bytes(), before);
    }
}
