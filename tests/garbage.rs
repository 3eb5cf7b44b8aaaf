//! Bad input gets an answer, never a panic or a hang: deterministic mutations of real inputs
//! (captured AdmissionReviews, openssl PEM, kubectl YAML) thrown at every entry point.

mod common;

use common::*;
use std::sync::Arc;
use tlsgate::analysis::{Analyzer, Role, SecretData};
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::Reviewer;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips, deletes, duplicates or truncates a few bytes.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len());
        match rng.below(5) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => {
                v.remove(at);
            }
            2 => {
                let end = (at + rng.below(64)).min(v.len());
                let chunk = v[at..end].to_vec();
                v.splice(at..at, chunk);
            }
            3 => v.truncate(at),
            _ => {
                const NOISE: &[u8] = b"{}[]\",:-\n=A0";
                v[at] = NOISE[rng.below(NOISE.len())]
            }
        }
    }
    v
}

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
fn mutated_pem_and_keys_never_panic_the_analysis() {
    let analyzer = Analyzer::new();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let certs = [
        "certs/chain/fullchain.pem",
        "certs/httpbin.example.com.crt",
        "certs/keys/ed25519.crt",
        "certs/weak/md5.crt",
    ];
    let keys = [
        "certs/chain/leaf.key",
        "certs/keys/ec-p256-sec1.key",
        "certs/keys/ed25519.key",
        "certs/keys/rsa-encrypted-legacy.key",
        "certs/keys/rsa-pkcs1.key",
    ];
    for i in 0..rounds() {
        let cert = mutate(&mut rng, &fixture(certs[i % certs.len()]));
        let key = mutate(&mut rng, &fixture(keys[i % keys.len()]));
        let mut data = SecretData::new();
        data.insert("tls.crt".into(), cert.clone());
        data.insert("tls.key".into(), key);
        data.insert("ca.crt".into(), cert.clone());
        let s = analyzer.credential("fuzz", "kubernetes.io/tls", &data);
        let _ = tlsgate::analysis::validity_issues(&s, NOW, 30);
        let _ = tlsgate::analysis::parse_bundle(&cert, Role::SigningCa);
    }
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

#[test]
fn mutated_manifests_are_reported_not_panicked_on() {
    let mut rng = Rng(0x0bad_5eed_0bad_5eed);
    let sources = [
        "examples/broken-gateways.yaml",
        "examples/gateway-api.yaml",
        "examples/secure-gateway.yaml",
    ];
    for i in 0..rounds() / 4 {
        let original = std::fs::read(root().join(sources[i % sources.len()])).unwrap();
        let text = String::from_utf8_lossy(&mutate(&mut rng, &original)).into_owned();
        let _ = lint_yaml(&text, NOW);
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
        &["audit".as_ref(), "--kubeconfig".as_ref(), fifo.as_os_str()],
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
        &["audit".as_ref(), "--kubeconfig".as_ref(), kc.as_os_str()],
        &fifo,
        "a FIFO",
    );
}
