//! cert-manager CA issuers (`Issuer`/`ClusterIssuer` `spec.ca.secretName`) through every door:
//! lint, the reverse index (replacing the CA Secret), and an AdmissionReview shaped like the
//! captured ones. Objects as cert-manager's "CA" issuer docs write them; CA Secrets as
//! `kubectl create secret tls` makes them from the openssl-made fixtures; time fixed.

mod common;

use common::review::*;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::Answer;

const NS: &str = "sandbox";
const PATH: &str = "spec.ca.secretName";

/// cert-manager's CA issuer example: `kind: Issuer` in `ns`, or `ClusterIssuer` (no namespace).
fn mk_issuer(kind: &str, ns: Option<&str>) -> Value {
    let mut metadata = json!({ "name": "ca-issuer" });
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": { "ca": { "secretName": "ca-key-pair" } },
    })
}

/// The CA Secret `ca-key-pair` in `ns` from a certificate and key fixture.
fn ca_secret(ns: &str, cert: &str, key: &str) -> Value {
    mk_tls_secret(ns, "ca-key-pair", cert, key)
}

fn good_ca(ns: &str) -> Value {
    ca_secret(
        ns,
        "certs/chain/intermediate.crt",
        "certs/chain/intermediate.key",
    )
}

fn expired_ca(ns: &str) -> Value {
    ca_secret(
        ns,
        "certs/istio/istio-ca-secret-expired/ca-cert.pem",
        "certs/istio/istio-ca-secret-expired/ca-key.pem",
    )
}

fn leaf_not_ca(ns: &str) -> Value {
    ca_secret(ns, "certs/chain/leaf.crt", "certs/chain/leaf.key")
}

fn on_issuer(found: &[Finding]) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind.ends_with("Issuer"))
        .cloned()
        .collect()
}

#[track_caller]
fn assert_at(found: &[Finding], code: Code, severity: Severity) -> Finding {
    let f = assert_finding(found, code, severity);
    assert_eq!(f.path, PATH, "{}", show(found));
    f
}

#[test]
fn issuer_with_a_valid_ca_is_allowed() {
    assert_clean(&on_issuer(&lint_at(
        &[mk_issuer("Issuer", Some(NS)), good_ca(NS)],
        NOW,
    )));
}

#[test]
fn issuer_with_an_expired_ca_is_denied_the_issuer_cannot_sign() {
    let f = on_issuer(&lint_at(
        &[mk_issuer("Issuer", Some(NS)), expired_ca(NS)],
        NOW,
    ));
    let e = assert_at(&f, Code::CertExpired, Severity::Deny);
    assert!(
        e.message
            .contains("until then the issuer signs nothing that clients accept"),
        "{}",
        e.message
    );
}

#[test]
fn issuer_with_a_ca_expiring_soon_warns() {
    // 20 days before the intermediate's notAfter (2036-11-21).
    let now = 2_110_867_508 - 20 * DAY;
    let f = on_issuer(&lint_at(&[mk_issuer("Issuer", Some(NS)), good_ca(NS)], now));
    assert_at(&f, Code::CertExpiringSoon, Severity::Warn);
}

#[test]
fn issuer_whose_certificate_is_not_a_ca_is_denied() {
    let f = on_issuer(&lint_at(
        &[mk_issuer("Issuer", Some(NS)), leaf_not_ca(NS)],
        NOW,
    ));
    let e = assert_at(&f, Code::CaNotCa, Severity::Deny);
    assert!(e.message.contains("app.example.com"), "{}", e.message);
}

#[test]
fn issuer_whose_key_belongs_to_another_certificate_is_denied() {
    let f = on_issuer(&lint_at(
        &[
            mk_issuer("Issuer", Some(NS)),
            ca_secret(NS, "certs/chain/intermediate.crt", "certs/chain/root.key"),
        ],
        NOW,
    ));
    assert_at(&f, Code::KeyMismatch, Severity::Deny);
}

#[test]
fn issuer_whose_secret_is_missing_only_warns() {
    // GitOps applies the Issuer before cert-manager or a sealed secret writes the CA.
    let f = on_issuer(&lint_at(&[mk_issuer("Issuer", Some(NS))], NOW));
    let e = assert_at(&f, Code::CredentialNotFound, Severity::Warn);
    assert!(e.message.contains(NS), "{}", e.message);
    assert!(f.iter().all(|f| f.severity != Severity::Deny));
}

