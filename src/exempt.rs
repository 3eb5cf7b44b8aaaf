//! Per-object exemptions: the one home of the `tlsgate.io/skip` annotation, the
//! `tlsgate.io/ignore` label and the policy file's `exemptions:` entries. Lint, the webhook and
//! the audit all ask this module, so every door skips the same findings the same way.
//!
//! An exempted finding is never dropped: it becomes `info` and says why ("(skipped by
//! annotation tlsgate.io/skip: <reason>)"), the way kube-linter's `ignore-check.kube-linter.io`
//! and Polaris' `polaris.fairwinds.com/<check>-exempt` annotations are used. Which object's
//! annotation counts: the object the finding is reported on. A Gateway that serves an expired
//! Secret is exempted by the Gateway's annotation; the Secret's own findings by the Secret's.

use crate::finding::{Code, Finding, Issue, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `tlsgate.io/skip: "cert-expired,host-not-covered"`: these findings on this object are info.
pub const SKIP_ANNOTATION: &str = "tlsgate.io/skip";
/// Free text saying why, appended to every skipped finding.
pub const SKIP_REASON_ANNOTATION: &str = "tlsgate.io/skip-reason";
/// `tlsgate.io/ignore: "true"`: the webhook's objectSelector never sends the object, and lint
/// and audit leave it out (it still counts as existing when something references it).
pub const IGNORE_LABEL: &str = "tlsgate.io/ignore";

/// A reason is shown inside a warning of at most 256 characters: longer ones are cut.
const MAX_REASON_CHARS: usize = 80;
/// An unknown code name longer than this is not repeated in the finding.
const MAX_NAME_CHARS: usize = 40;

/// Kinds an `exemptions:` entry may name: what `check` and the audit report findings on.
pub const KINDS: &[&str] = &[
    "Secret",
    "ConfigMap",
    "Gateway",
    "VirtualService",
    "Ingress",
    "ReferenceGrant",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "CustomResourceDefinition",
];

/// Does the object carry `tlsgate.io/ignore: "true"`? (The same value the webhook's
/// objectSelector `NotIn ["true"]` matches.)
pub fn is_ignored(labels: &BTreeMap<String, String>) -> bool {
    labels.get(IGNORE_LABEL).is_some_and(|v| v == "true")
}

/// [`is_ignored`] for an object as a JSON value (the audit's caBundle holders).
pub fn is_ignored_value(v: &serde_json::Value) -> bool {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(IGNORE_LABEL))
        .and_then(|l| l.as_str())
        == Some("true")
}

/// One `exemptions:` entry of the policy file, for objects one cannot annotate (a chart's
/// Secret, another team's Gateway, a webhook configuration).
///
/// ```yaml
/// exemptions:
///   - kind: Secret
///     namespace: legacy
///     name: old-partner-cert
///     codes: [cert-expired, weak-signature]
///     reason: partner rotates in March (TICKET-123)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyExemption {
    pub kind: String,
    /// Omitted for cluster-scoped objects (webhook configurations, APIServices, CRDs).
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub codes: Vec<Code>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl PolicyExemption {
    /// Load-time validation: the error names the entry (`exemptions[2]`), never a value.
    pub fn validate(&self, index: usize) -> anyhow::Result<()> {
        let at = format!("exemptions[{index}]");
        anyhow::ensure!(
            KINDS.contains(&self.kind.as_str()),
            "{at}.kind is not a kind tlsgate reports on; use one of {}",
            KINDS.join(", ")
        );
        anyhow::ensure!(!self.name.trim().is_empty(), "{at}.name must not be empty");
        anyhow::ensure!(
            self.namespace
                .as_deref()
                .is_none_or(|n| !n.trim().is_empty()),
            "{at}.namespace must not be empty (omit it for cluster-scoped objects)"
        );
        anyhow::ensure!(
            !self.codes.is_empty(),
            "{at}.codes must name at least one finding code (`tlsgate codes` lists them)"
        );
        Ok(())
    }

    fn matches(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.kind == kind && self.namespace.as_deref() == namespace && self.name == name
    }
}

/// Where an exemption was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Annotation,
    /// The index of the entry in the policy file's `exemptions:`.
    Policy(usize),
}

/// One source of skipped codes for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    pub origin: Origin,
    pub codes: Vec<Code>,
    pub reason: Option<String>,
}

impl Exemption {
    /// "skipped by annotation tlsgate.io/skip: rotates in March" — what a skipped finding says.
    pub fn note(&self) -> String {
        let by = match self.origin {
            Origin::Annotation => format!("annotation {SKIP_ANNOTATION}"),
            Origin::Policy(i) => format!("policy file exemptions[{i}]"),
        };
        match &self.reason {
            Some(r) => format!("skipped by {by}: {r}"),
            None => format!("skipped by {by}"),
        }
    }
}

/// Was the finding whose [`Finding::skipped`] note this is skipped by the annotation (rather
/// than the policy file)?
pub fn by_annotation(note: &str) -> bool {
    note.starts_with(&format!("skipped by annotation {SKIP_ANNOTATION}"))
}

/// Everything that exempts findings on one object, and what was wrong with its annotation.
#[derive(Debug, Clone, Default)]
pub struct Exemptions {
    pub list: Vec<Exemption>,
    /// `exemption-invalid` issues: unknown code names in the annotation.
    pub invalid: Vec<Issue>,
}

