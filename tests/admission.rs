//! Admission semantics on the AdmissionReviews captured from a real kube-apiserver
//! (tests/admission/), and variants derived from them. Synchronous: the HTTPS path is in
//! tests/webhook_tls.rs.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tlsgate::model::Object;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::{Answer, Reviewer};

/// 2026-12-01: the captured certificates (issued 2026-11-22) are valid.
const CAPTURE_NOW: i64 = 1_796_083_200;
/// 2027-03-01: the UPDATE's new certificate (notAfter 2027-02-20) has expired, the old has not.
const AFTER_NEW_EXPIRED: i64 = 1_803_859_200;
/// 2028-01-01: every captured certificate has expired.
const ALL_EXPIRED: i64 = 1_830_297_600;

#[track_caller]
fn capture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/admission").join(name)).unwrap())
        .unwrap()
}

fn view(objects: &[Value]) -> Index {
    let mut idx = Index::new(Arc::new(Analyzer::new()));
    for v in objects {
        idx.upsert(&Object::from_value(v).unwrap().unwrap());
    }
    idx
}

fn review_with(review: &Value, view: &Index, now: i64, policy: &Policy) -> Answer {
    let analyzer = Analyzer::new();
    let r = Reviewer {
        lookup: view,
        policy,
        analyzer: &analyzer,
        now,
        synced: view.is_synced(),
    };
    r.review(&serde_json::to_vec(review).unwrap())
        .expect("a readable review")
}

fn review(review: &Value, view: &Index, now: i64) -> Answer {
    review_with(review, view, now, &Policy::default())
}

fn response(a: &Answer) -> &Value {
    &a.body["response"]
}

