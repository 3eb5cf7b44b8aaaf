//! Gateway API's current TLS fields through every door: `Gateway.spec.tls.backend
//! .clientCertificateRef` and ListenerSet (standard `ListenerSet`, experimental `XListenerSet`)
//! listeners. Objects as the Gateway API conformance manifests write them; Secrets from
//! kubectl (tests/fixtures/README.md); time fixed.

mod common;

use common::review::*;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::policy::Policy;

const NS: &str = "gateway-conformance-infra";
const BACKEND_PATH: &str = "spec.tls.backend.clientCertificateRef";
const LISTENER_PATH: &str = "spec.listeners[0].tls.certificateRefs[0]";

/// A Gateway presenting `secret` to backends (conformance `gateway-backend-client-certificate`).
fn mk_backend_gateway(secret_ref: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": "gateway-with-backend-client-cert", "namespace": NS },
        "spec": {
            "gatewayClassName": "{GATEWAY_CLASS_NAME}",
            "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }],
            "tls": { "backend": { "clientCertificateRef": secret_ref } },
        },
    })
}

fn client_ref() -> Value {
    json!({ "group": "", "kind": "Secret", "name": "tls-checks-client-certificate" })
}

/// A kubectl-made Secret fixture under another name and namespace.
#[track_caller]
fn secret(file: &str, ns: &str, name: &str) -> Value {
    let mut v: Value = yaml_serde::from_str(&yaml_of(&format!("secrets/{file}"))).unwrap();
    v["metadata"]["name"] = json!(name);
    v["metadata"]["namespace"] = json!(ns);
    v
}

fn client_secret(file: &str) -> Value {
    secret(file, NS, "tls-checks-client-certificate")
}

/// A ListenerSet attached to `parent` with one HTTPS listener for `hostname` (conformance
/// `listenerset-*` manifests), in the standard or experimental group.
fn mk_listener_set(experimental: bool, hostname: &str, cert_ref: Value) -> Value {
    let (api_version, kind) = if experimental {
        ("gateway.networking.x-k8s.io/v1alpha1", "XListenerSet")
    } else {
        ("gateway.networking.k8s.io/v1", "ListenerSet")
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": { "name": "listenerset-https", "namespace": "apps" },
        "spec": {
            "parentRef": { "name": "parent-gateway", "namespace": NS, "kind": "Gateway",
                           "group": "gateway.networking.k8s.io" },
            "listeners": [{
                "name": "https", "hostname": hostname, "port": 443, "protocol": "HTTPS",
                "tls": { "mode": "Terminate", "certificateRefs": [cert_ref] },
            }],
        },
    })
}

fn httpbin_ref() -> Value {
    json!({ "group": "", "kind": "Secret", "name": "httpbin-credential" })
}

fn on_kind(found: &[Finding], kind: &str) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind == kind)
        .cloned()
        .collect()
}

// ---- Gateway.spec.tls.backend.clientCertificateRef ---------------------------------------

#[test]
fn backend_client_certificate_with_key_is_allowed() {
    let f = on_kind(
        &lint_at(
            &[
                mk_backend_gateway(client_ref()),
                client_secret("client-credential.yaml"),
            ],
            NOW,
        ),
        "Gateway",
    );
    assert_clean(&f);
}

#[test]
fn expired_backend_client_certificate_is_denied() {
    let f = lint_at(
        &[
            mk_backend_gateway(client_ref()),
            client_secret("client-credential-expired.yaml"),
        ],
        NOW,
    );
    let e = assert_finding(&on_kind(&f, "Gateway"), Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, BACKEND_PATH);
}

#[test]
fn backend_client_certificate_with_another_key_is_denied() {
    let f = lint_at(
        &[
            mk_backend_gateway(client_ref()),
            client_secret("mismatch.yaml"),
        ],
        NOW,
    );
    let e = assert_finding(&on_kind(&f, "Gateway"), Code::KeyMismatch, Severity::Deny);
    assert_eq!(e.path, BACKEND_PATH);
}

#[test]
fn backend_client_certificate_without_client_auth_usage_warns() {
    let f = lint_at(
        &[
            mk_backend_gateway(client_ref()),
            client_secret("client-credential-server-eku.yaml"),
        ],
        NOW,
    );
    let e = assert_finding(
        &on_kind(&f, "Gateway"),
        Code::ClientAuthMissing,
        Severity::Warn,
    );
    assert_eq!(e.path, BACKEND_PATH);
}

