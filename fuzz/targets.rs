//! The fuzz targets' bodies, shared by the cargo-fuzz binaries in `fuzz_targets/` (nightly,
//! libFuzzer) and by `tests/fuzz_corpus.rs` (stable `cargo test`: corpus replay and a bounded
//! mutation pass), so CI exercises exactly what the fuzzer does. The oracle is "no panic, no
//! hang": every input gets an answer.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use tlsgate::analysis::{Analyzer, Role, SecretData};
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::Reviewer;

/// 2027-01-01T00:00:00Z, inside the window of the fixtures the corpus is made from.
pub const NOW: i64 = 1_798_761_600;

/// A target body: any bytes in, an answer (never a panic) out.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory and cargo-fuzz binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("pem_split", pem_split),
    ("secret_analysis", secret_analysis),
    ("admission_review", admission_review),
    ("manifest_loader", manifest_loader),
    ("yaml_block", yaml_block),
];

/// PEM splitting, with the block cap the analysis uses and a tiny one.
pub fn pem_split(data: &[u8]) {
    let _ = tlsgate::analysis::pem::parse(data, 64);
    let _ = tlsgate::analysis::pem::parse(data, 1);
}

/// Certificate/key analysis of a Secret: the input is `tls.crt`, NUL, `tls.key`[, NUL, `ca.crt`].
pub fn secret_analysis(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == 0);
    let cert = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let ca = parts.next();
    let mut secret = SecretData::new();
    secret.insert("tls.crt".into(), cert.to_vec());
    secret.insert("tls.key".into(), key.to_vec());
    if let Some(ca) = ca {
        secret.insert("ca.crt".into(), ca.to_vec());
    }
    let analyzer = analyzer();
    let summary = analyzer.credential("fuzz", "kubernetes.io/tls", &secret);
    let _ = tlsgate::analysis::validity_issues(&summary, NOW, 30);
    let _ = tlsgate::analysis::parse_bundle(cert, Role::SigningCa);
}

/// AdmissionReview parsing and review against an empty, synced cluster view.
pub fn admission_review(data: &[u8]) {
    static VIEW: OnceLock<Index> = OnceLock::new();
    let view = VIEW.get_or_init(|| Index::new(Arc::new(Analyzer::new())));
    let policy = Policy::default();
    let reviewer = Reviewer {
        lookup: view,
        policy: &policy,
        analyzer: analyzer(),
        now: NOW,
        synced: true,
    };
    let _ = reviewer.review(data);
}

/// The manifest loader (YAML/JSON splitting, `kind: List`, nesting pre-scan), decoding and lint.
pub fn manifest_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut loaded = tlsgate::load::Loaded::default();
    tlsgate::load::load_text(&text, "fuzz.yaml", &mut loaded);
    let _ = tlsgate::lint::lint(&loaded, &Policy::default(), NOW, Arc::new(Analyzer::new()));
}

/// The block-style YAML reader against the full parser: whatever the subset reads, yaml_serde
/// reads as the same value (else the document would mean one thing to `serve` and another to
/// the YAML the user wrote).
pub fn yaml_block(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = tlsgate::load::block::parse(text) {
        match yaml_serde::from_str::<serde_json::Value>(text) {
            Ok(full) => assert_eq!(fast, full, "the subset reads {text:?} otherwise"),
            Err(e) => panic!("the subset reads {text:?}, which yaml_serde refuses: {e}"),
        }
    }
}

fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(Analyzer::new)
}

/// xorshift64*: reproducible without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips, deletes, duplicates or truncates a few bytes, or writes a structural character.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
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
                const NOISE: &[u8] = b"{}[]\",:-\n=A0 #'.|&*!?~";
                v[at] = NOISE[rng.below(NOISE.len())]
            }
        }
    }
    v
}
