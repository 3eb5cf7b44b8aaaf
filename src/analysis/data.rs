//! A Secret's `data`, by key. Values that arrived as base64 text (an AdmissionReview, a
//! manifest, the API server's JSON) keep that text and are decoded on first use: the parse
//! cache knows a certificate bundle by its base64 text ([`super::cache`]), so a Secret whose
//! `tls.crt` was seen before is checked without decoding it again.
//!
//! A value that is not valid base64 is absent: [`SecretData::get`] and
//! [`SecretData::keys`] skip it and [`SecretData::undecodable`] names it, as the API server
//! would have refused it.

use super::Bundle;
use std::sync::{Arc, OnceLock};

/// What the caches know of one base64 value seen before: its bundle by role (see
/// [`super::Role::slot`]), or, for a private key, its public facts.
#[derive(Clone, Default)]
pub(crate) struct Known {
    pub bundles: [Option<Arc<Bundle>>; 3],
    pub key: Option<super::key::KeyFacts>,
}

#[derive(Clone)]
enum Value {
    /// Bytes as given (`stringData`, files, a caller's own data).
    Bytes(Vec<u8>),
    /// Base64 as sent; `decoded` is filled on first use (`None`: not valid base64).
    Base64 {
        text: Box<str>,
        decoded: OnceLock<Option<Vec<u8>>>,
        /// Set by the analyzer when the text is a parse-cache entry's: the value is then
        /// known to decode to a non-empty bundle without decoding it. Boxed: a value is 72
        /// bytes, not 190, in every Secret decoded.
        known: OnceLock<Box<Known>>,
    },
}

impl Value {
    fn decoded(&self) -> Option<&Vec<u8>> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Base64 { text, decoded, .. } => decoded
                .get_or_init(|| crate::model::decode_data_value(text).ok())
                .as_ref(),
        }
    }

    fn known(&self) -> Option<&Known> {
        match self {
            Value::Base64 { known, .. } => known.get().map(|k| &**k),
            Value::Bytes(_) => None,
        }
    }

    fn valid(&self) -> bool {
        self.known().is_some() || self.decoded().is_some()
    }
}

/// Decoded data of a Secret, by key.
#[derive(Clone, Default)]
pub struct SecretData {
    map: KeyMap,
}

/// Keys in order, in one allocation sized to the handful a Secret has (a `BTreeMap` leaf is
/// eleven slots, 2 KiB of `Value`s, whatever the count: what `lint` kept per Secret).
#[derive(Clone, Default)]
struct KeyMap(Vec<(String, Value)>);

impl KeyMap {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    fn insert(&mut self, key: String, value: Value) {
        match self.find(&key) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (key, value)),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|at| &self.0[at].1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    fn into_iter(self) -> impl Iterator<Item = (String, Value)> {
        self.0.into_iter()
    }
}

impl std::fmt::Debug for SecretData {
    // Values can be private keys: only the key names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

/// Equal when the same keys hold the same base64 text (byte for byte: nothing is decoded),
/// or, for values given as bytes, the same bytes.
impl PartialEq for SecretData {
    fn eq(&self, other: &Self) -> bool {
        self.map.len() == other.map.len()
            && self
                .map
                .iter()
                .zip(other.map.iter())
                .all(|((ka, a), (kb, b))| {
                    ka == kb
                        && match (a, b) {
                            (Value::Base64 { text: x, .. }, Value::Base64 { text: y, .. }) => {
                                x == y
                            }
                            (Value::Bytes(x), Value::Bytes(y)) => x == y,
                            _ => a.decoded().is_some() && a.decoded() == b.decoded(),
                        }
                })
    }
}

impl FromIterator<(String, Vec<u8>)> for SecretData {
    fn from_iter<I: IntoIterator<Item = (String, Vec<u8>)>>(iter: I) -> Self {
        let mut d = SecretData::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}

impl IntoIterator for SecretData {
    type Item = (String, Vec<u8>);
    type IntoIter = Box<dyn Iterator<Item = (String, Vec<u8>)>>;

