//! CI gates never fail open: a source that yields nothing to check is exit 2 naming it, not a
//! green "nothing to renew". (An empty pipe is what `kubectl get ... | tlsgate audit -f -`
//! leaves when kubectl fails; a mistyped directory is what a typo leaves.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NOW: &str = "2027-01-01T00:00:00Z";

fn audit_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

#[track_caller]
fn tlsgate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .current_dir(audit_fixtures())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlsgate");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[track_caller]
fn assert_exit_2_saying(o: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(o.stdout.is_empty(), "nothing on stdout for a failed run");
}

#[test]
fn audit_of_empty_stdin_exits_2_naming_stdin() {
    let o = tlsgate(&["audit", "-f", "-", "--now", NOW], "");
    assert_exit_2_saying(&o, "-f -: standard input holds no objects");
}

#[test]
fn audit_of_an_empty_list_exits_2() {
    // What `kubectl get secrets -o json` prints when it finds nothing.
    let empty = r#"{"apiVersion":"v1","items":[],"kind":"List","metadata":{"resourceVersion":""}}"#;
    let o = tlsgate(&["audit", "-f", "-", "--now", NOW], empty);
    assert_exit_2_saying(&o, "-f -: standard input holds no objects");
}

#[test]
fn audit_of_a_dump_without_certificates_exits_2() {
    let namespaces = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}]}"#;
    let o = tlsgate(&["audit", "-f", "-", "--now", NOW], namespaces);
    assert_exit_2_saying(&o, "no certificates in -f -");
}

#[test]
fn audit_of_a_pki_dir_without_certificates_exits_2_naming_it() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let o = tlsgate(&["audit", "--pki-dir", dir, "--now", NOW], "");
    assert_exit_2_saying(
        &o,
        &format!(
            "no certificates under {dir}: expected a kubeadm PKI directory with ca.crt, apiserver.crt"
        ),
    );
}

#[test]
fn audit_of_a_mistyped_pki_dir_exits_2_naming_the_flag() {
    let o = tlsgate(&["audit", "--pki-dir", "pki/etdc", "--now", NOW], "");
    assert_exit_2_saying(&o, "pki/etdc");
}

#[test]
fn audit_of_a_kubeconfig_without_certificates_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("token.conf");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n",
    )
    .unwrap();
    let o = tlsgate(
        &[
            "audit",
            "--kubeconfig-certs",
            kc.to_str().unwrap(),
            "--now",
            NOW,
        ],
        "",
    );
    assert_exit_2_saying(&o, "no certificates in --kubeconfig-certs");
}

#[test]
fn audit_with_certificates_in_every_source_still_exits_by_status() {
    let o = tlsgate(&["audit", "-f", "cabundles.json", "--now", NOW], "");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn lint_of_empty_stdin_exits_2() {
    let o = tlsgate(&["lint", "-", "--now", NOW], "");
    assert_exit_2_saying(&o, "nothing to check in standard input: no documents");
}

#[test]
fn lint_of_only_unchecked_kinds_exits_2() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
    let o = tlsgate(&["lint", "-", "--now", NOW], deployment);
    assert_exit_2_saying(&o, "1 document, not of a kind tlsgate checks");
}

#[test]
fn lint_of_an_empty_directory_exits_2_naming_it() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let o = tlsgate(&["lint", dir, "--now", NOW], "");
    assert_exit_2_saying(&o, &format!("nothing to check in {dir}"));
}

#[test]
fn lint_allow_empty_accepts_empty_input() {
    let o = tlsgate(&["lint", "-", "--allow-empty", "--now", NOW], "");
    assert_eq!(o.status.code(), Some(0));
}
