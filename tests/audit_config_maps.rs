//! The ConfigMaps tlsgate reads certificates from, in `tlsgate audit` (rows with kind
//! ConfigMap, key and USED BY, and `-o prometheus` series labelled as x509-certificate-exporter
//! labels ConfigMap sources: `configmap_namespace`, `configmap_name`, `configmap_key`), from a
//! dump and from a live (fake, in-process) API server: Gateway API and BackendTLSPolicy
//! `caCertificateRefs` (`ca.crt`), Linkerd's `linkerd-identity-trust-roots` (`ca-bundle.crt`),
//! Istio's `istio-ca-root-cert` (`root-cert.pem`); a ConfigMap nothing reads (every namespace's
//! `kube-root-ca.crt`) is not listed. Fixtures made by openssl and kubectl (make-fixtures.sh).

mod common;
mod support;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use support::fake_apiserver::*;
use tlsgate::analysis::Analyzer;
use tlsgate::audit::{AuditedCert, Inventory};
use tlsgate::policy::Policy;

const NS: &str = "gateway-conformance-infra";

#[track_caller]
fn obj(file: &str) -> Value {
    yaml_serde::from_str(&yaml_of(&format!("secrets/{file}"))).unwrap()
}

/// `kubectl create configmap client-ca --from-file=ca.crt=...`, in `ns` under `name`.
fn ca_config_map(ns: &str, name: &str) -> Value {
    let mut cm = obj("configmap-client-ca.yaml");
    cm["metadata"] = json!({ "name": name, "namespace": ns });
    cm
}

/// The Gateway API conformance Gateway verifying clients against ConfigMap `client-ca`.
fn frontend_gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": "client-validation", "namespace": NS },
        "spec": {
            "gatewayClassName": "istio",
            "listeners": [{ "name": "https", "port": 443, "protocol": "HTTPS", "hostname": "httpbin.example.com",
                            "tls": { "mode": "Terminate", "certificateRefs": [{ "name": "httpbin-credential" }] } }],
            "tls": { "frontend": { "default": { "validation": { "caCertificateRefs": [
                { "group": "", "kind": "ConfigMap", "name": "client-ca" }] } } } },
        },
    })
}

fn backend_policy() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": { "name": "backend-tls", "namespace": NS },
        "spec": {
            "targetRefs": [{ "group": "", "kind": "Service", "name": "backend" }],
            "validation": { "hostname": "backend.example.com",
                            "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "backend-ca" }] },
        },
    })
}

fn inventory(objects: &[Value]) -> Inventory {
    let mut inv = Inventory::new();
    inv.add_objects(objects, &Policy::default(), &Arc::new(Analyzer::new()));
    inv
}

fn config_map_rows<'a>(inv: &'a Inventory, name: &str) -> Vec<&'a AuditedCert> {
    inv.certs
        .iter()
        .filter(|c| c.kind == "ConfigMap" && c.name == name)
        .collect()
}

#[test]
fn a_ca_config_map_a_gateway_verifies_clients_with_is_a_row_used_by_the_gateway() {
    let inv = inventory(&[frontend_gateway(), ca_config_map(NS, "client-ca")]);
    let rows = config_map_rows(&inv, "client-ca");
    assert_eq!(rows.len(), 1, "one CA in the bundle");
    let r = rows[0];
    assert_eq!(r.namespace.as_deref(), Some(NS));
    assert_eq!(r.key, "data[\"ca.crt\"]");
    assert_eq!(
        r.used_by,
        [format!("Gateway {NS}/client-validation (spec.tls.frontend.default.validation.caCertificateRefs[0])")]
    );
}

#[test]
fn a_backend_tls_policy_ca_config_map_is_a_row_used_by_the_policy() {
    let inv = inventory(&[backend_policy(), ca_config_map(NS, "backend-ca")]);
    let rows = config_map_rows(&inv, "backend-ca");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].used_by,
        [format!(
            "BackendTLSPolicy {NS}/backend-tls (spec.validation.caCertificateRefs[0])"
        )]
    );
}

#[test]
fn a_ca_config_map_nothing_references_is_not_listed() {
    // Every namespace holds a kube-root-ca.crt with a ca.crt; no Gateway reads it.
    let inv = inventory(&[frontend_gateway(), ca_config_map(NS, "kube-root-ca.crt")]);
    assert!(config_map_rows(&inv, "kube-root-ca.crt").is_empty());
}

#[test]
fn linkerd_trust_roots_are_a_row_at_ca_bundle_crt() {
    let inv = inventory(&[obj("linkerd-trust-roots.yaml")]);
    let rows = config_map_rows(&inv, "linkerd-identity-trust-roots");
    assert_eq!(rows.len(), 1, "one trust anchor");
    assert_eq!(rows[0].namespace.as_deref(), Some("linkerd"));
    assert_eq!(rows[0].key, "data[\"ca-bundle.crt\"]");
    assert!(
        rows[0].used_by[0].starts_with("Linkerd proxies"),
        "{:?}",
        rows[0].used_by
    );
}

