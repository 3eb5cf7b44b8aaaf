//! No private key in any output, ever: every entry point (lint in every format, audit in every
//! format, `serve --manifests` and its HTTPS answers, cluster mode against the in-process API
//! server) run as a process with `RUST_LOG=trace` over hostile inputs — mixed-up flags
//! (`--config tls.key`), a PEM where a field or a whole manifest belongs, a Secret whose
//! `data:`/`stringData:` is directly the key, a SecretList the client cannot decode — and every
//! byte of stdout, stderr and every answer is scanned for key material: the PEM body and the
//! base64 of the PEM at each of the three alignments.

mod common;
mod support;

use base64::Engine;
use common::https;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::fake_apiserver::*;
use tokio_rustls::rustls;

const NOW: &str = "2027-01-01T00:00:00Z";
/// The key the hostile inputs carry (an RSA key made by openssl, PKCS#8).
const KEY: &str = "certs/httpbin.example.com.key";
/// Keys that appear only as files on disk (a SEC1 EC key, the dev serving key is added later).
const OTHER_KEYS: &[&str] = &["certs/keys/ec-p256-sec1.key", "certs/dated/long-valid.key"];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Substrings any leak of `pem` would contain: 32-character windows (every 16) of the base64
/// body of each PEM block, and of base64(PEM) as it appears at offset 0, 1 and 2 of a longer
/// base64 text (the first and last 4 characters depend on the neighbours and are dropped).
fn needles(pem: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pem);
    let mut streams = Vec::new();
    let mut body = String::new();
    for line in text.lines() {
        if line.starts_with("-----END") {
            streams.push(std::mem::take(&mut body));
        } else if !line.starts_with("-----") && !line.contains(':') {
            body.push_str(line.trim());
        }
    }
    for pad in 0..3usize {
        let mut padded = vec![0u8; pad];
        padded.extend_from_slice(pem);
        let enc = b64(&padded);
        let skip = if pad == 0 { 0 } else { 4 };
        streams.push(enc[skip..enc.len() - 4].to_string());
    }
    let mut out = Vec::new();
    for s in streams {
        let mut at = 0;
        while at + 32 <= s.len() {
            out.push(s[at..at + 32].to_string());
            at += 16;
        }
    }
    assert!(out.len() > 20, "too few needles: is {pem:?} a PEM?");
    out
}

