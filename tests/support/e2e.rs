//! Included by the e2e test binaries as `#[path = "support/e2e.rs"] mod install;` (it needs
//! `mod common;` beside it, for the HTTPS client).
//!
//! tlsgate installed into a real control plane the way an operator installs it: the rendered
//! `manifests/` applied with kubectl, only the webhook `clientConfig` changed to reach a
//! tlsgate process on 127.0.0.1, which runs as the manifests' ServiceAccount (a token from
//! `kubectl create token`) so their RBAC is what it gets.
#![allow(dead_code)] // each test binary uses a part

use crate::support::envtest::{combined, free_port, kubeconfig, ControlPlane, Proc};
use base64::Engine;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `--now` tlsgate decides by (2027-01-01): inside every fixture certificate's window.
pub const NOW: &str = "2027-01-01T00:00:00Z";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize manifests/base`, as JSON objects.
pub fn rendered_manifests(cp: &ControlPlane) -> Vec<Value> {
    let dir = root().join("manifests/base");
    let yaml = cp.kubectl(&["kustomize", dir.to_str().unwrap()]).ok();
    yaml.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).expect("kustomize output is YAML"))
        .collect()
}

/// Points every webhook at `https://127.0.0.1:port/validate` with `ca_pem`; nothing else changes.
pub fn webhooks_to_loopback(objects: &mut [Value], port: u16, ca_pem: &str) {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    for o in objects.iter_mut() {
        if o["kind"] != "ValidatingWebhookConfiguration" {
            continue;
        }
        for w in o["webhooks"].as_array_mut().expect("webhooks") {
            w["clientConfig"] = json!({
                "url": format!("https://127.0.0.1:{port}/validate"),
                "caBundle": ca,
            });
        }
    }
}

/// Applies `objects` as one List.
#[track_caller]
pub fn apply(cp: &ControlPlane, objects: &[Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    cp.kubectl(&["apply", "-f", "-"])
        .stdin(list.to_string())
        .ok();
}

/// Installs the Istio CRDs and waits until they are Established.
pub fn install_istio_crds(cp: &ControlPlane) {
    let file = root().join("tests/e2e/istio-crds.yaml");
    cp.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/gateways.networking.istio.io",
        "crd/virtualservices.networking.istio.io",
    ])
    .ok();
}

/// A running tlsgate process serving on 127.0.0.1, installed by the manifests.
pub struct Tlsgate {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub ca_pem: Vec<u8>,
    pub dir: PathBuf,
}

/// What to add to the manifests' policy (the ConfigMap's config.yaml), e.g. `denyDeleteInUse: true`.
pub struct Options<'a> {
    pub policy_extra: &'a str,
    pub istio: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            policy_extra: "",
            istio: true,
        }
    }
}

/// Installs the manifests and starts tlsgate as their ServiceAccount; returns once `/readyz` is 200.
pub fn install(cp: &ControlPlane, opts: Options<'_>) -> Tlsgate {
    if opts.istio {
        install_istio_crds(cp);
    }
    let dir = tempfile::Builder::new()
        .prefix("tlsgate-e2e-")
        .tempdir()
        .unwrap()
        .keep();
    tlsgate::cli::dev_certs::generate(&dir, tlsgate::wall_clock()).unwrap();
    let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();
    let port = free_port();
    let mut objects = rendered_manifests(cp);
    webhooks_to_loopback(&mut objects, port, std::str::from_utf8(&ca_pem).unwrap());
    let policy = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "tlsgate-config")
        .and_then(|o| o["data"]["config.yaml"].as_str())
        .expect("the manifests' ConfigMap holds config.yaml")
        .to_string();
    std::fs::write(
        dir.join("config.yaml"),
        format!("{policy}\n{}\n", opts.policy_extra),
    )
    .unwrap();
    apply(cp, &objects);
    cp.service_account_kubeconfig("tlsgate-system", "tlsgate", &dir.join("kubeconfig"));
    let proc = start_tlsgate(&dir, port, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let gate = Tlsgate {
        proc,
        addr,
        ca_pem,
        dir,
    };
    gate.wait_ready(Duration::from_secs(60));
    gate
}

/// `tlsgate serve` as the Deployment runs it (same flags), kubeconfig from `dir`.
pub fn start_tlsgate(dir: &Path, port: u16, extra: &[&str]) -> Proc {
    let mut args: Vec<String> = [
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--tls-cert-file",
        dir.join("tls.crt").to_str().unwrap(),
        "--tls-key-file",
        dir.join("tls.key").to_str().unwrap(),
        "--config",
        dir.join("config.yaml").to_str().unwrap(),
        "--now",
        NOW,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let kubeconfig = dir.join("kubeconfig");
    Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_tlsgate")),
        &args,
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("RUST_LOG", "info"),
        ],
        dir.join(format!("tlsgate-{port}.log")),
        None,
    )
}

impl Tlsgate {
    /// `GET path` over HTTPS, trusting the test CA: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let roots = crate::common::https::roots(&[&self.ca_pem]);
        let cfg =
            crate::common::https::client_config(roots, &[&tokio_rustls::rustls::version::TLS13]);
        rt.block_on(async {
            let mut conn = tokio::time::timeout(
                Duration::from_secs(5),
                crate::common::https::connect(self.addr, cfg),
            )
            .await
            .map_err(|_| "connect timed out".to_string())??;
            tokio::time::timeout(
                Duration::from_secs(5),
                conn.request("GET", path, Vec::new()),
            )
            .await
            .map_err(|_| "request timed out".to_string())?
        })
    }

    #[track_caller]
    pub fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok((200, _)) = self.get("/readyz") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tlsgate not ready within {limit:?}; log:\n{}",
                self.proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value of one metric series (exact label set as exposed), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics").expect("metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
            .unwrap_or(0.0)
    }

    /// Sum of every series of the `name` family whose labels contain all of `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> f64 {
        let (_, body) = self.get("/metrics").expect("metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                (n == name && labels.iter().all(|want| rest.contains(want)))
                    .then(|| value.parse::<f64>().ok())
                    .flatten()
            })
            .sum()
    }

    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// A kubeconfig authenticating as the admin of `cp` with the client certificate inlined.
pub fn admin_kubeconfig_inline(cp: &ControlPlane, context: &str) -> String {
    let b = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(cp.pki.dir.join(f)).unwrap())
    };
    kubeconfig(
        &cp.server(),
        &cp.pki.ca_pem,
        context,
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}",
            b("admin.crt"),
            b("admin.key")
        ),
    )
}

/// kubectl's combined output for a failed or succeeded apply.
pub fn output_of(out: &std::process::Output) -> String {
    combined(out)
}
