//! One home per fact: the same input gets the same finding code from every door (lint and
//! the webhook through `check`, the audit through its own inventory).

mod common;

use common::*;
use serde_json::Value;
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::audit::{self, Inventory};
use tlsgate::finding::{Code, Severity};
use tlsgate::policy::Policy;

fn secret(rel: &str) -> Value {
    yaml_serde::from_str(&yaml_of(rel)).unwrap()
}

fn audit_of(values: &[Value]) -> Inventory {
    let mut inv = Inventory::new();
    inv.add_objects(values, &Policy::default(), &Arc::new(Analyzer::new()));
    inv
}

/// `data[key]` of a Secret written by `kubectl create secret ... --dry-run=client -o yaml`.
fn data_b64(v: &Value, key: &str) -> String {
    v["data"][key].as_str().unwrap().to_string()
}

#[test]
fn an_encrypted_key_is_key_encrypted_in_lint_and_in_the_audit_of_the_secret() {
    let s = secret("secrets/encrypted-key.yaml");
    assert_finding(
        &lint_at(std::slice::from_ref(&s), NOW),
        Code::KeyEncrypted,
        Severity::Deny,
    );
    let inv = audit_of(&[s]);
    let codes: Vec<Code> = inv.certs[0].problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, [Code::KeyEncrypted]);
}

#[test]
fn an_encrypted_kubeconfig_client_key_is_key_encrypted_not_secret_malformed() {
    let s = secret("secrets/encrypted-key.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers:\n- name: carol\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        data_b64(&s, "tls.crt"),
        data_b64(&s, "tls.key")
    );
    let kc = audit::kubeconfig::KubeconfigFile {
        path: "carol.conf".into(),
        text,
        files: Default::default(),
    };
    let mut inv = Inventory::new();
    inv.add_kubeconfig(&kc);
    let codes: Vec<Code> = inv.certs[0].problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, [Code::KeyEncrypted]);
    assert!(
        inv.certs[0].problems[0].message.contains("is encrypted"),
        "{}",
        inv.certs[0].problems[0].message
    );
}

#[test]
fn an_expired_ca_beside_a_valid_one_is_chain_cert_expired_in_lint_and_audit() {
    // ca.crt holds the old, expired CA and the new one (a rotation in progress).
    let s = secret("secrets/ca-rotating.yaml");
    let found = lint_at(std::slice::from_ref(&s), NOW);
    let f = found
        .iter()
        .find(|f| f.path == "data[\"ca.crt\"]")
        .unwrap_or_else(|| panic!("nothing at ca.crt: {}", show(&found)));
    assert_eq!(
        (f.code, f.severity),
        (Code::ChainCertExpired, Severity::Warn)
    );
    assert_no(&found, Code::CertExpired);
    let inv = audit_of(&[s]);
    let rows = audit::rows(&inv, NOW, 30);
    let expired_ca: Vec<_> = rows
        .iter()
        .filter(|r| r.cert.key == "data[\"ca.crt\"]" && r.status == audit::Status::Expired)
        .collect();
    assert_eq!(expired_ca.len(), 1);
    assert_eq!(expired_ca[0].code, Some(Code::ChainCertExpired));
}

#[test]
fn an_expired_leaf_is_cert_expired_in_lint_and_audit() {
    let s = secret("secrets/expired-tls.yaml");
    assert_finding(
        &lint_at(std::slice::from_ref(&s), NOW),
        Code::CertExpired,
        Severity::Deny,
    );
    let inv = audit_of(&[s]);
    assert_eq!(audit::rows(&inv, NOW, 30)[0].code, Some(Code::CertExpired));
}
