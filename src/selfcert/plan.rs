//! Every decision of self-managed certificates, as one pure function of what is stored,
//! what the API server has published, and `now`. No kube client, no clock, no key generation:
//! [`plan`] says what to do next and why; [`super::state::State::apply`] does it.
//!
//! The invariant it keeps: the caBundle published in the webhook configuration contains the CA
//! that signed the certificate being served. A CA rollover therefore goes in steps, each taken
//! only when the previous one is visible:
//!
//! ```text
//!  Steady(A) ──2/3 of A's life──> StartCaRollover: next = B, bundle = [A, B]   (serving: A)
//!            ──published has B for publish_grace──> PromoteNextCa: sign with B (serving: B)
//!            ──B-signed cert served for `overlap`──> RetireOldCas: bundle = [B]  ──> Steady(B)
//! ```

use crate::analysis::cert::CertInfo;
use crate::analysis::{human_duration, is_valid_at, issued_by, rfc3339, window, Window};
use std::sync::Arc;

pub const DAY: i64 = 86_400;
pub const YEAR: i64 = 365 * DAY;

/// Lifetimes and waits. [`Schedule::default`] is what `serve --self-managed-certs` uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Lifetime of a generated CA (10 years).
    pub ca_lifetime: i64,
    /// Lifetime of a serving certificate (1 year), capped at the signing CA's notAfter.
    pub serving_lifetime: i64,
    /// notBefore is set this far before issuance, so a node whose clock runs a little behind
    /// does not reject a fresh certificate as not yet valid.
    pub backdate: i64,
    /// How long the webhook configuration must have carried the new CA before certificates
    /// signed by it are served: the API server's webhook client reads its configuration
    /// through an informer, so what was just written is not instantly what every API server
    /// instance trusts.
    pub publish_grace: i64,
    /// How long a certificate from the new CA must have been served before the old CA leaves
    /// the bundle: replicas that were slow to pick up the new Secret still present the old one.
    pub overlap: i64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            ca_lifetime: 10 * YEAR,
            serving_lifetime: YEAR,
            backdate: 3600,
            publish_grace: 10 * 60,
            overlap: DAY,
        }
    }
}

impl Schedule {
    /// When 2/3 of `c`'s lifetime has passed: the renewal point for serving certificates and
    /// the start of a CA rollover.
    pub fn renew_at(&self, c: &CertInfo) -> i64 {
        c.not_before + (c.not_after - c.not_before) * 2 / 3
    }

    /// When tlsgate issued `c` (its notBefore is backdated).
    pub fn issued_at(&self, c: &CertInfo) -> i64 {
        c.not_before + self.backdate
    }
}

/// `<service>.<namespace>.svc` and the names the API server or a person might dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceName {
    pub service: String,
    pub namespace: String,
}

impl ServiceName {
    /// The SANs of the serving certificate, the one the API server dials
    /// (`<service>.<namespace>.svc`) first.
    pub fn dns_names(&self) -> Vec<String> {
        let (s, ns) = (&self.service, &self.namespace);
        vec![
            format!("{s}.{ns}.svc"),
            s.clone(),
            format!("{s}.{ns}"),
            format!("{s}.{ns}.svc.cluster.local"),
        ]
    }
}

/// What the webhook configuration carries, as far as the planner cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// SHA-256 of each certificate in each webhook's caBundle, one entry per webhook.
    pub webhooks: Vec<Vec<[u8; 32]>>,
    /// Every webhook's caBundle is byte-for-byte the stored bundle (`ca.crt`).
    pub in_sync: bool,
    /// When the configuration was first seen with exactly this content.
    pub since: i64,
}

impl Published {
    /// Every webhook trusts `c`. Vacuously true with no webhooks: nothing calls tlsgate then.
    pub fn trusts(&self, c: &CertInfo) -> bool {
        self.webhooks.iter().all(|w| w.contains(&c.sha256))
    }
}

/// The stored state, parsed. A CA is only `Some` when its private key is stored with it and
/// matches; the serving certificate likewise.
#[derive(Clone, Copy, Debug)]
pub struct Stored<'a> {
    pub signing: Option<&'a CertInfo>,
    pub next: Option<&'a CertInfo>,
    pub bundle: &'a [Arc<CertInfo>],
    pub serving: Option<&'a CertInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Generate a CA and a serving certificate; the bundle becomes that CA alone.
    Bootstrap,
    /// Put the signing (and next) CA back into the stored bundle.
    RepairBundle,
    /// Issue a new serving certificate from the signing CA.
    IssueServing,
    /// Generate the next CA and add it to the bundle (rollover step 1).
    StartCaRollover,
    /// The next CA becomes the signing CA and issues the serving certificate (step 2).
    PromoteNextCa,
    /// Drop these CAs (by SHA-256) from the bundle (step 3).
    RetireOldCas(Vec<[u8; 32]>),
    /// Write the stored bundle into every webhook's caBundle.
    Publish,
    /// Nothing to do before `next_at`.
    Idle { next_at: i64 },
}

/// One step, with the sentence that explains it in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub why: String,
}

fn decide(action: Action, why: impl Into<String>) -> Decision {
    Decision {
        action,
        why: why.into(),
    }
}

fn usable_ca(c: &CertInfo, now: i64) -> bool {
    c.is_ca && is_valid_at(c, now)
}

