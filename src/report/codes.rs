//! What each finding code means, how it breaks traffic, how to fix and how to skip it: the
//! sections of `docs/codes.md`, compiled in. That page is the one home of this text; `tlsgate
//! explain`, `tlsgate codes` and the SARIF rules' `help` all read it from here, and a test
//! checks that every [`Code`] has its section.

use crate::finding::Code;

/// `docs/codes.md`, as shipped with this build.
pub const DOC: &str = include_str!("../../docs/codes.md");

/// Where the page is published; a code's section is `#<code>` (GitHub's heading anchors).
pub const DOC_URL: &str = "https://github.com/tlsgate/tlsgate/blob/main/docs/codes.md";

/// The section of `code`, from its `## \`code\`` heading to the next heading.
pub fn section(code: Code) -> Option<&'static str> {
    let heading = format!("## `{}`\n", code.as_str());
    let start = DOC.find(&heading)?;
    let body = &DOC[start + heading.len()..];
    let end = body.find("\n## ").map_or(body.len(), |e| e + 1);
    Some(DOC[start..start + heading.len() + end].trim_end())
}

/// The section without its heading, as Markdown (SARIF `help.markdown`).
pub fn help_markdown(code: Code) -> Option<&'static str> {
    section(code)
        .and_then(|s| s.split_once('\n'))
        .map(|(_, b)| b.trim())
}

/// The same as plain text (SARIF `help.text`): emphasis and code marks dropped, paragraphs
/// kept, lines of one paragraph joined.
pub fn help_text(code: Code) -> Option<String> {
    let md = help_markdown(code)?;
    let paragraphs: Vec<String> = md
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .replace("**", "")
                .replace('`', "")
        })
        .collect();
    Some(paragraphs.join("\n\n"))
}

/// The link to `code`'s section (SARIF `helpUri`).
pub fn help_uri(code: Code) -> String {
    format!("{DOC_URL}#{}", code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_section_with_what_why_fix_and_skip() {
        for &code in Code::ALL {
            let body = help_markdown(code)
                .unwrap_or_else(|| panic!("docs/codes.md has no section ## `{code}`"));
            for part in [
                "**What:**",
                "**Why it breaks traffic:**",
                "**Fix:**",
                "**Skip:**",
            ] {
                assert!(body.contains(part), "{code}: no {part}");
            }
        }
    }

    #[test]
    fn every_skip_says_how_to_skip_it_on_one_object() {
        for &code in Code::ALL {
            let body = help_markdown(code).unwrap();
            let skip = &body[body.find("**Skip:**").unwrap()..];
            let annotation = format!("`{}: \"{code}\"`", crate::exempt::SKIP_ANNOTATION);
            assert!(
                skip.contains(&annotation) || code == Code::ManifestInvalid,
                "{code}: its Skip does not show {annotation}"
            );
            assert!(skip.contains("exemptions:"), "{code}: no policy exemptions");
        }
    }

    #[test]
    fn a_section_ends_before_the_next_heading() {
        let s = section(Code::CertExpired).unwrap();
        assert!(s.starts_with("## `cert-expired`"));
        assert!(!s.contains("## `cert-not-yet-valid`"));
    }

    #[test]
    fn every_section_states_the_default_severity() {
        for &code in Code::ALL {
            let body = help_markdown(code).unwrap();
            let expected = format!("Default: **{}**", code.default_severity());
            assert!(body.starts_with(&expected), "{code}: {body:.60}");
        }
    }

    #[test]
    fn help_text_has_no_markdown_emphasis() {
        let text = help_text(Code::KeyMismatch).unwrap();
        assert!(text.starts_with("Default: deny."), "{text}");
        assert!(!text.contains("**") && !text.contains('`'));
    }

    #[test]
    fn help_uri_points_at_the_section_anchor() {
        assert_eq!(
            help_uri(Code::HostNotCovered),
            format!("{DOC_URL}#host-not-covered")
        );
    }
}
