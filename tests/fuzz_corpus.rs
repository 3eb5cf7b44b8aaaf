//! The fuzz targets on stable: every seed in `fuzz/corpus/<target>/` replayed, then a bounded,
//! deterministic mutation pass over the same seeds, through the very bodies the cargo-fuzz
//! binaries run (`fuzz/targets.rs`). A panic fails the test; the seed and round are printed.
//!
//! `FUZZ_ROUNDS=200000 cargo test --release --test fuzz_corpus` searches harder; a crash
//! the nightly fuzzer found goes into the corpus so this test replays it from then on.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::PathBuf;
use targets::{mutate, Rng, TARGETS};

/// Mutations per target (debug build: the four together stay well under 30 s here).
fn rounds() -> usize {
    std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds
}

#[track_caller]
fn run(name: &str, seed: u64) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let seeds = corpus(name);
    for (_, bytes) in &seeds {
        target(bytes);
    }
    let mut rng = Rng(seed);
    for round in 0..rounds() {
        let (path, bytes) = &seeds[round % seeds.len()];
        let input = mutate(&mut rng, bytes);
        let outcome = std::panic::catch_unwind(|| target(&input));
        if outcome.is_err() {
            let out = std::env::temp_dir().join(format!("tlsgate-{name}-crash-{round}"));
            std::fs::write(&out, &input).unwrap();
            panic!(
                "{name} panicked on round {round}, a mutation of {}; input saved to {}",
                path.display(),
                out.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_a_binary() {
    for (name, _) in TARGETS {
        assert!(!corpus(name).is_empty());
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(bin.exists(), "{} is missing", bin.display());
    }
}

#[test]
fn pem_split_survives_its_corpus_and_mutations() {
    run("pem_split", 0x1234_5678_9abc_def1);
}

#[test]
fn secret_analysis_survives_its_corpus_and_mutations() {
    run("secret_analysis", 0xdead_beef_cafe_f00d);
}

#[test]
fn admission_review_survives_its_corpus_and_mutations() {
    run("admission_review", 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn manifest_loader_survives_its_corpus_and_mutations() {
    run("manifest_loader", 0x0bad_5eed_0bad_5eed);
}

#[test]
fn yaml_block_reads_what_yaml_serde_reads_over_its_corpus_and_mutations() {
    run("yaml_block", 0x5eed_b10c_4a41_0001);
}
