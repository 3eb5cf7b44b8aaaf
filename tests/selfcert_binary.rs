//! `tlsgate serve --self-managed-certs` as a process, pointed by a kubeconfig at the
//! in-process API server: it creates its Secret, injects the caBundle into the shipped webhook
//! configuration, and serves HTTPS with a certificate that the injected CA verifies.

mod support;
mod tools;

use base64::Engine;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::fake_apiserver::*;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shipped_webhook_config() -> Value {
    let path = format!(
        "{}/manifests/base/validatingwebhookconfiguration.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_managed_binary_bootstraps_its_certificate_and_serves_with_it() {
    // The API server's side of the check is curl with --resolve, as an operator would run it.
    if tools::tool("curl", "apt-get install curl").is_none() {
        return;
    }
    let api = FakeApiServer::start(&[SECRETS, PODS, VALIDATING_WEBHOOKS, LEASES]).await;
    api.apply(VALIDATING_WEBHOOKS, shipped_webhook_config());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: tlsgate\n  user:\n    token: test\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tlsgate\ncurrent-context: fake\n",
            api.url()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_tlsgate"))
            .args([
                "serve",
                "--self-managed-certs",
                "--addr",
                &format!("127.0.0.1:{port}"),
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAME", "tlsgate-0")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let secret = eventually("the serving Secret", || {
        api.get(SECRETS, "tlsgate-system", "tlsgate-serving-cert")
    })
    .await;
    let decode = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][k].as_str().unwrap())
            .unwrap()
    };
    let ca_bundle = decode("ca.crt");
    let expected = base64::engine::general_purpose::STANDARD.encode(&ca_bundle);
    eventually("the caBundle in every webhook", || {
        let cfg = api.get(VALIDATING_WEBHOOKS, "", "tlsgate")?;
        cfg["webhooks"]
            .as_array()?
            .iter()
            .all(|w| w["clientConfig"]["caBundle"] == expected.as_str())
            .then_some(())
    })
    .await;

    // The API server's view: dial the service name, trust only the injected caBundle.
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &ca_bundle).unwrap();
    let host = "tlsgate.tlsgate-system.svc";
    eventually("HTTPS /healthz with the injected CA", || {
        let o = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&ca_file)
            .args([
                "--resolve",
                &format!("{host}:{port}:127.0.0.1"),
                &format!("https://{host}:{port}/healthz"),
            ])
            .output()
            .ok()?;
        (String::from_utf8_lossy(&o.stdout) == "ok").then_some(())
    })
    .await;
}
