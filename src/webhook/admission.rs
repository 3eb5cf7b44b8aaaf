//! AdmissionReview glue: parse, dispatch by kind and operation to the shared `check`, answer.
//! Kept synchronous and free of axum so it can be tested with the captured requests directly.
//! An unreadable review is a [`BadReview`] (HTTP 400); a policy failure is a denial.

use crate::analysis::Analyzer;
use crate::check::{check, check_delete, ratchet, same_for_checks, Ctx};
use crate::finding::{Code, Finding, Issue, ObjectRef};
use crate::kinds::carries_ca_bundle;
use crate::lookup::Lookup;
use crate::model::Object;
use crate::policy::Policy;
use crate::report::{truncate, verdict, MAX_WARNING_CHARS};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Why a request body is not an AdmissionReview we can answer. Becomes HTTP 400.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadReview(pub String);

/// The AdmissionReview sent back, as the bytes that go on the wire: written once from the
/// answer's parts, with no `serde_json::Value` tree built and printed per request.
/// [`AnswerBody::json`] reads it back (tests, tools); indexing (`body["response"]`) and
/// `Display` read the same bytes.
pub struct AnswerBody {
    bytes: Vec<u8>,
    parsed: std::sync::OnceLock<Value>,
}

impl AnswerBody {
    pub fn new(bytes: Vec<u8>) -> Self {
        AnswerBody {
            bytes,
            parsed: std::sync::OnceLock::new(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The body as JSON, parsed at the first call (`null` if it were not JSON).
    pub fn json(&self) -> &Value {
        self.parsed
            .get_or_init(|| serde_json::from_slice(&self.bytes).unwrap_or_default())
    }
}

impl std::ops::Index<&str> for AnswerBody {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        &self.json()[key]
    }
}

impl std::fmt::Display for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes))
    }
}

impl std::fmt::Debug for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl PartialEq for AnswerBody {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

/// The answer, plus what metrics and logs need.
#[derive(Debug)]
pub struct Answer {
    pub body: AnswerBody,
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
    /// An UPDATE whose old object read the same as the new one for every check (a label
    /// edit): its findings were reused, not computed again.
    pub old_object_reused: bool,
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

/// The parts of an AdmissionReview tlsgate reads. `R` is how `request` is read: [`Typed`]
/// decodes `object` and `oldObject` into the model in the same pass as the envelope when
/// `request.kind` came first (the API server writes it first), [`Raw`] keeps them as raw JSON.
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct ReviewIn<R> {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<R>,
}

#[derive(Default)]
struct RequestIn<'a> {
    uid: String,
    kind: Gvk,
    operation: String,
    namespace: Option<String>,
    name: String,
    user_info: UserInfo,
    object: ObjectIn<'a>,
    old_object: ObjectIn<'a>,
    dry_run: bool,
}

/// `request.object` or `request.oldObject` as read.
#[derive(Default)]
enum ObjectIn<'a> {
    #[default]
    Absent,
    Raw(&'a RawValue),
    /// Decoded with the kind known (`None`: a kind without a typed model). Boxed: an
    /// `Object` is large and most requests carry one or two.
    Typed(Option<Box<Object>>),
}

struct Typed<'a>(RequestIn<'a>);
struct Raw<'a>(RequestIn<'a>);

impl<'de> Deserialize<'de> for Typed<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor { typed: true }).map(Typed)
    }
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor { typed: false }).map(Raw)
    }
}

struct RequestVisitor {
    typed: bool,
}

impl<'de> serde::de::Visitor<'de> for RequestVisitor {
    type Value = RequestIn<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an AdmissionRequest object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<RequestIn<'de>, A::Error> {
        let mut r = RequestIn::default();
        while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "uid" => r.uid = m.next_value::<Option<String>>()?.unwrap_or_default(),
                "kind" => r.kind = m.next_value::<Option<Gvk>>()?.unwrap_or_default(),
                "operation" => r.operation = m.next_value::<Option<String>>()?.unwrap_or_default(),
                "namespace" => r.namespace = m.next_value()?,
                "name" => r.name = m.next_value::<Option<String>>()?.unwrap_or_default(),
                "userInfo" => r.user_info = m.next_value::<Option<UserInfo>>()?.unwrap_or_default(),
                "dryRun" => r.dry_run = m.next_value::<Option<bool>>()?.unwrap_or_default(),
                "object" | "oldObject" => {
                    let seed = ObjectSeed {
                        kind: self.typed.then_some(&r.kind),
                    };
                    let o = m.next_value_seed(seed)?;
                    if key == "object" {
                        r.object = o;
                    } else {
                        r.old_object = o;
                    }
                }
                _ => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

/// Reads an object typed when its kind is known and has a model, else raw.
struct ObjectSeed<'k> {
    kind: Option<&'k Gvk>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ObjectIn<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ObjectIn<'de>, D::Error> {
        let typed = self.kind.and_then(|g| {
            (!carries_ca_bundle(&g.group, &g.kind))
                .then(|| crate::kinds::find(&g.group, &g.kind).map(|k| (k, &g.kind)))
                .flatten()
        });
        match typed {
            // `oldObject: null` on a CREATE: absent, not an object that does not decode.
            Some((k, kind)) => d.deserialize_option(TypedOrNull { k, kind }),
            None => <&RawValue>::deserialize(d).map(ObjectIn::Raw),
        }
    }
}

