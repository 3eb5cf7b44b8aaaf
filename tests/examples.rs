//! Every document in examples/ declares the findings it expects (`# expect: code, code` or
//! `# expect: none`), as istio's testdata does; lint must produce exactly those deny/warn codes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tlsgate::finding::Severity;

fn expectations(text: &str) -> Vec<BTreeSet<String>> {
    text.split("\n---")
        .map(|doc| {
            let line = doc
                .lines()
                .find_map(|l| l.trim().strip_prefix("# expect:"))
                .unwrap_or_else(|| {
                    panic!(
                        "document without `# expect:` line:\n{}",
                        &doc[..doc.len().min(200)]
                    )
                });
            line.split(',')
                .map(str::trim)
                .filter(|c| *c != "none" && !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn every_example_document_yields_exactly_its_expected_codes() {
    let dir = common::root().join("examples");
    let files = tlsgate::load::manifest_files(&dir).unwrap();
    let yaml: Vec<_> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
        .cloned()
        .collect();
    assert!(
        yaml.len() >= 4,
        "examples/ should hold the seed walkthroughs"
    );
    let loaded = tlsgate::load::load_paths(&yaml).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let report = tlsgate::lint::lint(
        &loaded,
        &Default::default(),
        common::NOW,
        Arc::new(Default::default()),
    );

    let mut got: BTreeMap<(String, usize), BTreeSet<String>> = BTreeMap::new();
    for e in &report.findings {
        if e.finding.severity == Severity::Info {
            continue;
        }
        let s = e.source.as_ref().expect("lint findings carry their source");
        got.entry((s.file.clone(), s.document))
            .or_default()
            .insert(e.finding.code.to_string());
    }
    let mut mismatches = Vec::new();
    for f in &yaml {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, expected) in expectations(&text).into_iter().enumerate() {
            let key = (f.display().to_string(), i);
            let actual = got.remove(&key).unwrap_or_default();
            if actual != expected {
                mismatches.push(format!(
                    "{} document {i}: expected {expected:?}, got {actual:?}",
                    f.display()
                ));
            }
        }
    }
    assert!(
        got.is_empty(),
        "findings on documents without expectations: {got:?}"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