#[test]
fn cluster_issuer_reads_the_cert_manager_namespace() {
    let f = on_issuer(&lint_at(
        &[mk_issuer("ClusterIssuer", None), expired_ca("cert-manager")],
        NOW,
    ));
    let e = assert_at(&f, Code::CertExpired, Severity::Deny);
    assert_eq!(e.object.namespace, None);
}

#[test]
fn cluster_issuer_ignores_a_secret_in_another_namespace() {
    let f = on_issuer(&lint_at(
        &[mk_issuer("ClusterIssuer", None), good_ca(NS)],
        NOW,
    ));
    let e = assert_at(&f, Code::CredentialNotFound, Severity::Warn);
    assert!(
        e.message.contains("--cluster-resource-namespace"),
        "{}",
        e.message
    );
}

#[test]
fn cluster_resource_namespace_flag_moves_where_the_secret_is_read() {
    let policy = Policy {
        cluster_resource_namespace: "security".into(),
        ..Policy::default()
    };
    let f = on_issuer(&lint_with(
        &[mk_issuer("ClusterIssuer", None), good_ca("security")],
        NOW,
        &policy,
    ));
    assert_clean(&f);
}

#[test]
fn issuer_without_a_ca_block_is_not_checked() {
    let selfsigned = json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": { "name": "selfsigned", "namespace": NS },
        "spec": { "selfSigned": {} },
    });
    assert_clean(&lint_at(&[selfsigned], NOW));
}

// ---- reverse index and webhook ---------------------------------------------------------

/// The captured Istio Gateway CREATE, rewritten as the API server sends an Issuer.
fn issuer_review(issuer: Value) -> Value {
    custom_review(("cert-manager.io", "v1", "Issuer"), "issuers", issuer)
}

#[test]
fn replacing_the_ca_secret_with_an_expired_one_is_denied_naming_the_issuer() {
    let idx = view(&[mk_issuer("Issuer", Some(NS)), good_ca(NS)]);
    let a = review(&secret_review(expired_ca(NS)), &idx);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("cert-expired"), "{m}");
    assert!(m.contains(&format!("Issuer {NS}/ca-issuer")), "{m}");
}

#[test]
fn replacing_the_ca_secret_with_a_non_ca_is_denied_naming_the_issuer() {
    let idx = view(&[mk_issuer("Issuer", Some(NS)), good_ca(NS)]);
    let a = review(&secret_review(leaf_not_ca(NS)), &idx);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("ca-not-ca"), "{m}");
    assert!(m.contains(&format!("Issuer {NS}/ca-issuer")), "{m}");
}

#[test]
fn replacing_a_cluster_issuer_secret_is_checked_in_the_cluster_resource_namespace() {
    let idx = view(&[mk_issuer("ClusterIssuer", None), good_ca("cert-manager")]);
    let a = review(&secret_review(leaf_not_ca("cert-manager")), &idx);
    assert!(!a.allowed);
    assert!(
        message(&a).contains("ClusterIssuer ca-issuer"),
        "{}",
        message(&a)
    );
}

#[test]
fn issuer_review_with_an_expired_ca_is_denied() {
    let idx = view(&[expired_ca(NS)]);
    let a = review(&issuer_review(mk_issuer("Issuer", Some(NS))), &idx);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("cert-expired") && m.contains(PATH), "{m}");
}

#[test]
fn issuer_review_with_a_missing_secret_is_allowed_with_a_warning() {
    let idx = view(&[]);
    let a = review(&issuer_review(mk_issuer("Issuer", Some(NS))), &idx);
    assert!(a.allowed, "{}", message(&a));
    let warnings = a.body["response"]["warnings"].to_string();
    assert!(warnings.contains("credential-not-found"), "{warnings}");
}

#[test]
fn audit_lists_the_cluster_issuer_under_used_by() {
    let policy = Policy::default();
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[mk_issuer("ClusterIssuer", None), good_ca("cert-manager")],
        &policy,
        &Arc::new(Analyzer::new()),
    );
    let ca = inv
        .certs
        .iter()
        .find(|c| c.name == "ca-key-pair" && c.key == "data[\"tls.crt\"]")
        .expect("the CA certificate is audited");
    assert_eq!(ca.used_by, ["ClusterIssuer ca-issuer (spec.ca.secretName)"]);
}

