//! `lint --output sarif` against the SARIF 2.1.0 schema and GitHub's ingestion rules, for files,
//! for a kustomize build read from stdin (origin annotations) and for `lint -k`.

mod sarif_check;
mod tools;

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const NOW: &str = "2027-01-01T00:00:00Z";
const KUSTOMIZE: &str = "tests/fixtures/kustomize";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[track_caller]
fn tlsgate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlsgate");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

#[track_caller]
fn sarif_of(o: &Output) -> Value {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("SARIF is JSON")
}

/// The location of the one `cert-expired` result.
fn expired_location(sarif: &Value) -> (String, u64) {
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let r = results
        .iter()
        .find(|r| r["ruleId"] == "cert-expired")
        .expect("a cert-expired result");
    let p = &r["locations"][0]["physicalLocation"];
    (
        p["artifactLocation"]["uri"].as_str().unwrap().to_string(),
        p["region"]["startLine"].as_u64().unwrap(),
    )
}

/// `legacy-credential` is the second document of base/secrets.yaml; kustomize renamed it
/// `prod-legacy-credential`.
const LEGACY_LINE: u64 = 12;

#[test]
fn sarif_of_the_examples_is_valid_and_uploadable() {
    let o = tlsgate(&["lint", "examples/", "--now", NOW, "-o", "sarif"], None);
    sarif_check::assert_uploadable(&sarif_of(&o), &root());
}

#[test]
fn a_finding_skipped_by_annotation_is_uploaded_as_suppressed() {
    let file = "tests/fixtures/secrets/expired-tls-skipped.yaml";
    let o = tlsgate(&["lint", file, "--now", NOW, "-o", "sarif"], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a skipped denial must not fail lint"
    );
    let sarif: Value = serde_json::from_slice(&o.stdout).expect("SARIF is JSON");
    sarif_check::assert_uploadable(&sarif, &root());
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "cert-expired");
    assert_eq!(result["suppressions"][0]["kind"], "inSource");
}

#[test]
fn every_rule_of_every_code_has_help_after_a_full_run() {
    let o = tlsgate(&["lint", "examples/", "--now", NOW, "-o", "sarif"], None);
    let sarif = sarif_of(&o);
    for rule in sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
    {
        assert!(
            rule["help"]["markdown"]
                .as_str()
                .unwrap()
                .contains("**Fix:**"),
            "{rule:#}"
        );
    }
}

#[test]
fn kustomize_build_on_stdin_points_at_the_base_file_and_line() {
    let rendered =
        std::fs::read_to_string(root().join(KUSTOMIZE).join("rendered-prod.yaml")).unwrap();
    let o = tlsgate(
        &[
            "lint",
            "-",
            "--stdin-filename",
            &format!("{KUSTOMIZE}/overlays/prod/kustomization.yaml"),
            "--now",
            NOW,
            "-o",
            "sarif",
        ],
        Some(&rendered),
    );
    let sarif = sarif_of(&o);
    sarif_check::assert_uploadable(&sarif, &root());
    assert_eq!(
        expired_location(&sarif),
        (format!("{KUSTOMIZE}/base/secrets.yaml"), LEGACY_LINE)
    );
}

#[test]
fn kustomize_build_on_stdin_names_the_origin_in_json() {
    let rendered =
        std::fs::read_to_string(root().join(KUSTOMIZE).join("rendered-prod.yaml")).unwrap();
    let o = tlsgate(
        &[
            "lint",
            "-",
            "--stdin-filename",
            &format!("{KUSTOMIZE}/overlays/prod"),
            "--now",
            NOW,
            "-o",
            "json",
        ],
        Some(&rendered),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "cert-expired")
        .unwrap();
    assert_eq!(f["source"]["file"], format!("{KUSTOMIZE}/overlays/prod"));
    assert_eq!(
        f["source"]["origin"]["file"],
        format!("{KUSTOMIZE}/base/secrets.yaml")
    );
    assert_eq!(f["source"]["origin"]["line"], LEGACY_LINE);
}