/// Output with line breaks and their escapes removed, so a body split over lines still matches.
fn normalised(text: &str) -> String {
    text.replace("\\r", "")
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

struct Scanner {
    keys: Vec<(String, Vec<String>)>,
}

impl Scanner {
    fn new() -> Self {
        let mut s = Scanner { keys: Vec::new() };
        for k in std::iter::once(&KEY).chain(OTHER_KEYS) {
            s.add(k, &common::fixture(k));
        }
        s
    }

    fn add(&mut self, name: &str, pem: &[u8]) {
        self.keys.push((name.to_string(), needles(pem)));
    }

    /// The first key whose material `text` contains.
    fn leak_in(&self, text: &str) -> Option<String> {
        let flat = normalised(text);
        self.keys
            .iter()
            .find(|(_, needles)| needles.iter().any(|n| flat.contains(n.as_str())))
            .map(|(name, _)| name.clone())
    }

    #[track_caller]
    fn assert_clean(&self, what: &str, text: &str) {
        if let Some(key) = self.leak_in(text) {
            panic!("{what}: output carries material of {key}:\n{text}");
        }
    }

    #[track_caller]
    fn assert_output_clean(&self, what: &str, o: &Output) {
        self.assert_clean(
            &format!("{what} (stdout)"),
            &String::from_utf8_lossy(&o.stdout),
        );
        self.assert_clean(
            &format!("{what} (stderr)"),
            &String::from_utf8_lossy(&o.stderr),
        );
    }
}

fn key_pem() -> String {
    common::fixture_text(KEY)
}

fn indented(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// Manifests where key material sits where it does not belong, shaped like
/// `kubectl create secret tls --dry-run=client -o yaml` output edited by hand.
fn hostile_manifests(dir: &Path) -> PathBuf {
    let key = key_pem();
    let key_b64 = b64(key.as_bytes());
    let cert_b64 = b64(&common::fixture("certs/httpbin.example.com.crt"));
    let d = dir.join("manifests");
    std::fs::create_dir_all(&d).unwrap();
    let files: Vec<(&str, String)> = vec![
        // `data:` directly the base64 of the key: the key name was forgotten.
        (
            "secret-data-string.yaml",
            format!("apiVersion: v1\ndata: {key_b64}\nkind: Secret\nmetadata:\n  name: forgot-key-name\n  namespace: default\ntype: kubernetes.io/tls\n"),
        ),
        // `stringData:` directly the PEM.
        (
            "secret-stringdata-string.yaml",
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: forgot-string-key\n  namespace: default\nstringData: |\n{}type: Opaque\n", indented(&key, "  ")),
        ),
        // The PEM pasted into `data` without base64.
        (
            "secret-data-raw-pem.yaml",
            format!("apiVersion: v1\ndata:\n  tls.crt: {cert_b64}\n  tls.key: |\n{}kind: Secret\nmetadata:\n  name: raw-pem\n  namespace: default\ntype: kubernetes.io/tls\n", indented(&key, "    ")),
        ),
        // The key as the type, as a label value, as the spec of a Gateway.
        (
            "misplaced.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: odd-type\n  namespace: default\ntype: {key_b64}\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: istio-system\nspec: |\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata: {key_b64}\n",
                indented(&key, "  ")
            ),
        ),
        // The key pasted where a reference or a name belongs.
        (
            "references.yaml",
            format!(
                "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: istio-system\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: 443\n      name: https\n      protocol: HTTPS\n    hosts: [\"a.example.com\"]\n    tls:\n      mode: SIMPLE\n      credentialName: |\n{}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ing\n  namespace: default\nspec:\n  tls:\n  - hosts: [a.example.com]\n    secretName: {key_b64}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {key_b64}\n  namespace: default\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {cert_b64}\n  tls.key: {cert_b64}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ca\n  namespace: default\ndata:\n  ca.crt: |\n{}",
                indented(&key, "        "),
                indented(&key, "    ")
            ),
        ),
        // OpenShift Routes: the inline key of another certificate (key-mismatch), the key in
        // every PEM field, where the host, the termination and the externalCertificate go.
        (
            "routes.yaml",
            {
                let route = |name: &str, tls: String| {
                    format!("---\napiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  host: www.example.com\n  to:\n    kind: Service\n    name: frontend\n  tls:\n{tls}")
                };
                let block = |field: &str| format!("    {field}: |-\n{}", indented(&key, "      "));
                let www = common::fixture_text("certs/route/www.crt");
                [
                    route("mismatch", format!("    termination: edge\n    certificate: |-\n{}{}", indented(&www, "      "), block("key"))),
                    route("key-as-cert", format!("    termination: edge\n{}{}", block("certificate"), block("key"))),
                    route("key-as-ca", format!("    termination: reencrypt\n    certificate: |-\n{}{}{}{}", indented(&www, "      "), block("key"), block("caCertificate"), block("destinationCACertificate"))),
                    route("key-passthrough", format!("    termination: passthrough\n{}", block("key"))),
                    route("key-elsewhere", format!("    termination: {key_b64}\n    externalCertificate:\n      name: {key_b64}\n")),
                    format!("---\napiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: host\n  namespace: default\nspec:\n  host: {key_b64}\n  tls:\n    termination: edge\n    externalCertificate:\n      name: {key_b64}\n"),
                ]
                .concat()
            },
        ),
        // The same in JSON, and a List whose items are strings.
        (
            "secret-data-string.json",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "json-forgot", "namespace": "default"}, "data": key_b64}).to_string(),
        ),
        (
            "list-of-strings.json",
            json!({"apiVersion": "v1", "kind": "List", "items": [key, key_b64]}).to_string(),
        ),
        // A key file saved with a manifest's name.
        ("tls-key.yaml", key.clone()),
    ];
    for (name, text) in files {
        std::fs::write(d.join(name), text).unwrap();
    }
    d
}

fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("tls.key");
    std::fs::write(&p, key_pem()).unwrap();
    p
}