fn warnings(a: &Answer) -> Vec<String> {
    response(a)["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn message(a: &Answer) -> String {
    response(a)["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The captured live Gateway (istio-system/mygateway serving httpbin.example.com).
fn captured_gateway() -> Value {
    capture("gateway-create-live-v1alpha3.json")["request"]["object"].clone()
}

fn captured_secret() -> Value {
    capture("secret-create-live-v1.json")["request"]["object"].clone()
}

/// A Secret CREATE review derived from the capture, with other data.
fn secret_create_with(data: Value) -> Value {
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["object"]["data"] = data;
    r
}

fn tls_data(cert: &str, key: &str) -> Value {
    json!({"tls.crt": b64(&fixture(cert)), "tls.key": b64(&fixture(key))})
}

#[test]
fn response_echoes_uid_and_api_version() {
    let r = capture("secret-create-live-v1.json");
    let a = review(&r, &view(&[]), CAPTURE_NOW);
    assert_eq!(a.body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(a.body["kind"], "AdmissionReview");
    assert_eq!(response(&a)["uid"], r["request"]["uid"]);
}

#[test]
fn captured_secret_create_is_allowed_with_serial_warning() {
    let a = review(
        &capture("secret-create-live-v1.json"),
        &view(&[]),
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    assert!(
        warnings(&a)
            .iter()
            .any(|w| w.contains("[serial-invalid] at data[\"tls.crt\"]")),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn expired_secret_create_is_denied_with_403_and_reason() {
    let a = review(
        &capture("secret-create-live-v1.json"),
        &view(&[]),
        ALL_EXPIRED,
    );
    assert!(!a.allowed);
    assert_eq!(response(&a)["status"]["code"], 403);
    let m = message(&a);
    assert!(m.contains("Secret istio-system/httpbin-credential"), "{m}");
    assert!(m.contains("[cert-expired]"), "{m}");
}

#[test]
fn denial_leads_with_the_most_specific_finding_and_counts_the_rest() {
    // Expired certificate with another certificate's key: key-mismatch and cert-expired.
    let mut data = tls_data("certs/dated/expired-2021.crt", "certs/httpbin-san.key");
    data["ca.crt"] = json!(b64(&fixture("certs/chain/bundle-with-leaf.pem")));
    let a = review(&secret_create_with(data), &view(&[]), NOW);
    let m = message(&a);
    assert!(m.contains("and 2 more"), "{m}");
    assert!(!m.contains("ca-not-ca]"), "ca-not-ca should not lead: {m}");
}

#[test]
fn kubectl_warnings_lead_with_the_statement_and_end_with_the_path() {
    // The captured live Secret: a CN-only certificate (no subjectAltName) with serial 0.
    let a = review(
        &capture("secret-create-live-v1.json"),
        &view(&[]),
        CAPTURE_NOW,
    );
    let w = warnings(&a);
    let san = w
        .iter()
        .find(|w| w.contains("[no-subject-alt-name]"))
        .unwrap_or_else(|| panic!("{w:?}"));
    assert!(san.starts_with("tls.crt has no subjectAltName"), "{san}");
    assert!(
        san.contains("reissue it with -addext subjectAltName=DNS:httpbin.example.com"),
        "{san}"
    );
    assert!(san.ends_with("at data[\"tls.crt\"]"), "{san}");
    for w in &w {
        assert!(w.chars().count() <= 256, "{w}");
    }
}

#[test]
fn warnings_of_a_gateway_with_many_findings_stay_within_4_kib() {
    // 40 servers, each naming a missing credential: 40 credential-not-found warnings.
    let mut g = captured_gateway();
    let server = g["spec"]["servers"][0].clone();
    g["spec"]["servers"] = json!((0..40)
        .map(|i| {
            let mut s = server.clone();
            s["tls"]["credentialName"] = json!(format!("missing-credential-number-{i}"));
            s
        })
        .collect::<Vec<_>>());
    let mut r = capture("gateway-create-live-v1alpha3.json");
    r["request"]["object"] = g;
    let a = review(&r, &view(&[]), NOW);
    let w = warnings(&a);
    let total: usize = w.iter().map(|w| w.chars().count()).sum();
    assert!(total <= 4096, "{total}");
    assert!(w.iter().all(|w| w.chars().count() <= 256), "{w:?}");
    let last = w.last().unwrap();
    assert!(last.starts_with("tlsgate: and "), "{last}");
    assert!(last.contains("more warnings"), "{last}");
}

#[test]
fn v1beta1_review_is_answered_in_v1beta1() {
    let mut r = capture("secret-create-live-v1.json");
    r["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let a = review(&r, &view(&[]), ALL_EXPIRED);
    assert_eq!(a.body["apiVersion"], "admission.k8s.io/v1beta1");
    assert!(!a.allowed);
}

#[test]
fn dry_run_gets_the_same_verdict_as_the_live_request() {
    let expired = mk_tls_secret(
        "istio-system",
        "httpbin-credential",
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    );
    let v = view(&[expired]);
    let live = review(&capture("gateway-create-live-v1alpha3.json"), &v, NOW);
    let dry = review(&capture("gateway-create-dryrun-v1alpha3.json"), &v, NOW);
    assert!(!live.allowed);
    assert_eq!(live.allowed, dry.allowed);
    assert_eq!(
        message(&live).replace(live.body["response"]["uid"].as_str().unwrap(), ""),
        message(&dry)
    );
}

#[test]
fn gateway_create_pointing_at_an_expired_secret_is_denied() {
    let expired = mk_tls_secret(
        "istio-system",
        "httpbin-credential",
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    );
    let a = review(
        &capture("gateway-create-live-v1alpha3.json"),
        &view(&[expired]),
        NOW,
    );
    assert!(!a.allowed);
    assert!(
        message(&a).contains("spec.servers[0].tls.credentialName"),
        "{}",
        message(&a)
    );
}

#[test]
fn gateway_create_with_missing_credential_only_warns_by_default() {
    let a = review(
        &capture("gateway-create-live-v1alpha3.json"),
        &view(&[]),
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    assert!(
        warnings(&a)
            .iter()
            .any(|w| w.contains("[credential-not-found]")),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn gateway_create_with_missing_credential_denies_when_configured() {
    let policy = Policy::from_yaml("severities: {credential-not-found: deny}").unwrap();
    let a = review_with(
        &capture("gateway-create-live-v1alpha3.json"),
        &view(&[]),
        CAPTURE_NOW,
        &policy,
    );
    assert!(!a.allowed);
}

#[test]
fn virtual_service_capture_warns_that_its_gateway_does_not_exist() {
    let a = review(
        &capture("virtualservice-create-live-v1alpha3.json"),
        &view(&[captured_gateway()]),
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    let w = warnings(&a);
    assert!(
        w.iter()
            .any(|w| w.contains("[gateway-not-found]") && w.contains("mygateway")),
        "{w:?}"
    );
}

#[test]
fn gateway_api_capture_is_checked_against_the_secret() {
    let other_host = mk_tls_secret(
        "istio-system",
        "httpbin-credential",
        "certs/helloworld-v1.example.com.crt",
        "certs/helloworld-v1.example.com.key",
    );
    let a = review(
        &capture("gatewayapi-gateway-create-live-v1.json"),
        &view(&[other_host]),
        NOW,
    );
    assert!(!a.allowed);
    assert!(
        message(&a).contains("[host-not-covered]"),
        "{}",
        message(&a)
    );
}

#[test]
fn ingress_capture_is_allowed_when_the_secret_covers_its_host() {
    let a = review(
        &capture("ingress-create-live-v1.json"),
        &view(&[captured_secret()]),
        CAPTURE_NOW,
    );
    assert!(a.allowed, "{}", message(&a));
}

#[test]
fn secret_update_that_drops_a_gateway_host_is_denied_naming_the_gateway() {
    let mut r = capture("secret-update-live-v1.json");
    r["request"]["object"]["data"] = tls_data(
        "certs/helloworld-v1.example.com.crt",
        "certs/helloworld-v1.example.com.key",
    );
    let a = review(
        &r,
        &view(&[captured_secret(), captured_gateway()]),
        CAPTURE_NOW,
    );
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("[host-not-covered]"), "{m}");
    assert!(
        m.contains("not httpbin.example.com served by Gateway istio-system/mygateway"),
        "{m}"
    );
}

#[test]
fn update_that_makes_the_certificate_expire_earlier_is_denied() {
    // New cert's notAfter (2027-02-20) is already past; the old one (2027-11-22) is not.
    let a = review(
        &capture("secret-update-live-v1.json"),
        &view(&[]),
        AFTER_NEW_EXPIRED,
    );
    assert!(!a.allowed);
    assert!(message(&a).contains("[cert-expired]"));
}

#[test]
fn update_of_an_already_expired_secret_only_warns() {
    // Both old and new expired: the update does not make anything worse (ratchet).
    let a = review(
        &capture("secret-update-live-v1.json"),
        &view(&[]),
        ALL_EXPIRED,
    );
    assert!(a.allowed, "{}", message(&a));
    assert!(
        warnings(&a).iter().any(|w| w.contains("[cert-expired]")),
        "{:?}",
        warnings(&a)
    );
}

#[test]
fn renewing_an_expired_secret_with_a_valid_one_is_allowed() {
    let mut r = capture("secret-update-live-v1.json");
    r["request"]["oldObject"]["data"] = tls_data(
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    );
    r["request"]["object"]["data"] =
        tls_data("certs/dated/long-valid.crt", "certs/dated/long-valid.key");
    let a = review(&r, &view(&[]), NOW);
    assert!(a.allowed, "{}", message(&a));
    assert!(warnings(&a).is_empty(), "{:?}", warnings(&a));
}

#[test]
fn delete_of_a_referenced_secret_warns_naming_the_referrers() {
    let a = review(
        &capture("secret-delete-live-v1.json"),
        &view(&[captured_secret(), captured_gateway()]),
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    let w = warnings(&a);
    assert!(
        w.iter()
            .any(|w| w.contains("[secret-in-use]") && w.contains("Gateway istio-system/mygateway")),
        "{w:?}"
    );
}

#[test]
fn delete_of_a_referenced_secret_denies_when_configured() {
    let policy = Policy::from_yaml("denyDeleteInUse: true").unwrap();
    let a = review_with(
        &capture("secret-delete-live-v1.json"),
        &view(&[captured_secret(), captured_gateway()]),
        CAPTURE_NOW,
        &policy,
    );
    assert!(!a.allowed);
    assert!(message(&a).contains("[secret-in-use]"));
}

#[test]
fn delete_by_the_namespace_controller_is_never_denied() {
    let policy = Policy::from_yaml("denyDeleteInUse: true").unwrap();
    let mut r = capture("secret-delete-live-v1.json");
    r["request"]["userInfo"]["username"] =
        json!("system:serviceaccount:kube-system:namespace-controller");
    let a = review_with(
        &r,
        &view(&[captured_secret(), captured_gateway()]),
        CAPTURE_NOW,
        &policy,
    );
    assert!(a.allowed);
}

#[test]
fn delete_of_an_unreferenced_secret_is_silent() {
    let a = review(
        &capture("secret-delete-live-v1.json"),
        &view(&[captured_secret()]),
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    assert!(warnings(&a).is_empty());
}

#[test]
fn cert_manager_secret_expired_during_issuance_only_warns() {
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["object"]["metadata"]["annotations"]["cert-manager.io/certificate-name"] =
        json!("httpbin");
    let a = review(&r, &view(&[]), ALL_EXPIRED);
    assert!(a.allowed, "{}", message(&a));
    assert!(warnings(&a).iter().any(|w| w.contains("[cert-expired]")));
}

#[test]
fn cert_manager_secret_with_mismatched_key_is_still_denied() {
    let mut r = secret_create_with(tls_data(
        "certs/httpbin-san.crt",
        "certs/helloworld-v1.example.com.key",
    ));
    r["request"]["object"]["metadata"]["annotations"]["cert-manager.io/certificate-name"] =
        json!("httpbin");
    assert!(!review(&r, &view(&[]), NOW).allowed);
}

#[test]
fn unknown_kind_is_allowed_without_comment() {
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let a = review(&r, &view(&[]), ALL_EXPIRED);
    assert!(a.allowed);
    assert!(response(&a).get("warnings").is_none());
}

#[test]
fn request_before_the_view_synced_is_answered_with_a_warning() {
    let mut v = view(&[]);
    v.set_synced(false);
    let a = review(
        &capture("gateway-create-live-v1alpha3.json"),
        &v,
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    let w = warnings(&a);
    assert!(w.iter().any(|w| w.contains("still loading")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("[view-not-synced]")), "{w:?}");
}

fn bad(body: &[u8]) -> String {
    let analyzer = Analyzer::new();
    let idx = view(&[]);
    let policy = Policy::default();
    let r = Reviewer {
        lookup: &idx,
        policy: &policy,
        analyzer: &analyzer,
        now: NOW,
        synced: true,
    };
    r.review(body).expect_err("should be rejected").to_string()
}

#[test]
fn non_json_body_is_a_bad_review() {
    assert!(bad(b"\x00\xffnot json").contains("not JSON"));
}

#[test]
fn missing_uid_is_a_bad_review() {
    let mut r = capture("secret-create-live-v1.json");
    r["request"].as_object_mut().unwrap().remove("uid");
    assert!(bad(&serde_json::to_vec(&r).unwrap()).contains("uid"));
}

#[test]
fn wrong_api_version_is_a_bad_review_naming_it() {
    let mut r = capture("secret-create-live-v1.json");
    r["apiVersion"] = json!("admission.k8s.io/v2");
    assert!(bad(&serde_json::to_vec(&r).unwrap()).contains("admission.k8s.io/v2"));
}

#[test]
fn create_without_object_is_a_bad_review() {
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["object"] = Value::Null;
    assert!(bad(&serde_json::to_vec(&r).unwrap()).contains("request.object"));
}

#[test]
fn secret_with_garbage_data_is_denied_not_panicking() {
    let a = review(
        &secret_create_with(json!({"tls.crt": b64(b"\x30\x82garbage"), "tls.key": "%%%"})),
        &view(&[]),
        NOW,
    );
    assert!(!a.allowed);
    assert!(
        message(&a).contains("[secret-malformed]"),
        "{}",
        message(&a)
    );
}

#[test]
fn messages_never_contain_private_key_material() {
    let key = fixture("certs/httpbin-san.key");
    let a = review(
        &secret_create_with(json!({"tls.crt": b64(&key), "tls.key": b64(&key)})),
        &view(&[]),
        NOW,
    );
    let body = a.body.to_string();
    for line in String::from_utf8(key)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!body.contains(line), "response leaks key material");
    }
    assert!(!body.contains(&b64(&fixture("certs/httpbin-san.key"))[..40]));
}

/// A CREATE of an object from tests/fixtures/audit/cabundles.json, in the shape of the capture.
fn cabundle_create(name: &str, group: &str, version: &str, kind: &str) -> Value {
    let list: Value = serde_json::from_slice(&fixture("audit/cabundles.json")).unwrap();
    let object = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == name)
        .unwrap()
        .clone();
    let mut r = capture("secret-create-live-v1.json");
    r["request"]["kind"] = json!({"group": group, "version": version, "kind": kind});
    r["request"]["namespace"] = Value::Null;
    r["request"]["name"] = json!(name);
    r["request"]["object"] = object;
    r
}

#[test]
fn apiservice_with_an_expiring_ca_bundle_is_allowed_with_a_warning() {
    let r = cabundle_create(
        "v1beta1.metrics.k8s.io",
        "apiregistration.k8s.io",
        "v1",
        "APIService",
    );
    let a = review(&r, &view(&[]), NOW);
    assert!(a.allowed);
    let w = warnings(&a);
    assert!(w.iter().any(|w| w.contains("spec.caBundle")), "{w:?}");
}

#[test]
fn ca_bundle_findings_never_deny_even_when_policy_says_deny() {
    let policy =
        Policy::from_yaml("severities: {cert-expired: deny, cert-expiring-soon: deny}").unwrap();
    let r = cabundle_create(
        "v1beta1.metrics.k8s.io",
        "apiregistration.k8s.io",
        "v1",
        "APIService",
    );
    let a = review_with(&r, &view(&[]), ALL_EXPIRED, &policy);
    assert!(a.allowed, "{}", message(&a));
    assert!(!warnings(&a).is_empty());
}

#[test]
fn secret_with_wrong_key_names_for_a_gateway_is_denied_naming_the_keys() {
    // `kubectl create secret generic --from-file=crt=... --from-file=key=...`: Istio finds no pair.
    let mut r = secret_create_with(json!({
        "crt": b64(&fixture("certs/httpbin-san.crt")),
        "key": b64(&fixture("certs/httpbin-san.key")),
    }));
    r["request"]["object"]["type"] = json!("Opaque");
    let a = review(&r, &view(&[captured_gateway()]), NOW);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(
        m.contains("Gateway istio-system/mygateway serves this secret"),
        "{m}"
    );
    assert!(m.contains("has crt, key"), "{m}");
}

#[test]
fn webhook_ca_bundle_mid_rotation_warns_chain_cert_expired_on_the_expired_ca() {
    let mut r = cabundle_create(
        "istio-galley",
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    );
    r["request"]["object"]["webhooks"][0]["clientConfig"]["caBundle"] =
        json!(b64(&fixture("certs/xsign/ca-rotating.pem")));
    let a = review(&r, &view(&[]), NOW);
    assert!(a.allowed, "{}", message(&a));
    let w = warnings(&a);
    assert!(
        w.iter().any(
            |w| w.contains("[chain-cert-expired] at webhooks[0].clientConfig.caBundle")
                && w.starts_with("caBundle certificate #0 (CN=example Old Root CA) expired")
        ),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("[cert-expired]")), "{w:?}");
}

#[test]
fn expired_replacement_of_a_served_secret_names_the_gateway_in_the_denial() {
    let data = tls_data(
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    );
    let a = review(&secret_create_with(data), &view(&[captured_gateway()]), NOW);
    assert!(!a.allowed);
    let m = message(&a);
    assert!(m.contains("[cert-expired]"), "{m}");
    assert!(
        m.contains("served by Gateway istio-system/mygateway"),
        "{m}"
    );
}

#[test]
fn gateway_whose_selector_matches_no_pod_in_the_cluster_view_warns() {
    let mut v = view(&[]);
    v.track_pods();
    v.upsert_pod(
        "istio-system",
        "istio-egressgateway-5c9d",
        [("istio".to_string(), "egressgateway".to_string())].into(),
    );
    let a = review(
        &capture("gateway-create-live-v1alpha3.json"),
        &v,
        CAPTURE_NOW,
    );
    assert!(a.allowed);
    let w = warnings(&a);
    assert!(
        w.iter().any(|w| w.contains("matches no pod")
            && w.ends_with("[gateway-workload-not-found] at spec.selector")),
        "{w:?}"
    );
}

/// The captured UPDATE with the same `data` (an expired certificate) in the object and the
/// oldObject; `edit` then changes the new object's metadata.
fn update_of_expired_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut r = capture("secret-update-live-v1.json");
    let data = tls_data(
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    );
    r["request"]["oldObject"]["data"] = data.clone();
    r["request"]["object"]["data"] = data;
    edit(&mut r["request"]["object"]);
    r
}

#[test]
fn label_edit_update_reuses_the_old_objects_findings() {
    let r = update_of_expired_with(|o| o["metadata"]["labels"] = json!({"team": "payments"}));
    let a = review(&r, &view(&[]), NOW);
    assert!(a.old_object_reused);
    // Reused, the old findings still ratchet: the expiry was already true, so it warns.
    assert!(a.allowed, "{}", message(&a));
    let expired = a
        .findings
        .iter()
        .find(|f| f.code == tlsgate::finding::Code::CertExpired)
        .expect("cert-expired");
    assert_eq!(expired.path, "data[\"tls.crt\"]");
    assert!(expired
        .message
        .ends_with("(already true before this update)"));
}

#[test]
fn update_that_only_rewrites_kubectls_last_applied_annotation_reuses_the_old_findings() {
    let r = update_of_expired_with(|o| {
        o["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Secret\"}"})
    });
    assert!(review(&r, &view(&[]), NOW).old_object_reused);
}

#[test]
fn update_that_changes_tls_data_checks_the_old_object() {
    let mut r = update_of_expired_with(|_| {});
    r["request"]["oldObject"]["data"] =
        tls_data("certs/dated/long-valid.crt", "certs/dated/long-valid.key");
    let a = review(&r, &view(&[]), NOW);
    assert!(!a.old_object_reused);
    assert!(!a.allowed);
    assert!(message(&a).contains("[cert-expired]"), "{}", message(&a));
}

#[test]
fn update_that_removes_the_skip_annotation_checks_the_old_object() {
    // The old object skipped cert-expired; the new one does not: the old object is checked
    // with its own annotation, not taken for the new one.
    let mut r = update_of_expired_with(|_| {});
    r["request"]["oldObject"]["metadata"]["annotations"] =
        json!({"tlsgate.io/skip": "cert-expired"});
    let a = review(&r, &view(&[]), NOW);
    assert!(!a.old_object_reused);
    let expired = a
        .findings
        .iter()
        .find(|f| f.code == tlsgate::finding::Code::CertExpired)
        .expect("cert-expired");
    assert_eq!(expired.path, "data[\"tls.crt\"]");
}

#[test]
fn update_that_adds_the_skip_annotation_is_skipped_by_the_new_annotation() {
    let r = update_of_expired_with(|o| {
        o["metadata"]["annotations"] = json!({"tlsgate.io/skip": "cert-expired"})
    });
    let a = review(&r, &view(&[]), NOW);
    assert!(!a.old_object_reused);
    assert!(a.allowed, "{}", message(&a));
    let expired = a
        .findings
        .iter()
        .find(|f| f.code == tlsgate::finding::Code::CertExpired)
        .expect("cert-expired");
    assert!(expired.skipped.is_some(), "{expired:?}");
}

#[test]
fn update_of_a_secret_whose_request_kind_comes_after_the_object_is_read_the_same() {
    // The API server writes request.kind first, so the object is decoded in the same pass;
    // in any other order it is kept raw and decoded after: the answer is the same.
    let r = update_of_expired_with(|o| o["metadata"]["labels"] = json!({"team": "payments"}));
    let first = review(&r, &view(&[]), NOW);
    let mut req = r["request"].clone();
    let kind = req.as_object_mut().unwrap().remove("kind").unwrap();
    let req = serde_json::to_string(&req).unwrap();
    let body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{},"kind":{kind}}}}}"#,
        &req[..req.len() - 1]
    );
    assert!(body.find("\"object\"").unwrap() < body.find("\"kind\":{").unwrap());
    let (analyzer, policy, idx) = (Analyzer::new(), Policy::default(), view(&[]));
    let second = Reviewer {
        lookup: &idx,
        policy: &policy,
        analyzer: &analyzer,
        now: NOW,
        synced: idx.is_synced(),
    }
    .review(body.as_bytes())
    .unwrap();
    assert_eq!(second.body, first.body);
    assert!(second.old_object_reused);
}
