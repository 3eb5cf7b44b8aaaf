//! AdmissionReview glue: parse, dispatch by kind and operation to the shared `check`, answer.
//! Kept synchronous and free of axum so it can be tested with the captured requests directly.
//! An unreadable review is a [`BadReview`] (HTTP 400); a policy failure is a denial.

use crate::analysis::Analyzer;
use crate::check::{check, check_delete, ratchet, Ctx};
use crate::finding::{Code, Finding, Issue, ObjectRef};
use crate::kinds::carries_ca_bundle;
use crate::lookup::Lookup;
use crate::model::Object;
use crate::policy::Policy;
use crate::report::{truncate, verdict, MAX_WARNING_CHARS};
use serde::Deserialize;
use serde_json::value::RawValue;
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
    pub group: String,
    pub kind: String,
    pub operation: String,
    /// Who asked for what, for the denial log line.
    pub namespace: Option<String>,
    pub name: String,
    pub user: String,
    pub dry_run: bool,
    pub findings: Vec<Finding>,
}

/// Kinds the webhook has rules for, by (group, kind): [`crate::kinds::is_reviewed`]. Reviews
/// dispatch on it and the metrics' `kind` label takes only these values (anything else is
/// `other`).
pub fn is_handled(group: &str, kind: &str) -> bool {
    crate::kinds::is_reviewed(group, kind)
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

/// The parts of an AdmissionReview tlsgate reads; `object`/`oldObject` stay raw JSON and are
/// decoded straight into typed objects (no `Value` tree on the hot path).
#[derive(Deserialize)]
struct ReviewIn<'a> {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(borrow)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    kind: Gvk,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_info: UserInfo,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize, Default)]
struct Gvk {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: String,
}

fn present(raw: Option<&RawValue>) -> Option<&str> {
    raw.map(RawValue::get).filter(|s| *s != "null")
}

/// Parses and checks the envelope: apiVersion, kind, request, uid.
fn read(body: &[u8]) -> Result<(String, RequestIn<'_>), BadReview> {
    let text =
        std::str::from_utf8(body).map_err(|_| BadReview("body is not JSON: not UTF-8".into()))?;
    // serde_json's messages quote the value they found; the body can carry a Secret.
    let review: ReviewIn<'_> = serde_json::from_str(text).map_err(|e| {
        let why = crate::redact::serde_error(&e.to_string());
        if e.is_syntax() || e.is_eof() {
            BadReview(format!("body is not JSON: {why}"))
        } else {
            BadReview(format!("not an AdmissionReview: {why}"))
        }
    })?;
    let api_version = review.api_version;
    if !matches!(
        api_version.as_str(),
        "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
    ) {
        let got = crate::redact::serde_error(&format!("`{api_version}`"));
        return Err(BadReview(format!(
            "apiVersion must be admission.k8s.io/v1 or v1beta1, got {got}"
        )));
    }
    if review.kind != "AdmissionReview" {
        return Err(BadReview("kind must be AdmissionReview".into()));
    }
    let request = review
        .request
        .ok_or_else(|| BadReview("request is missing".into()))?;
    if request.uid.is_empty() {
        return Err(BadReview("request.uid is missing".into()));
    }
    Ok((api_version, request))
}

/// The answer given without a review (its deadline passed): allowed with `warning`, or denied
/// with it as the message.
pub fn unreviewed(body: &[u8], allowed: bool, warning: &str) -> Result<Answer, BadReview> {
    let (api_version, request) = read(body)?;
    let (message, warnings) = if allowed {
        (None, vec![truncate(warning, MAX_WARNING_CHARS)])
    } else {
        (Some(warning.to_string()), Vec::new())
    };
    Ok(answer(
        &api_version,
        request,
        allowed,
        message,
        warnings,
        Vec::new(),
    ))
}