    /// The decoded values (undecodable ones are left out).
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.map.into_iter().filter_map(|(k, v)| {
            let bytes = match v {
                Value::Bytes(b) => Some(b),
                Value::Base64 { text, decoded, .. } => match decoded.into_inner() {
                    Some(d) => d,
                    None => crate::model::decode_data_value(&text).ok(),
                },
            };
            bytes.map(|b| (k, b))
        }))
    }
}

impl SecretData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `bytes` (replacing a base64 value: `stringData` wins over `data`).
    pub fn insert(&mut self, key: String, bytes: Vec<u8>) {
        self.map.insert(key, Value::Bytes(bytes));
    }

    /// Sets `key` to base64 `text`, decoded when first read.
    pub fn insert_base64(&mut self, key: String, text: Box<str>) {
        self.map.insert(
            key,
            Value::Base64 {
                text,
                decoded: OnceLock::new(),
                known: OnceLock::new(),
            },
        );
    }

    /// The decoded value; `None` when missing or not valid base64.
    pub fn get(&self, key: &str) -> Option<&Vec<u8>> {
        self.map.get(key).and_then(Value::decoded)
    }

    /// Whether `key` holds a value that decodes.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(Value::valid)
    }

    /// Keys whose value decodes, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.map.iter().filter(|(_, v)| v.valid()).map(|(k, _)| k)
    }

    /// Decoded values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.map.values().filter_map(Value::decoded)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.map
            .iter()
            .filter_map(|(k, v)| v.decoded().map(|d| (k, d)))
    }

    pub fn len(&self) -> usize {
        self.keys().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At least the bytes of all values once decoded: base64 values not decoded yet count by
    /// the upper bound of their text (3 bytes per 4 characters).
    pub fn decoded_len_bound(&self) -> usize {
        self.map
            .values()
            .map(|v| match v {
                Value::Base64 { text, decoded, .. } if decoded.get().is_none() => {
                    text.len() / 4 * 3
                }
                _ => v.decoded().map_or(0, Vec::len),
            })
            .sum()
    }

    /// Keys whose value is not valid base64, in order.
    pub fn undecodable(&self) -> Vec<String> {
        self.map
            .iter()
            .filter(|(_, v)| !v.valid())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Drops every value, keeping the key names (and which were undecodable): what is left
    /// of a Secret once its summary is made.
    pub fn clear_values(&mut self) {
        for v in self.map.values_mut() {
            *v = if v.valid() {
                Value::Bytes(Vec::new())
            } else {
                Value::Base64 {
                    text: Box::default(),
                    decoded: OnceLock::from(None),
                    known: OnceLock::new(),
                }
            };
        }
        self.map.0.shrink_to_fit();
    }

    /// The base64 text `key` arrived as, unless it was given as bytes.
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        match self.map.get(key)? {
            Value::Base64 { text, .. } => Some(text),
            Value::Bytes(_) => None,
        }
    }

    /// Bundles the parse cache knows for `key`'s base64 text, if [`Self::set_known`] was called.
    pub(crate) fn known(&self, key: &str) -> Option<&Known> {
        self.map.get(key).and_then(Value::known)
    }

    pub(crate) fn set_known(&self, key: &str, known: Known) {
        if let Some(Value::Base64 { known: k, .. }) = self.map.get(key) {
            let _ = k.set(Box::new(known));
        }
    }

    /// Base64 values not yet decoded nor looked up, with their text.
    pub(crate) fn unresolved(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().filter_map(|(k, v)| match v {
            Value::Base64 {
                text,
                decoded,
                known,
            } if decoded.get().is_none() && known.get().is_none() && !text.is_empty() => {
                Some((k.as_str(), &**text))
            }
            _ => None,
        })
    }
}

impl std::ops::Index<&str> for SecretData {
    type Output = Vec<u8>;

    /// The decoded value; panics when `key` is missing or undecodable, like a map's index.
    fn index(&self, key: &str) -> &Vec<u8> {
        self.get(key).expect("key present in SecretData")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analyzer;
    use base64::Engine;

    fn fixture_b64(rel: &str) -> Box<str> {
        let path = format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(path).unwrap())
            .into()
    }