fn mk_certificate(duration: Option<&str>) -> Value {
    let mut spec = json!({
        "secretName": "example-com-tls",
        "dnsNames": ["example.com"],
        "issuerRef": { "name": "ca-issuer", "kind": "Issuer", "group": "cert-manager.io" },
    });
    if let Some(d) = duration {
        spec["duration"] = json!(d);
    }
    json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": { "name": "example-com", "namespace": NS }, "spec": spec,
    })
}

#[test]
fn certificate_outliving_its_issuer_ca_warns() {
    // 20 days before the intermediate CA's notAfter; the default duration is 90 days.
    let now = 2_110_867_508 - 20 * DAY;
    let f = lint_at(
        &[
            mk_issuer("Issuer", Some(NS)),
            good_ca(NS),
            mk_certificate(None),
        ],
        now,
    );
    let e = assert_finding(&f, Code::LeafOutlivesIssuer, Severity::Warn);
    assert_eq!(e.path, "spec.issuerRef");
    assert!(
        e.message.contains("outlives the CA of Issuer"),
        "{}",
        e.message
    );
}

#[test]
fn certificate_ending_before_its_issuer_ca_is_clean() {
    let f = lint_at(
        &[
            mk_issuer("Issuer", Some(NS)),
            good_ca(NS),
            mk_certificate(Some("2160h")),
        ],
        NOW,
    );
    assert_no(&f, Code::LeafOutlivesIssuer);
}

#[test]
fn certificate_review_outliving_its_issuer_ca_is_allowed_with_a_warning() {
    let idx = view(&[mk_issuer("Issuer", Some(NS)), good_ca(NS)]);
    let a = review(
        &custom_review(
            ("cert-manager.io", "v1", "Certificate"),
            "certificates",
            mk_certificate(Some("87600h")),
        ),
        &idx,
    );
    assert!(a.allowed, "{}", a.body);
    let f = assert_finding(&a.findings, Code::LeafOutlivesIssuer, Severity::Warn);
    assert_eq!(f.path, "spec.duration");
}

// ---- replacing an issuer's CA re-checks the Certificates it issues ---------------------

/// 20 days before the intermediate CA's notAfter (2036-11-21): a 90-day leaf outlives it.
const NEAR_CA_END: i64 = 2_110_867_508 - 20 * DAY;

/// A Certificate `name` in `ns` issued by `issuer` of `kind`, with an optional duration.
fn mk_certificate_of(
    ns: &str,
    name: &str,
    kind: &str,
    issuer: &str,
    duration: Option<&str>,
) -> Value {
    let mut c = mk_certificate(duration);
    c["metadata"] = json!({ "name": name, "namespace": ns });
    c["spec"]["issuerRef"] = json!({ "name": issuer, "kind": kind, "group": "cert-manager.io" });
    c
}

