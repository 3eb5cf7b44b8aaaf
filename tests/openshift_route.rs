//! OpenShift `Route` (`route.openshift.io/v1`): inline `spec.tls` PEM and
//! `spec.tls.externalCertificate` through lint, the reverse index, AdmissionReviews shaped like
//! the captured ones, the audit and the x509 metrics. Routes are written as OpenShift's
//! "Creating an edge route with a custom certificate" shows them (PEM in `|-` blocks);
//! certificates from tests/fixtures/make-fixtures.sh (`route/`): the CA 2025–2035, the
//! www.example.com leaf 2026-01-01–2028-01-01 (the expired one ends 2026-01-01).

mod common;

use common::review::*;
use common::*;
use serde_json::Value;
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::finding::{Code, Finding, Severity};
use tlsgate::policy::Policy;

/// A Route in namespace `frontend` named `frontend`, as YAML.
struct Route {
    termination: &'static str,
    host: Option<&'static str>,
    wildcard: bool,
    /// (spec.tls field, fixture under certs/).
    pems: Vec<(&'static str, &'static str)>,
    external: Option<&'static str>,
}

fn route(termination: &'static str) -> Route {
    Route {
        termination,
        host: Some("www.example.com"),
        wildcard: false,
        pems: Vec::new(),
        external: None,
    }
}

/// The docs' edge Route: certificate, key and the CA that signed the certificate.
fn edge() -> Route {
    route("edge")
        .pem("certificate", "route/www.crt")
        .pem("key", "route/www.key")
        .pem("caCertificate", "route/ca.crt")
}

impl Route {
    fn pem(mut self, field: &'static str, file: &'static str) -> Self {
        self.pems.retain(|(f, _)| *f != field);
        self.pems.push((field, file));
        self
    }
    fn without(mut self, field: &str) -> Self {
        self.pems.retain(|(f, _)| *f != field);
        self
    }
    fn host(mut self, host: Option<&'static str>) -> Self {
        self.host = host;
        self
    }
    fn subdomain(mut self) -> Self {
        self.wildcard = true;
        self
    }
    fn external(mut self, secret: &'static str) -> Self {
        self.external = Some(secret);
        self
    }

    fn yaml(&self) -> String {
        let mut y = String::from(
            "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata:\n  name: frontend\n  namespace: frontend\nspec:\n",
        );
        if let Some(h) = self.host {
            y.push_str(&format!("  host: {h}\n"));
        }
        if self.wildcard {
            y.push_str("  wildcardPolicy: Subdomain\n");
        }
        y.push_str("  to:\n    kind: Service\n    name: frontend\n  tls:\n");
        y.push_str(&format!("    termination: {}\n", self.termination));
        for (field, file) in &self.pems {
            y.push_str(&format!("    {field}: |-\n"));
            for line in fixture_text(&format!("certs/{file}")).trim_end().lines() {
                y.push_str(&format!("      {line}\n"));
            }
        }
        if let Some(s) = self.external {
            y.push_str(&format!("    externalCertificate:\n      name: {s}\n"));
        }
        y
    }

    fn value(&self) -> Value {
        yaml_serde::from_str(&self.yaml()).unwrap()
    }
}

fn secret(file: &str) -> Value {
    yaml_serde::from_str(&yaml_of(&format!("secrets/{file}"))).unwrap()
}

fn on_route(found: &[Finding]) -> Vec<Finding> {
    found
        .iter()
        .filter(|f| f.object.kind == "Route")
        .cloned()
        .collect()
}

#[track_caller]
fn lint_route(r: &Route) -> Vec<Finding> {
    on_route(&lint_yaml(&r.yaml(), NOW))
}

#[track_caller]
fn at(found: &[Finding], code: Code, severity: Severity, path: &str) -> Finding {
    let f = assert_finding(found, code, severity);
    assert_eq!(f.path, path, "{}", show(found));
    f
}

// ---- inline spec.tls ------------------------------------------------------------------

#[test]
fn edge_route_with_certificate_key_and_its_ca_is_allowed() {
    assert_clean(&lint_route(&edge()));
}

#[test]
fn edge_route_without_ca_certificate_is_allowed() {
    assert_clean(&lint_route(&edge().without("caCertificate")));
}

#[test]
fn expired_certificate_is_denied_at_spec_tls_certificate() {
    let f = lint_route(&edge().pem("certificate", "route/www-expired.crt"));
    let e = at(
        &f,
        Code::CertExpired,
        Severity::Deny,
        "spec.tls.certificate",
    );
    assert!(e.message.contains("notAfter 2026-01-01"), "{}", e.message);
}

