//! Keeping values out of messages. tlsgate reads private keys, and a mixed-up flag
//! (`--config tls.key`) or a misplaced PEM makes a parser see key material where it expected a
//! field. serde's errors quote what they found (`invalid type: string "-----BEGIN …"`); every
//! parse error goes through [`serde_error`] before it reaches a message, and every log line
//! through [`scrub`] before it reaches stderr.

use std::borrow::Cow;

/// Longest quoted name (a field, key or variant) kept in a message. Kubernetes field and key
/// names are short; anything longer, or with characters a name does not have, is withheld.
const MAX_NAME_CHARS: usize = 63;

/// Shortest run of base64 characters [`scrub`] withholds (a PEM body line is 64).
const MIN_BASE64_RUN: usize = 40;

/// Rewrites a serde / serde_json / yaml_serde error message so it names the expected type and
/// the kind of value found, never the value: `invalid type: string "…", expected a map` becomes
/// `expected a map, found a string`. Quoted names that look like field names are kept.
///
/// ```
/// use tlsgate::redact::serde_error;
/// let m = serde_error(r#"invalid type: string "-----BEGIN PRIVATE KEY-----\nMIIE", expected a map at line 1 column 9"#);
/// assert_eq!(m, "expected a map, found a string at line 1 column 9");
/// assert_eq!(serde_error("unknown field `expiryWarningDay`, expected one of `severities`"),
///            "unknown field `expiryWarningDay`, expected one of `severities`");
/// ```
pub fn serde_error(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(512));
    let mut rest = msg;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("invalid type: ") {
            let (found, after) = unexpected(r);
            if let Some(exp) = after.strip_prefix(", expected ") {
                let end = [exp.find(" at line "), exp.find('\n')]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(exp.len());
                out.push_str("expected ");
                out.push_str(&names_only(&exp[..end]));
                out.push_str(", found ");
                out.push_str(&found);
                rest = &exp[end..];
            } else {
                out.push_str("invalid type: ");
                out.push_str(&found);
                rest = after;
            }
        } else if let Some(r) = rest.strip_prefix("invalid value: ") {
            let (found, after) = unexpected(r);
            out.push_str("invalid value: ");
            out.push_str(&found);
            rest = after;
        } else if let Some(r) = rest.strip_prefix("string \"") {
            out.push_str("a string");
            rest = skip_quoted(r, '"');
        } else if c == '"' || c == '`' {
            let (inner, after) = quoted(&rest[1..], c);
            push_name(&mut out, inner, c);
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The kind of an `Unexpected` value as serde prints it, without the value, and what follows it.
fn unexpected(r: &str) -> (String, &str) {
    if let Some(q) = r.strip_prefix("string \"") {
        return ("a string".into(), skip_quoted(q, '"'));
    }
    for (prefix, kind) in [
        ("character `", "a character"),
        ("boolean `", "a boolean"),
        ("integer `", "an integer"),
        ("floating point `", "a number"),
    ] {
        if let Some(q) = r.strip_prefix(prefix) {
            // A backtick character is printed as "character ```": skip one char first.
            let q = if prefix.starts_with("character") {
                q.chars().next().map_or(q, |c| &q[c.len_utf8()..])
            } else {
                q
            };
            return (kind.into(), skip_quoted(q, '`'));
        }
    }
    let end = r.find(", expected ").unwrap_or(r.len()).min(40);
    let end = (0..=end)
        .rev()
        .find(|i| r.is_char_boundary(*i))
        .unwrap_or(0);
    (names_only(&r[..end]), &r[end..])
}

/// Text written by a library (an `expected ...` clause), with any non-name quoted part withheld.
fn names_only(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '"' || c == '`' {
            let (inner, after) = quoted(&rest[1..], c);
            push_name(&mut out, inner, c);
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn push_name(out: &mut String, inner: &str, quote: char) {
    if is_name(inner) {
        out.push(quote);
        out.push_str(inner);
        out.push(quote);
    } else {
        out.push_str("(a value, withheld)");
    }
}

/// A field, key or variant name: what a message may repeat.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_NAME_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$'))
}

/// Splits `inner"rest` at the closing quote (Debug escapes honoured).
fn quoted(s: &str, quote: char) -> (&str, &str) {
    let after = skip_quoted(s, quote);
    let inner_len = s.len() - after.len();
    let inner = s[..inner_len]
        .strip_suffix(quote)
        .unwrap_or(&s[..inner_len]);
    (inner, after)
}

/// What follows the closing quote; all of `s` when it is not closed (a truncated message).
fn skip_quoted(s: &str, quote: char) -> &str {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return &s[i + c.len_utf8()..];
        }
    }
    ""
}

