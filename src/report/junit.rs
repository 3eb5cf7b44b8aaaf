//! JUnit XML for CI test-report views (GitLab `artifacts:reports:junit`, Jenkins, Azure
//! Pipelines, GitHub test-report actions).
//!
//! One `<testcase>` per checked object, the clean ones included. Those views count and list
//! testcases ("11 tests, 5 failed") and let you search for one by name; an object that passes
//! should be visible as passed, not folded into a summary line. `classname` is the kind and
//! `name` is `namespace/name`, so the UI groups by kind. Deny findings fail the testcase: one
//! `<failure>` (JUnit allows one) whose `message` is the lead finding and whose body lists them
//! all; warnings and notes go to `<system-out>`, which the views show without failing the test.

use super::{Entry, Report, SourceJson};
use crate::finding::{ObjectRef, Severity};

/// An object that was checked, and where it came from.
#[derive(Debug, Clone)]
pub struct Subject {
    pub object: ObjectRef,
    pub source: Option<SourceJson>,
}

pub fn render(report: &Report, checked: &[Subject]) -> String {
    // Checked objects in input order, then objects that only appear in findings (a document
    // that could not be decoded is not "checked", but its failure must show).
    let mut cases: Vec<(&ObjectRef, Option<&SourceJson>)> = Vec::new();
    let subjects = checked.iter().map(|s| (&s.object, s.source.as_ref()));
    let finding_objects = report
        .findings
        .iter()
        .map(|e| (&e.finding.object, e.source.as_ref()));
    for (object, source) in subjects.chain(finding_objects) {
        if !cases.iter().any(|(o, _)| *o == object) {
            cases.push((object, source));
        }
    }

    let mut body = String::new();
    let mut failures = 0;
    for (object, source) in &cases {
        let findings: Vec<&Entry> = report
            .findings
            .iter()
            .filter(|e| e.finding.object == **object)
            .collect();
        let name = match &object.namespace {
            Some(ns) => format!("{ns}/{}", object.name),
            None => object.name.clone(),
        };
        body.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\"",
            attr(&object.kind),
            attr(&name)
        ));
        // The same file and line as the SARIF result: where the object was written.
        if let Some((file, line)) = super::sarif::location(*source) {
            body.push_str(&format!(" file=\"{}\" line=\"{line}\"", attr(file)));
        }
        if findings.is_empty() {
            body.push_str("/>\n");
            continue;
        }
        body.push_str(">\n");
        let line = |e: &Entry| {
            let f = &e.finding;
            format!("{} [{}] {}: {}", f.severity, f.code, f.path, f.message)
        };
        let denies: Vec<&&Entry> = findings
            .iter()
            .filter(|e| e.finding.severity == Severity::Deny)
            .collect();
        if let Some(lead) = denies.first() {
            failures += 1;
            let f = &lead.finding;
            let all: Vec<String> = denies.iter().map(|e| line(e)).collect();
            body.push_str(&format!(
                "    <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                attr(&format!("{}: {}", f.path, f.message)),
                f.code,
                text(&all.join("\n"))
            ));
        }
        let rest: Vec<String> = findings
            .iter()
            .filter(|e| e.finding.severity != Severity::Deny)
            .map(|e| line(e))
            .collect();
        if !rest.is_empty() {
            body.push_str(&format!(
                "    <system-out>{}</system-out>\n",
                text(&rest.join("\n"))
            ));
        }
        body.push_str("  </testcase>\n");
    }

    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuite name=\"tlsgate lint\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n\
         {body}</testsuite>\n",
        cases.len()
    )
}

/// Character data: markup escaped, characters XML 1.0 cannot carry replaced.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Attribute values: as [`text`], plus quotes, and whitespace kept as character references
/// (a parser would otherwise normalise a newline in an attribute to a space).
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            // XML 1.0 §2.2 Char: no other C0 controls, no U+FFFE/U+FFFF.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{attr, text};

    #[test]
    fn markup_is_escaped() {
        assert_eq!(attr(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(text(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;\"c'");
    }

    #[test]
    fn newlines_survive_in_attributes() {
        assert_eq!(attr("a\nb\tc"), "a&#10;b&#9;c");
        assert_eq!(text("a\nb"), "a\nb");
    }

    #[test]
    fn characters_xml_cannot_hold_are_replaced() {
        assert_eq!(text("a\u{1b}[31mb\u{0}"), "a\u{FFFD}[31mb\u{FFFD}");
    }
}
