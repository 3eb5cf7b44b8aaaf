//! Istio `credentialNames` (ServerTLSSettings, Istio 1.26+): an RSA and an ECDSA certificate for
//! one server. Each name is resolved as `credentialName` is, at
//! `spec.servers[i].tls.credentialNames[j]`; a credential that breaks while the other key type
//! still serves every host warns (clients that accept the other type connect), and both broken
//! denies. Secrets as `kubectl create secret tls` makes them from the openssl-made
//! `certs/keys/` fixtures (`keys.example.com`, RSA and P-256); time fixed.

mod common;

use common::review::*;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::Answer;

const NS: &str = "istio-system";
const HOST: &str = "keys.example.com";
const FIRST: &str = "spec.servers[0].tls.credentialNames[0]";
const SECOND: &str = "spec.servers[0].tls.credentialNames[1]";

/// Istio's "Secure Gateways" Gateway with `tls` as given.
fn mk_gateway(tls: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": { "name": "dual-cert-gateway", "namespace": NS },
        "spec": {
            "selector": { "istio": "ingressgateway" },
            "servers": [{
                "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
                "tls": tls,
                "hosts": [HOST],
            }],
        },
    })
}

fn dual(names: &[&str]) -> Value {
    mk_gateway(json!({ "mode": "SIMPLE", "credentialNames": names }))
}

fn rsa() -> Value {
    mk_tls_secret(
        NS,
        "keys-rsa",
        "certs/keys/rsa-pkcs1.crt",
        "certs/keys/rsa-pkcs1.key",
    )
}

fn ecdsa() -> Value {
    mk_tls_secret(
        NS,
        "keys-ecdsa",
        "certs/keys/ec-p256-sec1.crt",
        "certs/keys/ec-p256-sec1.key",
    )
}

/// An RSA certificate for httpbin.example.com under the RSA credential's name.
fn rsa_for_another_host() -> Value {
    mk_tls_secret(
        NS,
        "keys-rsa",
        "certs/httpbin.example.com.crt",
        "certs/httpbin.example.com.key",
    )
}

fn on_gateway(found: &[Finding]) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind == "Gateway")
        .cloned()
        .collect()
}

#[track_caller]
fn assert_at(found: &[Finding], code: Code, severity: Severity, path: &str) -> Finding {
    let f = found
        .iter()
        .find(|f| f.code == code && f.path == path)
        .unwrap_or_else(|| panic!("no {code} at {path}:\n{}", show(found)))
        .clone();
    assert_eq!(f.severity, severity, "{}", show(found));
    f
}

#[test]
fn an_rsa_and_an_ecdsa_credential_for_the_host_are_allowed() {
    let f = on_gateway(&lint_at(
        &[dual(&["keys-rsa", "keys-ecdsa"]), rsa(), ecdsa()],
        NOW,
    ));
    assert_clean(&f);
}