#[test]
fn key_of_another_certificate_is_denied_at_spec_tls_key() {
    let f = lint_route(&edge().pem("key", "route/other.key"));
    at(&f, Code::KeyMismatch, Severity::Deny, "spec.tls.key");
}

#[test]
fn encrypted_key_is_denied_at_spec_tls_key() {
    let f = lint_route(&edge().pem("key", "route/www-encrypted.key"));
    at(&f, Code::KeyEncrypted, Severity::Deny, "spec.tls.key");
}

#[test]
fn host_the_certificate_does_not_cover_is_denied() {
    let f = lint_route(&edge().host(Some("shop.example.com")));
    let e = at(
        &f,
        Code::HostNotCovered,
        Severity::Deny,
        "spec.tls.certificate",
    );
    assert!(e.message.contains("not shop.example.com"), "{}", e.message);
}

#[test]
fn route_without_host_checks_no_host() {
    assert_clean(&lint_route(&edge().host(None)));
}

#[test]
fn subdomain_wildcard_route_with_a_certificate_for_its_host_only_warns() {
    let f = lint_route(&edge().subdomain());
    let e = at(
        &f,
        Code::HostNotCovered,
        Severity::Warn,
        "spec.tls.certificate",
    );
    assert!(e.message.contains("not *.example.com"), "{}", e.message);
}

#[test]
fn subdomain_wildcard_route_with_a_certificate_for_another_host_is_denied() {
    let f = lint_route(&edge().subdomain().host(Some("shop.example.com")));
    let e = at(
        &f,
        Code::HostNotCovered,
        Severity::Deny,
        "spec.tls.certificate",
    );
    assert!(e.message.contains("shop.example.com"), "{}", e.message);
}

#[test]
fn subdomain_wildcard_route_with_a_wildcard_certificate_is_allowed() {
    let r = route("edge")
        .subdomain()
        .pem("certificate", "wildcard.example.com.crt")
        .pem("key", "wildcard.example.com.key");
    assert_clean(&lint_route(&r));
}

#[test]
fn ca_certificate_that_did_not_sign_the_certificate_is_denied() {
    let f = lint_route(&edge().pem("caCertificate", "route/other-ca.crt"));
    let e = at(
        &f,
        Code::NotSignedByCa,
        Severity::Deny,
        "spec.tls.caCertificate",
    );
    assert!(
        e.message.contains("CN=example Other CA") || e.message.contains("1 certificate"),
        "{}",
        e.message
    );
}

#[test]
fn ca_certificate_holding_a_leaf_is_not_a_ca() {
    let f = lint_route(&edge().pem("caCertificate", "httpbin-san.crt"));
    at(&f, Code::CaNotCa, Severity::Warn, "spec.tls.caCertificate");
    at(
        &f,
        Code::NotSignedByCa,
        Severity::Deny,
        "spec.tls.caCertificate",
    );
}

#[test]
fn self_signed_certificate_repeated_as_its_own_ca_is_allowed() {
    let r = route("edge")
        .host(Some("example.com"))
        .pem("certificate", "example.com.crt")
        .pem("key", "example.com.key")
        .pem("caCertificate", "example.com.crt");
    assert_no(&lint_route(&r), Code::NotSignedByCa);
    assert_no(&lint_route(&r), Code::CaNotCa);
}

// ---- termination consistency ----------------------------------------------------------

#[test]
fn edge_route_without_certificate_uses_the_router_default_as_info() {
    let f = lint_route(&route("edge"));
    at(
        &f,
        Code::RouteDefaultCertificate,
        Severity::Info,
        "spec.tls",
    );
    assert!(
        f.iter().all(|f| f.severity == Severity::Info),
        "{}",
        show(&f)
    );
}

#[test]
fn reencrypt_route_without_certificate_uses_the_router_default_as_info() {
    let f = lint_route(&route("reencrypt"));
    at(
        &f,
        Code::RouteDefaultCertificate,
        Severity::Info,
        "spec.tls",
    );
}

#[test]
fn certificate_without_key_is_denied_at_spec_tls_key() {
    let f = lint_route(&edge().without("key"));
    at(&f, Code::SecretMalformed, Severity::Deny, "spec.tls.key");
}