/// Runs `tlsgate <args>` with every log event enabled.
#[track_caller]
fn tlsgate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(args)
        .current_dir(common::root())
        .env("RUST_LOG", "trace")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent")
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
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_scanner_finds_a_key_at_every_alignment() {
    let scanner = Scanner::new();
    let key = key_pem();
    assert!(scanner.leak_in(&key).is_some(), "the PEM itself");
    assert!(
        scanner.leak_in(&format!("{key:?}")).is_some(),
        "Debug-quoted"
    );
    for prefix in ["", "a", "ab"] {
        let enc = b64(format!("{prefix}{key}tail").as_bytes());
        assert!(scanner.leak_in(&enc).is_some(), "base64 after {prefix:?}");
    }
    assert!(scanner
        .leak_in(&common::fixture_text("certs/httpbin.example.com.crt"))
        .is_none());
}

#[test]
fn secret_whose_data_is_a_string_is_a_finding_with_its_path_and_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_manifests(dir.path());
    let o = tlsgate(
        &[
            "lint",
            "-o",
            "json",
            "--now",
            NOW,
            s(&d.join("secret-data-string.yaml")),
        ],
        None,
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &report["findings"][0];
    assert_eq!(f["code"], "manifest-invalid", "{report:#}");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.ends_with("field `data`: expected a map, found a string"),
        "{message}"
    );
    Scanner::new().assert_output_clean("lint secret-data-string.yaml", &o);
}

#[test]
fn secret_whose_data_is_a_string_is_an_audit_note_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_manifests(dir.path());
    let o = tlsgate(
        &[
            "audit",
            "--now",
            NOW,
            "-o",
            "json",
            "-f",
            s(&d.join("secret-data-string.json")),
            // One real certificate beside it: audit fails closed on a source with none.
            "-f",
            s(&common::root().join("tests/fixtures/secrets/httpbin-credential-san.yaml")),
        ],
        None,
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["notes"],
        json!(["skipped Secret json-forgot: field `data`: expected a map, found a string"]),
        "{report:#}"
    );
}

#[test]
fn lint_in_every_format_prints_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_manifests(dir.path());
    let key = key_file(dir.path());
    let scanner = Scanner::new();
    for format in ["text", "json", "sarif", "junit"] {
        let base = ["lint", "--now", NOW, "-o", format];
        let runs: Vec<Vec<&str>> = vec![
            vec![s(&d)],
            vec![s(&key)],
            vec!["-f", s(&key)],
            vec!["--config", s(&key), s(&d)],
            vec!["--policy", s(&key), s(&d)],
            vec!["--now", s(&key), s(&d)],
        ];
        for extra in runs {
            let args: Vec<&str> = base.iter().copied().chain(extra).collect();
            scanner.assert_output_clean(&args.join(" "), &tlsgate(&args, None));
        }
        let args = [&base[..], &["-"]].concat();
        scanner.assert_output_clean("lint - < tls.key", &tlsgate(&args, Some(&key_pem())));
    }
    // The Routes were read and their inline keys checked (a scan of nothing proves nothing).
    let text = tlsgate(&["lint", "--now", NOW, s(&d.join("routes.yaml"))], None);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("Route default/mismatch"), "{out}");
    assert!(out.contains("[key-mismatch] spec.tls.key"), "{out}");
    assert!(
        out.contains("[secret-malformed] spec.tls.certificate"),
        "{out}"
    );
}

/// A kubeconfig whose every certificate field carries the key, and a PKI directory whose
/// certificates are keys.
fn hostile_audit_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let key = key_pem();
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {k}\nusers:\n- name: u\n  user:\n    client-certificate-data: {k}\n    client-key-data: not-base64{k}\n- name: v\n  user:\n    client-certificate: tls.key\n    client-key: tls.key\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
            k = b64(key.as_bytes())
        ),
    )
    .unwrap();
    let pki = dir.join("pki");
    std::fs::create_dir_all(pki.join("etcd")).unwrap();
    for f in ["ca.crt", "ca.key", "apiserver.crt", "etcd/ca.crt", "sa.pub"] {
        std::fs::write(pki.join(f), &key).unwrap();
    }
    std::fs::write(pki.join("apiserver.key"), b"garbage").unwrap();
    (kc, pki)
}

