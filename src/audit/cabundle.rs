//! caBundles: the CAs the API server trusts when it calls a webhook, an aggregated API or a
//! CRD conversion webhook. When one expires, every request through that webhook fails with
//! "x509: certificate has expired or is not yet valid" (the seed's `pilot.validation.istio.io`).
//!
//! [`sources`] finds every caBundle of an object with its field path and what it protects;
//! [`cabundle_findings`] is the admission-time warning built on it.

use crate::analysis::{self, Role};
use crate::finding::{Code, Finding, Issue, ObjectRef, Severity};
use base64::Engine;
use serde_json::Value;

/// One caBundle field.
#[derive(Debug, Clone)]
pub struct Source {
    pub object: ObjectRef,
    /// `webhooks[0].clientConfig.caBundle`, `spec.caBundle`,
    /// `spec.conversion.webhook.clientConfig.caBundle`.
    pub path: String,
    /// The webhook's `name` for webhook configurations (x509-certificate-exporter's
    /// `cabundle_entry`); empty for APIServices and CRDs, which hold one caBundle.
    pub entry: String,
    /// "webhook pilot.validation.istio.io → service istio-system/istio-galley:443/admitpilot (failurePolicy Fail)".
    pub protects: String,
    /// The decoded PEM, or why it does not decode.
    pub bytes: Result<Vec<u8>, String>,
}

/// Every caBundle of a ValidatingWebhookConfiguration, MutatingWebhookConfiguration,
/// APIService or CustomResourceDefinition; nothing for other kinds. Absent caBundles are
/// skipped (URL webhooks may rely on the system trust store).
pub fn sources(v: &Value) -> Vec<Source> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let object = ObjectRef {
        api_version: str_at(v, "/apiVersion").to_string(),
        kind: kind.to_string(),
        namespace: None,
        name: str_at(v, "/metadata/name").to_string(),
    };
    let mut out = Vec::new();
    let mut push = |path: String, entry: &str, bundle: &Value, protects: String| {
        let Some(b64) = bundle.as_str() else { return };
        out.push(Source {
            object: object.clone(),
            path,
            entry: entry.to_string(),
            protects,
            bytes: base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("caBundle is not valid base64 ({e})")),
        });
    };
    match kind {
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            let webhooks = v.get("webhooks").and_then(Value::as_array);
            for (i, w) in webhooks.into_iter().flatten().enumerate() {
                let cc = &w["clientConfig"];
                let failure = w
                    .get("failurePolicy")
                    .and_then(Value::as_str)
                    .unwrap_or("Fail");
                push(
                    format!("webhooks[{i}].clientConfig.caBundle"),
                    str_at(w, "/name"),
                    &cc["caBundle"],
                    format!(
                        "webhook {} → {} (failurePolicy {failure})",
                        str_at(w, "/name"),
                        endpoint(cc)
                    ),
                );
            }
        }
        "APIService" => push(
            "spec.caBundle".into(),
            "",
            &v["spec"]["caBundle"],
            format!(
                "APIService {} → {}",
                object.name,
                endpoint(&serde_json::json!({ "service": v["spec"]["service"] }))
            ),
        ),
        "CustomResourceDefinition" => {
            let conversion = &v["spec"]["conversion"];
            // apiextensions.k8s.io/v1 nests clientConfig under `webhook`; v1beta1 had
            // `webhookClientConfig` directly under `conversion`.
            let (path, cc) = if conversion["webhook"]["clientConfig"].is_object() {
                (
                    "spec.conversion.webhook.clientConfig.caBundle",
                    &conversion["webhook"]["clientConfig"],
                )
            } else {
                (
                    "spec.conversion.webhookClientConfig.caBundle",
                    &conversion["webhookClientConfig"],
                )
            };
            push(
                path.into(),
                "",
                &cc["caBundle"],
                format!("conversion webhook of {} → {}", object.name, endpoint(cc)),
            );
        }
        _ => {}
    }
    out
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// "service ns/name:port/path" or the URL of a clientConfig.
fn endpoint(client_config: &Value) -> String {
    if let Some(url) = client_config.get("url").and_then(Value::as_str) {
        return url.to_string();
    }
    let s = &client_config["service"];
    let port = s.get("port").and_then(Value::as_u64).unwrap_or(443);
    format!(
        "service {}/{}:{port}{}",
        str_at(s, "/namespace"),
        str_at(s, "/name"),
        str_at(s, "/path")
    )
}

/// Admission-time warnings for a webhook configuration, APIService or CRD whose caBundle holds
/// a CA that is expired, not yet valid, or expires within `warn_within_days` (the shared rule of
/// [`analysis::validity`]: some entries expired is `chain-cert-expired`, all of them
/// `cert-expired`); and for a caBundle that does not decode. Always [`Severity::Warn`], a named
/// exception to the codes' defaults: tlsgate must never block the install of another webhook.
/// Empty for other kinds.
///
/// Paths: `webhooks[0].clientConfig.caBundle`, `spec.caBundle`,
/// `spec.conversion.webhook.clientConfig.caBundle`.
pub fn cabundle_findings(object: &Value, now: i64, warn_within_days: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in sources(object) {
        let warn = |code: Code, message: String| {
            Issue::new(code, s.path.clone(), message)
                .with_severity(Severity::Warn)
                .on(&s.object)
        };
        let bytes = match &s.bytes {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(b) => b,
            Err(e) => {
                out.push(warn(
                    Code::SecretMalformed,
                    format!("{e}; the API server cannot call {}", s.protects),
                ));
                continue;
            }
        };
        let bundle = analysis::parse_bundle(bytes, Role::CaBundle);
        for (code, _, msg) in &bundle.issues {
            if *code == Code::SecretMalformed {
                out.push(warn(*code, format!("caBundle {msg}")));
            }
        }
        for (code, msg) in
            analysis::validity::bundle_windows("caBundle", &bundle, now, warn_within_days)
        {
            out.push(warn(code, format!("{msg}; protects {}", s.protects)));
        }
    }
    out
}
