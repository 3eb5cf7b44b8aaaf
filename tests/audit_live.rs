//! `tlsgate audit` against a live (fake, in-process) API server: `audit::live::list` lists what
//! is served and skips what is not (404s are answers, not errors).

mod support;

use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use support::fake_apiserver::*;
use tlsgate::analysis::Analyzer;
use tlsgate::audit::Inventory;
use tlsgate::policy::Policy;

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cluster_secrets_are_audited_and_unserved_resources_skipped() {
    let server = FakeApiServer::start(&[SECRETS, ISTIO_GATEWAYS]).await;
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/cluster-dump.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for item in dump["items"].as_array().unwrap() {
        match item["kind"].as_str() {
            Some("Secret") => server.apply(SECRETS, item.clone()),
            Some("Gateway") => server.apply(ISTIO_GATEWAYS, item.clone()),
            _ => {}
        }
    }
    let listed = tlsgate::audit::live::list(&server.client(), &Default::default(), &mut |_, _| {})
        .await
        .expect("unserved resources are skipped, not errors");
    let mut inv = Inventory::new();
    inv.add_objects(&listed, &Policy::default(), &Arc::new(Analyzer::new()));
    let c = inv
        .certs
        .iter()
        .find(|c| c.name == "httpbin-credential")
        .expect("the Secret listed from the API server");
    assert_eq!(
        c.used_by,
        ["Gateway istio-system/mygateway (spec.servers[0].tls.credentialName)"]
    );
    assert_eq!(inv.mesh_root.as_ref().unwrap().name, "istio-ca-secret");
    let v: Value = serde_json::from_str(&tlsgate::audit::render::to_json(&inv, NOW, 30)).unwrap();
    assert_eq!(v["failing"], true, "legacy-credential expired in 2021");
    assert!(server
        .not_found()
        .iter()
        .any(|p| p.contains("validatingwebhookconfigurations")));
}

/// The progress line's source: after each page, the resource being listed and the objects
/// listed so far, ending with the whole count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_listing_reports_progress_per_resource_up_to_the_total() {
    let server = FakeApiServer::start(&[SECRETS]).await;
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/cluster-dump.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for item in dump["items"].as_array().unwrap() {
        if item["kind"] == "Secret" {
            server.apply(SECRETS, item.clone());
        }
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    let listed =
        tlsgate::audit::live::list(&server.client(), &Default::default(), &mut |plural, n| {
            seen.push((plural.to_string(), n))
        })
        .await
        .unwrap();
    assert!(!listed.is_empty());
    assert!(
        seen.iter()
            .any(|(p, n)| p == "secrets" && *n == listed.len()),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "never counts down: {seen:?}"
    );
    assert_eq!(seen.last().unwrap().1, listed.len());
}

/// A `--context` the kubeconfig does not have: exit 2 and one error line naming the context
/// and the kubeconfig tried.
#[test]
fn audit_with_an_unknown_context_names_the_context_and_the_kubeconfig_once() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("one.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: present\n  context:\n    cluster: c\n    user: u\ncurrent-context: present\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["audit", "--context", "absent"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.matches("cannot connect to a cluster").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "context absent of kubeconfig {}",
            kubeconfig.display()
        )),
        "{stderr}"
    );
}

/// Serves the Secrets of `cluster-dump.json`, `httpbin-credential` labelled `app=httpbin`.
async fn dump_server() -> FakeApiServer {
    let server = FakeApiServer::start(&[SECRETS]).await;
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/cluster-dump.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for item in dump["items"].as_array().unwrap() {
        if item["kind"] == "Secret" {
            let mut item = item.clone();
            if item["metadata"]["name"] == "httpbin-credential" {
                item["metadata"]["labels"] = serde_json::json!({"app": "httpbin"});
            }
            server.apply(SECRETS, item);
        }
    }
    server
}

/// A kubeconfig whose current context points at `server`.
fn kubeconfig_for(dir: &Path, file: &str, server: &str) -> std::path::PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: here\n  context:\n    cluster: c\n    user: u\ncurrent-context: here\n"),
    )
    .unwrap();
    path
}

