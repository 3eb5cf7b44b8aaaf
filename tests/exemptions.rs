//! Per-object exemptions (`tlsgate.io/skip`, `tlsgate.io/skip-reason`, `tlsgate.io/ignore`,
//! policy `exemptions:`), one behaviour per test in each door: lint, admission (captured
//! AdmissionReviews) and audit.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::audit::{self, Inventory, Status};
use tlsgate::finding::{Code, Severity};
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::{Answer, Reviewer};

/// 2028-01-01: every captured certificate has expired.
const ALL_EXPIRED: i64 = 1_830_297_600;

/// `kubectl create secret tls httpbin-credential --cert=expired.crt ... --dry-run=client -o yaml`
/// (notAfter 2021-05-22), as a value.
fn expired_secret() -> Value {
    yaml_serde::from_str(&yaml_of("secrets/expired-tls.yaml")).unwrap()
}

fn annotate(mut v: Value, pairs: &[(&str, &str)]) -> Value {
    for (k, val) in pairs {
        v["metadata"]["annotations"][*k] = json!(val);
    }
    v
}

fn label_ignored(mut v: Value) -> Value {
    v["metadata"]["labels"]["tlsgate.io/ignore"] = json!("true");
    v
}

fn skip(codes: &str) -> (&'static str, String) {
    ("tlsgate.io/skip", codes.to_string())
}

fn skip_expired(v: Value) -> Value {
    annotate(
        v,
        &[
            ("tlsgate.io/skip", "cert-expired"),
            (
                "tlsgate.io/skip-reason",
                "partner rotates in March (TICKET-123)",
            ),
        ],
    )
}

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml(yaml).expect("a valid policy")
}

const EXEMPT_SECRET: &str = "exemptions:
  - kind: Secret
    namespace: istio-system
    name: httpbin-credential
    codes: [cert-expired]
    reason: legacy partner endpoint
";

// ---- lint ---------------------------------------------------------------------------------

#[test]
fn lint_skip_annotation_turns_the_finding_into_info_saying_so() {
    let found = lint_at(&[skip_expired(expired_secret())], NOW);
    let f = assert_finding(&found, Code::CertExpired, Severity::Info);
    assert!(
        f.message.ends_with(
            " (skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123))"
        ),
        "{}",
        f.message
    );
    assert_eq!(
        f.skipped.as_deref(),
        Some("skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)")
    );
}

#[test]
fn lint_skip_annotation_without_a_reason_still_says_it_was_skipped() {
    let (k, v) = skip("cert-expired");
    let found = lint_at(&[annotate(expired_secret(), &[(k, &v)])], NOW);
    let f = assert_finding(&found, Code::CertExpired, Severity::Info);
    assert!(
        f.message
            .ends_with(" (skipped by annotation tlsgate.io/skip)"),
        "{}",
        f.message
    );
}

#[test]
fn lint_skip_annotation_leaves_codes_it_does_not_name() {
    let (k, v) = skip("host-not-covered, weak-key");
    let found = lint_at(&[annotate(expired_secret(), &[(k, &v)])], NOW);
    assert_finding(&found, Code::CertExpired, Severity::Deny);
}

#[test]
fn lint_unknown_code_in_the_annotation_is_exemption_invalid() {
    let (k, v) = skip("cert-expird");
    let found = lint_at(&[annotate(expired_secret(), &[(k, &v)])], NOW);
    let f = assert_finding(&found, Code::ExemptionInvalid, Severity::Warn);
    assert_eq!(f.path, "metadata.annotations[\"tlsgate.io/skip\"]");
    assert!(
        f.message.contains("tlsgate.io/skip names `cert-expird`")
            && f.message.contains("did you mean `cert-expired`?"),
        "{}",
        f.message
    );
    // Nothing is skipped for a name that is not a code.
    assert_finding(&found, Code::CertExpired, Severity::Deny);
}

#[test]
fn lint_ignore_label_leaves_the_object_out_and_counts_it() {
    let mut loaded = tlsgate::load::Loaded::default();
    let text = serde_json::to_string(&json!([label_ignored(expired_secret())])).unwrap();
    tlsgate::load::load_text(&text, "test.json", &mut loaded);
    let report = tlsgate::lint::lint(&loaded, &Policy::default(), NOW, Arc::new(Analyzer::new()));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.summary.ignored, 1);
    assert_eq!(report.summary.objects, 0);
    assert!(
        report
            .to_text(false)
            .contains("1 object ignored (label tlsgate.io/ignore=true)"),
        "{}",
        report.to_text(false)
    );
}

