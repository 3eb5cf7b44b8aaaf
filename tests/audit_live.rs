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
    let listed = tlsgate::audit::live::list(&server.client(), &mut |_, _| {})
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
    let listed = tlsgate::audit::live::list(&server.client(), &mut |plural, n| {
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
