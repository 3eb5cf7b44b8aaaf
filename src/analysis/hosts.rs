//! Host matching between what a Gateway/Ingress serves and what a certificate presents.
//! RFC 6125 §6.4.3: a wildcard is only the whole left-most label and covers exactly one label.

use std::net::IpAddr;

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

/// Whether the certificate names (and IPs) cover `host`.
pub fn covered(names: &[&str], ips: &[IpAddr], host: &str) -> bool {
    if let Ok(ip) = normalize(host).parse::<IpAddr>() {
        return ips.contains(&ip);
    }
    names.iter().any(|n| name_covers(n, host))
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