#[test]
fn lint_an_ignored_secret_still_exists_for_the_gateway_that_reads_it() {
    let gw = mk_istio_gateway(
        "istio-system",
        "mygateway",
        Some("SIMPLE"),
        "httpbin-credential",
        &["httpbin.example.com"],
    );
    let found = lint_at(&[label_ignored(expired_secret()), gw], NOW);
    assert_no(&found, Code::CredentialNotFound);
    let f = assert_finding(&found, Code::CertExpired, Severity::Deny);
    assert_eq!(f.object.name, "mygateway");
}

#[test]
fn lint_policy_exemption_skips_by_kind_namespace_and_name() {
    let found = lint_with(&[expired_secret()], NOW, &policy(EXEMPT_SECRET));
    let f = assert_finding(&found, Code::CertExpired, Severity::Info);
    assert!(
        f.message
            .ends_with(" (skipped by policy file exemptions[0]: legacy partner endpoint)"),
        "{}",
        f.message
    );
}

#[test]
fn lint_policy_exemption_for_another_namespace_skips_nothing() {
    let p = policy(&EXEMPT_SECRET.replace("namespace: istio-system", "namespace: default"));
    let found = lint_with(&[expired_secret()], NOW, &p);
    assert_finding(&found, Code::CertExpired, Severity::Deny);
}

#[test]
fn gateway_annotation_skips_what_is_reported_on_the_gateway_only() {
    let gw = skip_expired(mk_istio_gateway(
        "istio-system",
        "mygateway",
        Some("SIMPLE"),
        "httpbin-credential",
        &["httpbin.example.com"],
    ));
    let found = lint_at(&[expired_secret(), gw], NOW);
    let on = |name: &str| {
        found
            .iter()
            .find(|f| f.code == Code::CertExpired && f.object.name == name)
            .unwrap_or_else(|| panic!("no cert-expired on {name}: {}", show(&found)))
            .severity
    };
    assert_eq!(on("mygateway"), Severity::Info);
    assert_eq!(on("httpbin-credential"), Severity::Deny);
}

#[test]
fn secret_annotation_does_not_skip_the_finding_on_the_gateway() {
    let gw = mk_istio_gateway(
        "istio-system",
        "mygateway",
        Some("SIMPLE"),
        "httpbin-credential",
        &["httpbin.example.com"],
    );
    let found = lint_at(&[skip_expired(expired_secret()), gw], NOW);
    let f = found
        .iter()
        .find(|f| f.code == Code::CertExpired && f.object.name == "mygateway")
        .expect("cert-expired on the Gateway");
    assert_eq!(f.severity, Severity::Deny);
}

#[test]
fn sarif_marks_a_finding_skipped_by_annotation_as_suppressed_in_source() {
    let mut loaded = tlsgate::load::Loaded::default();
    let text = serde_json::to_string(&json!([skip_expired(expired_secret())])).unwrap();
    tlsgate::load::load_text(&text, "k8s/secret.json", &mut loaded);
    let report = tlsgate::lint::lint(&loaded, &Policy::default(), NOW, Arc::new(Analyzer::new()));
    let sarif: Value = serde_json::from_str(&report.to_sarif()).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "cert-expired")
        .unwrap();
    assert_eq!(result["level"], "note");
    assert_eq!(result["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        result["suppressions"][0]["justification"],
        "skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)"
    );
}

// ---- the policy file ----------------------------------------------------------------------

#[track_caller]
fn policy_error(yaml: &str) -> String {
    format!("{:#}", Policy::from_yaml(yaml).unwrap_err())
}

#[test]
fn policy_exemption_with_an_unknown_kind_names_the_entry() {
    let e = policy_error(&EXEMPT_SECRET.replace("kind: Secret", "kind: Certificate"));
    assert!(
        e.contains("exemptions[0].kind is not a kind tlsgate reports on"),
        "{e}"
    );
}

#[test]
fn policy_exemption_with_an_unknown_code_names_the_entry() {
    let e = policy_error(&EXEMPT_SECRET.replace("[cert-expired]", "[cert-expird]"));
    assert!(e.contains("exemptions[0]"), "{e}");
    assert!(e.contains("unknown finding code"), "{e}");
}

#[test]
fn policy_exemption_without_codes_names_the_entry() {
    let e = policy_error(&EXEMPT_SECRET.replace("[cert-expired]", "[]"));
    assert!(
        e.contains("exemptions[0].codes must name at least one finding code"),
        "{e}"
    );
}

#[test]
fn policy_exemption_with_an_unknown_field_names_the_entry() {
    let e = policy_error(&format!("{EXEMPT_SECRET}    labels: x\n"));
    assert!(e.contains("exemptions[0]"), "{e}");
    assert!(e.contains("labels"), "{e}");
}

// ---- admission ----------------------------------------------------------------------------

fn capture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/admission").join(name)).unwrap())
        .unwrap()
}

