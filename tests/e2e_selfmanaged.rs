//! `serve --self-managed-certs` against a real kube-apiserver (envtest binaries from
//! `KUBEBUILDER_ASSETS`; skipped without them): tlsgate bootstraps its Secret, Lease and the
//! webhook configuration's caBundle, the API server then calls it over TLS trusting only that
//! injected CA, a re-apply that resets the caBundle is repaired, and a second replica takes
//! the Lease over when the leader is killed.
//!
//! The webhooks are reached by `url: https://localhost:PORT/validate` (a Service cannot be
//! routed without kube-proxy), so tlsgate runs with `--service-name localhost`: its
//! certificate then covers `localhost`, the name the API server dials. Everything else is the
//! self-managed overlay as rendered by `kubectl kustomize`. Every webhook has
//! `failurePolicy: Ignore`, so a denial in kubectl's output is proof that the API server
//! reached tlsgate and trusted its certificate.

mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use base64::Engine;
use install::{output_of, root, Tlsgate, NOW};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::envtest::{free_port, ControlPlane, Proc};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `kubectl kustomize manifests/overlays/self-managed`, as JSON objects.
fn overlay(cp: &ControlPlane) -> Vec<Value> {
    let dir = root().join("manifests/overlays/self-managed");
    let yaml = cp.kubectl(&["kustomize", dir.to_str().unwrap()]).ok();
    yaml.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).expect("kustomize output is YAML"))
        .collect()
}

/// Points every webhook at `https://localhost:port/validate` with `ca_bundle` (a CA that is
/// not tlsgate's, as a GitOps repository holds from an earlier install).
fn webhooks_to_localhost(objects: &mut [Value], port: u16, ca_bundle: &str) {
    for o in objects.iter_mut() {
        if o["kind"] != "ValidatingWebhookConfiguration" {
            continue;
        }
        for w in o["webhooks"].as_array_mut().expect("webhooks") {
            w["clientConfig"] = json!({
                "url": format!("https://localhost:{port}/validate"),
                "caBundle": ca_bundle,
            });
        }
    }
}

#[track_caller]
fn apply(cp: &ControlPlane, objects: &[Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    cp.kubectl(&["apply", "-f", "-"])
        .stdin(list.to_string())
        .ok();
}

fn get(cp: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = cp.kubectl(&all).run();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("kubectl get -o json"))
}

/// Polls `f` every 200 ms until it returns `Some`, panicking with `what` after `limit`.
#[track_caller]
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `tlsgate serve --self-managed-certs` as the overlay runs it, with `kubeconfig`.
fn start(dir: &Path, port: u16, identity: &str, kubeconfig: &Path, names: &[&str]) -> Proc {
    let mut args: Vec<String> = [
        "serve",
        "--self-managed-certs",
        "--service-name",
        "localhost",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--now",
        NOW,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(names.iter().map(|s| s.to_string()));
    Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_tlsgate")),
        &args,
        &[
            // --kubeconfig is what connects: KUBECONFIG names nothing.
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ("POD_NAME", identity),
            ("RUST_LOG", "info"),
        ],
        dir.join(format!("tlsgate-{identity}.log")),
        None,
    )
}

/// The serving Secret once it holds `ca.crt`: (ca.crt as base64, the Secret).
fn serving_secret(cp: &ControlPlane, ns: &str, name: &str) -> (String, Value) {
    wait_for(
        Duration::from_secs(60),
        "tlsgate creates the serving Secret",
        || {
            let s = get(cp, &["secret", name, "-n", ns])?;
            let ca = s["data"]["ca.crt"].as_str()?.to_string();
            Some((ca, s))
        },
    )
}

fn holder(cp: &ControlPlane, ns: &str, lease: &str) -> Option<(String, String)> {
    let l = get(cp, &["lease", lease, "-n", ns])?;
    Some((
        l["spec"]["holderIdentity"].as_str()?.to_string(),
        l["spec"]["renewTime"].as_str()?.to_string(),
    ))
}

