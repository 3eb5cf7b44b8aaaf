//! The plan at fixed times, one behaviour per test, and years of rotations simulated by
//! stepping `now`: the planner decides, [`State::apply`] carries it out, and a simulated
//! webhook configuration stands in for the API server.

use super::plan::{plan, Action, Decision, Published, Schedule, ServiceName, DAY, YEAR};
use super::state::{self, State};
use crate::analysis::cert::CertInfo;
use crate::analysis::{issued_by, parse_bundle, Role};
use std::sync::Arc;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;
const HOUR: i64 = 3600;

fn names() -> ServiceName {
    ServiceName {
        service: "tlsgate".into(),
        namespace: "tlsgate-system".into(),
    }
}

/// The stored state, a webhook configuration with three webhooks (as shipped), and what
/// was served before the latest write (a replica slow to pick up the Secret).
struct World {
    st: State,
    webhooks: Vec<String>,
    /// `webhooks`, parsed once per change: years of hourly steps parse nothing else.
    webhook_cas: Vec<Vec<Arc<CertInfo>>>,
    since: i64,
    sched: Schedule,
    names: ServiceName,
    published_once: bool,
    served_before: Option<Arc<CertInfo>>,
}

impl World {
    fn new() -> Self {
        World::with(Schedule::default())
    }

    fn with(sched: Schedule) -> Self {
        World {
            st: State::default(),
            webhooks: vec![String::new(); 3],
            webhook_cas: vec![Vec::new(); 3],
            since: T0,
            sched,
            names: names(),
            published_once: false,
            served_before: None,
        }
    }

    /// A world that started at `T0` and settled.
    fn started() -> Self {
        let mut w = World::new();
        w.settle(T0);
        w
    }

    fn published(&self) -> Published {
        let want = self.st.bundle_pem();
        Published {
            webhooks: self
                .webhook_cas
                .iter()
                .map(|cas| cas.iter().map(|c| c.sha256).collect())
                .collect(),
            in_sync: self.webhooks.iter().all(|b| *b == want),
            since: self.since,
        }
    }

    fn plan(&self, now: i64) -> Decision {
        plan(
            &self.st.stored(),
            &self.published(),
            &self.names,
            &self.sched,
            now,
        )
    }

    /// What the API server now holds in every webhook's caBundle (an apply, a GitOps sync).
    fn overwrite(&mut self, bundle: &str, now: i64) {
        let b = bundle.to_string();
        if self.webhooks.iter().any(|w| *w != b) {
            self.since = now;
            self.webhook_cas = vec![parse_bundle(b.as_bytes(), Role::CaBundle).certs.to_vec(); 3];
        }
        self.webhooks = vec![b; 3];
    }

    fn apply(&mut self, action: &Action, now: i64) {
        if *action == Action::Publish {
            let b = self.st.bundle_pem();
            self.overwrite(&b, now);
            self.published_once = true;
        } else {
            assert!(
                self.st
                    .apply(action, &self.names, &self.sched, now)
                    .expect("rcgen"),
                "{action:?} changed nothing"
            );
        }
    }

    /// Plans and applies until Idle, checking the invariant after every step.
    #[track_caller]
    fn settle(&mut self, now: i64) -> Vec<Action> {
        self.served_before = self.serving_info();
        let mut done = Vec::new();
        loop {
            let d = self.plan(now);
            if let Action::Idle { next_at } = d.action {
                assert!(next_at > now, "Idle until {next_at}, not after now {now}");
                return done;
            }
            assert!(done.len() < 8, "no fixed point at {now}: {done:?}");
            self.apply(&d.action, now);
            self.check(now);
            done.push(d.action);
        }
    }

    fn serving_info(&self) -> Option<Arc<CertInfo>> {
        self.st.serving.as_ref().map(|s| s.info.clone())
    }

    fn serving(&self) -> Arc<CertInfo> {
        self.serving_info().expect("a serving certificate")
    }

    fn signing(&self) -> Arc<CertInfo> {
        self.st.signing.as_ref().expect("a signing CA").info.clone()
    }