#[test]
fn backend_client_certificate_in_another_namespace_needs_a_grant() {
    let mut r = client_ref();
    r["namespace"] = json!("certs");
    let f = lint_at(
        &[
            mk_backend_gateway(r),
            secret(
                "client-credential.yaml",
                "certs",
                "tls-checks-client-certificate",
            ),
        ],
        NOW,
    );
    let e = assert_finding(
        &on_kind(&f, "Gateway"),
        Code::RefNotPermitted,
        Severity::Deny,
    );
    assert_eq!(e.path, BACKEND_PATH);
}

// ---- ListenerSet -------------------------------------------------------------------------

#[test]
fn listener_set_serving_a_covered_host_is_allowed() {
    let f = lint_at(
        &[
            mk_listener_set(false, "httpbin.example.com", httpbin_ref()),
            secret("httpbin-credential-san.yaml", "apps", "httpbin-credential"),
        ],
        NOW,
    );
    assert_clean(&on_kind(&f, "ListenerSet"));
}

#[test]
fn listener_set_host_not_covered_is_denied_at_its_listener() {
    let f = lint_at(
        &[
            mk_listener_set(false, "helloworld-v1.example.com", httpbin_ref()),
            secret("httpbin-credential-san.yaml", "apps", "httpbin-credential"),
        ],
        NOW,
    );
    let e = assert_finding(
        &on_kind(&f, "ListenerSet"),
        Code::HostNotCovered,
        Severity::Deny,
    );
    assert_eq!(e.path, LISTENER_PATH);
}

#[test]
fn experimental_x_listener_set_is_checked_the_same_way() {
    let f = lint_at(
        &[
            mk_listener_set(true, "httpbin.example.com", httpbin_ref()),
            secret("expired-tls.yaml", "apps", "httpbin-credential"),
        ],
        NOW,
    );
    let e = assert_finding(
        &on_kind(&f, "XListenerSet"),
        Code::CertExpired,
        Severity::Deny,
    );
    assert_eq!(e.path, LISTENER_PATH);
}

fn grant(from_group: &str, from_kind: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": { "name": "allow-apps", "namespace": "certs" },
        "spec": {
            "from": [{ "group": from_group, "kind": from_kind, "namespace": "apps" }],
            "to": [{ "group": "", "kind": "Secret" }],
        },
    })
}

fn cross_namespace_listener_set(grant: Value) -> Vec<Finding> {
    let mut r = httpbin_ref();
    r["namespace"] = json!("certs");
    let f = lint_at(
        &[
            mk_listener_set(false, "httpbin.example.com", r),
            secret("httpbin-credential-san.yaml", "certs", "httpbin-credential"),
            grant,
        ],
        NOW,
    );
    on_kind(&f, "ListenerSet")
}

#[test]
fn listener_set_does_not_inherit_a_grant_for_gateways() {
    let f = cross_namespace_listener_set(grant("gateway.networking.k8s.io", "Gateway"));
    let e = assert_finding(&f, Code::RefNotPermitted, Severity::Deny);
    assert!(
        e.message.contains("ListenerSets from apps"),
        "{}",
        e.message
    );
}

#[test]
fn listener_set_with_a_grant_for_listener_sets_is_allowed() {
    let f = cross_namespace_listener_set(grant("gateway.networking.k8s.io", "ListenerSet"));
    assert_clean(&f);
}

// ---- reverse index and webhook -----------------------------------------------------------

fn listener_set_review(ls: Value) -> Value {
    gateway_api_review("ListenerSet", "listenersets", ls)
}

#[test]
fn replacing_a_listener_set_secret_with_an_expired_one_is_denied_naming_it() {
    let idx = view(&[
        mk_listener_set(false, "httpbin.example.com", httpbin_ref()),
        secret("httpbin-credential-san.yaml", "apps", "httpbin-credential"),
    ]);
    let a = review(
        &secret_review(secret("expired-tls.yaml", "apps", "httpbin-credential")),
        &idx,
    );
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("ListenerSet apps/listenerset-https"), "{m}");
}