struct TypedOrNull<'k> {
    k: &'static crate::kinds::Kind,
    kind: &'k str,
}

impl<'de> serde::de::Visitor<'de> for TypedOrNull<'_> {
    type Value = ObjectIn<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E>(self) -> Result<ObjectIn<'de>, E> {
        Ok(ObjectIn::Absent)
    }

    fn visit_unit<E>(self) -> Result<ObjectIn<'de>, E> {
        Ok(ObjectIn::Absent)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<ObjectIn<'de>, D::Error> {
        Object::from_deserializer(self.k, self.kind, d).map(|o| ObjectIn::Typed(o.map(Box::new)))
    }
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

impl<'a> ObjectIn<'a> {
    /// The raw text, when it was kept raw and is not `null`.
    fn raw(&self) -> Option<&'a str> {
        match self {
            ObjectIn::Raw(r) => Some(r.get()).filter(|s| *s != "null"),
            _ => None,
        }
    }

    fn is_present(&self) -> bool {
        matches!(self, ObjectIn::Typed(_)) || self.raw().is_some()
    }
}

/// Parses and checks the envelope: apiVersion, kind, request, uid.
fn read(body: &[u8]) -> Result<(String, RequestIn<'_>), BadReview> {
    let text =
        std::str::from_utf8(body).map_err(|_| BadReview("body is not JSON: not UTF-8".into()))?;
    // One pass when it all reads; otherwise (an object the model does not fit, or anything
    // malformed) again with the objects raw, for the exact error or the `manifest-invalid`
    // warning.
    let (api_version, kind, request) = match serde_json::from_str::<ReviewIn<Typed<'_>>>(text) {
        Ok(r) => (r.api_version, r.kind, r.request.map(|t| t.0)),
        Err(_) => {
            // serde_json's messages quote the value they found; the body can carry a Secret.
            let r = serde_json::from_str::<ReviewIn<Raw<'_>>>(text).map_err(|e| {
                let why = crate::redact::serde_error(&e.to_string());
                if e.is_syntax() || e.is_eof() {
                    BadReview(format!("body is not JSON: {why}"))
                } else {
                    BadReview(format!("not an AdmissionReview: {why}"))
                }
            })?;
            (r.api_version, r.kind, r.request.map(|t| t.0))
        }
    };
    if !matches!(
        api_version.as_str(),
        "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
    ) {
        let got = crate::redact::serde_error(&format!("`{api_version}`"));
        return Err(BadReview(format!(
            "apiVersion must be admission.k8s.io/v1 or v1beta1, got {got}"
        )));
    }
    if kind != "AdmissionReview" {
        return Err(BadReview("kind must be AdmissionReview".into()));
    }
    let request = request.ok_or_else(|| BadReview("request is missing".into()))?;
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
    // Fields in the order serde_json wrote the `Value` this replaced (its maps are sorted).
    #[derive(serde::Serialize)]
    struct Review<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'a str,
        kind: &'static str,
        response: Response<'a>,
    }
    #[derive(serde::Serialize)]
    struct Response<'a> {
        allowed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<Status<'a>>,
        uid: &'a str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        warnings: &'a [String],
    }
    #[derive(serde::Serialize)]
    struct Status<'a> {
        code: u16,
        message: &'a str,
        reason: &'static str,
    }
    let review = Review {
        api_version,
        kind: "AdmissionReview",
        response: Response {
            allowed,
            status: message.as_deref().map(|message| Status {
                code: 403,
                message,
                reason: "Forbidden",
            }),
            uid: &request.uid,
            warnings: &warnings,
        },
    };
    let text: usize = message.as_ref().map_or(0, String::len)
        + warnings.iter().map(|w| w.len() + 4).sum::<usize>();
    let mut body = Vec::with_capacity(160 + request.uid.len() + text + text / 8);
    // Strings and booleans only: serde_json cannot fail on them.
    let _ = serde_json::to_writer(&mut body, &review);
    Answer {
        body: AnswerBody::new(body),
        allowed,
        group: request.kind.group,
        kind: request.kind.kind,
        operation: request.operation,
        namespace: request.namespace,
        name: request.name,
        user: request.user_info.username,
        dry_run: request.dry_run,
        findings,
        old_object_reused: false,
    }
}