    /// The invariant, for the newest serving certificate and the one served before the
    /// latest write: valid at `now`, and signed by a CA (itself valid) that every webhook's
    /// caBundle holds. Before the first publication nothing calls tlsgate, so only validity.
    #[track_caller]
    fn check(&self, now: i64) {
        for served in [self.serving_info(), self.served_before.clone()]
            .into_iter()
            .flatten()
        {
            assert!(
                crate::analysis::is_valid_at(&served, now),
                "served certificate not valid at {now}: {}..{}",
                served.not_before,
                served.not_after
            );
            if !self.published_once {
                continue;
            }
            for (i, cas) in self.webhook_cas.iter().enumerate() {
                let Some(ca) = cas.iter().find(|ca| issued_by(&served, ca)) else {
                    panic!(
                        "at {now} (+{} days): webhook {i}'s caBundle ({} CAs) lacks the CA that signed the served certificate ({})",
                        (now - T0) / DAY,
                        cas.len(),
                        served.issuer()
                    );
                };
                assert!(
                    crate::analysis::is_valid_at(ca, now),
                    "trusted CA not valid at {now}"
                );
            }
        }
    }
}

// ---- single decisions -----------------------------------------------------------------

#[test]
fn first_start_generates_ca_and_serving_cert_then_publishes() {
    let mut w = World::new();
    assert_eq!(w.settle(T0), vec![Action::Bootstrap, Action::Publish]);
    let (ca, s) = (w.signing(), w.serving());
    assert_eq!(ca.not_after - T0, 10 * YEAR);
    assert_eq!(s.not_after - T0, YEAR);
    assert!(issued_by(&s, &ca));
    let mut dns: Vec<&str> = s.dns_names().collect();
    dns.sort();
    assert_eq!(
        dns,
        [
            "tlsgate",
            "tlsgate.tlsgate-system",
            "tlsgate.tlsgate-system.svc",
            "tlsgate.tlsgate-system.svc.cluster.local"
        ]
    );
    assert_eq!(w.st.bundle.len(), 1);
    assert!(w.published().in_sync);
}

#[test]
fn settled_state_is_idle_until_two_thirds_of_the_serving_life() {
    let w = World::started();
    let renew_at = w.sched.renew_at(&w.serving());
    assert_eq!(
        w.plan(T0 + 30 * DAY).action,
        Action::Idle { next_at: renew_at }
    );
    assert_eq!(
        w.plan(renew_at - 1).action,
        Action::Idle { next_at: renew_at }
    );
}

#[test]
fn serving_cert_is_renewed_at_two_thirds_of_its_life() {
    let w = World::started();
    let d = w.plan(w.sched.renew_at(&w.serving()));
    assert_eq!(d.action, Action::IssueServing);
    assert!(d.why.contains("2/3"), "{}", d.why);
}

#[test]
fn expired_serving_cert_is_reissued() {
    let w = World::started();
    let d = w.plan(w.serving().not_after + DAY);
    assert_eq!(d.action, Action::IssueServing);
    assert!(d.why.contains("expired 24 hours ago"), "{}", d.why);
}

#[test]
fn planner_and_analysis_agree_a_certificate_is_valid_at_its_not_after() {
    use crate::analysis::cert_validity;
    use crate::finding::Code;
    let w = World::started();
    let s = w.serving();
    let at = s.not_after;
    // At notAfter itself: valid for both (RFC 5280: inclusive). The planner renews it (it is
    // past 2/3 of its life), but not because it expired.
    assert_ne!(
        cert_validity(&s, at, 0).map(|(c, _)| c),
        Some(Code::CertExpired)
    );
    let d = w.plan(at);
    assert_eq!(d.action, Action::IssueServing);
    assert!(!d.why.contains("expired"), "{}", d.why);
    // One second later: expired for both.
    assert_eq!(
        cert_validity(&s, at + 1, 0).map(|(c, _)| c),
        Some(Code::CertExpired)
    );
    assert!(
        w.plan(at + 1).why.contains("expired 1 second ago"),
        "{}",
        w.plan(at + 1).why
    );
}

#[test]
fn planner_and_analysis_agree_a_signing_ca_is_usable_at_its_not_after() {
    let w = World::started();
    let ca = w.signing();
    assert!(crate::analysis::is_valid_at(&ca, ca.not_after));
    assert!(!w.plan(ca.not_after).why.contains("signing CA expired"));
    assert!(!crate::analysis::is_valid_at(&ca, ca.not_after + 1));
    assert!(w.plan(ca.not_after + 1).why.contains("signing CA expired"));
}

#[test]
fn serving_cert_for_another_service_is_reissued() {
    let mut w = World::started();
    w.names.service = "tlsgate-webhook".into();
    let d = w.plan(T0 + DAY);
    assert_eq!(d.action, Action::IssueServing);
    assert!(d.why.contains("covers"), "{}", d.why);
}