#[test]
fn audit_in_every_format_prints_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_manifests(dir.path());
    let key = key_file(dir.path());
    let (kc, pki) = hostile_audit_inputs(dir.path());
    let dump = dir.path().join("dump.json");
    let items: Vec<Value> = ["secret-data-string.json"]
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(d.join(f)).unwrap()).unwrap())
        .chain([json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "stringData": key_pem()})])
        .collect();
    std::fs::write(
        &dump,
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .unwrap();
    let scanner = Scanner::new();
    for format in ["text", "json", "html", "prometheus"] {
        let base = ["audit", "--now", NOW, "-o", format];
        let runs: Vec<Vec<&str>> = vec![
            vec!["-f", s(&dump)],
            vec!["-f", s(&d)],
            vec!["-f", s(&key)],
            vec!["--kubeconfig-certs", s(&kc)],
            vec!["--kubeconfig-certs", s(&key)],
            vec!["--pki-dir", s(&pki)],
            vec!["--pki-dir", s(&key)],
            vec!["--config", s(&key), "-f", s(&dump)],
        ];
        for extra in runs {
            let args: Vec<&str> = base.iter().copied().chain(extra).collect();
            scanner.assert_output_clean(&args.join(" "), &tlsgate(&args, None));
        }
    }
}

/// A child process killed (and reaped) when dropped, its stderr collected by a thread.
struct Serving {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serving {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .current_dir(common::root())
            .env("RUST_LOG", "trace")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut s);
            s
        });
        Serving {
            child,
            stderr: Some(stderr),
        }
    }

    /// SIGTERM, wait (bounded) and everything it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.take().unwrap().join().unwrap()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_cmd(port: u16, dev: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlsgate"));
    c.args([
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--now",
        NOW,
    ])
    .arg("--tls-cert-file")
    .arg(dev.join("tls.crt"))
    .arg("--tls-key-file")
    .arg(dev.join("tls.key"));
    c
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "serve did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// AdmissionReviews the API server would never send, each carrying the key somewhere.
fn hostile_reviews() -> Vec<Vec<u8>> {
    let key = key_pem();
    let key_b64 = b64(key.as_bytes());
    let review = |object: Value| {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Secret"},
                "resource": {"group": "", "version": "v1", "resource": "secrets"},
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "admin"},
                "object": object,
                "dryRun": false
            }
        })
    };
    let secret = |extra: Value| {
        let mut o = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls"});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let mut out = vec![
        review(secret(json!({"data": key_b64}))),
        review(secret(json!({"stringData": key}))),
        review(secret(
            json!({"data": {"tls.key": key, "tls.crt": key_b64}}),
        )),
        review(secret(json!({"type": key, "metadata": {"name": key_b64}}))),
        review(json!(key)),
        review(json!([key_b64])),
    ];
    let route = |tls: Value| {
        let mut r = review(
            json!({"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r", "namespace": "default"}, "spec": {"host": "www.example.com", "to": {"kind": "Service", "name": "frontend"}, "tls": tls}}),
        );
        r["request"]["kind"] =
            json!({"group": "route.openshift.io", "version": "v1", "kind": "Route"});
        r["request"]["resource"] =
            json!({"group": "route.openshift.io", "version": "v1", "resource": "routes"});
        r
    };
    let www = common::fixture_text("certs/route/www.crt");
    out.push(route(
        json!({"termination": "edge", "certificate": www, "key": key}),
    ));
    out.push(route(
        json!({"termination": "edge", "certificate": key, "key": key, "caCertificate": key}),
    ));
    out.push(route(json!({"termination": "reencrypt", "destinationCACertificate": key, "externalCertificate": {"name": key_b64}})));
    out.push(route(json!({"termination": key, "key": key_b64})));
    let mut wrong_version = review(secret(json!({})));
    wrong_version["apiVersion"] = json!(key);
    out.push(wrong_version);
    let mut wrong_request = review(secret(json!({})));
    wrong_request["request"] = json!(key);
    out.push(wrong_request);
    let mut wrong_kind = review(secret(json!({})));
    wrong_kind["request"]["kind"] = json!(key_b64);
    out.push(wrong_kind);
    let mut bodies: Vec<Vec<u8>> = out.iter().map(|v| v.to_string().into_bytes()).collect();
    bodies.push(key.clone().into_bytes());
    bodies.push(format!("{{\"apiVersion\": {key:?}").into_bytes());
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_manifests_logs_and_answers_carry_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let d = hostile_manifests(dir.path());
    let dev = dir.path().join("dev");
    tlsgate::cli::dev_certs::generate(&dev, tlsgate::wall_clock()).unwrap();
    let mut scanner = Scanner::new();
    scanner.add("dev tls.key", &std::fs::read(dev.join("tls.key")).unwrap());
    let port = free_port();
    let mut cmd = serve_cmd(port, &dev);
    cmd.arg("--manifests").arg(&d);
    let server = Serving::spawn(cmd);
    wait_listening(port).await;

    let ca = std::fs::read(dev.join("ca.crt")).unwrap();
    let cfg = https::client_config(https::roots(&[&ca]), rustls::ALL_VERSIONS);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut answers = String::new();
    for body in hostile_reviews() {
        let mut conn = https::connect(addr, cfg.clone()).await.unwrap();
        let (status, text) = conn.request("POST", "/validate", body).await.unwrap();
        answers.push_str(&format!("{status} {text}\n"));
    }
    let mut conn = https::connect(addr, cfg.clone()).await.unwrap();
    let (_, metrics) = conn.request("GET", "/metrics", Vec::new()).await.unwrap();
    let log = server.stop();

    assert!(
        log.contains("Secret forgot-key-name: field `data`: expected a map, found a string"),
        "{log}"
    );
    assert!(answers.contains("400"), "{answers}");
    scanner.assert_clean("serve --manifests: answers", &answers);
    scanner.assert_clean("serve --manifests: /metrics", &metrics);
    scanner.assert_clean("serve --manifests: log", &log);
}