#[test]
fn replacing_the_backend_client_secret_with_a_mismatched_key_is_denied_naming_the_gateway() {
    let idx = view(&[
        mk_backend_gateway(client_ref()),
        client_secret("client-credential.yaml"),
    ]);
    let a = review(&secret_review(client_secret("mismatch.yaml")), &idx);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("key-mismatch"), "{m}");
    assert!(
        m.contains(&format!("Gateway {NS}/gateway-with-backend-client-cert")),
        "{m}"
    );
}

#[test]
fn listener_set_review_for_an_uncovered_host_is_denied() {
    let idx = view(&[secret(
        "httpbin-credential-san.yaml",
        "apps",
        "httpbin-credential",
    )]);
    let a = review(
        &listener_set_review(mk_listener_set(
            false,
            "helloworld-v1.example.com",
            httpbin_ref(),
        )),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    assert_eq!(a.kind, "ListenerSet");
    let f = assert_finding(&a.findings, Code::HostNotCovered, Severity::Deny);
    assert_eq!(f.path, LISTENER_PATH);
}

#[test]
fn listener_set_review_with_a_covering_certificate_is_allowed() {
    let idx = view(&[secret(
        "httpbin-credential-san.yaml",
        "apps",
        "httpbin-credential",
    )]);
    let a = review(
        &listener_set_review(mk_listener_set(false, "httpbin.example.com", httpbin_ref())),
        &idx,
    );
    assert!(a.allowed, "{}", a.body);
    assert!(a.findings.is_empty(), "{}", show(&a.findings));
}

#[test]
fn audit_lists_listener_sets_and_backend_gateways_under_used_by() {
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[
            mk_listener_set(false, "httpbin.example.com", httpbin_ref()),
            secret("httpbin-credential-san.yaml", "apps", "httpbin-credential"),
            mk_backend_gateway(client_ref()),
            client_secret("client-credential.yaml"),
        ],
        &Policy::default(),
        &Arc::new(Analyzer::new()),
    );
    let used_by = |name: &str| {
        inv.certs
            .iter()
            .find(|c| c.name == name && c.key == "data[\"tls.crt\"]")
            .unwrap_or_else(|| panic!("{name} is audited"))
            .used_by
            .clone()
    };
    assert_eq!(
        used_by("httpbin-credential"),
        [format!(
            "ListenerSet apps/listenerset-https ({LISTENER_PATH})"
        )]
    );
    assert_eq!(
        used_by("tls-checks-client-certificate"),
        [format!(
            "Gateway {NS}/gateway-with-backend-client-cert ({BACKEND_PATH})"
        )]
    );
}

// ---- Gateway.spec.tls.frontend: client certificate validation ----------------------------

const DEFAULT_CA_PATH: &str = "spec.tls.frontend.default.validation.caCertificateRefs[0]";

/// A Gateway verifying client certificates against `ca_ref` (conformance
/// `gateway-frontend-client-certificate-validation`), serving httpbin.example.com.
fn mk_frontend_gateway(ca_ref: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": "client-validation", "namespace": NS },
        "spec": {
            "gatewayClassName": "{GATEWAY_CLASS_NAME}",
            "listeners": [{
                "name": "https", "port": 443, "protocol": "HTTPS", "hostname": "httpbin.example.com",
                "tls": { "mode": "Terminate",
                         "certificateRefs": [{ "group": "", "kind": "Secret", "name": "httpbin-credential" }] },
            }],
            "tls": { "frontend": { "default": { "validation": { "caCertificateRefs": [ca_ref] } } } },
        },
    })
}

fn ca_config_map_ref() -> Value {
    json!({ "group": "", "kind": "ConfigMap", "name": "client-ca" })
}

/// `kubectl create configmap client-ca --from-file=ca.crt=...` fixture, in `ns`.
#[track_caller]
fn config_map(file: &str, ns: &str) -> Value {
    secret(file, ns, "client-ca")
}

fn frontend_findings(gateway: Value, ca: Option<Value>) -> Vec<Finding> {
    let mut objects = vec![
        gateway,
        secret("httpbin-credential-san.yaml", NS, "httpbin-credential"),
    ];
    objects.extend(ca);
    on_kind(&lint_at(&objects, NOW), "Gateway")
}

#[test]
fn frontend_validation_with_a_ca_config_map_is_allowed() {
    let f = frontend_findings(
        mk_frontend_gateway(ca_config_map_ref()),
        Some(config_map("configmap-client-ca.yaml", NS)),
    );
    assert_clean(&f);
}