fn warnings(a: &Answer) -> Vec<String> {
    a.body["response"]["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn outlives_warning(a: &Answer) -> String {
    assert!(a.allowed, "{}", message(a));
    warnings(a)
        .into_iter()
        .find(|w| w.contains("leaf-outlives-issuer"))
        .unwrap_or_else(|| panic!("no leaf-outlives-issuer warning: {:?}", warnings(a)))
}

#[test]
fn replacing_the_ca_secret_names_the_certificates_that_would_outlive_it() {
    let idx = view(&[
        mk_issuer("Issuer", Some(NS)),
        good_ca(NS),
        mk_certificate_of(NS, "example-com", "Issuer", "ca-issuer", None),
        mk_certificate_of(NS, "short-lived", "Issuer", "ca-issuer", Some("240h")),
    ]);
    let w = outlives_warning(&review_at(&secret_review(good_ca(NS)), &idx, NEAR_CA_END));
    assert!(
        w.contains("1 Certificate of Issuer sandbox/ca-issuer outlives this CA")
            && w.contains("by up to 70 days: sandbox/example-com;")
            && w.contains("data[\"tls.crt\"]"),
        "{w}"
    );
    assert!(!w.contains("short-lived"), "{w}");
}

#[test]
fn replacing_the_ca_secret_with_a_long_lived_ca_names_no_certificate() {
    let idx = view(&[
        mk_issuer("Issuer", Some(NS)),
        good_ca(NS),
        mk_certificate_of(NS, "example-com", "Issuer", "ca-issuer", None),
    ]);
    let a = review(&secret_review(good_ca(NS)), &idx);
    assert!(a.allowed, "{}", message(&a));
    assert!(
        !warnings(&a)
            .iter()
            .any(|w| w.contains("leaf-outlives-issuer")),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn certificates_of_another_issuer_are_not_named() {
    let idx = view(&[
        mk_issuer("Issuer", Some(NS)),
        good_ca(NS),
        mk_certificate_of(NS, "other", "Issuer", "another-issuer", None),
        mk_certificate_of("elsewhere", "same-name", "Issuer", "ca-issuer", None),
    ]);
    let a = review_at(&secret_review(good_ca(NS)), &idx, NEAR_CA_END);
    assert!(
        !warnings(&a)
            .iter()
            .any(|w| w.contains("leaf-outlives-issuer")),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn replacing_a_cluster_issuer_ca_names_certificates_in_every_namespace() {
    let idx = view(&[
        mk_issuer("ClusterIssuer", None),
        good_ca("cert-manager"),
        mk_certificate_of("team-a", "a", "ClusterIssuer", "ca-issuer", None),
        mk_certificate_of("team-b", "b", "ClusterIssuer", "ca-issuer", Some("4320h")),
        mk_certificate_of("team-c", "c", "Issuer", "ca-issuer", None),
    ]);
    let w = outlives_warning(&review_at(
        &secret_review(good_ca("cert-manager")),
        &idx,
        NEAR_CA_END,
    ));
    assert!(
        w.contains("2 Certificates of ClusterIssuer ca-issuer")
            && w.contains("by up to 160 days: team-a/a, team-b/b;"),
        "{w}"
    );
    assert!(!w.contains("team-c"), "{w}");
}

#[test]
fn many_outliving_certificates_are_named_up_to_three_and_counted() {
    let mut objects = vec![mk_issuer("Issuer", Some(NS)), good_ca(NS)];
    for i in 0..5 {
        objects.push(mk_certificate_of(
            NS,
            &format!("cert-{i}"),
            "Issuer",
            "ca-issuer",
            None,
        ));
    }
    let idx = view(&objects);
    let w = outlives_warning(&review_at(&secret_review(good_ca(NS)), &idx, NEAR_CA_END));
    assert!(
        w.contains("5 Certificates")
            && w.contains("sandbox/cert-0, sandbox/cert-1, sandbox/cert-2 and 2 more;"),
        "{w}"
    );
    assert!(!w.contains("cert-3"), "{w}");
}

#[test]
fn a_deleted_certificate_is_no_longer_named() {
    let mut idx = view(&[
        mk_issuer("Issuer", Some(NS)),
        good_ca(NS),
        mk_certificate_of(NS, "example-com", "Issuer", "ca-issuer", None),
    ]);
    idx.remove(&tlsgate::kinds::CERTIFICATE, NS, "example-com");
    let a = review_at(&secret_review(good_ca(NS)), &idx, NEAR_CA_END);
    assert!(
        !warnings(&a)
            .iter()
            .any(|w| w.contains("leaf-outlives-issuer")),
        "{:?}",
        warnings(&a)
    );
}

/// Cost of naming outliving Certificates on a CA Secret UPDATE: the Certificates are searched
/// linearly (no index by issuer), so this reviews with `TLSGATE_CERTIFICATES` (default 10,000)
/// of them in the view, all of one Issuer. Prints the review time; run with
/// `cargo test --release --test cert_manager_issuer -- --ignored --nocapture ca_replacement_with_many`.
#[test]
#[ignore]
fn ca_replacement_with_many_certificates_in_the_view() {
    let n: usize = std::env::var("TLSGATE_CERTIFICATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut objects = vec![mk_issuer("Issuer", Some(NS)), good_ca(NS)];
    for i in 0..n {
        let ns = format!("team-{}", i % 100);
        objects.push(mk_certificate_of(
            &ns,
            &format!("cert-{i}"),
            "Issuer",
            "ca-issuer",
            None,
        ));
        objects.push(mk_certificate_of(
            NS,
            &format!("cert-{i}"),
            "Issuer",
            "ca-issuer",
            None,
        ));
    }
    let idx = view(&objects);
    let body = secret_review(good_ca(NS));
    let _ = review_at(&body, &idx, NEAR_CA_END);
    let runs = 20;
    let started = std::time::Instant::now();
    for _ in 0..runs {
        let w = outlives_warning(&review_at(&body, &idx, NEAR_CA_END));
        assert!(
            w.contains(&format!(
                "{} Certificates",
                tlsgate::analysis::validity::grouped(n)
            )),
            "{w}"
        );
    }
    let per = started.elapsed() / runs;
    println!(
        "{} Certificates in the view ({n} of the issuer): CA Secret UPDATE review {per:?}",
        2 * n
    );
}