#[test]
fn key_without_certificate_only_warns() {
    let f = lint_route(&route("edge").pem("key", "route/www.key"));
    at(
        &f,
        Code::SecretMalformed,
        Severity::Warn,
        "spec.tls.certificate",
    );
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn passthrough_with_a_certificate_warns_that_the_router_ignores_it() {
    let f = lint_route(&route("passthrough").pem("certificate", "route/www-expired.crt"));
    at(
        &f,
        Code::TlsModeIgnoresCredential,
        Severity::Warn,
        "spec.tls.certificate",
    );
    // Ignored by the router: its expiry breaks nothing.
    assert_no(&f, Code::CertExpired);
}

#[test]
fn passthrough_with_a_ca_certificate_warns_at_that_field() {
    let f = lint_route(&route("passthrough").pem("caCertificate", "route/ca.crt"));
    at(
        &f,
        Code::TlsModeIgnoresCredential,
        Severity::Warn,
        "spec.tls.caCertificate",
    );
}

#[test]
fn edge_with_destination_ca_certificate_warns() {
    let f = lint_route(&edge().pem("destinationCACertificate", "route/ca.crt"));
    at(
        &f,
        Code::TlsModeIgnoresCredential,
        Severity::Warn,
        "spec.tls.destinationCACertificate",
    );
}

#[test]
fn reencrypt_with_a_destination_ca_is_allowed() {
    let r = edge().pem("destinationCACertificate", "route/other-ca.crt");
    let r = Route {
        termination: "reencrypt",
        ..r
    };
    assert_clean(&lint_route(&r));
}

#[test]
fn reencrypt_with_only_a_leaf_as_destination_ca_is_denied() {
    let r = Route {
        termination: "reencrypt",
        ..edge().pem("destinationCACertificate", "httpbin-san.crt")
    };
    let f = lint_route(&r);
    at(
        &f,
        Code::CaNotCa,
        Severity::Deny,
        "spec.tls.destinationCACertificate",
    );
}

#[test]
fn reencrypt_with_an_expired_destination_ca_is_denied() {
    let r = Route {
        termination: "reencrypt",
        ..edge().pem("destinationCACertificate", "xsign/ca-expired.pem")
    };
    let f = lint_route(&r);
    at(
        &f,
        Code::CertExpired,
        Severity::Deny,
        "spec.tls.destinationCACertificate",
    );
}

#[test]
fn reencrypt_with_a_rotating_destination_ca_warns() {
    let r = Route {
        termination: "reencrypt",
        ..edge().pem("destinationCACertificate", "xsign/ca-rotating.pem")
    };
    let f = lint_route(&r);
    at(
        &f,
        Code::ChainCertExpired,
        Severity::Warn,
        "spec.tls.destinationCACertificate",
    );
    assert_no(&f, Code::CertExpired);
}

// ---- externalCertificate --------------------------------------------------------------

#[test]
fn certificate_and_external_certificate_together_warn() {
    let f = lint_route(&edge().external("www-tls"));
    at(
        &f,
        Code::SecretMalformed,
        Severity::Warn,
        "spec.tls.externalCertificate",
    );
}

fn external() -> Route {
    route("edge").external("www-tls")
}

#[test]
fn external_certificate_secret_that_covers_the_host_is_allowed() {
    let found = lint_at(&[external().value(), secret("route-www-tls.yaml")], NOW);
    assert_clean(&found);
}

#[test]
fn missing_external_certificate_secret_warns_at_its_name() {
    let f = lint_at(&[external().value()], NOW);
    let e = at(
        &f,
        Code::CredentialNotFound,
        Severity::Warn,
        "spec.tls.externalCertificate.name",
    );
    assert!(e.message.contains("not found in frontend"), "{}", e.message);
}

#[test]
fn expired_external_certificate_is_denied_at_its_name() {
    let f = on_route(&lint_at(
        &[external().value(), secret("route-www-tls-expired.yaml")],
        NOW,
    ));
    at(
        &f,
        Code::CertExpired,
        Severity::Deny,
        "spec.tls.externalCertificate.name",
    );
}

#[test]
fn external_certificate_that_does_not_cover_the_host_is_denied() {
    let f = on_route(&lint_at(
        &[
            external().host(Some("shop.example.com")).value(),
            secret("route-www-tls.yaml"),
        ],
        NOW,
    ));
    at(
        &f,
        Code::HostNotCovered,
        Severity::Deny,
        "spec.tls.externalCertificate.name",
    );
}

#[test]
fn opaque_external_certificate_secret_is_denied() {
    let f = on_route(&lint_at(
        &[external().value(), secret("route-www-tls-opaque.yaml")],
        NOW,
    ));
    let e = at(
        &f,
        Code::SecretMalformed,
        Severity::Deny,
        "spec.tls.externalCertificate.name",
    );
    assert!(e.message.contains("kubernetes.io/tls"), "{}", e.message);
}

// ---- reverse index and webhook ---------------------------------------------------------

/// The captured Ingress CREATE, rewritten as the API server sends a Route CREATE.
fn route_review(route: Value) -> Value {
    object_review(
        "ingress-create-live-v1.json",
        ("route.openshift.io", "v1", "Route"),
        "routes",
        route,
    )
}

/// The captured Secret UPDATE, carrying `new` over `old`.
fn secret_update(new: Value, old: Value) -> Value {
    let mut r = capture("secret-update-live-v1.json");
    r["request"]["name"] = new["metadata"]["name"].clone();
    r["request"]["namespace"] = new["metadata"]["namespace"].clone();
    r["request"]["object"] = new;
    r["request"]["oldObject"] = old;
    r
}

#[test]
fn route_create_review_of_a_valid_edge_route_is_allowed() {
    let a = review(&route_review(edge().value()), &view(&[]));
    assert!(a.allowed, "{}", a.body);
    assert!(a.findings.is_empty(), "{}", show(&a.findings));
}

#[test]
fn route_create_review_with_a_mismatched_key_is_denied_without_the_key() {
    let a = review(
        &route_review(edge().pem("key", "route/other.key").value()),
        &view(&[]),
    );
    assert!(!a.allowed, "{}", a.body);
    let m = message(&a);
    assert!(m.contains("key-mismatch"), "{m}");
    assert!(m.contains("spec.tls.key"), "{m}");
    let body = a.body.to_string();
    let key = fixture_text("certs/route/other.key");
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!body.contains(line), "the answer repeats the inline key");
    }
    assert!(!body.contains("PRIVATE KEY-----"), "{body}");
}

