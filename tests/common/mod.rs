//! Builders and assertions shared by the integration tests.
#![allow(dead_code)]

pub mod https;
pub mod review;

use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::load::Loaded;
use tlsgate::policy::Policy;

/// 2027-01-01T00:00:00Z: inside the window of every fixture made on 2026-11-24.
pub const NOW: i64 = 1_798_761_600;
pub const DAY: i64 = 86_400;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[track_caller]
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = root().join("tests/fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

#[track_caller]
pub fn fixture_text(rel: &str) -> String {
    String::from_utf8(fixture(rel)).expect("fixture is UTF-8")
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Secret as the API server stores it: base64 `data`.
pub fn mk_secret(ns: &str, name: &str, secret_type: &str, data: &[(&str, &[u8])]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(b64(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": secret_type, "data": data})
}

pub fn mk_tls_secret(ns: &str, name: &str, cert: &str, key: &str) -> Value {
    mk_secret(
        ns,
        name,
        "kubernetes.io/tls",
        &[("tls.crt", &fixture(cert)), ("tls.key", &fixture(key))],
    )
}

pub fn mk_istio_gateway(
    ns: &str,
    name: &str,
    mode: Option<&str>,
    credential: &str,
    hosts: &[&str],
) -> Value {
    let mut tls = json!({"credentialName": credential});
    if let Some(m) = mode {
        tls["mode"] = json!(m);
    }
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "tls": tls, "hosts": hosts
        }]}
    })
}

pub fn mk_virtual_service(ns: &str, name: &str, gateways: &[&str], hosts: &[&str]) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": hosts, "gateways": gateways}
    })
}

pub fn mk_gateway_api(ns: &str, name: &str, hostname: &str, refs: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"gatewayClassName": "istio", "listeners": [{
            "name": "https", "hostname": hostname, "port": 443, "protocol": "HTTPS",
            "tls": {"mode": "Terminate", "certificateRefs": refs}
        }]}
    })
}

pub fn mk_ingress(ns: &str, name: &str, secret: &str, hosts: &[&str]) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"tls": [{"hosts": hosts, "secretName": secret}],
                 "rules": hosts.iter().map(|h| json!({"host": h})).collect::<Vec<_>>()}
    })
}

/// Lints objects (as one input set) at `now` with the default policy.
pub fn lint_at(objects: &[Value], now: i64) -> Vec<Finding> {
    lint_with(objects, now, &Policy::default())
}

pub fn lint_with(objects: &[Value], now: i64, policy: &Policy) -> Vec<Finding> {
    let mut loaded = Loaded::default();
    let text = serde_json::to_string(&Value::Array(objects.to_vec())).unwrap();
    tlsgate::load::load_text(&text, "test.json", &mut loaded);
    tlsgate::lint::lint(&loaded, policy, now, Arc::new(Analyzer::new()))
        .findings
        .into_iter()
        .map(|e| e.finding)
        .collect()
}

/// Lints YAML text (kubectl output, fixture files).
pub fn lint_yaml(yaml: &str, now: i64) -> Vec<Finding> {
    let mut loaded = Loaded::default();
    tlsgate::load::load_text(yaml, "test.yaml", &mut loaded);
    tlsgate::lint::lint(&loaded, &Policy::default(), now, Arc::new(Analyzer::new()))
        .findings
        .into_iter()
        .map(|e| e.finding)
        .collect()
}

pub fn yaml_of(rel: &str) -> String {
    fixture_text(rel)
}

#[track_caller]
pub fn assert_finding(findings: &[Finding], code: Code, severity: Severity) -> Finding {
    match findings.iter().find(|f| f.code == code) {
        Some(f) => {
            assert_eq!(
                f.severity, severity,
                "{code} has the wrong severity: {f:#?}"
            );
            f.clone()
        }
        None => panic!("expected {code} ({severity}), got:\n{}", show(findings)),
    }
}

#[track_caller]
pub fn assert_no(findings: &[Finding], code: Code) {
    assert!(
        !findings.iter().any(|f| f.code == code),
        "did not expect {code}, got:\n{}",
        show(findings)
    );
}

#[track_caller]
pub fn assert_clean(findings: &[Finding]) {
    assert!(
        findings.is_empty(),
        "expected no findings, got:\n{}",
        show(findings)
    );
}

pub fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} {} {} {}: {}",
                f.severity, f.code, f.object, f.path, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn path_exists(rel: &str) -> bool {
    Path::new(&root()).join(rel).exists()
}
