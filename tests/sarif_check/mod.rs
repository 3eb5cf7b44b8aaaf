//! What a SARIF log must satisfy to be uploaded: the OASIS 2.1.0 schema (vendored in
//! tests/fixtures/sarif/) and GitHub code scanning's ingestion rules ("SARIF support for code
//! scanning"): a tool driver name, a rule for every result, a physical location per result with a
//! repository-relative URI and a start line, and `partialFingerprints` so alerts are tracked
//! across commits.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;

fn schema() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    serde_json::from_slice(&std::fs::read(&path).expect("vendored SARIF schema"))
        .expect("schema is JSON")
}

/// Schema violations, one line each (empty when valid).
pub fn schema_errors(sarif: &Value) -> Vec<String> {
    let validator = jsonschema::draft4::new(&schema()).expect("the SARIF schema compiles");
    validator
        .iter_errors(sarif)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Asserts schema validity and GitHub's ingestion rules; each result's file must exist under
/// `checkout` and hold its start line.
#[track_caller]
pub fn assert_uploadable(sarif: &Value, checkout: &Path) {
    let errors = schema_errors(sarif);
    assert!(
        errors.is_empty(),
        "SARIF schema violations:\n{}",
        errors.join("\n")
    );
    let run = &sarif["runs"][0];
    assert!(run["tool"]["driver"]["name"].is_string());
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    for rule in rules {
        let id = rule["id"].as_str().expect("rule id");
        assert!(rule["shortDescription"]["text"].is_string(), "{id}");
        assert!(
            !rule["help"]["text"].as_str().unwrap_or_default().is_empty(),
            "{id}: no help text"
        );
        let uri = rule["helpUri"].as_str().unwrap_or_default();
        assert!(
            uri.ends_with(&format!("docs/codes.md#{id}")),
            "{id}: helpUri {uri}"
        );
    }
    for result in run["results"].as_array().expect("results") {
        let id = result["ruleId"].as_str().expect("ruleId");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id);
        assert!(result["message"]["text"].is_string());
        let fingerprints = result["partialFingerprints"]
            .as_object()
            .expect("partialFingerprints");
        assert!(!fingerprints.is_empty(), "{id}: empty partialFingerprints");
        let locations = result["locations"].as_array().expect("locations");
        assert_eq!(locations.len(), 1, "{id}");
        let physical = &locations[0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: result without a file: {result:#}"));
        assert!(
            !uri.contains("://") && !uri.starts_with('/'),
            "{id}: {uri} is not relative to the checkout"
        );
        let line = physical["region"]["startLine"].as_u64().expect("startLine") as usize;
        let text = std::fs::read_to_string(checkout.join(uri))
            .unwrap_or_else(|e| panic!("{id}: {uri}: {e}"));
        assert!(
            line >= 1 && line <= text.lines().count(),
            "{id}: {uri} has no line {line}"
        );
    }
}
