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
    /// Objects checked.
    pub objects: usize,
    /// Objects with at least one denial (text output; the JSON summary keeps its shape).
    #[serde(skip)]
    pub objects_denied: usize,
    pub deny: usize,
    pub warn: usize,
    pub info: usize,
    /// Objects left out because they carry the label `tlsgate.io/ignore: "true"`.
    #[serde(skip_serializing_if = "is_zero")]
    pub ignored: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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
        let mut denied: Vec<&crate::finding::ObjectRef> = findings
            .iter()
            .filter(|e| e.finding.severity == Severity::Deny)
            .map(|e| &e.finding.object)
            .collect();
        denied.sort();
        denied.dedup();
        let summary = Summary {
            objects,
            objects_denied: denied.len(),
            deny: count(Severity::Deny),
            warn: count(Severity::Warn),
            info: count(Severity::Info),
            ignored: 0,
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
        let n = crate::analysis::validity::count;
        out.push_str(&format!(
            "{} checked, {} with denials: {}, {}, {}\n",
            n(s.objects, "object"),
            s.objects_denied,
            n(s.deny, "denial"),
            n(s.warn, "warning"),
            n(s.info, "note"),
        ));
        if s.ignored > 0 {
            out.push_str(&format!(
                "{} ignored (label {}=true)\n",
                n(s.ignored, "object"),
                crate::exempt::IGNORE_LABEL
            ));
        }
        out
    }
}

/// `s` in the SGR style `code` (`"31;1"`: bold red) when `color`, else as it is.
pub fn paint(s: &str, code: &str, color: bool) -> String {
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

/// The API server keeps at most this many characters (runes) of one warning
/// (k8s.io/apiserver `pkg/warning`: `truncateItemRunes = 256`).
pub const MAX_WARNING_CHARS: usize = 256;
/// ... and of all warnings of one response together (`truncateAtTotalRunes = 4*1024`).
pub const MAX_WARNINGS_TOTAL_CHARS: usize = 4 * 1024;

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
                // The lead's path is said once.
                .map(|f| match f.path == lead.path {
                    true => f.code.to_string(),
                    false => format!("{} at {}", f.code, f.path),
                })
                .collect();
            // Bounded like every list in a message: `tlsgate lint` shows all of them.
            m.push_str(&format!(
                " (and {} more: {})",
                rest.len(),
                crate::analysis::hosts::list_some(&rest)
            ));
        }
        m
    });
    // A skipped finding is info, but kubectl shows it: an exemption is visible, never silent.
    let warns: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warn || f.skipped.is_some())
        .collect();
    Verdict {
        allowed: denies.is_empty(),
        message,
        warnings: warnings(&warns),
    }
}

/// One warning per finding, each within [`MAX_WARNING_CHARS`], all together within
/// [`MAX_WARNINGS_TOTAL_CHARS`]; past that the last entry counts the ones left out.
pub fn warnings(findings: &[&Finding]) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0;
    // Room for the closing "and N more" entry.
    let budget = MAX_WARNINGS_TOTAL_CHARS - 80;
    for (i, f) in findings.iter().enumerate() {
        let w = warning(f);
        let n = w.chars().count();
        if total + n > budget {
            let left = findings.len() - i;
            out.push(format!(
                "tlsgate: and {left} more warning{}; run `tlsgate lint` on the object to see all of them",
                if left == 1 { "" } else { "s" }
            ));
            break;
        }
        total += n;
        out.push(w);
    }
    out
}

/// kubectl prints each entry as one `Warning:` line: the statement first, then the code and
/// the field path, `tls.crt (CN=a) has no subjectAltName; … [no-subject-alt-name] at data["tls.crt"]`.
/// A longer sentence is cut in its middle, so the path at the end survives, and so does the fix
/// after its last `; ` when that is short: what is cut is the detail of the statement.
/// A skipped finding keeps its "(skipped by …)" note beside the code, so a long sentence never
/// cuts it off.
pub fn warning(f: &Finding) -> String {
    let (message, note) = match &f.skipped {
        Some(n) => {
            let note = format!(" ({n})");
            (f.message.strip_suffix(&note).unwrap_or(&f.message), note)
        }
        None => (f.message.as_str(), String::new()),
    };
    let tail = truncate(
        &format!("{note} [{}] at {}", f.code, f.path),
        MAX_WARNING_CHARS / 2,
    );
    let room = MAX_WARNING_CHARS - tail.chars().count();
    format!("{}{tail}", cut_keeping_the_fix(message, room))
}

