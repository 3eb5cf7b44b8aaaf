//! OpenShift Routes against a real kube-apiserver (envtest; skipped without
//! `KUBEBUILDER_ASSETS`): the Route CRD of tests/e2e/openshift-route-crd.yaml (openshift/api's
//! schema subset), tlsgate installed from `manifests/` (its webhook rule for routes and its RBAC
//! for the watch), Routes written as OpenShift's docs show them, applied with kubectl.

mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use install::{output_of, Options, Tlsgate};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::envtest::ControlPlane;

const NS: &str = "frontend";

struct Env {
    cp: &'static ControlPlane,
    gate: Tlsgate,
}

/// The Route CRD installed and Established before tlsgate starts, then tlsgate.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    let cp = ControlPlane::shared()?;
    Some(support::envtest::shared_or_panic(&ENV, || {
        let crd = common::root().join("tests/e2e/openshift-route-crd.yaml");
        cp.kubectl(&["apply", "-f", crd.to_str().unwrap()]).ok();
        cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/routes.route.openshift.io",
        ])
        .ok();
        let gate = install::install(
            cp,
            Options {
                policy_extra: "",
                istio: false,
            },
        );
        let out = cp.kubectl(&["create", "namespace", NS]).run();
        assert!(
            out.status.success() || output_of(&out).contains("AlreadyExists"),
            "{}",
            output_of(&out)
        );
        Env { cp, gate }
    }))
}

impl Env {
    /// `kubectl apply [--dry-run=server] -f -`: (succeeded, stdout+stderr).
    fn apply(&self, obj: &Value, dry_run: bool) -> (bool, String) {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        let out = self.cp.kubectl(&args).stdin(obj.to_string()).run();
        (out.status.success(), output_of(&out))
    }
}

fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pem(file: &str) -> String {
    common::fixture_text(&format!("certs/{file}"))
}

/// A Route for www.example.com to Service `frontend`, with `tls`.
fn route(name: &str, tls: Value) -> Value {
    json!({
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"namespace": NS, "name": name},
        "spec": {
            "host": "www.example.com",
            "to": {"kind": "Service", "name": "frontend"},
            "tls": tls,
        },
    })
}

fn edge(name: &str, key_file: &str) -> Value {
    route(
        name,
        json!({
            "termination": "edge",
            "insecureEdgeTerminationPolicy": "Redirect",
            "certificate": pem("route/www.crt"),
            "key": pem(key_file),
            "caCertificate": pem("route/ca.crt"),
        }),
    )
}

fn secret(file: &str, name: &str) -> Value {
    let mut v: Value =
        yaml_serde::from_str(&common::fixture_text(&format!("secrets/{file}"))).unwrap();
    v["metadata"]["name"] = json!(name);
    v
}

#[test]
fn valid_edge_route_is_admitted_and_its_inline_certificate_is_a_metric() {
    let Some(env) = env() else { return };
    let (ok, out) = env.apply(&edge("valid", "route/www.key"), false);
    assert!(ok, "{out}");
    assert!(!out.contains("Warning"), "{out}");
    let series = [
        "route_namespace=\"frontend\"",
        "route_name=\"valid\"",
        "route_field=\"spec.tls.certificate\"",
    ];
    assert!(
        eventually(Duration::from_secs(10), || env
            .gate
            .metric_sum("x509_cert_not_after", &series)
            > 0.0),
        "no x509_cert_not_after series for the Route; log:\n{}",
        env.gate.log()
    );
}

#[test]
fn route_with_the_key_of_another_certificate_is_denied_without_echoing_the_key() {
    let Some(env) = env() else { return };
    let (ok, out) = env.apply(&edge("mismatch", "route/other.key"), false);
    assert!(!ok, "{out}");
    assert!(out.contains("key-mismatch"), "{out}");
    assert!(out.contains("spec.tls.key"), "{out}");
    let key = pem("route/other.key");
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!out.contains(line), "kubectl shows the inline key: {out}");
        assert!(
            !env.gate.log().contains(line),
            "tlsgate logged the inline key"
        );
    }
}

#[test]
fn route_without_a_certificate_is_admitted_with_the_routers_default() {
    let Some(env) = env() else { return };
    let (ok, out) = env.apply(&route("default-cert", json!({"termination": "edge"})), true);
    assert!(ok, "{out}");
    assert!(!out.contains("Error"), "{out}");
}

#[test]
fn passthrough_route_with_a_certificate_is_refused_by_the_route_api_itself() {
    let Some(env) = env() else { return };
    let r = route(
        "passthrough",
        json!({"termination": "passthrough", "certificate": pem("route/www.crt")}),
    );
    let (ok, out) = env.apply(&r, true);
    assert!(!ok, "{out}");
    // The CRD's schema refuses it before admission webhooks run: no tlsgate denial.
    assert!(!out.contains("tlsgate"), "{out}");
}

#[test]
fn replacing_a_routes_external_certificate_secret_with_an_expired_one_is_denied_naming_the_route() {
    let Some(env) = env() else { return };
    let (ok, out) = env.apply(&secret("route-www-tls.yaml", "ext-tls"), false);
    assert!(ok, "{out}");
    let r = route(
        "external",
        json!({"termination": "reencrypt", "externalCertificate": {"name": "ext-tls"}}),
    );
    let (ok, out) = env.apply(&r, false);
    assert!(ok, "{out}");
    let expired = secret("route-www-tls-expired.yaml", "ext-tls");
    let mut last = String::new();
    let denied = eventually(Duration::from_secs(10), || {
        let (ok, out) = env.apply(&expired, true);
        last = out;
        !ok && last.contains("Route frontend/external")
    });
    assert!(
        denied,
        "the Route was not seen in the reverse index within 10s: {last}\n{}",
        env.gate.log()
    );
    assert!(last.contains("cert-expired"), "{last}");
}

#[test]
fn route_naming_a_missing_external_certificate_is_admitted_with_a_warning() {
    let Some(env) = env() else { return };
    let r = route(
        "missing-ext",
        json!({"termination": "edge", "externalCertificate": {"name": "no-such-secret"}}),
    );
    let (ok, out) = env.apply(&r, true);
    assert!(ok, "{out}");
    assert!(out.contains("credential-not-found"), "{out}");
}
