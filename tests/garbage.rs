//! Bad input gets an answer, never a panic or a hang: deterministic mutations of real inputs
//! (captured AdmissionReviews, Istio CA material), and files that are not files (FIFOs,
//! devices) given to every door. The mutation pass over every fuzz target, PEM, keys and
//! manifests included, is tests/fuzz_corpus.rs; the mutator is shared (fuzz/targets.rs).

mod common;

use common::*;
use std::sync::Arc;
use tlsgate::analysis::{Analyzer, SecretData};
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::Reviewer;

#[path = "../fuzz/targets.rs"]
mod targets;

use targets::{mutate, Rng};

/// Rounds per test; `GARBAGE_ROUNDS=200000 cargo test --release --test garbage` searches harder.
fn rounds() -> usize {
    std::env::var("GARBAGE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn mutated_admission_reviews_get_an_answer_or_a_400() {
    let index = Index::new(Arc::new(Analyzer::new()));
    let (policy, analyzer) = (Policy::default(), Analyzer::new());
    let r = Reviewer {
        lookup: &index,
        policy: &policy,
        analyzer: &analyzer,
        now: NOW,
        synced: true,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let captures = [
        "secret-create-live-v1.json",
        "secret-update-live-v1.json",
        "gateway-create-live-v1alpha3.json",
        "ingress-create-live-v1.json",
        "gatewayapi-gateway-create-live-v1.json",
    ];
    let mut answered = 0;
    for i in 0..rounds() {
        let original = std::fs::read(
            root()
                .join("tests/admission")
                .join(captures[i % captures.len()]),
        )
        .unwrap();
        if r.review(&mutate(&mut rng, &original)).is_ok() {
            answered += 1;
        }
    }
    // Most mutations break the JSON (400); some keep it readable and must still be answered.
    assert!(
        answered > 0,
        "no mutated review was readable: the mutator is too coarse"
    );
}

#[test]
fn mutated_istio_ca_material_never_panics() {
    let analyzer = Analyzer::new();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let files = [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ];
    for _ in 0..rounds() / 4 {
        let mut data = SecretData::new();
        for f in files {
            data.insert(
                f.into(),
                mutate(&mut rng, &fixture(&format!("certs/istio/cacerts/{f}"))),
            );
        }
        let _ = analyzer.credential("cacerts", "Opaque", &data);
    }
}

/// `mkfifo PATH`; `None` (with one printed line) where mkfifo is missing.
fn mkfifo(path: &std::path::Path) -> Option<()> {
    match std::process::Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => Some(()),
        _ => {
            println!("skipped: mkfifo is not available");
            None
        }
    }
}

/// Runs tlsgate; a run that has not ended within 20 s is killed and fails the test (a hang).
#[track_caller]
fn tlsgate_bounded(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tlsgate {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_refused(args: &[&std::ffi::OsStr], path: &std::path::Path, what: &str) {
    let (code, err) = tlsgate_bounded(args);
    assert_eq!(code, Some(2), "{err}");
    let expected = format!("{} is {what}, not a regular file", path.display());
    assert!(err.contains(&expected), "expected `{expected}` in: {err}");
}

#[test]
fn lint_refuses_a_fifo_given_as_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("manifest.yaml");
    let Some(()) = mkfifo(&fifo) else { return };
    assert_refused(&["lint".as_ref(), fifo.as_os_str()], &fifo, "a FIFO");
}

#[test]
fn lint_refuses_a_fifo_inside_a_scanned_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "kind: A\n").unwrap();
    let fifo = dir.path().join("b.yaml");
    let Some(()) = mkfifo(&fifo) else { return };
    assert_refused(&["lint".as_ref(), dir.path().as_os_str()], &fifo, "a FIFO");
}

#[cfg(unix)]
#[test]
fn lint_refuses_dev_zero() {
    let zero = std::path::Path::new("/dev/zero");
    assert_refused(&["lint".as_ref(), zero.as_os_str()], zero, "a device");
}

#[test]
fn a_fifo_as_the_policy_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("policy.yaml");
    let Some(()) = mkfifo(&fifo) else { return };
    let examples = root().join("examples");
    assert_refused(
        &[
            "lint".as_ref(),
            "--config".as_ref(),
            fifo.as_os_str(),
            examples.as_os_str(),
        ],
        &fifo,
        "a FIFO",
    );
}

#[test]
fn audit_refuses_a_fifo_as_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("kubeconfig");
    let Some(()) = mkfifo(&fifo) else { return };
    assert_refused(
        &[
            "audit".as_ref(),
            "--kubeconfig-certs".as_ref(),
            fifo.as_os_str(),
        ],
        &fifo,
        "a FIFO",
    );
}

#[test]
fn audit_refuses_a_fifo_in_a_pki_directory() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.crt");
    let Some(()) = mkfifo(&fifo) else { return };
    assert_refused(
        &[
            "audit".as_ref(),
            "--pki-dir".as_ref(),
            dir.path().as_os_str(),
        ],
        &fifo,
        "a FIFO",
    );
}

#[test]
fn audit_refuses_a_fifo_a_kubeconfig_references() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("client.crt");
    let Some(()) = mkfifo(&fifo) else { return };
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    client-certificate: client.crt\n",
    )
    .unwrap();
    assert_refused(
        &[
            "audit".as_ref(),
            "--kubeconfig-certs".as_ref(),
            kc.as_os_str(),
        ],
        &fifo,
        "a FIFO",
    );
}