/// The AdmissionReview answering `request`: a denial carries `message` as a 403 status, and
/// `warnings` go to `response.warnings` when there are any.
fn answer(
    api_version: &str,
    request: RequestIn<'_>,
    allowed: bool,
    message: Option<String>,
    warnings: Vec<String>,
    findings: Vec<Finding>,
) -> Answer {
    let mut response = json!({ "uid": request.uid, "allowed": allowed });
    if let Some(msg) = &message {
        response["status"] = json!({ "code": 403, "reason": "Forbidden", "message": msg });
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    Answer {
        body: json!({ "apiVersion": api_version, "kind": "AdmissionReview", "response": response }),
        allowed,
        group: request.kind.group,
        kind: request.kind.kind,
        operation: request.operation,
        namespace: request.namespace,
        name: request.name,
        user: request.user_info.username,
        dry_run: request.dry_run,
        findings,
    }
}

impl Reviewer<'_> {
    pub fn review(&self, body: &[u8]) -> Result<Answer, BadReview> {
        let (api_version, request) = read(body)?;
        let api_version = api_version.as_str();
        let findings = if is_handled(&request.kind.group, &request.kind.kind) {
            self.findings(&request)?
        } else {
            Vec::new()
        };

        let mut v = verdict(&findings);
        if !self.synced {
            v.warnings.push(truncate(
                "tlsgate: the cluster view is still loading; references were checked against what is known so far",
                MAX_WARNING_CHARS,
            ));
        } else {
            let stale = self.lookup.stale_resources();
            if !stale.is_empty() {
                v.warnings.push(truncate(
                    &format!(
                        "{}: tlsgate is re-listing {} after an API server error, so this answer may be based on a stale view; apply again in a few seconds to be sure",
                        crate::finding::Code::ViewNotSynced.as_str(),
                        crate::analysis::hosts::list_some(&stale)
                    ),
                    MAX_WARNING_CHARS,
                ));
            }
        }
        Ok(answer(
            api_version,
            request,
            v.allowed,
            v.message,
            v.warnings,
            findings,
        ))
    }

    fn findings(&self, request: &RequestIn<'_>) -> Result<Vec<Finding>, BadReview> {
        // Webhook configurations, APIServices and CRDs: their caBundles decide whether the API
        // server can reach another webhook. Warn only: tlsgate must not block other webhooks'
        // installs. (The API server does not send webhook configurations to webhooks at all;
        // they are handled for completeness.)
        if carries_ca_bundle(&request.kind.group, &request.kind.kind) {
            return Ok(self.ca_bundle_findings(request));
        }
        let ctx = Ctx {
            lookup: self.lookup,
            policy: self.policy,
            analyzer: self.analyzer,
            now: self.now,
            referrers: true,
        };
        let operation = request.operation.as_str();
        match operation {
            "DELETE" => {
                if crate::kinds::find(&request.kind.group, &request.kind.kind)
                    != Some(&crate::kinds::SECRET)
                {
                    return Ok(Vec::new());
                }
                let ns = request.namespace.as_deref().unwrap_or_default();
                // The view knows a namespace is being deleted whoever sends the DELETE: the
                // controller-manager runs as system:kube-controller-manager unless it has
                // --use-service-account-credentials.
                let terminating = request.user_info.username == NAMESPACE_CONTROLLER
                    || self.lookup.namespace_terminating(ns);
                let old = present(request.old_object).and_then(|t| {
                    Object::from_json_typed(t, &request.kind.group, &request.kind.kind)
                        .ok()
                        .flatten()
                });
                Ok(check_delete(
                    ns,
                    &request.name,
                    terminating,
                    old.as_ref().map(Object::meta),
                    &ctx,
                ))
            }
            "CREATE" | "UPDATE" => {
                let object = present(request.object).ok_or_else(|| {
                    BadReview(format!("request.object is missing for {operation}"))
                })?;
                let new = self.check_json(object, request, &ctx);
                if operation == "UPDATE" {
                    if let Some(old) = present(request.old_object) {
                        let old = self.check_json(old, request, &ctx);
                        return Ok(ratchet(new, &old));
                    }
                }
                Ok(new)
            }
            // CONNECT and anything new: nothing to say.
            _ => Ok(Vec::new()),
        }
    }

    fn ca_bundle_findings(&self, request: &RequestIn<'_>) -> Vec<Finding> {
        if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
            return Vec::new();
        }
        let Some(value) =
            present(request.object).and_then(|t| serde_json::from_str::<Value>(t).ok())
        else {
            return Vec::new();
        };
        if crate::exempt::is_ignored_value(&value) {
            return Vec::new();
        }
        let found =
            crate::audit::cabundle_findings(&value, self.now, self.policy.expiry_warning_days);
        let skips = crate::exempt::Exemptions::of_value(&value, &self.policy.exemptions);
        let mut found: Vec<Finding> = self
            .policy
            .apply(found)
            .into_iter()
            .map(|mut f| {
                f.severity = f.severity.min(crate::finding::Severity::Warn);
                f
            })
            .collect();
        if let Some(first) = found.first().map(|f| f.object.clone()) {
            found.extend(skips.invalid.iter().map(|i| i.clone().on(&first)));
        }
        skips.apply(found)
    }

    fn check_json(&self, text: &str, request: &RequestIn<'_>, ctx: &Ctx<'_>) -> Vec<Finding> {
        match Object::from_json_typed(text, &request.kind.group, &request.kind.kind) {
            Ok(Some(mut obj)) => {
                let g = &request.kind;
                let api_version = if g.group.is_empty() {
                    g.version.clone()
                } else {
                    format!("{}/{}", g.group, g.version)
                };
                // The API server fills metadata.namespace on namespaced objects, but be safe.
                if obj.meta().namespace.is_none() {
                    obj.meta_mut().namespace = request.namespace.clone();
                }
                check(&obj, &api_version, ctx)
            }
            Ok(None) => Vec::new(),
            // The API server accepted it, so our model is the narrower one: warn, never block.
            Err(e) => {
                let oref = ObjectRef {
                    api_version: String::new(),
                    kind: e.kind.clone(),
                    namespace: request.namespace.clone(),
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
