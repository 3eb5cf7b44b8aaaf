//! In-process admission: a lookup view of objects, captured AdmissionReviews rewritten to carry
//! other objects, and the reviewer's answer to them.

use super::{root, NOW};
use serde_json::{json, Value};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tlsgate::model::Object;
use tlsgate::policy::Policy;
use tlsgate::webhook::admission::{Answer, Reviewer};

/// A synced lookup view holding `objects`, as the watch would after listing them.
pub fn view(objects: &[Value]) -> Index {
    let mut idx = Index::new(Arc::new(Analyzer::new()));
    for v in objects {
        idx.upsert(&Object::from_value(v).unwrap().unwrap());
    }
    idx
}

/// The answer to `body` at [`NOW`] with the default policy.
pub fn review(body: &Value, view: &Index) -> Answer {
    review_at(body, view, NOW)
}

/// The answer to `body` at `now` with the default policy.
pub fn review_at(body: &Value, view: &Index, now: i64) -> Answer {
    let analyzer = Analyzer::new();
    let policy = Policy::default();
    Reviewer {
        lookup: view,
        policy: &policy,
        analyzer: &analyzer,
        now,
        synced: true,
    }
    .review(&serde_json::to_vec(body).unwrap())
    .expect("a readable review")
}

/// An AdmissionReview captured from a real API server (tests/admission/NAME).
#[track_caller]
pub fn capture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/admission").join(name)).unwrap())
        .unwrap()
}

/// The captured `template` review, rewritten as the API server sends `object`, whose group,
/// version and kind are `gvk` and whose resource (plural) is `resource`.
pub fn object_review(
    template: &str,
    gvk: (&str, &str, &str),
    resource: &str,
    object: Value,
) -> Value {
    let (group, version, kind) = gvk;
    let mut r = capture(template);
    let gvk = json!({ "group": group, "version": version, "kind": kind });
    let gvr = json!({ "group": group, "version": version, "resource": resource });
    r["request"]["kind"] = gvk.clone();
    r["request"]["requestKind"] = gvk;
    r["request"]["resource"] = gvr.clone();
    r["request"]["requestResource"] = gvr;
    r["request"]["name"] = object["metadata"]["name"].clone();
    r["request"]["namespace"] = object["metadata"]["namespace"].clone();
    r["request"]["object"] = object;
    r
}

/// The captured Secret CREATE, carrying `secret` instead.
pub fn secret_review(secret: Value) -> Value {
    object_review(
        "secret-create-live-v1.json",
        ("", "v1", "Secret"),
        "secrets",
        secret,
    )
}

/// The captured Secret CREATE, rewritten as the API server sends a ConfigMap CREATE.
pub fn config_map_review(cm: Value) -> Value {
    object_review(
        "secret-create-live-v1.json",
        ("", "v1", "ConfigMap"),
        "configmaps",
        cm,
    )
}

/// The captured Secret UPDATE, rewritten as the API server sends a ConfigMap UPDATE from `old`.
pub fn config_map_update_review(cm: Value, old: Value) -> Value {
    let mut r = object_review(
        "secret-update-live-v1.json",
        ("", "v1", "ConfigMap"),
        "configmaps",
        cm,
    );
    r["request"]["oldObject"] = old;
    r
}

/// The captured Gateway API Gateway CREATE, rewritten as the API server sends `object`
/// (group `gateway.networking.k8s.io`, version v1).
pub fn gateway_api_review(kind: &str, resource: &str, object: Value) -> Value {
    object_review(
        "gatewayapi-gateway-create-live-v1.json",
        ("gateway.networking.k8s.io", "v1", kind),
        resource,
        object,
    )
}

/// The captured Istio Gateway CREATE, rewritten as the API server sends `object` of `gvk`.
pub fn custom_review(gvk: (&str, &str, &str), resource: &str, object: Value) -> Value {
    object_review("gateway-create-live-v1alpha3.json", gvk, resource, object)
}

/// The denial's (or warning answer's) status message; empty when there is none.
pub fn message(a: &Answer) -> String {
    a.body["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
