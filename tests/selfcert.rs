//! Self-managed certificates against the in-process API server: the Lease holder creates
//! the Secret and injects the caBundle, rolls the CA while an advancing clock steps through
//! the years, re-injects an overwritten caBundle, and is the only replica that writes. Every
//! change the API server saw is replayed to check that every webhook's caBundle always holds
//! the CA that signed the certificate in the Secret, and what the follower serves is checked
//! at every step. Time is a parameter: nothing waits for a certificate to age.

mod support;

use base64::Engine;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::fake_apiserver::*;
use tlsgate::analysis::cert::CertInfo;
use tlsgate::analysis::{issued_by, parse_bundle, Analyzer, Role};
use tlsgate::selfcert::plan::{Action, Schedule, ServiceName, DAY};
use tlsgate::selfcert::{self, Clock, Config, Tick, Writer};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;
const HOUR: i64 = 3600;
const NS: &str = "tlsgate-system";
const SECRET: &str = "tlsgate-serving-cert";
const CONFIG: &str = "tlsgate";
const LEASE: &str = "tlsgate-cert-writer";

// ---- builders -------------------------------------------------------------------------

fn cfg(identity: &str) -> Config {
    Config {
        names: ServiceName {
            service: "tlsgate".into(),
            namespace: NS.into(),
        },
        webhook_config: CONFIG.into(),
        secret: SECRET.into(),
        lease: LEASE.into(),
        identity: identity.into(),
        lease_duration_seconds: 15,
        schedule: Schedule::default(),
    }
}

