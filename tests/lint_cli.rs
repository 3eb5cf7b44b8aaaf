//! `tlsgate lint` as CI runs it: the built binary, its four output formats compared
//! byte-for-byte with `tests/snapshots/`, exit codes, stdin from `kubectl kustomize` and
//! `helm template`, and the `kubectl tlsgate` plugin.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test lint_cli` rewrites the snapshots; review the diff.
//! Tests that run kubectl skip with one line without it, unless `TLSGATE_REQUIRE_TOOLS=1`
//! (.ci/run sets it).

mod tools;

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NOW: &str = "2027-01-01T00:00:00Z";
const BROKEN: &str = "examples/broken-gateways.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tlsgate <args>` from the repository root, feeding `stdin` if given.
#[track_caller]
fn tlsgate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlsgate");
    if let Some(text) = stdin {
        // Dropping the handle closes stdin, so tlsgate sees the end of the stream.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for tlsgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

#[track_caller]
fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(o)))
}

/// Compares with `tests/snapshots/<name>`, or rewrites it when `UPDATE_SNAPSHOTS` is set.
#[track_caller]
fn assert_snapshot(name: &str, actual: &str) {
    let path = root().join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read snapshot {} ({e}); create it with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map_or_else(
                || "a trailing line".to_string(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "output differs from {} first at {line}; if the change is intended, rerun with \
             UPDATE_SNAPSHOTS=1 and review the diff\n--- actual ---\n{actual}",
            path.display()
        );
    }
}

/// The documents of an example file, comments and all, split on `---` lines.
fn example_documents(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    text.split("\n---\n").map(|d| format!("{d}\n")).collect()
}

/// `examples/broken-gateways.yaml` document 9: Secret `httpbin-expired-credential`.
fn expired_secret_yaml() -> String {
    let doc = example_documents(BROKEN).swap_remove(9);
    assert!(doc.contains("name: httpbin-expired-credential"), "{doc}");
    doc
}

/// The `# Source:` comments and leading `---` of `helm template` output, around documents of
/// `examples/broken-gateways.yaml` (helloworld-credential, gw-helloworld, the expired Secret)
/// and a template that renders to nothing.
fn helm_template_stream() -> String {
    let docs = example_documents(BROKEN);
    let strip = |d: &str| {
        d.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    format!(
        "---\n# Source: httpbin/templates/unused.yaml\n\
         ---\n# Source: httpbin/templates/secret.yaml\n{}\
         ---\n# Source: httpbin/templates/gateway.yaml\n{}\
         ---\n# Source: httpbin/templates/expired.yaml\n{}",
        strip(&docs[2]),
        strip(&docs[3]),
        strip(&docs[9])
    )
}

fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| f["code"].as_str().expect("code is a string"))
        .collect()
}

/// `kubectl <args>` in `dir`; `None` (the test skips) when kubectl is missing.
#[track_caller]
fn kubectl(args: &[&str], path_env: Option<&std::ffi::OsStr>, dir: &Path) -> Option<Output> {
    let kubectl = tools::tool("kubectl", "install kubectl >= 1.27")?;
    let mut cmd = Command::new(kubectl);
    cmd.args(args).current_dir(dir);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    Some(
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run `kubectl {}`: {e}", args.join(" "))),
    )
}

// ---------------------------------------------------------------- snapshots

#[test]
fn text_output_matches_snapshot() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW], None);
    assert_exit(&o, 1);
    assert_snapshot("broken-gateways.txt", &stdout(&o));
}

#[test]
fn json_output_matches_snapshot() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "json"], None);
    assert_exit(&o, 1);
    assert_snapshot("broken-gateways.json", &stdout(&o));
}

#[test]
fn sarif_output_matches_snapshot() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "sarif"], None);
    assert_exit(&o, 1);
    assert_snapshot("broken-gateways.sarif", &stdout(&o));
}