/// `tlsgate audit ARGS -o json` with `KUBECONFIG` as given (unset when `None`), off the runtime.
async fn audit_json(
    args: &[&str],
    kubeconfig_env: Option<std::ffi::OsString>,
) -> (i32, Value, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"));
        cmd.arg("audit")
            .args(&args)
            .args(["--now", "2027-01-01T00:00:00Z", "-o", "json"])
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("HOME", "/nonexistent");
        match kubeconfig_env {
            Some(v) => cmd.env("KUBECONFIG", v),
            None => cmd.env_remove("KUBECONFIG"),
        };
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn secret_names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no certificates in {v}"))
        .iter()
        .filter(|c| c["kind"] == "Secret")
        .map(|c| {
            format!(
                "{}/{}",
                c["namespace"].as_str().unwrap_or_default(),
                c["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_flag_connects_with_that_file_over_the_kubeconfig_env() {
    let server = dump_server().await;
    let dir = tempfile::tempdir().unwrap();
    let good = kubeconfig_for(dir.path(), "good.conf", &server.url());
    let wrong = kubeconfig_for(dir.path(), "wrong.conf", "http://127.0.0.1:1");
    let (code, v, stderr) = audit_json(
        &["--kubeconfig", good.to_str().unwrap()],
        Some(wrong.into()),
    )
    .await;
    assert_eq!(code, 1, "legacy-credential expired: {stderr}");
    assert!(
        secret_names(&v).contains(&"istio-system/httpbin-credential".to_string()),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_env_list_skips_a_missing_file_and_uses_the_next() {
    let server = dump_server().await;
    let dir = tempfile::tempdir().unwrap();
    let good = kubeconfig_for(dir.path(), "good.conf", &server.url());
    let list = std::env::join_paths([dir.path().join("absent.conf"), good]).unwrap();
    let (code, v, stderr) = audit_json(&[], Some(list)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        secret_names(&v).contains(&"istio-system/httpbin-credential".to_string()),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_flag_lists_only_that_namespace_and_no_cluster_scoped_kinds() {
    let server = dump_server().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(dir.path(), "kc.conf", &server.url());
    let (_, v, stderr) = audit_json(
        &["--kubeconfig", kc.to_str().unwrap(), "-n", "istio-system"],
        None,
    )
    .await;
    assert_eq!(
        secret_names(&v),
        [
            "istio-system/httpbin-credential",
            "istio-system/istio-ca-secret"
        ],
        "{stderr}"
    );
    assert!(
        !server
            .not_found()
            .iter()
            .any(|p| p.contains("validatingwebhookconfigurations")),
        "cluster-scoped kinds are not listed with -n: {:?}",
        server.not_found()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_flag_is_the_default_scope() {
    let server = dump_server().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(dir.path(), "kc.conf", &server.url());
    let kc = kc.to_str().unwrap();
    let (_, all, _) = audit_json(&["--kubeconfig", kc, "-A"], None).await;
    let (_, default, _) = audit_json(&["--kubeconfig", kc], None).await;
    assert_eq!(secret_names(&all), secret_names(&default));
    assert!(secret_names(&all).contains(&"default/legacy-credential".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selector_flag_is_sent_to_the_api_server() {
    let server = dump_server().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(dir.path(), "kc.conf", &server.url());
    let (code, v, stderr) = audit_json(
        &["--kubeconfig", kc.to_str().unwrap(), "-l", "app=httpbin"],
        None,
    )
    .await;
    assert_eq!(
        secret_names(&v),
        ["istio-system/httpbin-credential"],
        "{stderr}"
    );
    assert_eq!(
        code, 0,
        "the expired legacy-credential is not selected: {stderr}"
    );
}

#[test]
fn namespace_and_all_namespaces_together_are_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["audit", "-n", "default", "-A"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--all-namespaces"));
}

#[test]
fn unknown_context_of_the_kubeconfig_flag_is_named_with_the_contexts_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(dir.path(), "kc.conf", "http://127.0.0.1:1");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args([
            "audit",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--context",
            "elsewhere",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--context elsewhere is not in it (contexts: here)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("kubeconfig {}", kc.display())),
        "{stderr}"
    );
}

/// OpenShift Routes listed from a live cluster: their inline certificates are rows sourced from
/// the Route, and the Secret their externalCertificate names says the Route uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_routes_are_audited_with_inline_rows_and_used_by() {
    let server = FakeApiServer::start(&[SECRETS, ROUTES]).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let secret: Value = yaml_serde::from_str(
        &std::fs::read_to_string(fixtures.join("secrets/route-www-tls.yaml")).unwrap(),
    )
    .unwrap();
    server.apply(SECRETS, secret);
    let pem = |f: &str| std::fs::read_to_string(fixtures.join("certs/route").join(f)).unwrap();
    server.apply(
        ROUTES,
        serde_json::json!({
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": { "namespace": "frontend", "name": "inline" },
            "spec": { "host": "www.example.com", "to": { "kind": "Service", "name": "frontend" },
                      "tls": { "termination": "edge", "certificate": pem("www.crt"), "key": pem("www.key") } },
        }),
    );
    server.apply(
        ROUTES,
        serde_json::json!({
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": { "namespace": "frontend", "name": "external" },
            "spec": { "host": "www.example.com", "to": { "kind": "Service", "name": "frontend" },
                      "tls": { "termination": "edge", "externalCertificate": { "name": "www-tls" } } },
        }),
    );
    let listed = tlsgate::audit::live::list(&server.client(), &Default::default(), &mut |_, _| {})
        .await
        .expect("listed");
    let mut inv = Inventory::new();
    inv.add_objects(&listed, &Policy::default(), &Arc::new(Analyzer::new()));
    let inline = inv
        .certs
        .iter()
        .find(|c| c.kind == "Route")
        .expect("the inline certificate's row");
    assert_eq!(
        (inline.name.as_str(), inline.key.as_str()),
        ("inline", "spec.tls.certificate")
    );
    let secret = inv
        .certs
        .iter()
        .find(|c| c.kind == "Secret" && c.name == "www-tls")
        .expect("the Secret's row");
    assert_eq!(
        secret.used_by,
        ["Route frontend/external (spec.tls.externalCertificate.name)"]
    );
    let opts = tlsgate::audit::render::TextOptions {
        wide: true,
        color: false,
    };
    let text = tlsgate::audit::render::to_text(&inv, NOW, 30, opts);
    assert!(text.contains("route/inline"), "{text}");
    assert!(text.contains("Route frontend/external"), "{text}");
}