impl Reviewer<'_> {
    pub fn review(&self, body: &[u8]) -> Result<Answer, BadReview> {
        let (api_version, mut request) = read(body)?;
        let api_version = api_version.as_str();
        let mut reused = false;
        let findings = if is_handled(&request.kind.group, &request.kind.kind) {
            self.findings(&mut request, &mut reused)?
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
        let mut a = answer(
            api_version,
            request,
            v.allowed,
            v.message,
            v.warnings,
            findings,
        );
        a.old_object_reused = reused;
        Ok(a)
    }

    /// The findings on `request` (its objects are taken); `reused` is set when an UPDATE's
    /// old object was not checked again because it reads the same as the new one.
    fn findings(
        &self,
        request: &mut RequestIn<'_>,
        reused: &mut bool,
    ) -> Result<Vec<Finding>, BadReview> {
        // Webhook configurations, APIServices and CRDs: their caBundles decide whether the API
        // server can reach another webhook. Warn only: tlsgate must not block other webhooks'
        // installs. (The API server does not send webhook configurations to webhooks at all;
        // they are handled for completeness.)
        if carries_ca_bundle(&request.kind.group, &request.kind.kind) {
            return Ok(self.ca_bundle_findings(&*request));
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
                let old = match std::mem::take(&mut request.old_object) {
                    ObjectIn::Typed(o) => o.map(|o| *o),
                    raw => raw.raw().and_then(|t| {
                        Object::from_json_typed(t, &request.kind.group, &request.kind.kind)
                            .ok()
                            .flatten()
                    }),
                };
                Ok(check_delete(
                    ns,
                    &request.name,
                    terminating,
                    old.as_ref().map(Object::meta),
                    &ctx,
                ))
            }
            "CREATE" | "UPDATE" => {
                if !request.object.is_present() {
                    return Err(BadReview(format!(
                        "request.object is missing for {operation}"
                    )));
                }
                let new = self.decode(std::mem::take(&mut request.object), request);
                let findings = self.check_decoded(&new, request, &ctx);
                if operation == "UPDATE" && request.old_object.is_present() {
                    let old_object = std::mem::take(&mut request.old_object);
                    let mut old = self.decode(old_object, request);
                    // A label edit: the old object is checked exactly as the new one was, so
                    // its findings are the new ones (every denial "already true").
                    if let (Ok(Some(n)), Ok(Some(o))) = (&new, &mut old) {
                        if same_for_checks(n, o) {
                            *reused = true;
                            return Ok(ratchet(findings.clone(), &findings));
                        }
                    }
                    let old = self.check_decoded(&old, request, &ctx);
                    return Ok(ratchet(findings, &old));
                }
                Ok(findings)
            }
            // CONNECT and anything new: nothing to say.
            _ => Ok(Vec::new()),
        }
    }

    fn ca_bundle_findings(&self, request: &RequestIn<'_>) -> Vec<Finding> {
        if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
            return Vec::new();
        }
        let Some(value) = request
            .object
            .raw()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
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

    /// The typed object of `object` (decoded already, or from its raw text), with the
    /// request's namespace when it has none.
    fn decode(
        &self,
        object: ObjectIn<'_>,
        request: &RequestIn<'_>,
    ) -> Result<Option<Object>, crate::model::DecodeError> {
        let obj = match object {
            ObjectIn::Typed(o) => o.map(|o| *o),
            raw => match raw.raw() {
                Some(t) => Object::from_json_typed(t, &request.kind.group, &request.kind.kind)?,
                None => None,
            },
        };
        Ok(obj.map(|mut obj| {
            // The API server fills metadata.namespace on namespaced objects, but be safe.
            if obj.meta().namespace.is_none() {
                obj.meta_mut().namespace = request.namespace.clone();
            }
            obj
        }))
    }

    fn check_decoded(
        &self,
        decoded: &Result<Option<Object>, crate::model::DecodeError>,
        request: &RequestIn<'_>,
        ctx: &Ctx<'_>,
    ) -> Vec<Finding> {
        match decoded {
            Ok(Some(obj)) => {
                let g = &request.kind;
                let api_version = if g.group.is_empty() {
                    g.version.clone()
                } else {
                    format!("{}/{}", g.group, g.version)
                };
                check(obj, &api_version, ctx)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/admission/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn is_typed_secret(o: &ObjectIn<'_>) -> bool {
        matches!(o, ObjectIn::Typed(Some(b)) if matches!(**b, Object::Secret(_)))
    }

    /// The API server's own bytes: `request.kind` first, `oldObject: null` on a CREATE.
    #[test]
    fn a_captured_create_is_decoded_in_one_pass() {
        let body = captured("secret-create-live-v1.json");
        let (_, r) = read(&body).unwrap();
        assert!(is_typed_secret(&r.object));
        assert!(matches!(r.old_object, ObjectIn::Absent));
    }

    #[test]
    fn a_captured_update_decodes_both_objects_in_one_pass() {
        let body = captured("secret-update-live-v1.json");
        let (_, r) = read(&body).unwrap();
        assert!(is_typed_secret(&r.object));
        assert!(is_typed_secret(&r.old_object));
    }

    #[test]
    fn an_object_the_model_does_not_fit_is_kept_raw_for_its_warning() {
        let mut v: Value = serde_json::from_slice(&captured("secret-create-live-v1.json")).unwrap();
        v["request"]["object"]["stringData"] = serde_json::json!("not a map");
        let body = serde_json::to_vec(&v).unwrap();
        let (_, r) = read(&body).unwrap();
        assert!(matches!(r.object, ObjectIn::Raw(_)));
    }
}
