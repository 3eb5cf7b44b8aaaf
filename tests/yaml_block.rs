//! The block-style YAML reader (`load::block`) over every YAML document in this repository
//! (examples, fixtures, the kustomize manifests, the e2e CRDs): what it reads, yaml_serde reads
//! as the same value; and it reads the documents tools write, so the fast path is taken.

use std::path::Path;

fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = Vec::new();
    for dir in ["examples", "tests", "manifests"] {
        for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let entry = entry.unwrap();
            let path = entry.path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            let mut doc = String::new();
            let mut n = 0;
            for line in text.split_inclusive('\n') {
                if line.trim_end() == "---" || line.starts_with("--- ") {
                    docs.push((format!("{}#{n}", path.display()), std::mem::take(&mut doc)));
                    n += 1;
                } else {
                    doc.push_str(line);
                }
            }
            docs.push((format!("{}#{n}", path.display()), doc));
        }
    }
    docs
}

#[test]
fn every_document_the_subset_reads_is_what_yaml_serde_reads() {
    let (mut read, mut total) = (0, 0);
    for (name, doc) in documents() {
        total += 1;
        if let Some(fast) = tlsgate::load::block::parse(&doc) {
            let full: serde_json::Value = yaml_serde::from_str(&doc).unwrap_or_else(|e| {
                panic!("{name}: the subset reads what yaml_serde refuses: {e}")
            });
            assert_eq!(fast, full, "{name}");
            read += 1;
        }
    }
    // The rest have block scalars (PEM in ConfigMaps) or multi-line flow collections.
    assert!(
        read * 4 >= total * 3,
        "only {read} of {total} documents took the fast path"
    );
}

#[test]
fn secrets_as_kubectl_writes_them_take_the_fast_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets");
    let text = std::fs::read_to_string(root.join("httpbin-credential-tls.yaml")).unwrap();
    assert!(tlsgate::load::block::parse(&text).is_some());
}