#[test]
fn frontend_validation_config_map_not_found_warns_at_the_ref() {
    let f = frontend_findings(mk_frontend_gateway(ca_config_map_ref()), None);
    let e = assert_finding(&f, Code::CredentialNotFound, Severity::Warn);
    assert_eq!(e.path, DEFAULT_CA_PATH);
    assert!(
        e.message
            .contains("configmap gateway-conformance-infra/client-ca"),
        "{}",
        e.message
    );
}

#[test]
fn frontend_validation_config_map_holding_a_leaf_is_denied_ca_not_ca() {
    let f = frontend_findings(
        mk_frontend_gateway(ca_config_map_ref()),
        Some(config_map("configmap-client-ca-not-ca.yaml", NS)),
    );
    let e = assert_finding(&f, Code::CaNotCa, Severity::Deny);
    assert_eq!(e.path, DEFAULT_CA_PATH);
}

#[test]
fn frontend_validation_bundle_with_one_expired_ca_only_warns() {
    let f = frontend_findings(
        mk_frontend_gateway(ca_config_map_ref()),
        Some(config_map("configmap-client-ca-rotating.yaml", NS)),
    );
    assert_finding(&f, Code::ChainCertExpired, Severity::Warn);
    assert_no(&f, Code::CertExpired);
}

#[test]
fn frontend_validation_bundle_with_every_ca_expired_is_denied() {
    let f = frontend_findings(
        mk_frontend_gateway(ca_config_map_ref()),
        Some(config_map("configmap-client-ca-expired.yaml", NS)),
    );
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, DEFAULT_CA_PATH);
}

#[test]
fn per_port_validation_is_checked_at_its_path() {
    let mut gw = mk_frontend_gateway(ca_config_map_ref());
    gw["spec"]["tls"]["frontend"]["perPort"] = json!([{
        "port": 8443,
        "tls": { "validation": { "caCertificateRefs": [
            { "group": "", "kind": "ConfigMap", "name": "port-ca" }] } },
    }]);
    let f = frontend_findings(gw, Some(config_map("configmap-client-ca.yaml", NS)));
    let e = assert_finding(&f, Code::CredentialNotFound, Severity::Warn);
    assert_eq!(
        e.path,
        "spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0]"
    );
}

#[test]
fn frontend_validation_config_map_in_another_namespace_needs_a_grant() {
    let mut r = ca_config_map_ref();
    r["namespace"] = json!("certs");
    let f = frontend_findings(
        mk_frontend_gateway(r),
        Some(config_map("configmap-client-ca.yaml", "certs")),
    );
    let e = assert_finding(&f, Code::RefNotPermitted, Severity::Deny);
    assert!(e.message.contains("ConfigMap"), "{}", e.message);
}

#[test]
fn frontend_validation_config_map_with_a_config_map_grant_is_allowed() {
    let mut r = ca_config_map_ref();
    r["namespace"] = json!("certs");
    let grant = json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": { "name": "allow-ca", "namespace": "certs" },
        "spec": {
            "from": [{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": NS }],
            "to": [{ "group": "", "kind": "ConfigMap" }],
        },
    });
    let objects = vec![
        mk_frontend_gateway(r),
        secret("httpbin-credential-san.yaml", NS, "httpbin-credential"),
        config_map("configmap-client-ca.yaml", "certs"),
        grant,
    ];
    assert_clean(&on_kind(&lint_at(&objects, NOW), "Gateway"));
}

#[test]
fn allow_insecure_fallback_is_noted() {
    let mut gw = mk_frontend_gateway(ca_config_map_ref());
    gw["spec"]["tls"]["frontend"]["default"]["validation"]["mode"] = json!("AllowInsecureFallback");
    let f = frontend_findings(gw, Some(config_map("configmap-client-ca.yaml", NS)));
    let e = assert_finding(&f, Code::ClientValidationOptional, Severity::Info);
    assert_eq!(e.path, "spec.tls.frontend.default.validation.mode");
}

#[test]
fn frontend_validation_secret_without_a_ca_is_denied_ca_missing() {
    let f = frontend_findings(
        mk_frontend_gateway(json!({ "group": "", "kind": "Secret", "name": "client-ca" })),
        Some(secret("httpbin-credential-san.yaml", NS, "client-ca")),
    );
    let e = assert_finding(&f, Code::CaMissing, Severity::Deny);
    assert_eq!(e.path, DEFAULT_CA_PATH);
}

