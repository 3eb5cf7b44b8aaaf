//! The one validity rule (RFC 5280 §4.1.2.5) and what it means for a bundle of certificates.
//!
//! A certificate is valid from notBefore through notAfter, both inclusive. What an invalid
//! certificate costs depends on where it sits:
//!
//! | where                         | outside its window                           | finding              |
//! |-------------------------------|----------------------------------------------|----------------------|
//! | leaf of a served chain        | every client refuses it                      | `cert-expired` deny  |
//! | any other cert of a chain     | clients build another path (cross-signs)     | `chain-cert-expired` warn |
//! | some entries of a CA bundle   | the others still verify (CA rotation)        | `chain-cert-expired` warn |
//! | every entry of a CA bundle    | nothing can be verified                      | `cert-expired` deny  |
//!
//! The 2020 AddTrust and 2021 DST Root CA X3 expiries are the reason for the second row:
//! servers kept sending the expired cross-sign and modern clients built a path to the newer
//! root. The third row is the normal state while trust-manager or an operator rotates a CA.

use super::cert::CertInfo;
use super::{data_path, Bundle, Role};
use crate::finding::{Code, Issue};

/// Where a certificate stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    NotYetValid,
    Valid,
    Expired,
}

/// RFC 5280 §4.1.2.5: valid from notBefore through notAfter inclusive. Every door (analysis,
/// audit, the self-managed planner) asks this function.
pub fn window(c: &CertInfo, now: i64) -> Window {
    if is_expired_at(c.not_after, now) {
        Window::Expired
    } else if now < c.not_before {
        Window::NotYetValid
    } else {
        Window::Valid
    }
}

/// Has a certificate with this notAfter expired at `now`? notAfter itself is still valid
/// (RFC 5280 §4.1.2.5). For callers that hold only the notAfter (the serving certificate's
/// readiness, its expiry log, the `x509_cert_expired` metric).
pub fn is_expired_at(not_after: i64, now: i64) -> bool {
    now > not_after
}

/// Whether `c` is inside its validity window at `now`.
pub fn is_valid_at(c: &CertInfo, now: i64) -> bool {
    window(c, now) == Window::Valid
}

/// How much time, in words: "412 days", "5 hours", "1 second".
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s >= 2 * 3_600 {
        (s / 3_600, "hour")
    } else if s >= 120 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The sentence tail for a certificate outside its window ("expired 3 days ago (notAfter …)").
fn outside(c: &CertInfo, now: i64) -> Option<String> {
    match window(c, now) {
        Window::Expired => Some(format!(
            "expired {} ago (notAfter {})",
            human_duration(now - c.not_after),
            rfc3339(c.not_after)
        )),
        Window::NotYetValid => Some(format!(
            "becomes valid in {} (notBefore {})",
            human_duration(c.not_before - now),
            rfc3339(c.not_before)
        )),
        Window::Valid => None,
    }
}

/// The fix of an expired certificate, which a caller that knows a better one replaces.
pub const RENEW_IT: &str = "; renew it";

/// One certificate on its own: expired / not yet valid (denials) or expiring within
/// `warn_within_days`. For a certificate inside a bundle use [`bundle_validity`].
pub fn cert_validity(c: &CertInfo, now: i64, warn_within_days: i64) -> Option<(Code, String)> {
    match window(c, now) {
        Window::Expired => Some((Code::CertExpired, format!("{}{RENEW_IT}", outside(c, now)?))),
        Window::NotYetValid => Some((
            Code::CertNotYetValid,
            format!("{}; check the CA's clock", outside(c, now)?),
        )),
        Window::Valid if c.not_after - now <= warn_within_days * 86_400 => Some((
            Code::CertExpiringSoon,
            format!(
                "expires in {} (notAfter {})",
                human_duration(c.not_after - now),
                rfc3339(c.not_after)
            ),
        )),
        Window::Valid => None,
    }
}

/// Time-dependent findings of the bundle at Secret key `key`, by the table in the module doc.
pub fn bundle_validity(key: &str, bundle: &Bundle, now: i64, warn_within_days: i64) -> Vec<Issue> {
    bundle_windows(key, bundle, now, warn_within_days)
        .into_iter()
        .map(|(code, message)| Issue::new(code, data_path(key), message))
        .collect()
}