#[test]
fn one_credential_not_covering_the_host_warns_naming_the_other() {
    let f = on_gateway(&lint_at(
        &[
            dual(&["keys-rsa", "keys-ecdsa"]),
            rsa_for_another_host(),
            ecdsa(),
        ],
        NOW,
    ));
    let w = assert_at(&f, Code::HostNotCovered, Severity::Warn, FIRST);
    assert!(
        w.message
            .starts_with("keys-ecdsa still serves ECDSA clients: "),
        "{}",
        w.message
    );
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn both_credentials_not_covering_the_host_is_denied() {
    let ecdsa_elsewhere = mk_tls_secret(
        NS,
        "keys-ecdsa",
        "certs/keys/ec-p384-sec1.crt",
        "certs/keys/ec-p384-sec1.key",
    );
    let gw = mk_gateway(json!({ "mode": "SIMPLE", "credentialNames": ["keys-rsa", "keys-ecdsa"] }));
    let mut gw = gw;
    gw["spec"]["servers"][0]["hosts"] = json!(["httpbin.example.com"]);
    // keys-rsa covers httpbin.example.com but keys-ecdsa does not: one healthy, one broken.
    let f = on_gateway(&lint_at(
        &[gw.clone(), rsa_for_another_host(), ecdsa_elsewhere.clone()],
        NOW,
    ));
    assert_at(&f, Code::HostNotCovered, Severity::Warn, SECOND);
    // Neither covers helloworld-v1.example.com: no client connects.
    gw["spec"]["servers"][0]["hosts"] = json!(["helloworld-v1.example.com"]);
    let f = on_gateway(&lint_at(
        &[gw, rsa_for_another_host(), ecdsa_elsewhere],
        NOW,
    ));
    assert_at(&f, Code::HostNotCovered, Severity::Deny, FIRST);
    assert_at(&f, Code::HostNotCovered, Severity::Deny, SECOND);
}

#[test]
fn a_key_mismatch_in_one_credential_warns() {
    let mismatched = mk_tls_secret(
        NS,
        "keys-ecdsa",
        "certs/keys/ec-p256-sec1.crt",
        "certs/keys/ec-p256-pkcs8.key",
    );
    let f = on_gateway(&lint_at(
        &[dual(&["keys-rsa", "keys-ecdsa"]), rsa(), mismatched],
        NOW,
    ));
    let w = assert_at(&f, Code::KeyMismatch, Severity::Warn, SECOND);
    assert!(
        w.message.starts_with("keys-rsa still serves RSA clients: "),
        "{}",
        w.message
    );
}

#[test]
fn two_rsa_credentials_warn_and_are_not_alternatives() {
    let rsa2 = mk_tls_secret(
        NS,
        "keys-rsa-2",
        "certs/keys/rsa-pkcs8.crt",
        "certs/keys/rsa-pkcs8.key",
    );
    let f = on_gateway(&lint_at(
        &[dual(&["keys-rsa", "keys-rsa-2"]), rsa(), rsa2],
        NOW,
    ));
    let w = assert_at(&f, Code::CredentialNamesConflict, Severity::Warn, SECOND);
    assert!(
        w.message.contains("both hold RSA certificates"),
        "{}",
        w.message
    );
}

#[test]
fn two_rsa_credentials_do_not_soften_each_other() {
    // Same key type: a client gets the broken one as often as the good one.
    let rsa2 = mk_tls_secret(
        NS,
        "keys-rsa-2",
        "certs/keys/rsa-pkcs8.crt",
        "certs/keys/rsa-pkcs8.key",
    );
    let f = on_gateway(&lint_at(
        &[
            dual(&["keys-rsa", "keys-rsa-2"]),
            rsa_for_another_host(),
            rsa2,
        ],
        NOW,
    ));
    assert_at(&f, Code::HostNotCovered, Severity::Deny, FIRST);
}

#[test]
fn credential_name_beside_credential_names_is_ignored_and_said() {
    let gw = mk_gateway(json!({
        "mode": "SIMPLE",
        "credentialName": "old-credential",
        "credentialNames": ["keys-rsa", "keys-ecdsa"],
    }));
    let f = on_gateway(&lint_at(&[gw, rsa(), ecdsa()], NOW));
    let w = assert_at(
        &f,
        Code::CredentialNamesConflict,
        Severity::Warn,
        "spec.servers[0].tls.credentialName",
    );
    assert!(
        w.message.contains("old-credential is ignored"),
        "{}",
        w.message
    );
    // istiod never reads it, so its absence is not reported.
    assert!(
        !f.iter().any(|f| f.code == Code::CredentialNotFound),
        "{}",
        show(&f)
    );
}

#[test]
fn more_than_two_credential_names_warn() {
    let rsa2 = mk_tls_secret(
        NS,
        "keys-rsa-2",
        "certs/keys/rsa-pkcs8.crt",
        "certs/keys/rsa-pkcs8.key",
    );
    let f = on_gateway(&lint_at(
        &[
            dual(&["keys-rsa", "keys-ecdsa", "keys-rsa-2"]),
            rsa(),
            ecdsa(),
            rsa2,
        ],
        NOW,
    ));
    let w = assert_at(
        &f,
        Code::CredentialNamesConflict,
        Severity::Warn,
        "spec.servers[0].tls.credentialNames[2]",
    );
    assert!(w.message.contains("at most 2"), "{}", w.message);
}

#[test]
fn a_missing_credential_names_secret_warns_at_its_index() {
    let f = on_gateway(&lint_at(&[dual(&["keys-rsa", "keys-ecdsa"]), rsa()], NOW));
    let w = assert_at(&f, Code::CredentialNotFound, Severity::Warn, SECOND);
    assert!(w.message.contains("keys-ecdsa"), "{}", w.message);
}

#[test]
fn mutual_reads_the_client_ca_from_the_first_credential_only() {
    let gw = mk_gateway(json!({ "mode": "MUTUAL", "credentialNames": ["keys-rsa", "keys-ecdsa"] }));
    let f = on_gateway(&lint_at(&[gw, rsa(), ecdsa()], NOW));
    assert_at(&f, Code::CaMissing, Severity::Deny, FIRST);
    assert!(
        !f.iter()
            .any(|f| f.code == Code::CaMissing && f.path == SECOND),
        "{}",
        show(&f)
    );
}

#[test]
fn passthrough_with_credential_names_says_they_are_ignored() {
    let gw =
        mk_gateway(json!({ "mode": "PASSTHROUGH", "credentialNames": ["keys-rsa", "keys-ecdsa"] }));
    let f = on_gateway(&lint_at(&[gw], NOW));
    let w = assert_at(&f, Code::TlsModeIgnoresCredential, Severity::Warn, FIRST);
    assert!(
        w.message.contains("credentialNames keys-rsa, keys-ecdsa"),
        "{}",
        w.message
    );
}

// ---- reverse index, webhook, audit ----------------------------------------------------

fn gateway_review(gw: Value) -> Value {
    let mut r = capture("gateway-create-live-v1alpha3.json");
    r["request"]["name"] = gw["metadata"]["name"].clone();
    r["request"]["namespace"] = gw["metadata"]["namespace"].clone();
    r["request"]["object"] = gw;
    r
}

fn warnings(a: &Answer) -> String {
    a.body["response"]["warnings"].to_string()
}

#[test]
fn replacing_one_credential_with_a_wrong_host_warns_naming_the_gateway() {
    let idx = view(&[dual(&["keys-rsa", "keys-ecdsa"]), rsa(), ecdsa()]);
    let a = review(&secret_review(rsa_for_another_host()), &idx);
    assert!(a.allowed, "{}", message(&a));
    let w = warnings(&a);
    assert!(
        w.contains("host-not-covered") && w.contains("Gateway istio-system/dual-cert-gateway"),
        "{w}"
    );
}

#[test]
fn replacing_a_lone_credential_with_a_wrong_host_is_still_denied() {
    let gw = mk_gateway(json!({ "mode": "SIMPLE", "credentialName": "keys-rsa" }));
    let idx = view(&[gw, rsa()]);
    let a = review(&secret_review(rsa_for_another_host()), &idx);
    assert!(!a.allowed);
    assert!(message(&a).contains("host-not-covered"), "{}", message(&a));
}

#[test]
fn gateway_review_with_both_credentials_broken_is_denied_at_the_index() {
    let mut gw = dual(&["keys-rsa", "keys-ecdsa"]);
    gw["spec"]["servers"][0]["hosts"] = json!(["helloworld-v1.example.com"]);
    let idx = view(&[rsa(), ecdsa()]);
    let a = review(&gateway_review(gw), &idx);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("host-not-covered") && m.contains(FIRST), "{m}");
}

#[test]
fn gateway_review_with_one_credential_broken_is_allowed_with_a_warning() {
    let idx = view(&[rsa_for_another_host(), ecdsa()]);
    let a = review(&gateway_review(dual(&["keys-rsa", "keys-ecdsa"])), &idx);
    assert!(a.allowed, "{}", message(&a));
    let w = warnings(&a);
    // The API server keeps 256 characters of a warning: the way out must be in them.
    assert!(
        w.contains("host-not-covered")
            && w.contains(FIRST)
            && w.contains("keys-ecdsa still serves ECDSA clients"),
        "{w}"
    );
}

#[test]
fn audit_lists_the_gateway_under_used_by_of_each_credential() {
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[dual(&["keys-rsa", "keys-ecdsa"]), rsa(), ecdsa()],
        &Policy::default(),
        &Arc::new(Analyzer::new()),
    );
    for (name, path) in [("keys-rsa", FIRST), ("keys-ecdsa", SECOND)] {
        let c = inv
            .certs
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is audited"));
        assert_eq!(
            c.used_by,
            [format!("Gateway istio-system/dual-cert-gateway ({path})")]
        );
    }
}
