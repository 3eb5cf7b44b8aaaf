//! The commands around the checks: `tlsgate version` and `tlsgate completions`.

use std::process::{Command, Output};

fn tlsgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .output()
        .expect("run tlsgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let o = tlsgate(&["version"]);
    assert_eq!(o.status.code(), Some(0));
    // The same commit build.rs read, or "unknown" when the build had no git checkout.
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout(&o).trim().to_string());
    let version = env!("CARGO_PKG_VERSION");
    let text = stdout(&o);
    match head {
        // A commit made after this binary was built would differ: compare the shape then.
        Some(h) if text.contains(&h) => {
            assert_eq!(text, format!("tlsgate {version} (commit {h})\n"))
        }
        _ => assert!(
            text.starts_with(&format!("tlsgate {version} (commit ")) && text.ends_with(")\n"),
            "{text}"
        ),
    }
}

#[test]
fn dash_dash_version_says_the_same_as_version() {
    let long = stdout(&tlsgate(&["--version"]));
    assert_eq!(long, stdout(&tlsgate(&["version"])));
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let o = tlsgate(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        for word in ["lint", "serve", "audit", "expiry-warning-days"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn completions_for_an_unknown_shell_is_a_usage_error() {
    let o = tlsgate(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tcsh"));
}

#[test]
fn serve_dev_outside_a_checkout_names_dev_and_examples_not_manifests() {
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["serve", "--dev", "--addr", "127.0.0.1:0"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--dev uses ./examples"), "{stderr}");
    assert!(!stderr.contains("cannot load --manifests"), "{stderr}");
    assert_eq!(
        stderr.matches("tlsgate: ").count(),
        1,
        "said once: {stderr}"
    );
    assert!(!empty.path().join("certs-dev").exists(), "nothing written");
}

#[test]
fn self_managed_certs_help_says_it_needs_a_cluster_and_not_dev() {
    let o = tlsgate(&["serve", "--help"]);
    let help = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("Needs a cluster to write them to"), "{help}");
    assert!(help.contains("not with --dev"), "{help}");
}

#[test]
fn serve_dev_help_says_what_it_reads_and_what_it_refuses() {
    let o = tlsgate(&["serve", "--help"]);
    let help = stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("./examples as the view unless --manifests is given"),
        "{help}"
    );
    assert!(help.contains("not with --self-managed-certs"), "{help}");
}

/// A HOME with no ~/.kube/config and no KUBECONFIG: nowhere to connect.
fn without_cluster(args: &[&str]) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .env("HOME", home.path())
        .current_dir(home.path())
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn audit_without_a_cluster_says_so_once_naming_the_kubeconfig() {
    let (code, stderr) = without_cluster(&["audit"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(
        stderr.matches("no kubeconfig file exists").count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        stderr.contains("/.kube/config, else in-cluster config)"),
        "{stderr}"
    );
    assert!(stderr.len() < 300, "{} characters: {stderr}", stderr.len());
}

#[test]
fn self_managed_certs_without_a_cluster_does_not_suggest_dev() {
    let (code, stderr) = without_cluster(&["serve", "--self-managed-certs"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--self-managed-certs keeps its certificates in the cluster"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("--dev"),
        "--dev refuses --self-managed-certs: {stderr}"
    );
}

#[test]
fn audit_of_an_unreachable_cluster_says_so_once_naming_the_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("refused.kubeconfig");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: present\n  context:\n    cluster: c\n    user: u\ncurrent-context: present\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["audit", "--context", "present"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "no log line besides the error: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "cannot list secrets (v1) from the cluster (context present of kubeconfig {}): Connection refused",
            kubeconfig.display()
        )),
        "{stderr}"
    );
}