#[test]
fn junit_of_a_kustomize_build_names_the_base_file() {
    let rendered =
        std::fs::read_to_string(root().join(KUSTOMIZE).join("rendered-prod.yaml")).unwrap();
    let o = tlsgate(
        &[
            "lint",
            "-",
            "--stdin-filename",
            &format!("{KUSTOMIZE}/overlays/prod/kustomization.yaml"),
            "--now",
            NOW,
            "-o",
            "junit",
        ],
        Some(&rendered),
    );
    let xml = String::from_utf8_lossy(&o.stdout);
    assert!(
        xml.contains(&format!(
            r#"name="istio-system/prod-legacy-credential" file="{KUSTOMIZE}/base/secrets.yaml" line="{LEGACY_LINE}""#
        )),
        "{xml}"
    );
}

#[test]
fn lint_dash_k_builds_the_overlay_and_points_at_the_base() {
    if tools::tool("kubectl", "install kubectl >= 1.27").is_none() {
        return;
    }
    let o = tlsgate(
        &[
            "lint",
            "-k",
            &format!("{KUSTOMIZE}/overlays/prod"),
            "--now",
            NOW,
            "-o",
            "sarif",
        ],
        None,
    );
    let sarif = sarif_of(&o);
    sarif_check::assert_uploadable(&sarif, &root());
    assert_eq!(
        expired_location(&sarif),
        (format!("{KUSTOMIZE}/base/secrets.yaml"), LEGACY_LINE)
    );
}

#[test]
fn committed_kustomize_rendering_is_what_kubectl_prints() {
    let Some(kubectl) = tools::tool("kubectl", "install kubectl >= 1.27") else {
        return;
    };
    let o = Command::new(kubectl)
        .args(["kustomize", &format!("{KUSTOMIZE}/overlays/prod")])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let committed = std::fs::read(root().join(KUSTOMIZE).join("rendered-prod.yaml")).unwrap();
    assert!(
        o.stdout == committed,
        "{KUSTOMIZE}/rendered-prod.yaml is stale: run {KUSTOMIZE}/make-kustomize.sh"
    );
}

#[test]
fn lint_dash_k_without_kubectl_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args([
            "lint",
            "-k",
            &format!("{KUSTOMIZE}/overlays/prod"),
            "--now",
            NOW,
        ])
        .current_dir(root())
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("needs kubectl on PATH"), "{stderr}");
    assert!(stderr.contains("--stdin-filename"), "{stderr}");
}

#[test]
fn dash_r_is_accepted_and_directories_are_read_recursively() {
    let o = tlsgate(
        &[
            "lint",
            "-R",
            "-f",
            "tests/fixtures/kustomize",
            "--now",
            NOW,
            "-o",
            "json",
        ],
        None,
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    // base/secrets.yaml (2) and rendered-prod.yaml (2), two directory levels apart.
    assert_eq!(v["summary"]["objects"], 4);
}

#[test]
fn dash_f_is_shown_in_help() {
    let o = tlsgate(&["lint", "--help"], None);
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "-f, --filename",
        "-k, --kustomize",
        "-R, --recursive",
        "--stdin-filename",
    ] {
        assert!(help.contains(flag), "no {flag} in:\n{help}");
    }
}

#[test]
fn results_on_the_same_finding_keep_their_fingerprint_when_lines_move() {
    let secret = std::fs::read_to_string(root().join(KUSTOMIZE).join("base/secrets.yaml")).unwrap();
    let fp = |text: &str| {
        let o = tlsgate(
            &[
                "lint",
                "-",
                "--stdin-filename",
                "k8s/s.yaml",
                "--now",
                NOW,
                "-o",
                "sarif",
            ],
            Some(text),
        );
        let sarif = sarif_of(&o);
        sarif["runs"][0]["results"][0]["partialFingerprints"].clone()
    };
    assert_eq!(fp(&secret), fp(&format!("# moved down\n\n{secret}")));
}

#[test]
fn the_schema_check_rejects_a_result_without_a_message() {
    let o = tlsgate(&["lint", "examples/", "--now", NOW, "-o", "sarif"], None);
    let mut sarif = sarif_of(&o);
    sarif["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!sarif_check::schema_errors(&sarif).is_empty());
}