#[test]
fn linkerd_rotation_bundle_lists_each_anchor() {
    let inv = inventory(&[obj("linkerd-trust-roots-rotating.yaml")]);
    let rows = config_map_rows(&inv, "linkerd-identity-trust-roots");
    assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn legacy_linkerd_issuer_keys_are_rows_at_crt_pem() {
    let inv = inventory(&[obj("linkerd-identity-issuer-legacy.yaml")]);
    let row = inv
        .certs
        .iter()
        .find(|c| c.name == "linkerd-identity-issuer")
        .expect("the legacy issuer is audited");
    assert_eq!(row.key, "data[\"crt.pem\"]");
}

#[test]
fn prometheus_series_label_the_ca_config_map_like_the_exporter() {
    let inv = inventory(&[frontend_gateway(), ca_config_map(NS, "client-ca")]);
    let text = tlsgate::audit::render::to_prometheus(&inv, NOW);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("x509_cert_not_after{") && l.contains("configmap_name=\"client-ca\"")
        })
        .unwrap_or_else(|| panic!("no client-ca series:\n{text}"));
    assert!(
        line.starts_with(&format!(
            "x509_cert_not_after{{configmap_namespace=\"{NS}\",configmap_name=\"client-ca\",configmap_key=\"ca.crt\","
        )),
        "{line}"
    );
}

#[test]
fn prometheus_series_label_linkerd_trust_roots_with_their_key() {
    let inv = inventory(&[obj("linkerd-trust-roots.yaml")]);
    let text = tlsgate::audit::render::to_prometheus(&inv, NOW);
    assert!(
        text.lines().any(|l| l.starts_with(
            "x509_cert_not_after{configmap_namespace=\"linkerd\",configmap_name=\"linkerd-identity-trust-roots\",configmap_key=\"ca-bundle.crt\","
        )),
        "{text}"
    );
}

#[test]
fn a_referenced_config_map_whose_ca_crt_is_not_pem_is_unreadable() {
    let mut cm = ca_config_map(NS, "client-ca");
    cm["data"]["ca.crt"] = json!("not a certificate");
    let inv = inventory(&[frontend_gateway(), cm]);
    assert!(config_map_rows(&inv, "client-ca").is_empty());
    let text = tlsgate::audit::render::to_prometheus(&inv, NOW);
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "x509_cert_error{{configmap_namespace=\"{NS}\",configmap_name=\"client-ca\",configmap_key=\"ca.crt\""
        )) && l.ends_with(" 1")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_reads_referenced_and_linkerd_config_maps_by_name_only() {
    let server =
        FakeApiServer::start(&[SECRETS, CONFIG_MAPS, GATEWAYS, BACKEND_TLS_POLICIES]).await;
    server.apply(GATEWAYS, frontend_gateway());
    server.apply(CONFIG_MAPS, ca_config_map(NS, "client-ca"));
    server.apply(CONFIG_MAPS, ca_config_map(NS, "kube-root-ca.crt"));
    server.apply(CONFIG_MAPS, obj("linkerd-trust-roots.yaml"));
    let listed = tlsgate::audit::live::list(&server.client(), &Default::default(), &mut |_, _| {})
        .await
        .expect("listed");
    let names: Vec<&str> = listed
        .iter()
        .filter(|v| v["kind"] == "ConfigMap")
        .filter_map(|v| v["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["client-ca", "linkerd-identity-trust-roots"]);
    let inv = inventory(&listed);
    assert_eq!(config_map_rows(&inv, "client-ca").len(), 1);
    assert_eq!(
        config_map_rows(&inv, "linkerd-identity-trust-roots").len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audit_in_one_namespace_reads_no_config_map_of_another() {
    let server = FakeApiServer::start(&[SECRETS, CONFIG_MAPS, GATEWAYS]).await;
    server.apply(GATEWAYS, frontend_gateway());
    server.apply(CONFIG_MAPS, ca_config_map(NS, "client-ca"));
    server.apply(CONFIG_MAPS, obj("linkerd-trust-roots.yaml"));
    let scope = tlsgate::audit::live::Scope {
        namespace: Some(NS.into()),
        selector: None,
    };
    let listed = tlsgate::audit::live::list(&server.client(), &scope, &mut |_, _| {})
        .await
        .expect("listed");
    let names: Vec<&str> = listed
        .iter()
        .filter(|v| v["kind"] == "ConfigMap")
        .filter_map(|v| v["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["client-ca"]);
}