/// `message` within `room` characters: cut before its fix (the part from the last `; `) when
/// that takes less than half the room, else at the end.
fn cut_keeping_the_fix(message: &str, room: usize) -> String {
    if message.chars().count() <= room {
        return message.to_string();
    }
    if let Some(at) = message.rfind("; ") {
        let fix = &message[at..];
        let n = fix.chars().count();
        if n < room / 2 {
            return format!("{}{fix}", truncate(&message[..at], room - n));
        }
    }
    truncate(message, room)
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
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
    use crate::finding::{Issue, ObjectRef};

    fn finding(code: Code, path: &str, message: &str) -> Finding {
        Issue::new(code, path, message).on(&ObjectRef::default())
    }

    #[test]
    fn warning_is_the_statement_then_code_and_path() {
        let f = finding(
            Code::WeakKey,
            "data[\"tls.crt\"]",
            "tls.crt (CN=a) has a 1024-bit RSA key",
        );
        assert_eq!(
            warning(&f),
            "tls.crt (CN=a) has a 1024-bit RSA key [weak-key] at data[\"tls.crt\"]"
        );
    }

    #[test]
    fn long_warning_is_cut_in_the_sentence_keeping_the_path() {
        let f = finding(
            Code::HostNotCovered,
            "spec.servers[0].hosts",
            &"x".repeat(400),
        );
        let w = warning(&f);
        assert_eq!(w.chars().count(), MAX_WARNING_CHARS);
        assert!(
            w.ends_with("… [host-not-covered] at spec.servers[0].hosts"),
            "{w}"
        );
    }

    /// The Certificate warning kubectl showed cut in its fix (tests/e2e_kinds.rs).
    #[test]
    fn long_warning_keeps_its_fix_and_cuts_the_statement() {
        let f = finding(
            Code::LeafOutlivesIssuer,
            "spec.duration",
            "the leaf will outlive its issuer: duration 87600h runs 37 days past the CA of Issuer e2e-certificate/ca-issuer (secret e2e-certificate/ca-key-pair, notAfter 2036-11-21T07:25:08Z); renew the CA or shorten spec.duration",
        );
        let w = warning(&f);
        assert_eq!(w.chars().count(), MAX_WARNING_CHARS);
        assert!(
            w.starts_with("the leaf will outlive its issuer: duration 87600h runs 37 days past the CA of Issuer e2e-certificate/ca-issuer "),
            "{w}"
        );
        assert!(
            w.ends_with(
                "…; renew the CA or shorten spec.duration [leaf-outlives-issuer] at spec.duration"
            ),
            "{w}"
        );
    }

    #[test]
    fn long_fix_is_cut_at_the_end() {
        let f = finding(
            Code::HostNotCovered,
            "spec.servers[0].hosts",
            &format!("{}; {}", "x".repeat(100), "y".repeat(300)),
        );
        let w = warning(&f);
        assert_eq!(w.chars().count(), MAX_WARNING_CHARS);
        assert!(
            w.starts_with(&"x".repeat(100))
                && w.ends_with("y… [host-not-covered] at spec.servers[0].hosts"),
            "{w}"
        );
    }

    #[test]
    fn denial_names_three_other_denials_and_counts_the_rest() {
        let fs: Vec<Finding> = (0..10)
            .map(|i| finding(Code::SecretMalformed, &format!("data[\"k{i}\"]"), "x"))
            .collect();
        let m = verdict(&fs).message.unwrap();
        assert!(
            m.ends_with(" (and 9 more: secret-malformed at data[\"k1\"], secret-malformed at data[\"k2\"], secret-malformed at data[\"k3\"] and 6 more)"),
            "{m}"
        );
    }

    #[test]
    fn denial_names_the_leads_path_once() {
        let fs = [
            finding(Code::KeyMismatch, "spec.servers[0].tls.credentialName", "x"),
            finding(Code::CaMissing, "spec.servers[0].tls.credentialName", "y"),
            finding(Code::CaMissing, "spec.servers[1].tls.credentialName", "z"),
        ];
        let m = verdict(&fs).message.unwrap();
        assert!(
            m.ends_with("x [key-mismatch] (and 2 more: ca-missing, ca-missing at spec.servers[1].tls.credentialName)"),
            "{m}"
        );
    }

    #[test]
    fn many_warnings_stay_within_the_total_and_count_the_rest() {
        let fs: Vec<Finding> = (0..100)
            .map(|i| finding(Code::WeakKey, &format!("data[\"k{i}\"]"), &"y".repeat(200)))
            .collect();
        let refs: Vec<&Finding> = fs.iter().collect();
        let w = warnings(&refs);
        let total: usize = w.iter().map(|w| w.chars().count()).sum();
        assert!(total <= MAX_WARNINGS_TOTAL_CHARS, "{total}");
        let last = w.last().unwrap();
        assert!(
            last.starts_with(&format!("tlsgate: and {} more", 100 - (w.len() - 1))),
            "{last}"
        );
    }
}
