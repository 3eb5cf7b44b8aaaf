//! Host matching between what a Gateway/Ingress serves and what a certificate presents.
//! RFC 6125 §6.4.3: a wildcard is only the whole left-most label and covers exactly one label.
//!
//! | presented (SAN)  | reference (served host) | result                                   |
//! |------------------|-------------------------|------------------------------------------|
//! | `a.example.com`  | `A.example.com.`        | covered (case, trailing dot ignored)     |
//! | `*.example.com`  | `a.example.com`         | covered                                  |
//! | `*.example.com`  | `a.b.example.com`       | not covered (one label only)             |
//! | `*.example.com`  | `*.example.com`         | covered (the same wildcard)              |
//! | `*.co.uk`        | `shop.co.uk`            | public-suffix wildcard: browsers refuse  |
//! | `IP:10.0.0.1`    | `10.0.0.1`              | covered                                  |
//! | `DNS:10.0.0.1`   | `10.0.0.1`              | not covered: IP hosts match IP SANs only |
//!
//! [`NameIndex`] answers this for H hosts against S SANs in O(H + S): exact names in a set,
//! wildcards by the parent domain they cover.

use std::collections::HashSet;
use std::net::IpAddr;

/// At most this many DNS and IP SANs of one certificate are matched; a certificate with more
/// gets a `limit-exceeded` finding instead (50,000 names of 20 bytes fill a 1 MiB Secret).
pub const MAX_SANS_PER_CERT: usize = 50_000;
/// At most this many hosts of one Gateway server, listener or Ingress TLS entry are matched.
pub const MAX_HOSTS_PER_REFERENCE: usize = 5_000;
/// Messages name at most this many hosts or names and count the rest.
pub const NAMES_IN_MESSAGES: usize = 3;

/// How a certificate stands towards one served host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Covered,
    /// Covered only by a wildcard on a public suffix (`*.co.uk`), which browsers reject.
    PublicSuffixWildcard(String),
    /// An IP host that the certificate carries only as a DNS SAN.
    IpOnlyAsDns,
    NotCovered,
}

/// The names a certificate presents, indexed for matching.
#[derive(Debug, Default)]
pub struct NameIndex {
    exact: HashSet<String>,
    /// `example.com` for `*.example.com`, except on public suffixes.
    wildcard_parents: HashSet<String>,
    /// `co.uk` for `*.co.uk`.
    public_suffix_parents: HashSet<String>,
    ips: HashSet<IpAddr>,
}

fn lower(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Is `domain` a public suffix on the Public Suffix List (`com`, `co.uk`, `github.io`)?
pub fn is_public_suffix(domain: &str) -> bool {
    psl::suffix(domain.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes().len() == domain.len())
}

impl NameIndex {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, ips: &[IpAddr]) -> Self {
        let mut idx = NameIndex {
            ips: ips.iter().copied().collect(),
            ..Default::default()
        };
        for n in names {
            let n = lower(n);
            if let Some(parent) = n.strip_prefix("*.") {
                if !parent.is_empty() && !parent.contains('*') {
                    if is_public_suffix(parent) {
                        idx.public_suffix_parents.insert(parent.to_string());
                    } else {
                        idx.wildcard_parents.insert(parent.to_string());
                    }
                }
            }
            idx.exact.insert(n);
        }
        idx
    }

    pub fn coverage(&self, host: &str) -> Coverage {
        let host = normalize(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return if self.ips.contains(&ip) {
                Coverage::Covered
            } else if self.exact.contains(&host) {
                Coverage::IpOnlyAsDns
            } else {
                Coverage::NotCovered
            };
        }
        if self.exact.contains(&host) && !host.starts_with("*.") {
            return Coverage::Covered;
        }
        if let Some(parent) = host.strip_prefix("*.") {
            // A served wildcard is covered only by the same wildcard.
            return if self.wildcard_parents.contains(parent) {
                Coverage::Covered
            } else if self.public_suffix_parents.contains(parent) {
                Coverage::PublicSuffixWildcard(format!("*.{parent}"))
            } else {
                Coverage::NotCovered
            };
        }
        match host.split_once('.') {
            Some((label, parent)) if !label.is_empty() && label != "*" => {
                if self.wildcard_parents.contains(parent) {
                    Coverage::Covered
                } else if self.public_suffix_parents.contains(parent) {
                    Coverage::PublicSuffixWildcard(format!("*.{parent}"))
                } else {
                    Coverage::NotCovered
                }
            }
            _ => Coverage::NotCovered,
        }
    }
}

/// "a, b, c and 1,997 more": at most [`NAMES_IN_MESSAGES`] items, then a count.
pub fn list_some(items: &[impl AsRef<str>]) -> String {
    list_first(items, NAMES_IN_MESSAGES)
}

/// "a, b and 3 more": at most `n` items, then a count, for a list inside a longer sentence.
pub fn list_first(items: &[impl AsRef<str>], n: usize) -> String {
    let shown: Vec<&str> = items.iter().take(n).map(AsRef::as_ref).collect();
    let mut s = shown.join(", ");
    if items.len() > n {
        let rest = crate::analysis::validity::grouped(items.len() - n);
        s.push_str(&format!(" and {rest} more"));
    }
    s
}