/// Every webhook's caBundle in `config`.
fn ca_bundles(cp: &ControlPlane, config: &str) -> Vec<String> {
    get(cp, &["validatingwebhookconfiguration", config])
        .map(|c| {
            c["webhooks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    w["clientConfig"]["caBundle"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A Secret made the way users make it, with a certificate that expired in 2021.
fn expired_secret(cp: &ControlPlane, ns: &str) -> String {
    let certs = root().join("tests/fixtures/certs/dated");
    cp.kubectl(&[
        "create",
        "secret",
        "tls",
        "legacy-credential",
        "-n",
        ns,
        "--cert",
        certs.join("expired-2021.crt").to_str().unwrap(),
        "--key",
        certs.join("expired-2021.key").to_str().unwrap(),
        "--dry-run=client",
        "-o",
        "json",
    ])
    .ok()
}

/// Applies the expired Secret with `--dry-run=server` until tlsgate's denial comes back: the
/// API server's webhook informer takes a moment to see a new caBundle or URL.
#[track_caller]
fn denied_by_tlsgate(cp: &ControlPlane, ns: &str, why: &str) -> String {
    let secret = expired_secret(cp, ns);
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let out = cp
            .kubectl(&["apply", "--dry-run=server", "-f", "-"])
            .stdin(secret.clone())
            .run();
        last = output_of(&out);
        if !out.status.success() {
            return last;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("{why}: the expired Secret was still admitted after 20 s; kubectl said: {last}");
}

fn namespace(cp: &ControlPlane, name: &str) {
    let out = cp.kubectl(&["create", "namespace", name]).run();
    let text = output_of(&out);
    assert!(
        out.status.success() || text.contains("AlreadyExists"),
        "{text}"
    );
}

fn gate(proc: Proc, port: u16, ca_b64: &str, dir: &Path) -> Tlsgate {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    Tlsgate {
        proc,
        addr,
        ca_pem: B64.decode(ca_b64).unwrap(),
        dir: dir.to_path_buf(),
    }
}

fn tempdir() -> std::path::PathBuf {
    tempfile::Builder::new()
        .prefix("tlsgate-e2e-selfmanaged-")
        .tempdir()
        .unwrap()
        .keep()
}

/// The overlay installed as is (only the webhook URL changed), tlsgate running as its
/// ServiceAccount: it bootstraps, the API server trusts the injected CA, and after a re-apply
/// of the manifests puts the old caBundle back, tlsgate writes its own again.
#[test]
fn bootstrap_is_trusted_by_the_api_server_and_a_reset_ca_bundle_is_repaired() {
    let Some(cp) = ControlPlane::shared() else {
        return;
    };
    let dir = tempdir();
    tlsgate::cli::dev_certs::generate(&dir, tlsgate::wall_clock()).unwrap();
    let stale = B64.encode(std::fs::read(dir.join("ca.crt")).unwrap());
    let port = free_port();
    let mut objects = overlay(cp);
    webhooks_to_localhost(&mut objects, port, &stale);
    apply(cp, &objects);
    let kubeconfig = dir.join("kubeconfig");
    cp.service_account_kubeconfig("tlsgate-system", "tlsgate", &kubeconfig);
    let proc = start(&dir, port, "replica-a", &kubeconfig, &[]);

    let (ca, secret) = serving_secret(cp, "tlsgate-system", "tlsgate-serving-cert");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    for key in ["tls.crt", "tls.key", "ca-signing.crt", "ca.key"] {
        assert!(secret["data"][key].is_string(), "Secret lacks {key}");
    }
    let gate = gate(proc, port, &ca, &dir);
    gate.wait_ready(Duration::from_secs(60));
    let (who, _) = wait_for(Duration::from_secs(20), "the Lease is held", || {
        holder(cp, "tlsgate-system", "tlsgate-cert-writer")
    });
    assert_eq!(who, "replica-a");
    wait_for(
        Duration::from_secs(20),
        "every webhook's caBundle is tlsgate's ca.crt",
        || {
            ca_bundles(cp, "tlsgate")
                .iter()
                .all(|b| *b == ca)
                .then_some(())
        },
    );
    assert_eq!(ca_bundles(cp, "tlsgate").len(), 3);

    namespace(cp, "selfmanaged-e2e");
    let text = denied_by_tlsgate(cp, "selfmanaged-e2e", "after bootstrap");
    assert!(
        text.contains("tlsgate denied Secret selfmanaged-e2e/legacy-credential"),
        "{text}"
    );
    assert!(text.contains("[cert-expired]"), "{text}");

    let written = gate.log().matches("caBundle written").count();
    apply(cp, &objects);
    wait_for(
        Duration::from_secs(20),
        "tlsgate writes the caBundle again after the re-apply",
        || (gate.log().matches("caBundle written").count() > written).then_some(()),
    );
    wait_for(Duration::from_secs(20), "the caBundle is repaired", || {
        ca_bundles(cp, "tlsgate")
            .iter()
            .all(|b| *b == ca)
            .then_some(())
    });
    let text = denied_by_tlsgate(cp, "selfmanaged-e2e", "after the repair");
    assert!(text.contains("[cert-expired]"), "{text}");
    let log = gate.log();
    let refused: Vec<&str> = log
        .lines()
        // A status code, not the digits of a timestamp.
        .filter(|l| {
            l.to_ascii_lowercase().contains("forbidden")
                || l.split(|c: char| !c.is_ascii_digit()).any(|t| t == "403")
        })
        .collect();
    assert!(
        refused.is_empty(),
        "the overlay's RBAC is enough, yet tlsgate was refused:\n{}",
        refused.join("\n")
    );
}

/// Two replicas with names of their own (run as the admin: RBAC is the other test's subject):
/// the second serves the first's Secret, takes the Lease when the first is killed, renews it,
/// and as the writer repairs the caBundle.
#[test]
fn the_second_replica_takes_over_the_lease_when_the_leader_is_killed() {
    let Some(cp) = ControlPlane::shared() else {
        return;
    };
    let ns = "selfcert-handover";
    namespace(cp, ns);
    let dir = tempdir();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, install::admin_kubeconfig_inline(cp, "admin")).unwrap();
    let config = |port: u16, ca_bundle: Option<&str>| {
        let mut client = json!({"url": format!("https://localhost:{port}/validate")});
        if let Some(ca) = ca_bundle {
            client["caBundle"] = json!(ca);
        }
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "tlsgate-handover"},
            "webhooks": [{
                "name": "secrets.handover.tlsgate.io",
                "clientConfig": client,
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["secrets"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5
            }]
        })
    };
    let (port_a, port_b) = (free_port(), free_port());
    apply(cp, &[config(port_a, None)]);
    let names = [
        "--namespace",
        ns,
        "--webhook-config-name",
        "tlsgate-handover",
        "--cert-secret-name",
        "handover-serving-cert",
        "--lease-name",
        "handover-writer",
    ];
    let a = start(&dir, port_a, "handover-a", &kubeconfig, &names);
    let (ca, _) = serving_secret(cp, ns, "handover-serving-cert");
    let mut a = gate(a, port_a, &ca, &dir);
    a.wait_ready(Duration::from_secs(60));
    let b = start(&dir, port_b, "handover-b", &kubeconfig, &names);
    let b = gate(b, port_b, &ca, &dir);
    b.wait_ready(Duration::from_secs(60));
    let (who, _) = holder(cp, ns, "handover-writer").expect("the Lease");
    assert_eq!(who, "handover-a", "the first replica took the Lease");

    a.proc.stop();
    let (_, first_renewal) = wait_for(
        Duration::from_secs(45),
        "handover-b holds the Lease after handover-a is killed",
        || holder(cp, ns, "handover-writer").filter(|(who, _)| who == "handover-b"),
    );
    wait_for(
        Duration::from_secs(20),
        "handover-b renews the Lease",
        || {
            holder(cp, ns, "handover-writer")
                .filter(|(who, renewed)| who == "handover-b" && *renewed != first_renewal)
        },
    );

    // The webhook now calls handover-b, with a caBundle that is not tlsgate's: the new writer
    // repairs it and the API server then gets handover-b's denial.
    let stale = B64.encode(b"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
    apply(cp, &[config(port_b, Some(&stale))]);
    wait_for(
        Duration::from_secs(20),
        "handover-b repairs the caBundle",
        || (ca_bundles(cp, "tlsgate-handover") == [ca.clone()]).then_some(()),
    );
    let text = denied_by_tlsgate(cp, ns, "through handover-b");
    assert!(text.contains("[cert-expired]"), "{text}");
}
