//! The parse cache behind [`super::Analyzer`]: one parsed [`Bundle`] per distinct content and
//! role, bounded by an estimate of the bytes it holds (not only by entry count), so that a
//! stream of distinct large Secrets (`kubectl apply --dry-run=server` in a loop) cannot grow
//! the webhook past its memory limit. Oldest entries go first. An entry is an `Arc`: the
//! cluster view may keep sharing an evicted bundle; the cache only lets go of its own reference.

use super::{Bundle, CertInfo, Role};
use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

/// Bytes of parsed bundles the cache keeps, by [`estimated_bytes`]. 32 MiB is a few thousand
/// typical chains (about 4 KiB each) and leaves the Deployment's 128 MiB limit room for the
/// cluster view and request bodies (see the README's "Limits and hardening").
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;
/// And at most this many entries, whatever their size.
pub const MAX_ENTRIES: usize = 50_000;

/// SHA-256 of the bundle bytes, and the role it was checked for.
pub type BundleKey = ([u8; 32], Role);

pub struct BundleCache {
    budget: usize,
    bytes: usize,
    entries: HashMap<BundleKey, (Arc<Bundle>, usize)>,
    order: VecDeque<BundleKey>,
}

impl BundleCache {
    pub fn new(budget: usize) -> Self {
        BundleCache {
            budget,
            bytes: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &BundleKey) -> Option<Arc<Bundle>> {
        self.entries.get(key).map(|(b, _)| b.clone())
    }

    /// Keeps `bundle` unless it alone is over the budget; evicts the oldest entries until the
    /// total fits.
    pub fn insert(&mut self, key: BundleKey, bundle: Arc<Bundle>) {
        if self.entries.contains_key(&key) {
            return;
        }
        let size = estimated_bytes(&bundle);
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget || self.entries.len() >= MAX_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, n)) = self.entries.remove(&old) {
                self.bytes -= n;
            }
        }
        self.bytes += size;
        self.entries.insert(key, (bundle, size));
        self.order.push_back(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The estimated bytes held, always at most the budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
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
    let strings = [
        Some(&c.subject),
        c.common_name.as_ref(),
        Some(&c.issuer),
        c.issuer_cn.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.len())
    .sum::<usize>()
        + c.dn_fields.heap_len()
        + match &c.signature_algorithm {
            std::borrow::Cow::Owned(s) => s.len(),
            std::borrow::Cow::Borrowed(_) => 0,
        };
    let names: usize = c
        .dns_names
        .iter()
        .chain(&c.uris)
        .map(|n| size_of::<Box<str>>() + n.len())
        .sum();
    let key = match &c.public_key {
        super::cert::PublicKeyMaterial::Rsa { n, e } => n.len() + e.len(),
        super::cert::PublicKeyMaterial::Ec { curve, point } => curve.len() + point.len(),
        super::cert::PublicKeyMaterial::Ed25519(k) => k.len(),
        super::cert::PublicKeyMaterial::Unknown => 0,
    };
    let ids = c.serial.len()
        + c.subject_key_id.as_ref().map_or(0, |k| k.len())
        + c.authority_key_id.as_ref().map_or(0, |k| k.len());
    size_of::<Arc<CertInfo>>()
        + size_of::<CertInfo>()
        + strings
        + names
        + c.ip_addresses.len() * size_of::<std::net::IpAddr>()
        + key
        + ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with_message(len: usize) -> Arc<Bundle> {
        Arc::new(Bundle {
            role: super::super::Role::default(),
            certs: Vec::new(),
            issues: vec![(
                super::super::Code::SecretMalformed,
                super::super::Severity::Deny,
                "x".repeat(len),
            )],
        })
    }

    fn key(i: u32) -> BundleKey {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        (k, Role::ServerChain)
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_entries() {
        let mut c = BundleCache::new(10_000);
        for i in 0..100 {
            c.insert(key(i), bundle_with_message(1_000));
            assert!(c.bytes() <= 10_000, "{} bytes cached", c.bytes());
        }
        assert!(c.len() < 10);
        assert!(c.get(&key(99)).is_some());
        assert!(c.get(&key(0)).is_none());
    }

    #[test]
    fn an_entry_over_the_whole_budget_is_not_kept() {
        let mut c = BundleCache::new(1_000);
        c.insert(key(1), bundle_with_message(5_000));
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }
}