#[test]
fn junit_output_matches_snapshot() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "junit"], None);
    assert_exit(&o, 1);
    assert_snapshot("broken-gateways.junit.xml", &stdout(&o));
}

// ---------------------------------------------------------------- exit codes

#[test]
fn clean_input_exits_0() {
    let o = tlsgate(
        &["lint", "examples/secure-gateway.yaml", "--now", NOW],
        None,
    );
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("0 with denials"), "{}", stdout(&o));
}

#[test]
fn warnings_alone_exit_0() {
    // gw-passthrough only warns (tls-mode-ignores-credential); its Secret is in the input.
    let docs = example_documents(BROKEN);
    let input = format!("{}---\n{}", docs[4], docs[7]);
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "json"],
        Some(&input),
    );
    assert_exit(&o, 0);
    assert_eq!(codes(&json_of(&o)), ["tls-mode-ignores-credential"]);
}

#[test]
fn warnings_exit_1_with_fail_on_warn() {
    let docs = example_documents(BROKEN);
    let input = format!("{}---\n{}", docs[4], docs[7]);
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--fail-on", "warn"],
        Some(&input),
    );
    assert_exit(&o, 1);
}

#[test]
fn a_denial_exits_1() {
    let o = tlsgate(&["lint", "-", "--now", NOW], Some(&expired_secret_yaml()));
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("[cert-expired]"), "{}", stdout(&o));
}

#[test]
fn missing_file_exits_2_naming_the_file() {
    let o = tlsgate(&["lint", "k8s/does-not-exist.yaml", "--now", NOW], None);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("k8s/does-not-exist.yaml"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty(), "no report on an I/O error");
}

#[test]
fn unknown_output_format_exits_2_naming_the_flag() {
    let o = tlsgate(&["lint", BROKEN, "--output", "xml"], None);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--output") && err.contains("xml"), "{err}");
    assert!(err.contains("sarif") && err.contains("junit"), "{err}");
}

#[test]
fn bad_now_exits_2_naming_the_value() {
    let o = tlsgate(&["lint", BROKEN, "--now", "2027-01-01"], None);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--now") && err.contains("2027-01-01"), "{err}");
}

#[test]
fn no_path_is_a_usage_error() {
    let o = tlsgate(&["lint", "--now", NOW], None);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("<PATH>"), "{}", stderr(&o));
}

#[test]
fn dash_f_alone_is_enough() {
    let o = tlsgate(&["lint", "-f", BROKEN, "--now", NOW], None);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("[key-mismatch]"), "{}", stdout(&o));
}

// ---------------------------------------------------------------- inputs

#[test]
fn helm_template_stream_on_stdin_is_checked() {
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "json"],
        Some(&helm_template_stream()),
    );
    assert_exit(&o, 1);
    let report = json_of(&o);
    assert_eq!(codes(&report), ["host-not-covered", "cert-expired"]);
    assert_eq!(report["summary"]["objects"], 3);
    // Lines count from the top of the stream, `---` and `# Source:` included.
    let gw = &report["findings"][0]["source"];
    assert_eq!(gw["file"], "<stdin>");
    assert_eq!(gw["line"], 16);
}

#[test]
fn kustomize_output_on_stdin_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(BROKEN), dir.path().join("broken.yaml")).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- broken.yaml\ncommonLabels:\n  app: httpbin\n",
    )
    .unwrap();
    let Some(rendered) = kubectl(&["kustomize", "."], None, dir.path()) else {
        return;
    };
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "json"],
        Some(&stdout(&rendered)),
    );
    assert_exit(&o, 1);
    let report = json_of(&o);
    let mut found = codes(&report);
    found.sort();
    // kustomize drops the comments and reorders documents; the findings stay the same.
    let direct = json_of(&tlsgate(
        &["lint", BROKEN, "--now", NOW, "--output", "json"],
        None,
    ));
    let mut expected = codes(&direct);
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(report["summary"], direct["summary"]);
}

