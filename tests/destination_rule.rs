//! Istio DestinationRule client TLS (`credentialName`) through every door: lint, the reverse
//! index (replacing the Secret), an AdmissionReview shaped like the captured ones, and the audit.
//! Objects as Istio's "egress TLS origination" task writes them; Secrets from kubectl
//! (tests/fixtures/README.md), time fixed.

mod common;

use common::review::*;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::policy::Policy;

const NS: &str = "istio-system";
const DR: &str = "originate-mtls-for-nginx";
const PORT_PATH: &str = "spec.trafficPolicy.portLevelSettings[0].tls.credentialName";

/// Istio's "Egress Gateways with TLS Origination" DestinationRule, `tls` as given.
fn mk_rule(ns: &str, tls: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": { "name": DR, "namespace": ns },
        "spec": {
            "host": "my-nginx.mesh-external.svc.cluster.local",
            "trafficPolicy": {
                "loadBalancer": { "simple": "ROUND_ROBIN" },
                "portLevelSettings": [{ "port": { "number": 443 }, "tls": tls }],
            },
        },
    })
}

fn mutual() -> Value {
    json!({ "mode": "MUTUAL", "credentialName": "client-credential",
            "sni": "my-nginx.mesh-external.svc.cluster.local" })
}

fn simple() -> Value {
    json!({ "mode": "SIMPLE", "credentialName": "client-credential",
            "sni": "my-nginx.mesh-external.svc.cluster.local" })
}

/// A kubectl-made Secret fixture, as `client-credential` in `ns`.
#[track_caller]
fn secret(file: &str, ns: &str) -> Value {
    let mut v: Value = yaml_serde::from_str(&yaml_of(&format!("secrets/{file}"))).unwrap();
    v["metadata"]["name"] = json!("client-credential");
    v["metadata"]["namespace"] = json!(ns);
    v
}

/// Findings on the DestinationRule only.
fn on_rule(found: &[Finding]) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind == "DestinationRule")
        .cloned()
        .collect()
}

#[track_caller]
fn assert_no_deny(found: &[Finding]) {
    assert!(
        found.iter().all(|f| f.severity != Severity::Deny),
        "expected no denial, got:\n{}",
        show(found)
    );
}

#[test]
fn mutual_with_a_client_certificate_key_and_ca_is_allowed() {
    let f = on_rule(&lint_at(
        &[mk_rule(NS, mutual()), secret("client-credential.yaml", NS)],
        NOW,
    ));
    assert_clean(&f);
}

#[test]
fn mutual_with_an_expired_client_certificate_is_denied_at_the_port_setting() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, mutual()),
            secret("client-credential-expired.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, PORT_PATH);
}

#[test]
fn mutual_with_a_key_of_another_certificate_is_denied() {
    let f = on_rule(&lint_at(
        &[mk_rule(NS, mutual()), secret("mismatch.yaml", NS)],
        NOW,
    ));
    let e = assert_finding(&f, Code::KeyMismatch, Severity::Deny);
    assert_eq!(e.path, PORT_PATH);
}

#[test]
fn mutual_with_only_a_ca_is_denied_for_want_of_a_pair() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, mutual()),
            secret("client-credential-ca-only.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::SecretMalformed, Severity::Deny);
    assert_eq!(e.path, PORT_PATH);
}

#[test]
fn mutual_without_a_ca_is_denied_unless_insecure_skip_verify() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, mutual()),
            secret("client-credential-no-ca.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::CaMissing, Severity::Deny);
    assert!(
        e.message.contains("to verify the server with"),
        "{}",
        e.message
    );
}

#[test]
fn simple_without_a_ca_is_denied() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, simple()),
            secret("client-credential-no-ca.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::CaMissing, Severity::Deny);
    assert_eq!(e.path, PORT_PATH);
}

#[test]
fn simple_with_insecure_skip_verify_needs_no_ca() {
    let mut tls = simple();
    tls["insecureSkipVerify"] = json!(true);
    let f = on_rule(&lint_at(
        &[mk_rule(NS, tls), secret("client-credential-no-ca.yaml", NS)],
        NOW,
    ));
    assert_clean(&f);
}

#[test]
fn simple_with_only_a_ca_is_allowed() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, simple()),
            secret("client-credential-ca-only.yaml", NS),
        ],
        NOW,
    ));
    assert_clean(&f);
}

#[test]
fn client_certificate_issued_for_servers_only_warns_client_auth_missing() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(NS, mutual()),
            secret("client-credential-server-eku.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::ClientAuthMissing, Severity::Warn);
    assert_eq!(e.path, PORT_PATH);
    assert_no_deny(&f);
}

#[test]
fn seed_client_certificate_without_san_gets_no_host_advice() {
    // client.example.com.crt: the seed's v1 certificate, no SAN, no EKU.
    let s = mk_secret(
        NS,
        "client-credential",
        "Opaque",
        &[
            ("tls.crt", &fixture("certs/client.example.com.crt")),
            ("tls.key", &fixture("certs/client.example.com.key")),
            ("ca.crt", &fixture("certs/example.com.crt")),
        ],
    );
    let f = on_rule(&lint_at(&[mk_rule(NS, mutual()), s], NOW));
    assert_no(&f, Code::HostNotCovered);
    assert_no(&f, Code::NoSubjectAltName);
    assert!(
        f.iter().all(|f| !f.message.contains("subjectAltName=DNS")),
        "{}",
        show(&f)
    );
}