#[test]
fn frontend_validation_secret_with_a_ca_is_allowed() {
    let f = frontend_findings(
        mk_frontend_gateway(json!({ "group": "", "kind": "Secret", "name": "client-ca" })),
        Some(secret("client-credential-ca-only.yaml", NS, "client-ca")),
    );
    assert_clean(&f);
}

#[test]
fn legacy_listener_frontend_validation_is_still_read() {
    let gw = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": "client-validation", "namespace": NS },
        "spec": {
            "gatewayClassName": "{GATEWAY_CLASS_NAME}",
            "listeners": [{
                "name": "https", "port": 443, "protocol": "HTTPS", "hostname": "httpbin.example.com",
                "tls": { "mode": "Terminate",
                         "certificateRefs": [{ "group": "", "kind": "Secret", "name": "httpbin-credential" }],
                         "frontendValidation": { "caCertificateRefs": [ca_config_map_ref()] } },
            }],
        },
    });
    let f = frontend_findings(gw, Some(config_map("configmap-client-ca-expired.yaml", NS)));
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(
        e.path,
        "spec.listeners[0].tls.frontendValidation.caCertificateRefs[0]"
    );
}

#[test]
fn replacing_the_client_ca_config_map_with_expired_cas_is_denied_naming_the_gateway() {
    let idx = view(&[
        mk_frontend_gateway(ca_config_map_ref()),
        config_map("configmap-client-ca.yaml", NS),
    ]);
    let a = review(
        &config_map_review(config_map("configmap-client-ca-expired.yaml", NS)),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    let m = message(&a);
    assert!(m.contains("cert-expired"), "{m}");
    assert!(
        m.contains(&format!("Gateway {NS}/client-validation")),
        "{m}"
    );
}

#[test]
fn replacing_an_unreferenced_config_map_is_allowed() {
    let idx = view(&[mk_frontend_gateway(ca_config_map_ref())]);
    let mut cm = config_map("configmap-client-ca-expired.yaml", NS);
    cm["metadata"]["name"] = json!("other-ca");
    let a = review(&config_map_review(cm), &idx);
    assert!(a.allowed, "{}", a.body);
    assert!(a.findings.is_empty(), "{}", show(&a.findings));
}

// ---- BackendTLSPolicy ----------------------------------------------------------------------

const BTP: &str = "normative-test-backendtlspolicy";
const BTP_CA_PATH: &str = "spec.validation.caCertificateRefs[0]";

/// The conformance `backendtlspolicy-normative` policy, in `api_version`.
fn mk_policy(api_version: &str, validation: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "BackendTLSPolicy",
        "metadata": { "name": BTP, "namespace": NS },
        "spec": {
            "targetRefs": [{ "group": "", "kind": "Service", "name": "backendtlspolicy-test" }],
            "validation": validation,
        },
    })
}

fn ca_validation() -> Value {
    json!({
        "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "backend-tls-checks-certificate" }],
        "hostname": "abc.example.com",
    })
}

fn backend_ca(file: &str) -> Value {
    secret(file, NS, "backend-tls-checks-certificate")
}

fn mk_service(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "selector": { "app": name }, "ports": [{ "name": "https", "port": 443 }] },
    })
}

fn policy_findings(objects: &[Value]) -> Vec<Finding> {
    on_kind(&lint_at(objects, NOW), "BackendTLSPolicy")
}

#[test]
fn backend_tls_policy_with_a_ca_config_map_and_its_service_is_allowed() {
    assert_clean(&policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca.yaml"),
        mk_service("backendtlspolicy-test"),
    ]));
}

#[test]
fn backend_tls_policy_ca_config_map_not_found_warns() {
    let f = policy_findings(&[mk_policy("gateway.networking.k8s.io/v1", ca_validation())]);
    let e = assert_finding(&f, Code::CredentialNotFound, Severity::Warn);
    assert_eq!(e.path, BTP_CA_PATH);
    assert!(e.message.contains("backend's certificate"), "{}", e.message);
}

#[test]
fn backend_tls_policy_ca_that_is_not_a_ca_is_denied() {
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca-not-ca.yaml"),
    ]);
    let e = assert_finding(&f, Code::CaNotCa, Severity::Deny);
    assert_eq!(e.path, BTP_CA_PATH);
}