/// Normalises a host written in a Gateway/Ingress: strips Istio's `namespace/` prefix, a
/// trailing dot, and lowercases.
pub fn normalize(host: &str) -> String {
    let host = host.rsplit_once('/').map_or(host, |(_, h)| h);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a certificate name (SAN DNS entry or CN) covers `host`.
/// A served host that is itself a wildcard is covered only by the same wildcard.
///
/// ```
/// use tlsgate::analysis::hosts::name_covers;
/// assert!(name_covers("*.example.com", "httpbin.example.com"));
/// assert!(!name_covers("*.example.com", "a.b.example.com")); // one label only (RFC 6125)
/// ```
pub fn name_covers(cert_name: &str, host: &str) -> bool {
    let name = cert_name.trim_end_matches('.').to_ascii_lowercase();
    let host = normalize(host);
    if name == host {
        return true;
    }
    match name.strip_prefix("*.") {
        Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && label != "*" && rest == suffix,
            None => false,
        },
        _ => false,
    }
}

/// True for the hosts that mean "anything" and so cannot be checked against a certificate.
pub fn is_catch_all(host: &str) -> bool {
    normalize(host) == "*"
}

/// Whether the certificate names (and IPs) cover `host`. For many hosts build a [`NameIndex`].
pub fn covered(names: &[&str], ips: &[IpAddr], host: &str) -> bool {
    NameIndex::new(names.iter().copied(), ips).coverage(host) == Coverage::Covered
}

/// Istio matching of a VirtualService host against a Gateway server host (both may be
/// wildcards): `*.example.com` on the gateway admits `a.example.com` and `*.example.com`.
pub fn gateway_host_admits(gateway_host: &str, vs_host: &str) -> bool {
    let g = normalize(gateway_host);
    let v = normalize(vs_host);
    if g == "*" || g == v {
        return true;
    }
    if let Some(suffix) = g.strip_prefix('*') {
        return v.ends_with(suffix) || v.strip_prefix('*').is_some_and(|vs| vs.ends_with(suffix));
    }
    if let Some(suffix) = v.strip_prefix('*') {
        return g.ends_with(suffix);
    }
    false
}

/// Levenshtein distance, for "did you mean" hints on short object names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a distance that still looks like a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(name_covers("*.example.com", "httpbin.example.com"));
        assert!(!name_covers("*.example.com", "a.b.example.com"));
        assert!(!name_covers("*.example.com", "example.com"));
    }

    #[test]
    fn exact_match_is_case_insensitive_and_ignores_trailing_dot() {
        assert!(name_covers("HTTPBIN.example.com", "httpbin.example.com."));
    }

    #[test]
    fn istio_namespace_prefix_is_stripped() {
        assert!(covered(
            &["httpbin.example.com"],
            &[],
            "istio-system/httpbin.example.com"
        ));
    }

    #[test]
    fn partial_label_wildcards_are_not_honoured() {
        assert!(!name_covers("h*.example.com", "httpbin.example.com"));
    }

    #[test]
    fn served_wildcard_needs_the_same_wildcard() {
        assert!(name_covers("*.example.com", "*.example.com"));
        assert!(!name_covers("a.example.com", "*.example.com"));
    }

    #[test]
    fn ip_hosts_match_ip_sans_only() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(covered(&[], &[ip], "10.0.0.1"));
        assert!(!covered(&["10.0.0.1"], &[], "10.0.0.1"));
    }

    #[test]
    fn wildcard_on_a_public_suffix_does_not_cover() {
        let idx = NameIndex::new(["*.com", "*.co.uk"], &[]);
        assert_eq!(
            idx.coverage("example.com"),
            Coverage::PublicSuffixWildcard("*.com".into())
        );
        assert_eq!(
            idx.coverage("shop.co.uk"),
            Coverage::PublicSuffixWildcard("*.co.uk".into())
        );
        assert!(!covered(&["*.co.uk"], &[], "shop.co.uk"));
        assert!(covered(&["*.example.co.uk"], &[], "shop.example.co.uk"));
    }

    #[test]
    fn ip_present_only_as_dns_san_is_named_as_such() {
        let idx = NameIndex::new(["10.1.2.3"], &[]);
        assert_eq!(idx.coverage("10.1.2.3"), Coverage::IpOnlyAsDns);
    }

    #[test]
    fn istio_own_and_any_namespace_forms_are_stripped() {
        assert!(covered(
            &["httpbin.example.com"],
            &[],
            "./httpbin.example.com"
        ));
        assert!(covered(
            &["httpbin.example.com"],
            &[],
            "*/httpbin.example.com"
        ));
        assert!(is_catch_all("*/*"));
    }

    #[test]
    fn lists_name_a_few_and_count_the_rest() {
        let hosts: Vec<String> = (0..2000).map(|i| format!("h{i}.example.com")).collect();
        assert_eq!(
            list_some(&hosts),
            "h0.example.com, h1.example.com, h2.example.com and 1,997 more"
        );
        assert_eq!(list_some(&["a"]), "a");
    }

    #[test]
    fn list_first_shows_n_then_counts_the_rest() {
        assert_eq!(list_first(&["a", "b", "c"], 1), "a and 2 more");
        assert_eq!(list_first(&["a", "b"], 2), "a, b");
    }

    #[test]
    fn gateway_wildcard_admits_subdomain() {
        assert!(gateway_host_admits("*.example.com", "httpbin.example.com"));
        assert!(!gateway_host_admits("*.example.com", "httpbin.example.org"));
        assert!(gateway_host_admits("*", "anything"));
    }

    #[test]
    fn closest_suggests_a_typo_not_a_stranger() {
        assert_eq!(
            closest("mygatway", ["mygateway", "other"]),
            Some("mygateway")
        );
        assert_eq!(closest("httpbin-gateway", ["mygateway"]), None);
    }
}