impl Exemptions {
    /// The exemptions of the object `kind namespace/name` with these annotations under `entries`
    /// (the policy file's `exemptions:`).
    pub fn of(
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        annotations: &BTreeMap<String, String>,
        entries: &[PolicyExemption],
    ) -> Self {
        let mut out = Exemptions::default();
        if let Some(value) = annotations.get(SKIP_ANNOTATION) {
            let mut codes = Vec::new();
            for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                match word.parse::<Code>() {
                    Ok(c) => codes.push(c),
                    Err(_) => out.invalid.push(unknown_code(word)),
                }
            }
            if !codes.is_empty() {
                out.list.push(Exemption {
                    origin: Origin::Annotation,
                    codes,
                    reason: annotations
                        .get(SKIP_REASON_ANNOTATION)
                        .and_then(|r| reason(r)),
                });
            }
        }
        for (i, e) in entries.iter().enumerate() {
            if e.matches(kind, namespace, name) {
                out.list.push(Exemption {
                    origin: Origin::Policy(i),
                    codes: e.codes.clone(),
                    reason: e.reason.as_deref().and_then(reason),
                });
            }
        }
        out
    }

    /// [`Exemptions::of`] for an object as a JSON value (caBundle holders, which have no typed
    /// model: webhook configurations, APIServices, CRDs).
    pub fn of_value(v: &serde_json::Value, entries: &[PolicyExemption]) -> Self {
        let text = |p: &str| v.pointer(p).and_then(|s| s.as_str());
        let annotations: BTreeMap<String, String> = v
            .pointer("/metadata/annotations")
            .and_then(|a| a.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Self::of(
            text("/kind").unwrap_or_default(),
            text("/metadata/namespace"),
            text("/metadata/name").unwrap_or_default(),
            &annotations,
            entries,
        )
    }

    /// The exemption that skips `code`, the annotation before the policy file.
    pub fn covering(&self, code: Code) -> Option<&Exemption> {
        self.list.iter().find(|e| e.codes.contains(&code))
    }

    /// Turns the covered findings into `info` that says so.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings.into_iter().map(|f| self.apply_one(f)).collect()
    }

    fn apply_one(&self, mut f: Finding) -> Finding {
        if let Some(e) = self.covering(f.code) {
            let note = e.note();
            f.message.push_str(&format!(" ({note})"));
            f.severity = Severity::Info;
            f.skipped = Some(note);
        }
        f
    }
}

fn reason(r: &str) -> Option<String> {
    let r = r.split_whitespace().collect::<Vec<_>>().join(" ");
    if r.is_empty() {
        return None;
    }
    let r = crate::redact::scrub(&r).into_owned();
    Some(if r.chars().count() > MAX_REASON_CHARS {
        let cut: String = r.chars().take(MAX_REASON_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        r
    })
}

fn unknown_code(word: &str) -> Issue {
    let names = Code::ALL.iter().map(|c| c.as_str());
    let hint = match crate::analysis::hosts::closest(word, names) {
        Some(c) => format!("did you mean `{c}`?"),
        None => "`tlsgate codes` lists them".to_string(),
    };
    let shown = if word.chars().count() > MAX_NAME_CHARS || word.contains(char::is_control) {
        format!("a {}-character name", word.chars().count())
    } else {
        format!("`{word}`")
    };
    Issue::new(
        Code::ExemptionInvalid,
        format!("metadata.annotations[\"{SKIP_ANNOTATION}\"]"),
        format!("annotation {SKIP_ANNOTATION} names {shown}, which is not a finding code, so nothing is skipped for it; {hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(skip: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(SKIP_ANNOTATION.to_string(), skip.to_string())])
    }

    #[test]
    fn annotation_codes_are_split_on_commas_and_trimmed() {
        let e = Exemptions::of(
            "Secret",
            Some("ns"),
            "s",
            &annotations(" cert-expired , weak-key,"),
            &[],
        );
        assert_eq!(e.list[0].codes, vec![Code::CertExpired, Code::WeakKey]);
        assert!(e.invalid.is_empty());
    }

    #[test]
    fn an_unknown_code_is_exemption_invalid_with_a_did_you_mean() {
        let e = Exemptions::of("Secret", Some("ns"), "s", &annotations("cert-expird"), &[]);
        assert!(e.list.is_empty());
        assert_eq!(e.invalid[0].code, Code::ExemptionInvalid);
        assert!(e.invalid[0]
            .message
            .contains("did you mean `cert-expired`?"));
    }

    #[test]
    fn a_policy_entry_matches_kind_namespace_and_name_only() {
        let entry = PolicyExemption {
            kind: "Secret".into(),
            namespace: Some("ns".into()),
            name: "s".into(),
            codes: vec![Code::CertExpired],
            reason: None,
        };
        let none = BTreeMap::new();
        let entries = std::slice::from_ref(&entry);
        assert_eq!(
            Exemptions::of("Secret", Some("ns"), "s", &none, entries).list[0].origin,
            Origin::Policy(0)
        );
        assert!(Exemptions::of("Secret", Some("other"), "s", &none, entries)
            .list
            .is_empty());
        assert!(Exemptions::of("Gateway", Some("ns"), "s", &none, entries)
            .list
            .is_empty());
    }

    #[test]
    fn ignore_label_needs_the_value_true() {
        let l = |v: &str| BTreeMap::from([(IGNORE_LABEL.to_string(), v.to_string())]);
        assert!(is_ignored(&l("true")));
        assert!(!is_ignored(&l("yes")));
        assert!(!is_ignored(&BTreeMap::new()));
    }
}
