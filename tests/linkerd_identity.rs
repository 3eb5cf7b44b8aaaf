//! Linkerd identity: the `linkerd-identity-issuer` Secret and the `linkerd-identity-trust-roots`
//! ConfigMap (namespace `linkerd`) through lint, the reverse index (replacing either is checked
//! against the other) and AdmissionReviews shaped like the captured ones. Certificates from
//! tests/fixtures/make-fixtures.sh (`linkerd/`): anchors 2025–2035, issuer 2026-01-01–2027-01-01.

mod common;

use common::review::*;
use common::*;
use serde_json::Value;
use tlsgate::finding::{Code, Finding, Severity};

/// 2026-06-01: the issuer has seven months left.
const VALID: i64 = 1_780_272_000;
/// 2026-12-01: the issuer has 31 days left, inside Linkerd's 60-day warning.
const SOON: i64 = 1_796_083_200;
/// 2027-02-01: the issuer expired a month ago.
const AFTER: i64 = 1_801_440_000;

#[track_caller]
fn obj(file: &str) -> Value {
    yaml_serde::from_str(&yaml_of(&format!("secrets/{file}"))).unwrap()
}

fn issuer() -> Value {
    obj("linkerd-identity-issuer.yaml")
}

fn roots() -> Value {
    obj("linkerd-trust-roots.yaml")
}

fn on(found: &[Finding], kind: &str) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind == kind)
        .cloned()
        .collect()
}

#[test]
fn issuer_signed_by_the_trust_anchor_is_allowed() {
    assert_clean(&lint_at(&[issuer(), roots()], VALID));
}

#[test]
fn legacy_crt_pem_issuer_signed_by_the_trust_anchor_is_allowed() {
    assert_clean(&lint_at(
        &[obj("linkerd-identity-issuer-legacy.yaml"), roots()],
        VALID,
    ));
}

#[test]
fn expired_issuer_is_denied_at_tls_crt() {
    let f = on(&lint_at(&[issuer(), roots()], AFTER), "Secret");
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, r#"data["tls.crt"]"#);
    assert!(
        e.message
            .contains("Linkerd issues no proxy certificates with it: rotate the issuer"),
        "{}",
        e.message
    );
}

#[test]
fn expired_legacy_issuer_is_denied_at_crt_pem() {
    let f = lint_at(
        &[obj("linkerd-identity-issuer-legacy.yaml"), roots()],
        AFTER,
    );
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, r#"data["crt.pem"]"#);
}

#[test]
fn issuer_within_linkerds_60_days_warns_expiring_soon() {
    // 31 days left: inside Linkerd's 60-day window, outside tlsgate's default.
    let f = lint_at(&[issuer(), roots()], SOON);
    let e = assert_finding(&f, Code::CertExpiringSoon, Severity::Warn);
    assert_eq!(e.path, r#"data["tls.crt"]"#);
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn same_31_days_on_another_secret_does_not_warn() {
    let mut other = issuer();
    other["metadata"]["name"] = "some-issuer".into();
    assert_no(&lint_at(&[other, roots()], SOON), Code::CertExpiringSoon);
}

#[test]
fn issuer_with_a_key_of_another_certificate_is_denied() {
    let f = lint_at(
        &[obj("linkerd-identity-issuer-mismatch.yaml"), roots()],
        VALID,
    );
    let e = assert_finding(&f, Code::KeyMismatch, Severity::Deny);
    assert_eq!(e.path, r#"data["tls.key"]"#);
}

#[test]
fn legacy_issuer_with_a_key_of_another_certificate_is_denied_at_key_pem() {
    let mut s = obj("linkerd-identity-issuer-legacy.yaml");
    let other = obj("linkerd-identity-issuer-mismatch.yaml");
    s["data"]["key.pem"] = other["data"]["tls.key"].clone();
    let e = assert_finding(
        &lint_at(&[s, roots()], VALID),
        Code::KeyMismatch,
        Severity::Deny,
    );
    assert_eq!(e.path, r#"data["key.pem"]"#);
}

#[test]
fn issuer_signed_by_a_root_of_the_same_name_not_in_the_bundle_is_denied() {
    let f = on(
        &lint_at(&[obj("linkerd-identity-issuer-other.yaml"), roots()], VALID),
        "Secret",
    );
    let e = assert_finding(&f, Code::NotSignedByCa, Severity::Deny);
    assert_eq!(e.path, r#"data["tls.crt"]"#);
    assert!(
        e.message
            .contains("configmap linkerd/linkerd-identity-trust-roots ca-bundle.crt"),
        "{}",
        e.message
    );
}

#[test]
fn rotation_bundle_with_an_expired_old_anchor_warns_chain_cert_expired() {
    let f = lint_at(&[issuer(), obj("linkerd-trust-roots-rotating.yaml")], VALID);
    let e = assert_finding(&f, Code::ChainCertExpired, Severity::Warn);
    assert_eq!(e.path, r#"data["ca-bundle.crt"]"#);
    assert_no(&f, Code::NotSignedByCa);
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn trust_roots_with_every_anchor_expired_are_denied() {
    let f = on(
        &lint_at(&[obj("linkerd-trust-roots-expired.yaml")], VALID),
        "ConfigMap",
    );
    let e = assert_finding(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.path, r#"data["ca-bundle.crt"]"#);
}

#[test]
fn trust_roots_outside_the_linkerd_namespace_are_not_linkerds() {
    let mut cm = obj("linkerd-trust-roots-expired.yaml");
    cm["metadata"]["namespace"] = "default".into();
    assert_clean(&lint_at(&[cm], VALID));
}

// ---- reverse index and webhook ---------------------------------------------------------

#[test]
fn issuer_secret_review_signed_by_the_anchor_is_allowed() {
    let a = review_at(&secret_review(issuer()), &view(&[roots()]), VALID);
    assert!(a.allowed, "{}", a.body);
    assert!(a.findings.is_empty(), "{}", show(&a.findings));
}

#[test]
fn issuer_secret_review_signed_by_another_root_is_denied() {
    let a = review_at(
        &secret_review(obj("linkerd-identity-issuer-other.yaml")),
        &view(&[roots()]),
        VALID,
    );
    assert!(!a.allowed);
    assert!(message(&a).contains("not-signed-by-ca"), "{}", message(&a));
}

#[test]
fn replacing_the_trust_roots_without_the_issuers_ca_is_denied_naming_the_issuer() {
    let idx = view(&[issuer(), roots()]);
    let a = review_at(
        &config_map_update_review(obj("linkerd-trust-roots-other.yaml"), roots()),
        &idx,
        VALID,
    );
    assert!(!a.allowed, "{}", a.body);
    let f = assert_finding(&a.findings, Code::NotSignedByCa, Severity::Deny);
    assert_eq!(f.path, r#"data["ca-bundle.crt"]"#);
    assert!(
        f.message.contains("secret linkerd/linkerd-identity-issuer"),
        "{}",
        f.message
    );
}

#[test]
fn replacing_the_trust_roots_with_a_rotation_bundle_is_allowed() {
    let idx = view(&[issuer(), roots()]);
    let a = review_at(
        &config_map_update_review(obj("linkerd-trust-roots-rotating.yaml"), roots()),
        &idx,
        VALID,
    );
    assert!(a.allowed, "{}", a.body);
    assert_no(&a.findings, Code::NotSignedByCa);
}