/// Withholds anything in `text` that looks like key material: PEM blocks, serde-quoted strings
/// and long base64 runs. The last line of defence for log lines written by libraries.
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !text.contains("-----BEGIN")
        && !text.contains("string \\\"")
        && !text.contains("string \"")
        && !has_base64_run(text)
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("-----BEGIN") {
            let end = rest[10..]
                .find("-----END")
                .map(|i| 10 + i + 8)
                .and_then(|e| rest[e..].find("-----").map(|j| e + j + 5))
                .unwrap_or(rest.len());
            out.push_str("(PEM block withheld)");
            rest = &rest[end..];
        } else if let Some(r) = rest.strip_prefix("string \\\"") {
            // A JSON log line: the Debug-quoted string is escaped once more.
            out.push_str("a string");
            rest = r.find("\\\"").map_or("", |i| &r[i + 2..]);
        } else if let Some(r) = rest.strip_prefix("string \"") {
            out.push_str("a string");
            rest = skip_quoted(r, '"');
        } else if is_base64(c) {
            let run = rest.find(|c: char| !is_base64(c)).unwrap_or(rest.len());
            let candidate = &rest[..run];
            if looks_like_base64(candidate) {
                out.push_str(&format!("({run} base64 characters withheld)"));
            } else {
                out.push_str(candidate);
            }
            rest = &rest[run..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Cow::Owned(out)
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// Long, and mixing upper case, lower case and digits: not a word, path or hex digest.
fn looks_like_base64(run: &str) -> bool {
    run.len() >= MIN_BASE64_RUN
        && run.bytes().any(|b| b.is_ascii_uppercase())
        && run.bytes().any(|b| b.is_ascii_lowercase())
        && run.bytes().any(|b| b.is_ascii_digit())
}

fn has_base64_run(text: &str) -> bool {
    text.split(|c: char| !is_base64(c)).any(looks_like_base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_value_is_named_by_its_type() {
        let m = serde_error(r#"invalid type: string "s3cr3t\"quoted\"", expected struct Policy"#);
        assert_eq!(m, "expected struct Policy, found a string");
    }

    #[test]
    fn an_invalid_value_is_withheld() {
        let m = serde_error(r#"invalid value: string "hunter2", expected RFC 3339"#);
        assert_eq!(m, "invalid value: a string, expected RFC 3339");
    }

    #[test]
    fn a_long_or_odd_quoted_name_is_withheld() {
        let m = serde_error("unknown field `-----BEGIN PRIVATE KEY-----`, expected `a`");
        assert_eq!(m, "unknown field (a value, withheld), expected `a`");
    }

    #[test]
    fn a_duplicate_key_keeps_its_name() {
        let m = serde_error(r#"duplicate entry with key "tls.crt""#);
        assert_eq!(m, r#"duplicate entry with key "tls.crt""#);
    }

    #[test]
    fn an_unclosed_quote_is_withheld_to_the_end() {
        let m = serde_error(r#"invalid type: string "-----BEGIN PRIV"#);
        assert_eq!(m, "invalid type: a string");
    }

    #[test]
    fn scrub_withholds_a_pem_block() {
        let s = scrub("body {\"k\":\"-----BEGIN EC PRIVATE KEY-----\\nAAAA\\n-----END EC PRIVATE KEY-----\\n\"} tail");
        assert_eq!(s, "body {\"k\":\"(PEM block withheld)\\n\"} tail");
    }

    #[test]
    fn scrub_withholds_a_long_base64_run_but_not_a_hex_digest() {
        let b64 = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let line = format!("a {b64} b {hex}");
        let s = scrub(&line);
        assert_eq!(s, format!("a (52 base64 characters withheld) b {hex}"));
    }

    #[test]
    fn scrub_leaves_ordinary_lines_alone() {
        let line = "INFO tlsgate: serving certificate loaded subject=CN=tlsgate.svc";
        assert!(matches!(scrub(line), Cow::Borrowed(_)));
    }
}