#[test]
fn overwritten_ca_bundle_is_published_again() {
    let mut w = World::started();
    w.overwrite("", T0 + DAY);
    assert_eq!(w.plan(T0 + DAY).action, Action::Publish);
    assert_eq!(w.settle(T0 + DAY), vec![Action::Publish]);
}

#[test]
fn ca_bundle_without_the_signing_ca_is_repaired() {
    let mut w = World::started();
    w.st.apply(
        &Action::RetireOldCas(vec![w.signing().sha256]),
        &w.names,
        &w.sched,
        T0,
    )
    .expect("apply");
    assert_eq!(w.plan(T0 + DAY).action, Action::RepairBundle);
}

#[test]
fn ca_rollover_starts_at_two_thirds_of_the_ca_life() {
    let mut w = World::started();
    let start = w.sched.renew_at(&w.signing());
    // Keep the serving certificate current up to there, as a running writer would.
    let mut t = T0;
    while t < start - DAY {
        t += 30 * DAY;
        w.settle(t.min(start - DAY));
    }
    assert!(matches!(w.plan(start - DAY).action, Action::Idle { .. }));
    let d = w.plan(start);
    assert_eq!(d.action, Action::StartCaRollover);
    assert!(d.why.contains("2/3 of the signing CA's life"), "{}", d.why);
}

/// A world in rollover step 1 at `t`: next CA generated and in ca.crt, not yet published.
fn rolling(t: i64) -> (World, Arc<CertInfo>) {
    let mut w = World::started();
    w.apply(&Action::StartCaRollover, t);
    let next = w.st.next.as_ref().expect("next CA").info.clone();
    (w, next)
}

#[test]
fn next_ca_is_published_before_anything_else() {
    let (w, _) = rolling(T0 + DAY);
    assert_eq!(w.plan(T0 + DAY).action, Action::Publish);
    assert_eq!(w.st.bundle.len(), 2);
}

#[test]
fn next_ca_is_not_served_within_the_publish_grace() {
    let (mut w, _) = rolling(T0 + DAY);
    w.apply(&Action::Publish, T0 + DAY);
    let before = T0 + DAY + w.sched.publish_grace - 1;
    assert!(matches!(w.plan(before).action, Action::Idle { .. }));
}

#[test]
fn next_ca_is_served_once_published_for_the_grace() {
    let (mut w, next) = rolling(T0 + DAY);
    w.apply(&Action::Publish, T0 + DAY);
    let t = T0 + DAY + w.sched.publish_grace;
    assert_eq!(w.plan(t).action, Action::PromoteNextCa);
    w.settle(t);
    assert!(issued_by(&w.serving(), &next));
    assert_eq!(w.st.bundle.len(), 2, "old CA still in the bundle");
}

#[test]
fn next_ca_is_not_served_while_the_webhook_lacks_it() {
    let (mut w, _) = rolling(T0 + DAY);
    w.apply(&Action::Publish, T0 + DAY);
    // A GitOps sync puts back the bundle with the old CA only.
    let old = w.st.bundle[0].0.clone();
    w.overwrite(&old, T0 + 2 * DAY);
    assert_eq!(w.plan(T0 + 3 * DAY).action, Action::Publish);
    w.apply(&Action::Publish, T0 + 3 * DAY);
    assert!(matches!(w.plan(T0 + 3 * DAY).action, Action::Idle { .. }));
}

#[test]
fn old_ca_stays_in_the_bundle_during_the_overlap() {
    let (mut w, _) = rolling(T0 + DAY);
    let t = T0 + DAY + w.sched.publish_grace;
    w.apply(&Action::Publish, T0 + DAY);
    w.settle(t);
    let d = w.plan(t + w.sched.overlap - w.sched.backdate - 1);
    assert!(matches!(d.action, Action::Idle { .. }), "{d:?}");
}

#[test]
fn old_ca_leaves_the_bundle_after_the_overlap() {
    let (mut w, next) = rolling(T0 + DAY);
    let t = T0 + DAY + w.sched.publish_grace;
    w.apply(&Action::Publish, T0 + DAY);
    w.settle(t);
    let after = t + w.sched.overlap;
    let acts = w.settle(after);
    assert!(
        matches!(&acts[..], [Action::RetireOldCas(v), Action::Publish] if v.len() == 1),
        "{acts:?}"
    );
    assert_eq!(w.st.bundle.len(), 1);
    assert_eq!(w.st.bundle[0].1.sha256, next.sha256);
}