#[test]
fn route_create_review_of_a_passthrough_route_with_a_certificate_is_allowed_with_a_warning() {
    let a = review(
        &route_review(
            route("passthrough")
                .pem("certificate", "route/www.crt")
                .value(),
        ),
        &view(&[]),
    );
    assert!(a.allowed, "{}", a.body);
    let warnings = a.body["response"]["warnings"].to_string();
    assert!(
        warnings.contains("tls-mode-ignores-credential"),
        "{warnings}"
    );
}

#[test]
fn route_create_review_naming_an_expired_external_certificate_is_denied() {
    let a = review(
        &route_review(external().value()),
        &view(&[secret("route-www-tls-expired.yaml")]),
    );
    assert!(!a.allowed, "{}", a.body);
    assert!(message(&a).contains("cert-expired"), "{}", message(&a));
}

#[test]
fn replacing_the_external_certificate_secret_with_an_expired_one_is_denied_naming_the_route() {
    let idx = view(&[external().value(), secret("route-www-tls.yaml")]);
    let a = review(
        &secret_update(
            secret("route-www-tls-expired.yaml"),
            secret("route-www-tls.yaml"),
        ),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    let f = assert_finding(&a.findings, Code::CertExpired, Severity::Deny);
    assert!(
        f.message.contains("Route frontend/frontend"),
        "{}",
        f.message
    );
}

#[test]
fn replacing_the_external_certificate_secret_with_one_for_another_host_is_denied() {
    let idx = view(&[external().value(), secret("route-www-tls.yaml")]);
    let mut other = mk_tls_secret(
        "frontend",
        "www-tls",
        "certs/httpbin-san.crt",
        "certs/httpbin-san.key",
    );
    other["metadata"]["namespace"] = "frontend".into();
    let a = review(&secret_update(other, secret("route-www-tls.yaml")), &idx);
    assert!(!a.allowed, "{}", a.body);
    let f = assert_finding(&a.findings, Code::HostNotCovered, Severity::Deny);
    assert!(
        f.message
            .contains("not www.example.com served by Route frontend/frontend;"),
        "{}",
        f.message
    );
}

#[test]
fn replacing_the_external_certificate_secret_with_an_opaque_one_is_denied_naming_the_route() {
    let idx = view(&[external().value(), secret("route-www-tls.yaml")]);
    let a = review(
        &secret_update(
            secret("route-www-tls-opaque.yaml"),
            secret("route-www-tls.yaml"),
        ),
        &idx,
    );
    assert!(!a.allowed, "{}", a.body);
    let f = at(&a.findings, Code::SecretMalformed, Severity::Deny, "type");
    assert!(
        f.message.contains("Route frontend/frontend"),
        "{}",
        f.message
    );
}

#[test]
fn deleting_the_external_certificate_secret_warns_naming_the_route() {
    let idx = view(&[external().value(), secret("route-www-tls.yaml")]);
    let mut r = capture("secret-delete-live-v1.json");
    r["request"]["name"] = "www-tls".into();
    r["request"]["namespace"] = "frontend".into();
    r["request"]["oldObject"] = secret("route-www-tls.yaml");
    let a = review(&r, &idx);
    assert!(a.allowed, "{}", a.body);
    let f = assert_finding(&a.findings, Code::SecretInUse, Severity::Warn);
    assert!(
        f.message.contains("Route frontend/frontend"),
        "{}",
        f.message
    );
}

#[test]
fn deleting_the_route_forgets_its_external_certificate() {
    let mut idx = view(&[external().value(), secret("route-www-tls.yaml")]);
    idx.remove(&tlsgate::kinds::ROUTE, "frontend", "frontend");
    let a = review(
        &secret_update(
            secret("route-www-tls-expired.yaml"),
            secret("route-www-tls.yaml"),
        ),
        &idx,
    );
    assert_no(&a.findings, Code::HostNotCovered);
    assert!(
        a.findings.iter().all(|f| !f.message.contains("Route")),
        "{}",
        show(&a.findings)
    );
}

// ---- audit and metrics ----------------------------------------------------------------

#[test]
fn audit_lists_inline_certificates_as_rows_of_the_route() {
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[edge().value()],
        &Policy::default(),
        &Arc::new(Analyzer::new()),
    );
    let rows: Vec<_> = inv.certs.iter().filter(|c| c.kind == "Route").collect();
    assert_eq!(rows.len(), 2, "certificate and caCertificate");
    assert_eq!(rows[0].key, "spec.tls.certificate");
    assert_eq!(rows[0].namespace.as_deref(), Some("frontend"));
    assert!(
        rows[0].used_by[0].contains("Route frontend/frontend"),
        "{:?}",
        rows[0].used_by
    );
    assert_eq!(rows[1].key, "spec.tls.caCertificate");
}