#[test]
fn base_manifests_rendered_by_kubectl_kustomize_lint_clean() {
    let Some(rendered) = kubectl(&["kustomize", "manifests/base"], None, &root()) else {
        return;
    };
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let o = tlsgate(&["lint", "-", "--now", NOW], Some(&stdout(&rendered)));
    assert_exit(&o, 0);
}

#[test]
fn kind_list_is_expanded() {
    // `kubectl get secrets -o json` shape: a v1 List whose items are the objects.
    let items: Vec<Value> = [2, 3, 9]
        .iter()
        .map(|&i| yaml_serde::from_str(&example_documents(BROKEN)[i]).unwrap())
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items});
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "json"],
        Some(&list.to_string()),
    );
    assert_exit(&o, 1);
    let report = json_of(&o);
    assert_eq!(codes(&report), ["host-not-covered", "cert-expired"]);
    assert_eq!(report["summary"]["objects"], 3);
}

#[test]
fn broken_document_is_reported_with_file_and_index_and_the_rest_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.yaml");
    let input = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: half-written\n---\n{}",
        expired_secret_yaml()
    );
    std::fs::write(&file, input).unwrap();
    let path = file.to_str().unwrap();
    let o = tlsgate(&["lint", path, "--now", NOW, "--output", "json"], None);
    assert_exit(&o, 1);
    let report = json_of(&o);
    assert_eq!(codes(&report), ["manifest-invalid", "cert-expired"]);
    let broken = &report["findings"][0];
    assert_eq!(broken["source"]["file"], path);
    assert_eq!(broken["source"]["document"], 0);
    assert_eq!(broken["path"], "document 0");
    assert_eq!(report["findings"][1]["source"]["document"], 1);
    assert_eq!(report["findings"][1]["source"]["line"], 5);
}

// ---------------------------------------------------------------- formats

#[test]
fn json_has_the_documented_fields() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "json"], None);
    let report = json_of(&o);
    let f = &report["findings"][0];
    for key in ["code", "severity", "object", "path", "message", "source"] {
        assert!(f.get(key).is_some(), "finding lacks `{key}`: {f:#}");
    }
    for key in ["apiVersion", "kind", "namespace", "name"] {
        assert!(
            f["object"].get(key).is_some(),
            "object lacks `{key}`: {f:#}"
        );
    }
    for key in ["file", "document", "line"] {
        assert!(
            f["source"].get(key).is_some(),
            "source lacks `{key}`: {f:#}"
        );
    }
    assert_eq!(
        report["summary"],
        json!({"objects": 11, "deny": 5, "warn": 3, "info": 0})
    );
}

#[test]
fn sarif_points_at_file_and_document_start_line() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "sarif"], None);
    let sarif = json_of(&o);
    let run = &sarif["runs"][0];
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "cert-expired")
        .expect("a cert-expired result");
    assert_eq!(result["level"], "error");
    let loc = &result["locations"][0];
    assert_eq!(
        loc["physicalLocation"],
        json!({"artifactLocation": {"uri": BROKEN}, "region": {"startLine": 164}})
    );
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "Secret istio-system/httpbin-expired-credential"
    );
    assert_eq!(loc["logicalLocations"][1]["name"], r#"data["tls.crt"]"#);
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "cert-expired");
}

#[test]
fn sarif_from_helm_template_on_stdin_points_at_the_templates() {
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "sarif"],
        Some(&helm_template_stream()),
    );
    let sarif = json_of(&o);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        uris,
        [
            "httpbin/templates/gateway.yaml",
            "httpbin/templates/expired.yaml"
        ]
    );
}