/// The next step towards a valid, trusted serving certificate. Call again after applying
/// it; [`Action::Idle`] means done until `next_at`.
pub fn plan(
    stored: &Stored<'_>,
    published: &Published,
    names: &ServiceName,
    sched: &Schedule,
    now: i64,
) -> Decision {
    let next = stored.next.filter(|c| usable_ca(c, now));
    let signing = match stored.signing {
        Some(c) if usable_ca(c, now) => c,
        other => {
            let why = match other {
                None => "no signing CA stored".to_string(),
                Some(c) if window(c, now) == Window::Expired => format!(
                    "signing CA expired {} ago (notAfter {})",
                    human_duration(now - c.not_after),
                    rfc3339(c.not_after)
                ),
                Some(c) if !c.is_ca => "the stored signing CA is not a CA certificate".into(),
                Some(c) => format!(
                    "signing CA not valid for another {} (notBefore {})",
                    human_duration(c.not_before - now),
                    rfc3339(c.not_before)
                ),
            };
            return match next {
                Some(_) => decide(
                    Action::PromoteNextCa,
                    format!("{why}; promoting the next CA"),
                ),
                None => decide(Action::Bootstrap, format!("{why}; generating a new CA")),
            };
        }
    };
    let in_bundle = |c: &CertInfo| stored.bundle.iter().any(|b| b.sha256 == c.sha256);
    if !in_bundle(signing) || next.is_some_and(|n| !in_bundle(n)) {
        return decide(
            Action::RepairBundle,
            "ca.crt lacks the signing or next CA; adding it back",
        );
    }
    if let Some(n) = next {
        if published.trusts(n) && now - published.since >= sched.publish_grace {
            return decide(
                Action::PromoteNextCa,
                format!(
                    "the webhook configuration has trusted the next CA for {}; serving from it",
                    human_duration(now - published.since)
                ),
            );
        }
    }
    if !published.in_sync {
        return decide(
            Action::Publish,
            "the webhook configuration's caBundle differs from ca.crt; writing it",
        );
    }
    if let Some(why) = serving_problem(stored.serving, signing, names, sched, now) {
        return decide(Action::IssueServing, why);
    }
    // Not None here: serving_problem checked it.
    let serving = stored.serving.filter(|s| issued_by(s, signing));
    if next.is_none() {
        let olds: Vec<&Arc<CertInfo>> = stored
            .bundle
            .iter()
            .filter(|b| b.sha256 != signing.sha256)
            .collect();
        let expired: Vec<[u8; 32]> = olds
            .iter()
            .filter(|c| window(c, now) == Window::Expired)
            .map(|c| c.sha256)
            .collect();
        if !expired.is_empty() {
            return decide(
                Action::RetireOldCas(expired),
                "dropping expired CAs from ca.crt",
            );
        }
        if let Some(s) = serving.filter(|_| !olds.is_empty()) {
            let served_for = now - sched.issued_at(s);
            if served_for >= sched.overlap {
                return decide(
                    Action::RetireOldCas(olds.iter().map(|c| c.sha256).collect()),
                    format!(
                        "the serving certificate from the new CA has been served for {}; dropping the old CA from ca.crt",
                        human_duration(served_for)
                    ),
                );
            }
        }
        if olds.is_empty() && now >= sched.renew_at(signing) {
            return decide(
                Action::StartCaRollover,
                format!(
                    "2/3 of the signing CA's life has passed (notAfter {}, {} left); starting a CA rollover",
                    rfc3339(signing.not_after),
                    human_duration(signing.not_after - now)
                ),
            );
        }
    }
    decide(
        Action::Idle {
            next_at: next_check(stored, published, signing, next, serving, sched),
        },
        "nothing to do",
    )
}

/// Why the stored serving certificate must be replaced, if it must.
fn serving_problem(
    serving: Option<&CertInfo>,
    signing: &CertInfo,
    names: &ServiceName,
    sched: &Schedule,
    now: i64,
) -> Option<String> {
    let Some(s) = serving else {
        return Some("no serving certificate (or its key) stored".into());
    };
    if !issued_by(s, signing) {
        return Some("the serving certificate was not issued by the signing CA".into());
    }
    if window(s, now) == Window::Expired {
        return Some(format!(
            "the serving certificate expired {} ago (notAfter {})",
            human_duration(now - s.not_after),
            rfc3339(s.not_after)
        ));
    }
    if window(s, now) == Window::NotYetValid {
        return Some(format!(
            "the serving certificate is not valid for another {}; the clock went back",
            human_duration(s.not_before - now)
        ));
    }
    let mut want = names.dns_names();
    let mut have: Vec<String> = s.dns_names().map(str::to_string).collect();
    want.sort();
    have.sort();
    if want != have {
        return Some(format!(
            "the serving certificate covers {}, not {}",
            have.join(", "),
            want.join(", ")
        ));
    }
    let renew_at = sched.renew_at(s);
    (now >= renew_at).then(|| {
        format!(
            "2/3 of the serving certificate's life has passed (notAfter {}, {} left); renewing",
            rfc3339(s.not_after),
            human_duration(s.not_after - now)
        )
    })
}

/// The earliest time at which [`plan`] would decide something other than Idle.
fn next_check(
    stored: &Stored<'_>,
    published: &Published,
    signing: &CertInfo,
    next: Option<&CertInfo>,
    serving: Option<&CertInfo>,
    sched: &Schedule,
) -> i64 {
    let mut at = signing.not_after;
    if let Some(s) = serving {
        at = at.min(sched.renew_at(s));
        if next.is_none() && stored.bundle.len() > 1 {
            at = at.min(sched.issued_at(s) + sched.overlap);
        }
    }
    match next {
        Some(_) => at = at.min(published.since + sched.publish_grace),
        None if stored.bundle.len() <= 1 => at = at.min(sched.renew_at(signing)),
        None => {}
    }
    for b in stored.bundle {
        at = at.min(b.not_after);
    }
    at
}