#[test]
fn audit_used_by_names_the_route_of_an_external_certificate() {
    let mut inv = tlsgate::audit::Inventory::new();
    inv.add_objects(
        &[external().value(), secret("route-www-tls.yaml")],
        &Policy::default(),
        &Arc::new(Analyzer::new()),
    );
    let row = inv
        .certs
        .iter()
        .find(|c| c.kind == "Secret" && c.name == "www-tls")
        .expect("the Secret's row");
    assert_eq!(
        row.used_by,
        vec!["Route frontend/frontend (spec.tls.externalCertificate.name)".to_string()]
    );
}

#[test]
fn metrics_label_inline_certificates_by_route_and_field() {
    let idx = view(&[edge().value()]);
    let locations = tlsgate::x509_metrics::view_locations(&idx);
    let mut items = tlsgate::x509_metrics::items_of(&locations);
    let mut out = String::new();
    tlsgate::x509_metrics::write(&mut out, &mut items, NOW);
    let line = out
        .lines()
        .find(|l| l.starts_with("x509_cert_not_after{route_namespace=\"frontend\",route_name=\"frontend\",route_field=\"spec.tls.certificate\""))
        .unwrap_or_else(|| panic!("no Route series:\n{out}"));
    assert!(line.contains("subject_CN=\"www.example.com\""), "{line}");
    assert!(
        out.contains("tlsgate_x509_certificates{source_kind=\"kube-route\"} 2"),
        "{out}"
    );
}

#[test]
fn metrics_of_a_passthrough_route_have_no_series() {
    let idx = view(&[route("passthrough")
        .pem("certificate", "route/www.crt")
        .value()]);
    let locations = tlsgate::x509_metrics::view_locations(&idx);
    assert!(locations.is_empty(), "{locations:?}");
}

// ---- bad input ------------------------------------------------------------------------

#[test]
fn certificate_that_is_not_pem_is_malformed_at_its_field() {
    let mut v = edge().value();
    v["spec"]["tls"]["certificate"] = "not a certificate".into();
    let f = on_route(&lint_at(&[v], NOW));
    at(
        &f,
        Code::SecretMalformed,
        Severity::Deny,
        "spec.tls.certificate",
    );
}

#[test]
fn tls_that_is_not_an_object_is_a_manifest_error_with_its_path() {
    let mut v = edge().value();
    v["spec"]["tls"] = fixture_text("certs/route/www.key").into();
    let f = lint_at(&[v], NOW);
    let e = assert_finding(&f, Code::ManifestInvalid, Severity::Deny);
    assert!(e.message.contains("spec.tls"), "{}", e.message);
    assert!(!e.message.contains("PRIVATE KEY"), "{}", e.message);
}