#[test]
fn sarif_from_unattributed_stdin_exits_2_saying_how_to_name_it() {
    let o = tlsgate(
        &["lint", "-", "--now", NOW, "--output", "sarif"],
        Some(&expired_secret_yaml()),
    );
    assert_exit(&o, 2);
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("--stdin-filename NAME"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stdin_filename_names_stdin_in_sarif() {
    let o = tlsgate(
        &[
            "lint",
            "-",
            "--stdin-filename",
            "k8s/expired.yaml",
            "--now",
            NOW,
            "--output",
            "sarif",
        ],
        Some(&expired_secret_yaml()),
    );
    assert_exit(&o, 1);
    let sarif = json_of(&o);
    let loc = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "k8s/expired.yaml");
    // The document's first line in the stream, its leading comment included.
    assert_eq!(loc["region"]["startLine"], 1);
}

#[test]
fn sarif_without_findings_still_has_a_run() {
    // An empty run is what clears old alerts in code scanning.
    let o = tlsgate(
        &[
            "lint",
            "examples/secure-gateway.yaml",
            "--now",
            NOW,
            "-o",
            "sarif",
        ],
        None,
    );
    assert_exit(&o, 0);
    let sarif = json_of(&o);
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"], json!([]));
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"], json!([]));
}

#[test]
fn junit_has_a_testcase_for_every_checked_object() {
    let o = tlsgate(&["lint", BROKEN, "--now", NOW, "--output", "junit"], None);
    let xml = stdout(&o);
    assert_eq!(xml.matches("<testcase ").count(), 11);
    assert!(xml.contains(r#"tests="11" failures="5""#), "{xml}");
    // A clean object is a passing testcase, not left out.
    assert!(
        xml.contains(
            r#"<testcase classname="Secret" name="default/httpbin-credential-v2" file="examples/broken-gateways.yaml" line="1"/>"#
        ),
        "{xml}"
    );
}

#[test]
fn junit_lists_a_broken_document_as_a_failure() {
    let input = format!(
        "kind: Secret\nmetadata: {{name: [\n---\n{}",
        expired_secret_yaml()
    );
    let o = tlsgate(&["lint", "-", "--now", NOW, "-o", "junit"], Some(&input));
    assert_exit(&o, 1);
    let xml = stdout(&o);
    assert!(xml.contains(r#"tests="2" failures="2""#), "{xml}");
    assert!(xml.contains(r#"type="manifest-invalid""#), "{xml}");
    assert!(!xml.contains("file="), "stdin has no file: {xml}");
}

// ---------------------------------------------------------------- kubectl plugin

#[test]
fn kubectl_runs_the_plugin_as_kubectl_tlsgate() {
    // A directory holding only the plugin: target/debug also holds kubectl-tlsgate.d, which
    // `kubectl plugin list` would flag as a non-executable plugin.
    let bin = tempfile::tempdir().unwrap();
    let plugin = bin.path().join("kubectl-tlsgate");
    std::fs::copy(env!("CARGO_BIN_EXE_kubectl-tlsgate"), &plugin).unwrap();
    let mut path = vec![bin.path().to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(path).unwrap();

    let Some(list) = kubectl(&["plugin", "list"], Some(&path), &root()) else {
        return;
    };
    assert!(
        stdout(&list).contains(plugin.to_str().unwrap()),
        "`kubectl plugin list` does not show {}:\n{}{}",
        plugin.display(),
        stdout(&list),
        stderr(&list)
    );

    let o = kubectl(
        &["tlsgate", "lint", "-f", "examples/", "--now", NOW],
        Some(&path),
        &root(),
    )
    .expect("kubectl was found above");
    assert_exit(&o, 1);
    let text = stdout(&o);
    for code in ["[cert-expired]", "[key-mismatch]", "[ref-not-permitted]"] {
        assert!(text.contains(code), "missing {code}:\n{text}");
    }

    let help = kubectl(&["tlsgate", "lint", "--help"], Some(&path), &root())
        .expect("kubectl was found above");
    assert!(
        stdout(&help).contains("Usage: kubectl tlsgate lint"),
        "{}",
        stdout(&help)
    );
}