#[test]
fn backend_tls_policy_with_every_ca_expired_is_denied() {
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1alpha3", ca_validation()),
        backend_ca("configmap-client-ca-expired.yaml"),
    ]);
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, BTP_CA_PATH);
}

#[test]
fn backend_tls_policy_with_one_ca_expired_only_warns() {
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca-rotating.yaml"),
    ]);
    assert_finding(&f, Code::ChainCertExpired, Severity::Warn);
    assert_no(&f, Code::CertExpired);
}

#[test]
fn backend_tls_policy_wildcard_hostname_is_denied() {
    let mut v = ca_validation();
    v["hostname"] = json!("*.example.com");
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", v),
        backend_ca("configmap-client-ca.yaml"),
    ]);
    let e = assert_finding(&f, Code::HostnameInvalid, Severity::Deny);
    assert_eq!(e.path, "spec.validation.hostname");
    assert!(e.message.contains("wildcard"), "{}", e.message);
}

#[test]
fn backend_tls_policy_ip_hostname_is_denied() {
    let mut v = ca_validation();
    v["hostname"] = json!("10.0.0.1");
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", v),
        backend_ca("configmap-client-ca.yaml"),
    ]);
    assert_finding(&f, Code::HostnameInvalid, Severity::Deny);
}

#[test]
fn backend_tls_policy_with_well_known_cas_is_noted() {
    let v = json!({ "wellKnownCACertificates": "System", "hostname": "abc.example.com" });
    let f = policy_findings(&[mk_policy("gateway.networking.k8s.io/v1", v)]);
    let e = assert_finding(&f, Code::SystemCasUsed, Severity::Info);
    assert_eq!(e.path, "spec.validation.wellKnownCACertificates");
    assert_eq!(f.len(), 1, "{}", show(&f));
}

#[test]
fn backend_tls_policy_targeting_a_missing_service_warns() {
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca.yaml"),
        mk_service("another-service"),
    ]);
    let e = assert_finding(&f, Code::TargetNotFound, Severity::Warn);
    assert_eq!(e.path, "spec.targetRefs[0]");
}

#[test]
fn backend_tls_policy_targets_are_not_judged_without_services_in_view() {
    let f = policy_findings(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca.yaml"),
    ]);
    assert_no(&f, Code::TargetNotFound);
}

fn policy_review(p: Value) -> Value {
    gateway_api_review("BackendTLSPolicy", "backendtlspolicies", p)
}

#[test]
fn backend_tls_policy_review_with_a_non_ca_bundle_is_denied() {
    let idx = view(&[backend_ca("configmap-client-ca-not-ca.yaml")]);
    let a = review(
        &policy_review(mk_policy("gateway.networking.k8s.io/v1", ca_validation())),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    assert_eq!(a.kind, "BackendTLSPolicy");
    let f = assert_finding(&a.findings, Code::CaNotCa, Severity::Deny);
    assert_eq!(f.path, BTP_CA_PATH);
}

#[test]
fn replacing_the_backend_ca_config_map_with_a_leaf_is_denied_naming_the_policy() {
    let idx = view(&[
        mk_policy("gateway.networking.k8s.io/v1", ca_validation()),
        backend_ca("configmap-client-ca.yaml"),
    ]);
    let a = review(
        &config_map_review(backend_ca("configmap-client-ca-not-ca.yaml")),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    let m = message(&a);
    assert!(m.contains("ca-not-ca"), "{m}");
    assert!(m.contains(&format!("BackendTLSPolicy {NS}/{BTP}")), "{m}");
}

#[test]
fn frontend_validation_reads_ca_crt_not_the_root_cert_pem_of_istio_ca_root_cert() {
    // istio-ca-root-cert holds the mesh root under root-cert.pem; caCertificateRefs read ca.crt.
    let root = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "istio-ca-root-cert", "namespace": NS },
        "data": { "root-cert.pem": fixture_text("certs/chain/root.crt") },
    });
    let f = frontend_findings(
        mk_frontend_gateway(
            json!({ "group": "", "kind": "ConfigMap", "name": "istio-ca-root-cert" }),
        ),
        Some(root),
    );
    let e = assert_finding(&f, Code::CaMissing, Severity::Deny);
    assert_eq!(e.path, DEFAULT_CA_PATH);
    assert!(
        e.message.contains("has no ca.crt (keys: root-cert.pem)"),
        "{}",
        e.message
    );
}