#[test]
fn expired_signing_ca_with_a_next_ca_promotes_it() {
    let (w, _) = rolling(T0 + DAY);
    let d = w.plan(w.signing().not_after + 1);
    assert_eq!(d.action, Action::PromoteNextCa);
    assert!(d.why.contains("signing CA expired"), "{}", d.why);
}

#[test]
fn expired_signing_ca_alone_is_replaced() {
    let w = World::started();
    assert_eq!(
        w.plan(w.signing().not_after + DAY).action,
        Action::Bootstrap
    );
}

#[test]
fn secret_data_round_trips() {
    let (w, _) = rolling(T0 + DAY);
    let data = w.st.to_data();
    let (back, problems) = State::from_data(&data);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(back.to_data(), data);
    assert!(back.next.is_some());
}

#[test]
fn mismatched_ca_key_reads_as_no_signing_ca() {
    let w = World::started();
    let mut data = w.st.to_data();
    let other = data[state::TLS_KEY].clone();
    data.insert(state::SIGNING_KEY.into(), other);
    let (back, problems) = State::from_data(&data);
    assert!(back.signing.is_none());
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("does not match"), "{problems:?}");
    assert!(
        !problems[0].contains("PRIVATE KEY"),
        "no key material in messages"
    );
}

// ---- years of rotations ---------------------------------------------------------------

/// Steps `now` from `T0` through `years` in `step` seconds, settling at each step; optionally
/// something empties every caBundle every `overwrite_every`. Returns every action taken.
fn simulate(sched: Schedule, years: i64, step: i64, overwrite_every: Option<i64>) -> Vec<Action> {
    let mut w = World::with(sched);
    let mut all = Vec::new();
    let end = T0 + years * YEAR;
    let mut now = T0;
    while now <= end {
        if let Some(every) = overwrite_every {
            if now > T0 && (now - T0) % every == 0 {
                w.overwrite("", now);
            }
        }
        all.extend(w.settle(now));
        w.check(now);
        now += step;
    }
    all
}

fn count(acts: &[Action], f: impl Fn(&Action) -> bool) -> usize {
    acts.iter().filter(|a| f(a)).count()
}

#[test]
fn twelve_years_in_hourly_steps_keep_the_bundle_trusting_what_is_served() {
    let started = std::time::Instant::now();
    let acts = simulate(Schedule::default(), 12, HOUR, None);
    eprintln!(
        "12 years in hourly steps ({} steps): {:?}",
        12 * YEAR / HOUR,
        started.elapsed()
    );
    assert_eq!(count(&acts, |a| *a == Action::Bootstrap), 1);
    // One rollover: the first CA reaches 2/3 of its 10 years at 6.7 years.
    assert_eq!(count(&acts, |a| *a == Action::StartCaRollover), 1);
    assert_eq!(count(&acts, |a| *a == Action::PromoteNextCa), 1);
    assert_eq!(count(&acts, |a| matches!(a, Action::RetireOldCas(_))), 1);
    // A serving certificate every 2/3 of a year (243 days): 17 renewals in 12 years.
    let renewals = count(&acts, |a| *a == Action::IssueServing);
    assert!((16..=18).contains(&renewals), "{renewals} renewals");
}

#[test]
fn twelve_years_in_daily_steps_with_gitops_overwrites_every_30_days() {
    let acts = simulate(Schedule::default(), 12, DAY, Some(30 * DAY));
    assert_eq!(count(&acts, |a| *a == Action::PromoteNextCa), 1);
    // Every overwrite was undone; plus bootstrap, rollover start and retirement.
    let overwrites = (12 * YEAR / DAY) / 30;
    assert_eq!(
        count(&acts, |a| *a == Action::Publish) as i64,
        overwrites + 3
    );
}

#[test]
fn short_lifetimes_roll_the_ca_many_times_in_twelve_years() {
    let sched = Schedule {
        ca_lifetime: 90 * DAY,
        serving_lifetime: 10 * DAY,
        overlap: 2 * HOUR,
        ..Schedule::default()
    };
    let acts = simulate(sched, 12, HOUR, None);
    let promotions = count(&acts, |a| *a == Action::PromoteNextCa);
    // A new CA every 60 days.
    assert!((70..=74).contains(&promotions), "{promotions} promotions");
}