/// The shipped ValidatingWebhookConfiguration (three webhooks, no caBundle), as
/// `kubectl apply -k manifests/base` sends it.
fn shipped_webhook_config() -> Value {
    let path = format!(
        "{}/manifests/base/validatingwebhookconfiguration.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_serde::from_str(&yaml).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn server() -> FakeApiServer {
    let s = FakeApiServer::start(&[SECRETS, VALIDATING_WEBHOOKS, LEASES]).await;
    s.apply(VALIDATING_WEBHOOKS, shipped_webhook_config());
    s
}

/// A clock the test moves.
fn clock(start: i64) -> (Arc<AtomicI64>, Clock) {
    let t = Arc::new(AtomicI64::new(start));
    let c = t.clone();
    (t, Arc::new(move || c.load(Ordering::SeqCst)))
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .expect("base64")
}

fn secret_key(secret: &Value, key: &str) -> Vec<u8> {
    b64(&secret["data"][key])
}

/// Each webhook's caBundle, decoded.
fn ca_bundles(config: &Value) -> Vec<Vec<u8>> {
    config["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|w| b64(&w["clientConfig"]["caBundle"]))
        .collect()
}

fn leaf(pem: &[u8]) -> Arc<CertInfo> {
    parse_bundle(pem, Role::ServerChain)
        .leaf()
        .cloned()
        .expect("a certificate")
}

fn trusts(bundle: &[u8], cert: &CertInfo) -> bool {
    parse_bundle(bundle, Role::CaBundle)
        .certs
        .iter()
        .any(|ca| issued_by(cert, ca))
}

#[track_caller]
fn wrote(t: Tick) -> Vec<Action> {
    match t {
        Tick::Wrote { actions, .. } => actions,
        other => panic!("expected to hold the Lease and write, got {other:?}"),
    }
}

/// Replays every change the server saw, in order: once any caBundle has been written, each
/// webhook's caBundle holds the issuer of the Secret's tls.crt after every change. Returns
/// (Secret writes, caBundle writes).
#[track_caller]
fn assert_invariant_over_history(server: &FakeApiServer) -> (usize, usize) {
    let mut serving: Option<Arc<CertInfo>> = None;
    let mut bundles: Vec<Vec<u8>> = Vec::new();
    let (mut secret_writes, mut bundle_writes) = (0, 0);
    for ch in server.changes() {
        if ch.collection == SECRETS && ch.kind != "DELETED" {
            secret_writes += 1;
            serving = Some(leaf(&secret_key(&ch.object, "tls.crt")));
        } else if ch.collection == VALIDATING_WEBHOOKS {
            let now = ca_bundles(&ch.object);
            if now != bundles && ch.by_client.is_some() {
                bundle_writes += 1;
            }
            bundles = now;
        }
        let (Some(s), true) = (&serving, bundle_writes > 0) else {
            continue;
        };
        if ch.by_client.is_none() {
            continue; // the test's own overwrite: the next write must repair it
        }
        for (i, b) in bundles.iter().enumerate() {
            assert!(
                trusts(b, s),
                "after change at resourceVersion {} ({} {}), webhook {i}'s caBundle lacks the CA that signed tls.crt ({})",
                ch.resource_version,
                ch.by_client.unwrap_or("test"),
                ch.collection,
                s.issuer()
            );
        }
    }
    (secret_writes, bundle_writes)
}

// ---- tests ----------------------------------------------------------------------------

#[tokio::test]
async fn first_start_creates_the_secret_and_injects_the_ca_bundle() {
    let server = server().await;
    let w = Writer::new(server.client(), cfg("pod-a"));

    let acts = wrote(bounded("the first tick", w.tick(T0)).await.expect("tick"));

    assert_eq!(acts, vec![Action::Bootstrap, Action::Publish]);
    let secret = server.get(SECRETS, NS, SECRET).expect("Secret created");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    for key in ["tls.crt", "tls.key", "ca.crt", "ca-signing.crt", "ca.key"] {
        assert!(!secret_key(&secret, key).is_empty(), "{key} missing");
    }
    let serving = leaf(&secret_key(&secret, "tls.crt"));
    assert!(serving
        .dns_names()
        .any(|n| n == "tlsgate.tlsgate-system.svc"));
    let config = server.get(VALIDATING_WEBHOOKS, "", CONFIG).expect("config");
    let bundles = ca_bundles(&config);
    assert_eq!(bundles.len(), 3, "every webhook in the configuration");
    for b in &bundles {
        assert_eq!(*b, secret_key(&secret, "ca.crt"));
        assert!(trusts(b, &serving));
    }
    // Nothing else of the shipped configuration changed.
    let mut expected = shipped_webhook_config();
    let mut got = config.clone();
    for (e, g) in [(&mut expected, &mut got)] {
        for w in g["webhooks"].as_array_mut().expect("webhooks") {
            w["clientConfig"]
                .as_object_mut()
                .expect("cc")
                .remove("caBundle");
        }
        g["metadata"]
            .as_object_mut()
            .expect("meta")
            .remove("resourceVersion");
        assert_eq!(*g, *e);
    }
    let lease = server.get(LEASES, NS, LEASE).expect("Lease created");
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    // A second tick at the same time has nothing to do.
    assert_eq!(wrote(w.tick(T0 + 60).await.expect("tick")), vec![]);
}

#[tokio::test]
async fn ca_rollovers_keep_the_served_ca_in_every_webhook_bundle() {
    let server = server().await;
    let sched = Schedule {
        ca_lifetime: 90 * DAY,
        serving_lifetime: 10 * DAY,
        overlap: 12 * HOUR,
        ..Schedule::default()
    };
    let mut c = cfg("pod-a");
    c.schedule = sched;
    let (time, clk) = clock(T0);
    let w = Writer::new(server.client(), c.clone());
    wrote(bounded("bootstrap", w.tick(T0)).await.expect("tick"));
    let served = bounded(
        "the follower to serve the first pair",
        selfcert::serve_from_secret(
            server.client(),
            c,
            Arc::new(Analyzer::new()),
            clk,
            None,
            Arc::new(Notify::new()),
        ),
    )
    .await;

    let mut all = Vec::new();
    let mut now = T0;
    // 200 days in 6-hour steps: three CA rollovers with 90-day CAs.
    while now < T0 + 200 * DAY {
        now += 6 * HOUR;
        time.store(now, Ordering::SeqCst);
        all.extend(wrote(w.tick(now).await.expect("tick")));
        let secret = server.get(SECRETS, NS, SECRET).expect("Secret");
        let want = leaf(&secret_key(&secret, "tls.crt"));
        let want_fp = want.fingerprint_hex();
        bounded("the follower to serve the Secret's pair", async {
            while served.store.fingerprint() != want_fp {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(
            want.not_before <= now && now < want.not_after,
            "served expired at {now}"
        );
        let config = server.get(VALIDATING_WEBHOOKS, "", CONFIG).expect("config");
        for b in ca_bundles(&config) {
            assert!(
                trusts(&b, &want),
                "served cert untrusted at +{}h",
                (now - T0) / HOUR
            );
        }
    }

    let promotions = all.iter().filter(|a| **a == Action::PromoteNextCa).count();
    assert_eq!(promotions, 3, "{all:?}");
    let (secret_writes, bundle_writes) = assert_invariant_over_history(&server);
    // Each rollover publishes twice (old+new, then new alone), plus the first injection.
    assert_eq!(bundle_writes, 1 + 2 * promotions);
    assert!(secret_writes > 20, "{secret_writes} Secret writes");
}

#[tokio::test]
async fn overwritten_ca_bundle_is_injected_again() {
    let server = server().await;
    let (_, clk) = clock(T0);
    // A long interval: the re-injection must come from the watch, not the periodic tick.
    let running = bounded(
        "the first serving pair",
        selfcert::start(
            server.client(),
            cfg("pod-a"),
            Arc::new(Analyzer::new()),
            clk,
            None,
            Duration::from_secs(3600),
        ),
    )
    .await;
    let injected = |s: &FakeApiServer| {
        let config = s.get(VALIDATING_WEBHOOKS, "", CONFIG).expect("config");
        let secret = s.get(SECRETS, NS, SECRET).expect("Secret");
        ca_bundles(&config)
            .iter()
            .all(|b| *b == secret_key(&secret, "ca.crt"))
    };
    bounded("the first injection", async {
        while !injected(&server) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // `kubectl apply -k manifests/base` again: caBundle gone from every webhook.
    server.apply(VALIDATING_WEBHOOKS, shipped_webhook_config());
    assert!(!injected(&server));

    bounded("the caBundle to be injected again", async {
        while !injected(&server) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let secrets_written = server
        .changes()
        .iter()
        .filter(|c| c.collection == SECRETS)
        .count();
    assert_eq!(secrets_written, 1, "re-injection does not touch the Secret");
    drop(running);
}

#[tokio::test]
async fn only_the_lease_holder_writes() {
    let server = server().await;
    let a = Writer::new(server.client(), cfg("pod-a"));
    let b = Writer::new(server.client(), cfg("pod-b"));

    // Both start at once and race for the Lease.
    let (ta, tb) = bounded("both first ticks", async {
        tokio::join!(a.tick(T0), b.tick(T0))
    })
    .await;
    let (ta, tb) = (ta.expect("a"), tb.expect("b"));
    let (leader, follower) = match (&ta, &tb) {
        (Tick::Wrote { .. }, Tick::NotLeader { .. }) => (&a, &b),
        (Tick::NotLeader { .. }, Tick::Wrote { .. }) => (&b, &a),
        other => panic!("exactly one should write: {other:?}"),
    };
    let mut secret_actions = 0;
    let count = |acts: &[Action]| {
        acts.iter()
            .filter(|a| !matches!(a, Action::Publish | Action::Idle { .. }))
            .count()
    };
    secret_actions += count(&wrote(if matches!(ta, Tick::Wrote { .. }) {
        ta
    } else {
        tb
    }));
    // A year of daily ticks from both, the other a second after the leader's renewal
    // (the real loop renews every 5 s of a 15 s Lease): the other never writes.
    let mut now = T0;
    for _ in 0..365 {
        now += DAY;
        secret_actions += count(&wrote(leader.tick(now).await.expect("tick")));
        let t = follower.tick(now + 1).await.expect("tick");
        assert!(matches!(t, Tick::NotLeader { .. }), "{t:?}");
    }
    let secret_writes = server
        .changes()
        .iter()
        .filter(|c| c.collection == SECRETS && c.by_client.is_some())
        .count();
    assert_eq!(
        secret_writes, secret_actions,
        "every Secret write is one the leader reported"
    );
    assert!(secret_actions >= 2, "bootstrap and a renewal at least");

    // The leader stops renewing; after the Lease duration the other takes over.
    let t = follower.tick(now + 10).await.expect("tick");
    assert!(matches!(t, Tick::NotLeader { .. }), "{t:?}");
    wrote(follower.tick(now + 16).await.expect("tick"));
    let lease = server.get(LEASES, NS, LEASE).expect("Lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    let t = leader.tick(now + 17).await.expect("tick");
    assert!(matches!(t, Tick::NotLeader { .. }), "{t:?}");
}