#[test]
fn serve_with_mixed_up_flags_prints_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let scanner = Scanner::new();
    let runs: Vec<Vec<&str>> = vec![
        vec!["--config", s(&key), "--manifests", "examples"],
        vec!["--manifests", s(&key)],
        vec!["--tls-cert-file", s(&key), "--tls-key-file", s(&key)],
        vec!["--tls-cert-file", s(&key)],
        vec!["--addr", s(&key)],
    ];
    for extra in runs {
        let args: Vec<&str> = ["serve"].into_iter().chain(extra).collect();
        let o = tlsgate(&args, None);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        scanner.assert_output_clean(&args.join(" "), &o);
    }
}

/// Secrets the API server's list would return with a body the typed client cannot decode:
/// `data` directly the key, and a raw PEM (not base64) under `data`.
fn broken_secrets(api: &FakeApiServer) {
    let key = key_pem();
    api.apply(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "forgot-key-name", "namespace": "default"}, "type": "kubernetes.io/tls", "data": b64(key.as_bytes())}),
    );
    api.apply(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "raw-pem", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.key": key}}),
    );
}

fn kubeconfig_for(api: &FakeApiServer, dir: &Path) -> PathBuf {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: tlsgate\n  user:\n    token: test\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tlsgate\ncurrent-context: fake\n",
            api.url()
        ),
    )
    .unwrap();
    kc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_does_not_log_a_secret_list_it_cannot_decode() {
    let api = FakeApiServer::start(&EVERYTHING).await;
    broken_secrets(&api);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(&api, dir.path());
    let dev = dir.path().join("dev");
    tlsgate::cli::dev_certs::generate(&dev, tlsgate::wall_clock()).unwrap();
    let port = free_port();
    let mut cmd = serve_cmd(port, &dev);
    cmd.env("KUBECONFIG", &kc);
    let server = Serving::spawn(cmd);
    // The first list fails to decode; the retry shows the failure was handled (and logged).
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.requests(SECRETS).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "serve never retried the Secret list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.stop();
    assert!(log.contains("watch failed"), "{log}");
    Scanner::new().assert_clean("serve (cluster mode): log", &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_of_a_live_cluster_prints_no_key_material() {
    let api = FakeApiServer::start(&EVERYTHING).await;
    broken_secrets(&api);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_for(&api, dir.path());
    let scanner = Scanner::new();
    for format in ["text", "json", "html", "prometheus"] {
        let o = tokio::task::spawn_blocking({
            let kc = kc.clone();
            move || {
                Command::new(env!("CARGO_BIN_EXE_tlsgate"))
                    .args(["audit", "--cluster", "--now", NOW, "-o", format])
                    .env("KUBECONFIG", kc)
                    .env("RUST_LOG", "trace")
                    .env_remove("KUBERNETES_SERVICE_HOST")
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        scanner.assert_output_clean(&format!("audit --cluster -o {format}"), &o);
    }
}
