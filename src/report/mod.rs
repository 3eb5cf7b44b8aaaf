//! Findings to words: admission message and warnings, human text, JSON, SARIF and JUnit XML.

pub mod codes;
mod junit;
pub mod sarif;

pub use junit::Subject;

use crate::finding::{Code, Finding, Severity};
use crate::load::Source;
use serde::Serialize;

/// A finding and, when it came from a file, where.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceJson {
    pub file: String,
    pub document: usize,
    pub line: usize,
    /// The file the object was written in, for a rendered stream ([`crate::load::Origin`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginJson {
    pub file: String,
    pub line: usize,
}

impl From<&Source> for SourceJson {
    fn from(s: &Source) -> Self {
        SourceJson {
            file: s.file.clone(),
            document: s.index,
            line: s.line,
            origin: s.origin.as_ref().map(|o| OriginJson {
                file: o.file.clone(),
                line: o.line,
            }),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub objects: usize,
    pub deny: usize,
    pub warn: usize,
    pub info: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Entry>,
    pub summary: Summary,
}

impl Report {
    pub fn new(mut findings: Vec<Entry>, objects: usize) -> Self {
        // Grouped by object (in input order of first appearance), most severe first inside.
        let mut order: Vec<crate::finding::ObjectRef> = Vec::new();
        for e in &findings {
            if !order.contains(&e.finding.object) {
                order.push(e.finding.object.clone());
            }
        }
        findings.sort_by_key(|e| {
            (
                order.iter().position(|o| *o == e.finding.object),
                std::cmp::Reverse(e.finding.severity),
                specificity(e.finding.code),
            )
        });
        let count = |s| findings.iter().filter(|e| e.finding.severity == s).count();
        let summary = Summary {
            objects,
            deny: count(Severity::Deny),
            warn: count(Severity::Warn),
            info: count(Severity::Info),
        };
        Report { findings, summary }
    }

    pub fn has_deny(&self) -> bool {
        self.summary.deny > 0
    }

    /// SARIF 2.1.0, for code-scanning UIs; see [`sarif`](self::sarif) for the mapping.
    pub fn to_sarif(&self) -> String {
        sarif::render(self)
    }

    /// JUnit XML: one testcase per object in `checked` (plus any object that has findings but
    /// is not in it, such as a document that could not be parsed).
    pub fn to_junit(&self, checked: &[Subject]) -> String {
        junit::render(self, checked)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Human text: one block per object, one sentence per finding.
    pub fn to_text(&self, color: bool) -> String {
        let mut out = String::new();
        let mut current: Option<&crate::finding::ObjectRef> = None;
        for e in &self.findings {
            let f = &e.finding;
            if current != Some(&f.object) {
                if current.is_some() {
                    out.push('\n');
                }
                let at = e
                    .source
                    .as_ref()
                    .map(|s| format!("  ({}:{})", s.file, s.line))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{}{at}\n",
                    paint(&f.object.to_string(), "1", color)
                ));
                current = Some(&f.object);
            }
            let sev = match f.severity {
                Severity::Deny => paint("deny", "31;1", color),
                Severity::Warn => paint("warn", "33", color),
                Severity::Info => paint("info", "36", color),
            };
            out.push_str(&format!("  {sev} [{}] {}: {}\n", f.code, f.path, f.message));
        }
        let s = &self.summary;
        if !self.findings.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "{} objects checked: {} denied, {} warnings, {} notes\n",
            s.objects, s.deny, s.warn, s.info
        ));
        out
    }
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Lower is more specific: a denial leads with what the operator can act on directly.
fn specificity(code: Code) -> u8 {
    match code {
        Code::KeyMismatch | Code::HostNotCovered | Code::CertExpired | Code::CertNotYetValid => 0,
        Code::KeyEncrypted | Code::IstioCaInvalid | Code::CaMissing | Code::CaNotCa => 1,
        Code::RefNotPermitted | Code::RefInvalidKind | Code::IstioMutualWithCredential => 1,
        Code::SecretMalformed | Code::ManifestInvalid => 3,
        Code::ViewNotSynced => 5,
        _ => 2,
    }
}

/// kubectl prints each warning on one line; keep them short enough to read.
pub const MAX_WARNING_CHARS: usize = 120;

/// What the webhook answers: allowed or not, the denial message, and the warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub message: Option<String>,
    pub warnings: Vec<String>,
}

pub fn verdict(findings: &[Finding]) -> Verdict {
    let mut denies: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Deny)
        .collect();
    denies.sort_by_key(|f| specificity(f.code));
    let message = denies.first().map(|lead| {
        let mut m = format!(
            "tlsgate denied {}: {}: {} [{}]",
            lead.object, lead.path, lead.message, lead.code
        );
        if denies.len() > 1 {
            let rest: Vec<String> = denies[1..]
                .iter()
                .map(|f| format!("{} at {}", f.code, f.path))
                .collect();
            m.push_str(&format!(" (and {} more: {})", rest.len(), rest.join(", ")));
        }
        m
    });
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warn)
        .flat_map(|f| {
            // Secret findings name their key in the sentence already; others lead with the field.
            let text = if f.path.starts_with("data[") || f.path.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.path, f.message)
            };
            warning_lines(f.code.as_str(), &text)
        })
        .collect();
    Verdict {
        allowed: denies.is_empty(),
        message,
        warnings,
    }
}

/// kubectl prints one `Warning:` line per entry. A finding whose sentence does not fit in
/// [`MAX_WARNING_CHARS`] is split at its clauses (`; `) into several entries, each led by the
/// code, so the fix at the end of the sentence is not cut off; only a single clause longer
/// than a line is truncated.
pub fn warning_lines(code: &str, message: &str) -> Vec<String> {
    let prefix = format!("{code}: ");
    let mut lines = Vec::new();
    let mut line = String::new();
    for clause in message.split("; ") {
        let candidate = if line.is_empty() {
            clause.to_string()
        } else {
            format!("{line}; {clause}")
        };
        if line.is_empty()
            || prefix.chars().count() + candidate.chars().count() <= MAX_WARNING_CHARS
        {
            line = candidate;
        } else {
            lines.push(truncate(&format!("{prefix}{line}"), MAX_WARNING_CHARS));
            line = clause.to_string();
        }
    }
    lines.push(truncate(&format!("{prefix}{line}"), MAX_WARNING_CHARS));
    lines
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// What [`crate::load`] calls standard input: there is no file a UI could open.
fn is_stdin(file: &str) -> bool {
    file == crate::load::STDIN
}

#[cfg(test)]
mod warning_tests {
    use super::*;

    #[test]
    fn short_warning_is_one_line() {
        assert_eq!(
            warning_lines("weak-key", "tls.crt (CN=a) has a 1024-bit RSA key"),
            ["weak-key: tls.crt (CN=a) has a 1024-bit RSA key"]
        );
    }

    #[test]
    fn long_warning_is_split_at_clauses_keeping_the_fix() {
        let msg = format!(
            "{}; reissue it with subjectAltName=DNS:a.example.com",
            "x".repeat(100)
        );
        let lines = warning_lines("no-subject-alt-name", &msg);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            "no-subject-alt-name: reissue it with subjectAltName=DNS:a.example.com"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= MAX_WARNING_CHARS));
    }
}