#[test]
fn credential_in_a_subset_traffic_policy_is_checked() {
    let rule = json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": { "name": DR, "namespace": NS },
        "spec": {
            "host": "my-nginx.mesh-external.svc.cluster.local",
            "subsets": [{ "name": "v1", "labels": { "version": "v1" },
                          "trafficPolicy": { "tls": mutual() } }],
        },
    });
    let f = on_rule(&lint_at(
        &[rule, secret("client-credential-expired.yaml", NS)],
        NOW,
    ));
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, "spec.subsets[0].trafficPolicy.tls.credentialName");
}

#[test]
fn sidecar_rule_reads_its_own_namespace_and_says_where_the_secret_is() {
    let f = on_rule(&lint_at(
        &[
            mk_rule("default", mutual()),
            secret("client-credential.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::CredentialNotFound, Severity::Warn);
    assert!(e.message.contains("not found in default"), "{}", e.message);
    assert!(
        e.message.contains("exists in istio-system"),
        "{}",
        e.message
    );
}

#[test]
fn egress_gateway_rule_reads_the_gateway_namespace() {
    let mut rule = mk_rule("default", mutual());
    rule["spec"]["workloadSelector"] = json!({ "matchLabels": { "istio": "egressgateway" } });
    let f = on_rule(&lint_at(&[rule, secret("client-credential.yaml", NS)], NOW));
    assert_clean(&f);
}

#[test]
fn credential_name_with_mode_disable_warns_that_it_is_ignored() {
    let f = on_rule(&lint_at(
        &[
            mk_rule(
                NS,
                json!({ "mode": "DISABLE", "credentialName": "client-credential" }),
            ),
            secret("client-credential.yaml", NS),
        ],
        NOW,
    ));
    let e = assert_finding(&f, Code::TlsModeIgnoresCredential, Severity::Warn);
    assert_eq!(e.path, PORT_PATH);
}

// ---- reverse index and webhook ---------------------------------------------------------

/// The captured Istio Gateway CREATE, rewritten as the API server sends a DestinationRule.
fn rule_review(rule: Value) -> Value {
    custom_review(
        ("networking.istio.io", "v1", "DestinationRule"),
        "destinationrules",
        rule,
    )
}

#[test]
fn replacing_the_client_secret_with_an_expired_one_is_denied_naming_the_rule() {
    let idx = view(&[mk_rule(NS, mutual()), secret("client-credential.yaml", NS)]);
    let a = review(
        &secret_review(secret("client-credential-expired.yaml", NS)),
        &idx,
    );
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("cert-expired"), "{m}");
    assert!(
        m.contains(&format!("DestinationRule {NS}/{DR}")),
        "the denial names the referrer: {m}"
    );
}

#[test]
fn replacing_the_client_secret_with_one_without_ca_is_denied_naming_the_port_setting() {
    let idx = view(&[mk_rule(NS, mutual()), secret("client-credential.yaml", NS)]);
    let a = review(
        &secret_review(secret("client-credential-no-ca.yaml", NS)),
        &idx,
    );
    assert!(!a.allowed);
    let f = assert_finding(&a.findings, Code::CaMissing, Severity::Deny);
    assert!(f.message.contains(PORT_PATH), "{}", f.message);
    assert!(
        f.message.contains("to verify the server with"),
        "{}",
        f.message
    );
}

#[test]
fn destination_rule_review_with_a_mismatched_key_is_denied() {
    let idx = view(&[secret("mismatch.yaml", NS)]);
    let a = review(&rule_review(mk_rule(NS, mutual())), &idx);
    assert!(!a.allowed, "{}", a.body);
    assert_eq!(a.kind, "DestinationRule");
    let f = assert_finding(&a.findings, Code::KeyMismatch, Severity::Deny);
    assert_eq!(f.path, PORT_PATH);
}

#[test]
fn destination_rule_review_with_a_valid_credential_is_allowed() {
    let idx = view(&[secret("client-credential.yaml", NS)]);
    let a = review(&rule_review(mk_rule(NS, mutual())), &idx);
    assert!(a.allowed, "{}", a.body);
    assert!(a.findings.is_empty(), "{}", show(&a.findings));
}

#[test]
fn audit_lists_the_rule_under_used_by() {
    let policy = Policy::default();
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[mk_rule(NS, mutual()), secret("client-credential.yaml", NS)],
        &policy,
        &Arc::new(Analyzer::new()),
    );
    let leaf = inv
        .certs
        .iter()
        .find(|c| c.name == "client-credential" && c.key == "data[\"tls.crt\"]")
        .expect("the client certificate is audited");
    assert_eq!(
        leaf.used_by,
        [format!("DestinationRule {NS}/{DR} ({PORT_PATH})")]
    );
}