    /// `kubectl create secret tls` data: the chain and key, as base64 text.
    fn tls_secret(chain: &str) -> SecretData {
        let mut d = SecretData::new();
        d.insert_base64("tls.crt".into(), chain.into());
        d.insert_base64("tls.key".into(), fixture_b64("certs/chain/leaf.key"));
        d
    }

    fn decoded(d: &SecretData, key: &str) -> bool {
        matches!(d.map.get(key), Some(Value::Base64 { decoded, .. }) if decoded.get().is_some())
    }

    #[test]
    fn a_chain_seen_before_as_the_same_base64_text_is_not_decoded_again() {
        let analyzer = Analyzer::new();
        let chain = fixture_b64("certs/chain/fullchain.pem");
        let first = tls_secret(&chain);
        let a = analyzer.credential("app", "kubernetes.io/tls", &first);
        assert!(decoded(&first, "tls.crt"));
        let second = tls_secret(&chain);
        let b = analyzer.credential("app", "kubernetes.io/tls", &second);
        assert!(!decoded(&second, "tls.crt"), "a cache hit decoded tls.crt");
        assert!(Arc::ptr_eq(
            &a.server.as_ref().unwrap().chain,
            &b.server.as_ref().unwrap().chain
        ));
        // Everything the summary says is the same as from the decoded value.
        assert_eq!(b.keys(), a.keys());
        assert_eq!(b.issues, a.issues);
        assert!(second.undecodable().is_empty());
    }

    #[test]
    fn a_key_seen_before_as_the_same_base64_text_is_not_decoded_again() {
        let analyzer = Analyzer::new();
        let chain = fixture_b64("certs/chain/fullchain.pem");
        let first = tls_secret(&chain);
        let a = analyzer.credential("app", "kubernetes.io/tls", &first);
        assert!(decoded(&first, "tls.key"));
        let second = tls_secret(&chain);
        let b = analyzer.credential("app", "kubernetes.io/tls", &second);
        assert!(
            !decoded(&second, "tls.key"),
            "a key cache hit decoded tls.key"
        );
        assert_eq!(b.issues, a.issues);
        assert_eq!(b.keys(), a.keys());
    }

    #[test]
    fn a_key_that_does_not_match_is_still_a_mismatch_from_the_key_cache() {
        let analyzer = Analyzer::new();
        let chain = fixture_b64("certs/chain/fullchain.pem");
        let mut other = SecretData::new();
        other.insert_base64("tls.crt".into(), fixture_b64("certs/httpbin-san.crt"));
        other.insert_base64("tls.key".into(), fixture_b64("certs/chain/leaf.key"));
        analyzer.credential("app", "kubernetes.io/tls", &tls_secret(&chain));
        let s = analyzer.credential("app", "kubernetes.io/tls", &other);
        assert!(!decoded(&other, "tls.key"));
        let mismatch: Vec<_> = s
            .issues
            .iter()
            .filter(|i| i.code == crate::finding::Code::KeyMismatch)
            .collect();
        assert_eq!(mismatch.len(), 1, "{:?}", s.issues);
        assert_eq!(mismatch[0].path, "data[\"tls.key\"]");
    }

    #[test]
    fn the_same_chain_wrapped_differently_is_a_different_text_with_the_same_findings() {
        let analyzer = Analyzer::new();
        let chain = fixture_b64("certs/chain/fullchain.pem");
        let wrapped: String = chain
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let a = analyzer.credential("app", "kubernetes.io/tls", &tls_secret(&chain));
        let other = tls_secret(&wrapped);
        let b = analyzer.credential("app", "kubernetes.io/tls", &other);
        assert!(
            decoded(&other, "tls.crt"),
            "a different text must be decoded"
        );
        assert_eq!(b.issues, a.issues);
        assert_eq!(analyzer.cached_bundles(), 2);
    }

    #[test]
    fn a_value_that_is_not_base64_stays_undecodable_after_a_lookup() {
        let analyzer = Analyzer::new();
        let d = tls_secret("not base64!");
        analyzer.resolve(&d);
        assert_eq!(d.undecodable(), vec!["tls.crt".to_string()]);
        assert!(!d.contains_key("tls.crt"));
    }
}
