//! The cluster view across a kube-apiserver restart (etcd keeps running), against a real API
//! server of this test's own (it is restarted): while a watch is broken tlsgate says so —
//! `tlsgate_view_synced` 0, `/readyz` naming the resource, answers carrying `view-not-synced`
//! — and once the API server is back, a Secret created then is seen within 5 s.
//!
//! Faults a real API server cannot produce on demand (an injected 410, a dropped watch, a
//! partial body) are tested against the in-process fake in tests/cluster_watch.rs.

mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use install::{output_of, Options};
use serde_json::json;
use std::time::{Duration, Instant};
use support::envtest::ControlPlane;

/// The promise: a Secret created after the API server is ready again is seen within this.
const FRESH_WITHIN: Duration = Duration::from_secs(5);

fn gateway(credential: &str) -> serde_json::Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"namespace": "istio-system", "name": format!("gw-{credential}")},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "tls": {"mode": "SIMPLE", "credentialName": credential},
                "hosts": ["httpbin.example.com"],
            }],
        },
    })
}

fn secret(name: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        yaml_serde::from_str(&common::fixture_text("secrets/httpbin-credential-san.yaml")).unwrap();
    v["metadata"]["name"] = json!(name);
    v
}

#[test]
fn after_an_apiserver_restart_a_new_secret_is_seen_within_5s_and_stale_answers_say_so() {
    let Some(cp) = ControlPlane::own() else {
        return;
    };
    let gate = install::install(&cp, Options::default());
    cp.kubectl(&["create", "namespace", "istio-system"]).ok();
    let synced = r#"tlsgate_view_synced{resource="secrets"}"#;
    assert_eq!(gate.metric(synced), 1.0);

    cp.restart_apiserver(|| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.metric(synced) != 0.0 {
            assert!(
                Instant::now() < deadline,
                "the Secret watch broke but tlsgate_view_synced stayed 1"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = gate.get("/readyz").unwrap();
        assert_eq!(
            status, 200,
            "a broken watch does not take the webhook out of the Service"
        );
        assert!(
            body.contains("view not synced: ") && body.contains("secrets"),
            "{body}"
        );
    });
    let ready_at = Instant::now();

    let apply = |obj: &serde_json::Value, dry_run: bool| {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        let out = cp.kubectl(&args).stdin(obj.to_string()).run();
        assert!(out.status.success(), "{}", output_of(&out));
        output_of(&out)
    };
    apply(&secret("created-after-restart"), false);
    let gw = gateway("created-after-restart");
    let mut answers = Vec::new();
    let seen_after = loop {
        let out = apply(&gw, true);
        let fresh = !out.contains("view-not-synced");
        assert!(
            !fresh || !out.contains("credential-not-found"),
            "answered as if fresh with a false credential-not-found after {:?}: {out}\nearlier: {answers:?}",
            ready_at.elapsed()
        );
        if fresh {
            break ready_at.elapsed();
        }
        answers.push(out);
        assert!(
            ready_at.elapsed() < FRESH_WITHIN * 3,
            "still not synced after {:?}: {answers:?}\n{}",
            ready_at.elapsed(),
            gate.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        seen_after <= FRESH_WITHIN,
        "the new Secret was seen only {seen_after:?} after the API server was ready"
    );
    assert_eq!(gate.metric(synced), 1.0);
    let (_, body) = gate.get("/readyz").unwrap();
    assert_eq!(body, "ready\n");
}