/// [`bundle_validity`] without a path: each finding names the certificate by `key`
/// ("tls.crt certificate #2 (CN=…)", "caBundle (CN=…)") and says where it stands.
pub fn bundle_windows(
    key: &str,
    bundle: &Bundle,
    now: i64,
    warn_within_days: i64,
) -> Vec<(Code, String)> {
    (0..bundle.certs.len())
        .filter_map(|i| member_validity(key, bundle, i, now, warn_within_days))
        .collect()
}

/// The finding of certificate `i` of the bundle at `key`, by the table in the module doc: the
/// one decision lint, the webhook and the audit all read.
pub fn member_validity(
    key: &str,
    bundle: &Bundle,
    i: usize,
    now: i64,
    warn_within_days: i64,
) -> Option<(Code, String)> {
    let certs = &bundle.certs;
    let c = certs.get(i)?;
    let finding = match bundle.role {
        Role::ServerChain | Role::SigningCa if i == 0 => cert_validity(c, now, warn_within_days),
        Role::ServerChain | Role::SigningCa => chain_member(c, now, warn_within_days),
        Role::CaBundle => {
            let valid = certs.iter().filter(|c| is_valid_at(c, now)).count();
            if valid == 0 {
                cert_validity(c, now, warn_within_days).map(|(code, msg)| {
                    match (certs.len() > 1, outside(c, now), msg.rfind("; ")) {
                        // The consequence before the fix: "…; no CA … is valid …; renew it".
                        (true, Some(stated), Some(at)) => (
                            code,
                            format!("{stated}; no CA in {key} is valid, so nothing verifies against it{}", &msg[at..]),
                        ),
                        _ => (code, msg),
                    }
                })
            } else {
                // A rotation in progress: the old CA goes once unused, the next one stays.
                let fix = if window(c, now) == Window::Expired {
                    "remove it once nothing it signed is in use"
                } else {
                    "keep it only if it is the next CA"
                };
                outside(c, now)
                    .map(|msg| {
                        (
                            Code::ChainCertExpired,
                            format!(
                                "{msg}; {key} still holds {}, so {fix}",
                                count(valid, "valid CA")
                            ),
                        )
                    })
                    .or_else(|| expiring(c, now, warn_within_days))
            }
        }
    };
    // Named only when there is something to say: most certificates are valid, and the name
    // is formatted from the certificate's subject.
    finding.map(|(code, msg)| {
        let who = if certs.len() > 1 {
            format!("{key} certificate #{i} ({})", c.display_name())
        } else {
            format!("{key} ({})", c.display_name())
        };
        (code, format!("{who} {msg}"))
    })
}

/// An intermediate or cross-sign after the leaf: clients that trust a newer root build a path
/// around it, so an expired one only warns.
fn chain_member(c: &CertInfo, now: i64, warn_within_days: i64) -> Option<(Code, String)> {
    match outside(c, now) {
        Some(msg) => Some((
            Code::ChainCertExpired,
            format!("{msg} but the leaf is valid; clients without another path fail, so drop it from the chain"),
        )),
        None => expiring(c, now, warn_within_days),
    }
}

fn expiring(c: &CertInfo, now: i64, warn_within_days: i64) -> Option<(Code, String)> {
    cert_validity(c, now, warn_within_days).filter(|(code, _)| *code == Code::CertExpiringSoon)
}

/// "1 valid CA", "2 valid CAs", "1,997 hosts".
pub fn count(n: usize, noun: &str) -> String {
    format!("{} {noun}{}", grouped(n), if n == 1 { "" } else { "s" })
}

/// "1,997".
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: i64, not_after: i64) -> CertInfo {
        let key = rcgen::generate_simple_self_signed(vec!["a.example".into()]).unwrap();
        let (info, _) = crate::analysis::cert::inspect(key.cert.der()).unwrap();
        let mut c = (*info).clone();
        c.not_before = not_before;
        c.not_after = not_after;
        c
    }

    #[test]
    fn not_after_itself_is_still_valid() {
        let c = cert(100, 200);
        assert_eq!(window(&c, 200), Window::Valid);
        assert_eq!(window(&c, 201), Window::Expired);
        assert_eq!(window(&c, 100), Window::Valid);
        assert_eq!(window(&c, 99), Window::NotYetValid);
    }

    #[test]
    fn one_unit_is_singular() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(-1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(3 * 86_400), "3 days");
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(1, "host"), "1 host");
        assert_eq!(count(1_997, "host"), "1,997 hosts");
        assert_eq!(count(50_000, "SAN"), "50,000 SANs");
    }
}