/// The captured Secret CREATE, its object changed by `edit`.
fn secret_create(edit: impl FnOnce(Value) -> Value) -> Value {
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["object"] = edit(r["request"]["object"].clone());
    r
}

fn review_with(review: &Value, now: i64, policy: &Policy) -> Answer {
    review_in(&[], review, now, policy)
}

/// Reviews against a cluster view holding `objects`.
fn review_in(objects: &[Value], review: &Value, now: i64, policy: &Policy) -> Answer {
    let mut view = Index::new(Arc::new(Analyzer::new()));
    for v in objects {
        view.upsert(&tlsgate::model::Object::from_value(v).unwrap().unwrap());
    }
    let analyzer = Analyzer::new();
    Reviewer {
        lookup: &view,
        policy,
        analyzer: &analyzer,
        now,
        synced: true,
    }
    .review(&serde_json::to_vec(review).unwrap())
    .expect("a readable review")
}

fn warnings(a: &Answer) -> Vec<String> {
    a.body["response"]["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn admission_skip_annotation_allows_with_a_warning_that_says_skipped() {
    let a = review_with(
        &secret_create(skip_expired),
        ALL_EXPIRED,
        &Policy::default(),
    );
    assert!(a.allowed, "{}", a.body);
    let w = warnings(&a);
    assert!(
        w.iter().any(|w| w.ends_with(
            " (skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)) [cert-expired] at data[\"tls.crt\"]"
        ) && w.contains("expired")
            && w.chars().count() <= 256),
        "{w:?}"
    );
}

#[test]
fn admission_unknown_code_in_the_annotation_warns_and_still_denies() {
    let a = review_with(
        &secret_create(|o| annotate(o, &[("tlsgate.io/skip", "cert-expird")])),
        ALL_EXPIRED,
        &Policy::default(),
    );
    assert!(!a.allowed);
    let w = warnings(&a);
    assert!(
        w.iter().any(|w| w.contains("`cert-expird`")
            && w.ends_with("[exemption-invalid] at metadata.annotations[\"tlsgate.io/skip\"]")),
        "{w:?}"
    );
}

#[test]
fn admission_policy_exemption_allows_with_a_warning_that_says_skipped() {
    let a = review_with(&secret_create(|o| o), ALL_EXPIRED, &policy(EXEMPT_SECRET));
    assert!(a.allowed, "{}", a.body);
    assert!(
        warnings(&a).iter().any(|w| w.contains(
            "(skipped by policy file exemptions[0]: legacy partner endpoint) [cert-expired]"
        )),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn admission_delete_of_a_secret_in_use_is_skipped_by_the_old_objects_annotation() {
    let mut r = capture("secret-delete-live-v1.json");
    r["request"]["oldObject"] = annotate(
        r["request"]["oldObject"].clone(),
        &[("tlsgate.io/skip", "secret-in-use")],
    );
    let secret = capture("secret-create-live-v1.json")["request"]["object"].clone();
    let gateway = capture("gateway-create-live-v1alpha3.json")["request"]["object"].clone();
    // 2026-12-01, while the captured certificates are valid.
    let a = review_in(
        &[secret, gateway],
        &r,
        1_796_083_200,
        &policy("denyDeleteInUse: true"),
    );
    assert!(a.allowed, "{}", a.body);
    assert!(
        warnings(&a)
            .iter()
            .any(|w| w.contains("Gateway istio-system/mygateway")
                && w.ends_with(
                    "(skipped by annotation tlsgate.io/skip) [secret-in-use] at metadata.name"
                )),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn admission_of_an_object_labelled_ignore_is_allowed_silently_like_the_object_selector() {
    let a = review_with(
        &secret_create(label_ignored),
        ALL_EXPIRED,
        &Policy::default(),
    );
    assert!(a.allowed);
    assert!(warnings(&a).is_empty(), "{:?}", warnings(&a));
    assert!(a.findings.is_empty());
}

#[test]
fn admission_webhook_configuration_exempted_in_the_policy_file_warns_skipped() {
    let vwc = values_of_cabundles()
        .into_iter()
        .find(|v| v["metadata"]["name"] == "istio-galley")
        .unwrap();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0d7c4a5e-1b1e-4f43-9a0f-3f1f4ad4f0aa",
            "kind": {"group": "admissionregistration.k8s.io", "version": "v1", "kind": "ValidatingWebhookConfiguration"},
            "resource": {"group": "admissionregistration.k8s.io", "version": "v1", "resource": "validatingwebhookconfigurations"},
            "name": "istio-galley", "operation": "CREATE",
            "userInfo": {"username": "system:admin"},
            "object": vwc,
        }
    });
    let p = policy(
        "exemptions:\n  - {kind: ValidatingWebhookConfiguration, name: istio-galley, codes: [cert-expired]}\n",
    );
    let a = review_with(&review, NOW, &p);
    let f = a
        .findings
        .iter()
        .find(|f| f.code == Code::CertExpired)
        .expect("cert-expired on the caBundle");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        f.skipped.as_deref(),
        Some("skipped by policy file exemptions[0]")
    );
}

// ---- audit --------------------------------------------------------------------------------

fn values_of_cabundles() -> Vec<Value> {
    let text = fixture_text("audit/cabundles.json");
    let list: Value = serde_json::from_str(&text).unwrap();
    list["items"].as_array().unwrap().clone()
}

fn inventory(values: &[Value], policy: &Policy) -> Inventory {
    let mut inv = Inventory::new();
    inv.add_objects(values, policy, &Arc::new(Analyzer::new()));
    inv
}

#[test]
fn audit_skip_annotation_marks_the_row_skipped_and_does_not_fail() {
    let inv = inventory(&[skip_expired(expired_secret())], &Policy::default());
    let rows = audit::rows(&inv, NOW, 30);
    let r = rows
        .iter()
        .find(|r| r.cert.name == "httpbin-credential")
        .unwrap();
    assert_eq!(r.status, Status::Expired);
    assert_eq!(
        r.skipped.as_deref(),
        Some("skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)")
    );
    assert!(r
        .message
        .as_deref()
        .unwrap()
        .contains("(skipped by annotation"));
    assert!(!audit::failing(&rows));
}

#[test]
fn audit_without_the_annotation_fails_on_the_same_secret() {
    let inv = inventory(&[expired_secret()], &Policy::default());
    assert!(audit::failing(&audit::rows(&inv, NOW, 30)));
}

#[test]
fn audit_ignore_label_leaves_the_secret_out() {
    let inv = inventory(&[label_ignored(expired_secret())], &Policy::default());
    assert!(inv.certs.is_empty(), "{} certificates", inv.certs.len());
}

#[test]
fn audit_unknown_code_in_the_annotation_is_an_exemption_invalid_problem() {
    let (k, v) = skip("cert-expird");
    let inv = inventory(
        &[annotate(expired_secret(), &[(k, &v)])],
        &Policy::default(),
    );
    let c = &inv.certs[0];
    assert_eq!(c.problems[0].code, Code::ExemptionInvalid);
    assert!(c.problems[0].message.contains("`cert-expird`"));
    assert!(audit::failing(&audit::rows(&inv, NOW, 30)));
}

#[test]
fn audit_policy_exemption_skips_a_webhook_configuration_ca_bundle() {
    let p = policy(
        "exemptions:\n  - {kind: ValidatingWebhookConfiguration, name: istio-galley, codes: [cert-expired], reason: galley is being removed}\n",
    );
    let inv = inventory(&values_of_cabundles(), &p);
    let rows = audit::rows(&inv, NOW, 30);
    let r = rows
        .iter()
        .find(|r| r.cert.name == "istio-galley" && r.cert.index == 0)
        .unwrap();
    assert_eq!(r.status, Status::Expired);
    assert_eq!(
        r.skipped.as_deref(),
        Some("skipped by policy file exemptions[0]: galley is being removed")
    );
}

#[test]
fn audit_ignore_label_on_a_webhook_configuration_leaves_its_ca_bundles_out() {
    let values: Vec<Value> = values_of_cabundles()
        .into_iter()
        .map(|v| {
            if v["metadata"]["name"] == "istio-galley" {
                label_ignored(v)
            } else {
                v
            }
        })
        .collect();
    let inv = inventory(&values, &Policy::default());
    assert!(!inv.certs.iter().any(|c| c.name == "istio-galley"));
    assert!(inv.certs.iter().any(|c| c.name == "istio-sidecar-injector"));
}

#[test]
fn the_same_annotation_skips_the_same_code_in_lint_and_admission_and_audit() {
    let lint = lint_at(&[skip_expired(expired_secret())], NOW);
    let admission = review_with(
        &secret_create(skip_expired),
        ALL_EXPIRED,
        &Policy::default(),
    );
    let inv = inventory(&[skip_expired(expired_secret())], &Policy::default());
    let note = "skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)";
    let from_lint = lint.iter().find(|f| f.code == Code::CertExpired).unwrap();
    let from_admission = admission
        .findings
        .iter()
        .find(|f| f.code == Code::CertExpired)
        .unwrap();
    assert_eq!(from_lint.skipped.as_deref(), Some(note));
    assert_eq!(from_admission.skipped.as_deref(), Some(note));
    assert_eq!(audit::rows(&inv, NOW, 30)[0].skipped.as_deref(), Some(note));
}
