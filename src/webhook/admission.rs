//! AdmissionReview glue: parse, dispatch by kind and operation to the shared `check`, answer.
//! Kept synchronous and free of axum so it can be tested with the captured requests directly.
//! An unreadable review is a [`BadReview`] (HTTP 400); a policy failure is a denial.

use crate::analysis::Analyzer;
use crate::check::{check, check_delete, ratchet, Ctx};
use crate::finding::{Code, Finding, Issue, ObjectRef};
use crate::lookup::Lookup;
use crate::model::Object;
use crate::policy::Policy;
use crate::report::{truncate, verdict, MAX_WARNING_CHARS};
use serde_json::{json, Value};

/// Why a request body is not an AdmissionReview we can answer. Becomes HTTP 400.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadReview(pub String);

/// The answer, plus what metrics and logs need.
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub allowed: bool,
    pub kind: String,
    pub operation: String,
    pub findings: Vec<Finding>,
}

/// Kinds the webhook has rules for, by (group, kind).
fn is_handled(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Secret")
            | ("", "ConfigMap")
            | ("networking.istio.io", "Gateway")
            | ("networking.istio.io", "VirtualService")
            | ("gateway.networking.k8s.io", "Gateway")
            | ("networking.k8s.io", "Ingress")
    )
}

/// The namespace controller deletes everything in a terminating namespace; a webhook must
/// never block that.
const NAMESPACE_CONTROLLER: &str = "system:serviceaccount:kube-system:namespace-controller";

pub struct Reviewer<'a> {
    pub lookup: &'a dyn Lookup,
    pub policy: &'a Policy,
    pub analyzer: &'a Analyzer,
    pub now: i64,
    /// False until the cluster view finished its first sync: answers then carry a warning.
    pub synced: bool,
}

impl Reviewer<'_> {
    pub fn review(&self, body: &[u8]) -> Result<Answer, BadReview> {
        let review: Value = serde_json::from_slice(body)
            .map_err(|e| BadReview(format!("body is not JSON: {e}")))?;
        let api_version = review
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(
            api_version,
            "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
        ) {
            return Err(BadReview(format!(
                "apiVersion must be admission.k8s.io/v1 or v1beta1, got `{api_version}`"
            )));
        }
        if review.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
            return Err(BadReview("kind must be AdmissionReview".into()));
        }
        let request = review
            .get("request")
            .filter(|r| r.is_object())
            .ok_or_else(|| BadReview("request is missing".into()))?;
        let uid = request
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| BadReview("request.uid is missing".into()))?;
        let str_at = |p: &str| {
            request
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let group = str_at("/kind/group");
        let kind = str_at("/kind/kind").to_string();
        let operation = str_at("/operation").to_string();
        let findings = if is_handled(group, &kind) {
            self.findings(request, &operation)?
        } else {
            Vec::new()
        };

        let mut v = verdict(&findings);
        if !self.synced {
            v.warnings.push(truncate(
                "tlsgate: the cluster view is still loading; references were checked against what is known so far",
                MAX_WARNING_CHARS,
            ));
        }
        let mut response = json!({ "uid": uid, "allowed": v.allowed });
        if let Some(msg) = &v.message {
            response["status"] = json!({ "code": 403, "reason": "Forbidden", "message": msg });
        }
        if !v.warnings.is_empty() {
            response["warnings"] = json!(v.warnings);
        }
        Ok(Answer {
            body: json!({ "apiVersion": api_version, "kind": "AdmissionReview", "response": response }),
            allowed: v.allowed,
            kind,
            operation,
            findings,
        })
    }

    fn findings(&self, request: &Value, operation: &str) -> Result<Vec<Finding>, BadReview> {
        let ctx = Ctx {
            lookup: self.lookup,
            policy: self.policy,
            analyzer: self.analyzer,
            now: self.now,
            referrers: true,
        };
        match operation {
            "DELETE" => {
                let is_secret =
                    request.pointer("/kind/kind").and_then(Value::as_str) == Some("Secret");
                if !is_secret {
                    return Ok(Vec::new());
                }
                let ns = request
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = request
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let user = request
                    .pointer("/userInfo/username")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok(check_delete(ns, name, user == NAMESPACE_CONTROLLER, &ctx))
            }
            "CREATE" | "UPDATE" => {
                let object = request
                    .get("object")
                    .filter(|o| o.is_object())
                    .ok_or_else(|| {
                        BadReview(format!("request.object is missing for {operation}"))
                    })?;
                let new = self.check_value(object, request, &ctx);
                if operation == "UPDATE" {
                    if let Some(old) = request.get("oldObject").filter(|o| o.is_object()) {
                        let old = self.check_value(old, request, &ctx);
                        return Ok(ratchet(new, &old));
                    }
                }
                Ok(new)
            }
            // CONNECT and anything new: nothing to say.
            _ => Ok(Vec::new()),
        }
    }

    fn check_value(&self, value: &Value, request: &Value, ctx: &Ctx<'_>) -> Vec<Finding> {
        // The API server fills metadata.namespace on namespaced objects, but be safe.
        let mut value = value.clone();
        if value.pointer("/metadata/namespace").is_none() {
            if let (Some(ns), Some(meta)) =
                (request.get("namespace").cloned(), value.get_mut("metadata"))
            {
                if let Some(m) = meta.as_object_mut() {
                    m.insert("namespace".into(), ns);
                }
            }
        }
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match Object::from_value(&value) {
            Ok(Some(obj)) => check(&obj, &api_version, ctx),
            Ok(None) => Vec::new(),
            // The API server accepted it, so our model is the narrower one: warn, never block.
            Err(e) => {
                let oref = ObjectRef {
                    api_version,
                    kind: e.kind.clone(),
                    namespace: None,
                    name: e.name.clone(),
                };
                vec![Issue::new(
                    Code::ManifestInvalid,
                    e.path.clone(),
                    format!("tlsgate could not read this field: {}", e.reason),
                )
                .with_severity(crate::finding::Severity::Warn)
                .on(&oref)]
            }
        }
    }
}
