//! A fast reader for the block-style YAML that tools write: `kubectl ... -o yaml`,
//! `kubectl create secret ... --dry-run=client -o yaml`, kustomize and helm output, and most
//! hand-written manifests. On 100,000 Secrets the full parser (yaml_serde on libyaml-rs) was a
//! third of start-up CPU, most of it scanning the base64 text one character at a time.
//!
//! It reads a strict subset and answers `None` for anything else, and the caller then runs the
//! full parser on the document: so a document gets the same [`Value`] whichever reads it, and
//! every error comes from the full parser. The subset, one construct a line:
//! - block mappings whose keys are plain ASCII names (`tls.crt`, `app.kubernetes.io/name`) and
//!   block sequences (`- ` items, also at their key's indentation as kubectl writes them), nested
//!   at most [`MAX_DEPTH`] deep;
//! - scalars on one line: plain text that starts with a letter, a digit or `/`, resolved as
//!   yaml_serde resolves it (`null`, `true`, decimal integers; text that could be a float, a
//!   hex/octal/binary integer or a timestamp-like number is left to the full parser), quoted
//!   text without escapes, `{}` and `[]`.
//!
//! Left to the full parser: comments after content, tabs, `\r`, non-ASCII text, flow collections
//! with content, block scalars (`|`, `>`), multi-line scalars, anchors, aliases, tags,
//! directives, complex keys, duplicate keys, and anything that is not valid YAML.
//! `tests/fuzz_corpus.rs` holds the two readers to the same answer (target `yaml_block`).

use serde_json::{Map, Number, Value};

/// Nesting read here: real manifests nest about 10 deep. Deeper documents go to the full parser,
/// behind the nesting pre-scan (`load::MAX_NESTING`).
pub const MAX_DEPTH: usize = 64;

struct Line<'a> {
    indent: usize,
    /// Without the indentation and trailing spaces; never empty.
    text: &'a str,
}

/// `doc` as the full parser would read it, if it is in the subset; else `None`.
pub fn parse(doc: &str) -> Option<Value> {
    // libyaml refuses control characters anywhere, comments included; tabs and `\r` are left
    // to it too. Without an early exit, so it vectorizes: the base64 lines are kilobytes long.
    let odd = doc.bytes().fold(false, |odd, b| {
        odd | (b >= 0x7f) | ((b < 0x20) & (b != b'\n'))
    });
    if odd {
        return None;
    }
    let mut lines = Vec::new();
    for raw in doc.split('\n') {
        let text = raw.trim_start_matches(' ');
        let indent = raw.len() - text.len();
        let mut text = text.trim_end_matches(' ');
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if text.starts_with("---") || text.starts_with("...") || text.starts_with('%') {
            return None;
        }
        if text.contains('#') {
            text = without_comment(text)?;
        }
        lines.push(Line { indent, text });
    }
    let first = lines.first()?.indent;
    let mut reader = Reader { lines, at: 0 };
    let value = reader.node(first, 0)?;
    (reader.at == reader.lines.len()).then_some(value)
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// The indentation of the next line, if any.
fn next_indent(lines: &[Line<'_>], at: usize) -> Option<usize> {
    lines.get(at).map(|l| l.indent)
}

impl<'a> Reader<'a> {
    /// The collection whose first line is the current one, at exactly `indent`.
    fn node(&mut self, indent: usize, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        if is_item(self.lines.get(self.at)?.text) {
            self.sequence(indent, depth)
        } else {
            self.mapping(indent, depth)
        }
    }

    fn mapping(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent != indent {
                break;
            }
            let (key, value) = key_value(line.text)?;
            if map.contains_key(key) {
                return None;
            }
            self.at += 1;
            let value = if value.is_empty() {
                self.block_value(indent, true, depth)?
            } else {
                self.scalar_line(value, indent)?
            };
            map.insert(key.to_string(), value);
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent != indent || !is_item(line.text) {
                break;
            }
            let rest = line.text[1..].trim_start_matches(' ');
            if rest.is_empty() {
                self.at += 1;
                items.push(self.block_value(indent, false, depth)?);
            } else if is_item(rest) || key_value(rest).is_some() {
                // A collection that starts on the item's line: read it at its own column.
                let column = indent + line.text.len() - rest.len();
                self.lines[self.at] = Line {
                    indent: column,
                    text: rest,
                };
                items.push(self.node(column, depth + 1)?);
            } else {
                self.at += 1;
                items.push(self.scalar_line(rest, indent)?);
            }
        }
        Some(Value::Array(items))
    }

    /// The value of a `key:` or `-` with nothing after it on its line: the more indented block
    /// below it (or, for a key, a sequence at the key's own indentation), else null.
    fn block_value(&mut self, indent: usize, after_key: bool, depth: usize) -> Option<Value> {
        match self.lines.get(self.at) {
            Some(l) if l.indent > indent => self.node(l.indent, depth + 1),
            Some(l) if after_key && l.indent == indent && is_item(l.text) => {
                self.sequence(indent, depth + 1)
            }
            _ => Some(Value::Null),
        }
    }

    /// A scalar that ends its line; a more indented line after it would continue it.
    fn scalar_line(&self, text: &str, indent: usize) -> Option<Value> {
        let value = scalar(text)?;
        match next_indent(&self.lines, self.at) {
            Some(next) if next > indent => None,
            _ => Some(value),
        }
    }
}

/// `text` without the comment that ends it (` # ...`), where nothing before it is quoted; `None`
/// for a `#` in quotes or inside a word.
fn without_comment(text: &str) -> Option<&str> {
    let at = text.find(" #")?;
    let code = &text[..at];
    (!code.contains(['"', '\'', '#'])).then(|| code.trim_end_matches(' '))
}

/// `key: value` or `key:` with a plain ASCII name for the key; `None` for anything else
/// (including a line that has `: ` but a key outside the subset).
fn key_value(text: &str) -> Option<(&str, &str)> {
    let (key, value) = match text.find(": ") {
        Some(i) => (&text[..i], text[i + 2..].trim_start_matches(' ')),
        None => (text.strip_suffix(':')?, ""),
    };
    is_name(key).then_some((key, value))
}

/// A key of the subset: ASCII letters, digits, `.`, `/`, `-`, `_`, starting with a letter, and
/// not a word yaml_serde reads as null or a boolean.
fn is_name(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_'))
        && resolve_word(key).is_none()
}

/// `null`, `true` and `false` as yaml_serde spells them.
fn resolve_word(text: &str) -> Option<Value> {
    match text {
        "null" | "Null" | "NULL" => Some(Value::Null),
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

/// One scalar, the whole of `text` (trimmed, not empty).
fn scalar(text: &str) -> Option<Value> {
    let string = |s: &str| Some(Value::String(s.to_string()));
    match text.as_bytes()[0] {
        b'"' => {
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            (!inner.contains(['"', '\\'])).then(|| Value::String(inner.to_string()))
        }
        b'\'' => {
            let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
            (!inner.contains('\'')).then(|| Value::String(inner.to_string()))
        }
        b'{' | b'[' => {
            let mut flow = Flow { text, at: 0 };
            let value = flow.value(0)?;
            (flow.at == text.len()).then_some(value)
        }
        _ if text.contains(": ") || text.ends_with(':') => None,
        b'0'..=b'9' => number_like(text),
        b'a'..=b'z' | b'A'..=b'Z' | b'/' => resolve_word(text).or_else(|| string(text)),
        _ => None,
    }
}

/// A flow collection on one line, as `kubectl` users write short ones: `[a, b]`,
/// `{number: 443, name: https}`. Entries are plain words (letters, digits, `.`, `/`, `-`, `_`,
/// starting with a letter, a digit or `/`), quoted text without escapes, or flow collections;
/// no empty entries, no trailing comma, no implicit nulls.
struct Flow<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Flow<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_spaces(&mut self) {
        self.at = self.text.len() - self.rest().trim_start_matches(' ').len();
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.rest().as_bytes().first() == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    /// After an entry: `,` then more, or the closing bracket.
    fn separator(&mut self, close: u8) -> Option<bool> {
        self.skip_spaces();
        if self.eat(close) {
            return Some(false);
        }
        self.eat(b',').then_some(true)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_spaces();
        if self.eat(b'[') {
            let mut items = Vec::new();
            self.skip_spaces();
            if self.eat(b']') {
                return Some(Value::Array(items));
            }
            loop {
                items.push(self.value(depth + 1)?);
                if !self.separator(b']')? {
                    return Some(Value::Array(items));
                }
            }
        }
        if self.eat(b'{') {
            let mut map = Map::new();
            self.skip_spaces();
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            loop {
                self.skip_spaces();
                let key = self.word();
                if !is_name(key) || map.contains_key(key) || !self.rest().starts_with(": ") {
                    return None;
                }
                self.at += 2;
                let value = self.value(depth + 1)?;
                map.insert(key.to_string(), value);
                if !self.separator(b'}')? {
                    return Some(Value::Object(map));
                }
            }
        }
        let rest = self.rest();
        if let Some(quote @ (b'"' | b'\'')) = rest.bytes().next() {
            let end = rest[1..].find(quote as char)? + 2;
            let text = &rest[..end];
            if text.contains('\\') || text[1..end - 1].contains([',', '[', ']', '{', '}']) {
                return None;
            }
            self.at += end;
            return scalar(text);
        }
        let word = self.word();
        if word.is_empty() {
            return None;
        }
        scalar(word)
    }

    /// A plain word of the flow subset (possibly empty), consumed.
    fn word(&mut self) -> &'a str {
        let rest: &'a str = &self.text[self.at..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_'))
            .count();
        self.at += len;
        &rest[..len]
    }
}

/// Plain text that starts with a digit: a decimal integer, text with digits (a UUID, `1.2.3`,
/// a leading-zero code such as `007`), or `None` where yaml_serde would read a float or a
/// prefixed integer, which the full parser then resolves.
fn number_like(text: &str) -> Option<Value> {
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    if digits {
        if text.len() > 1 && text.starts_with('0') {
            // YAML 1.2: leading zeros make it text (yaml_serde's `digits_but_not_number`).
            return Some(Value::String(text.to_string()));
        }
        return if text.len() <= 19 {
            text.parse::<u64>()
                .ok()
                .map(|n| Value::Number(Number::from(n)))
        } else {
            None
        };
    }
    if text.starts_with("0x") || text.starts_with("0o") || text.starts_with("0b") {
        return None;
    }
    // What is not a float to Rust's parser (which yaml_serde uses) stays text.
    match text.parse::<f64>() {
        Ok(_) => None,
        Err(_) => Some(Value::String(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::{json, Value};

    /// The full parser's answer for a document the subset reads.
    fn same(doc: &str) -> Value {
        let full: Value = yaml_serde::from_str(doc).expect("valid YAML");
        let fast = parse(doc).unwrap_or_else(|| panic!("not read by the subset:\n{doc}"));
        assert_eq!(fast, full, "{doc}");
        fast
    }

    #[track_caller]
    fn left_to_the_full_parser(docs: &[&str]) {
        for doc in docs {
            assert_eq!(parse(doc), None, "{doc:?}");
        }
    }

    #[test]
    fn a_secret_as_kubectl_writes_it_is_read() {
        let v = same(
            "apiVersion: v1\ndata:\n  tls.crt: LS0tLS1CRUdJTg==\n  tls.key: LS0t\nkind: Secret\n\
             metadata:\n  creationTimestamp: null\n  name: cred-0\n  namespace: istio-system\n\
             type: kubernetes.io/tls\n",
        );
        assert_eq!(v["metadata"]["creationTimestamp"], Value::Null);
        assert_eq!(v["data"]["tls.crt"], "LS0tLS1CRUdJTg==");
    }

    #[test]
    fn sequences_at_the_keys_indentation_and_item_mappings_are_read() {
        let v = same(
            "spec:\n  containers:\n  - name: app\n    image: nginx:1.27\n    ports:\n    - containerPort: 8443\n  - name: side\n",
        );
        assert_eq!(
            v["spec"]["containers"][0]["ports"][0]["containerPort"],
            json!(8443)
        );
        assert_eq!(v["spec"]["containers"][1]["name"], "side");
    }

    #[test]
    fn scalars_resolve_as_yaml_serde_resolves_them() {
        let v = same(
            "a: true\nb: False\nc: 443\nd: \"443\"\ne: '*.example.com'\nf: 007\ng: 8d1f5e3a-11aa\n\
             h: {}\ni: []\nj:\nk: 1.2.3\nl: /etc/tls\nm: http://x:8080/y\n",
        );
        assert_eq!(v["a"], json!(true));
        assert_eq!(v["c"], json!(443));
        assert_eq!(v["d"], json!("443"));
        assert_eq!(v["f"], json!("007"));
        assert_eq!(v["j"], Value::Null);
        assert_eq!(v["k"], json!("1.2.3"));
    }

    #[test]
    fn one_line_flow_collections_and_trailing_comments_are_read() {
        let v = same(
            "# Source: chart/templates/gw.yaml\nspec:\n  servers:\n  - port: {number: 443, name: https}\n    \
             hosts: [a.example.com, 'b.example.com']\n    name: x # two\n    tls: {mode: SIMPLE, credentialName: cred-0}\n",
        );
        assert_eq!(v["spec"]["servers"][0]["port"]["number"], json!(443));
        assert_eq!(v["spec"]["servers"][0]["hosts"][1], "b.example.com");
    }

    #[test]
    fn what_could_be_a_float_or_prefixed_integer_goes_to_the_full_parser() {
        left_to_the_full_parser(&[
            "a: 1.5\n",
            "a: 1e3\n",
            "a: 0x1F\n",
            "a: 0o17\n",
            "a: .inf\n",
            "a: -1\n",
        ]);
    }

    #[test]
    fn constructs_outside_the_subset_go_to_the_full_parser() {
        left_to_the_full_parser(&[
            "a: b#c # comment\n",
            "a: \"b\" # comment\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: &x b\nc: *x\n",
            "a: !!str 1\n",
            "a: {b: 1,}\n",
            "a: [1, 2\n",
            "a: [b c]\n",
            "a: {b}\n",
            "a: {b:1}\n",
            "a: \"esc\\n\"\n",
            "a: 'it''s'\n",
            "a: plain\n  continued\n",
            "\"quoted key\": 1\n",
            "a: 1\na: 2\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: caf\u{e9}\n",
            "? a\n: b\n",
            "true: 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "<<: {a: 1}\n",
        ]);
    }

    #[test]
    fn what_is_not_valid_yaml_goes_to_the_full_parser() {
        left_to_the_full_parser(&[
            "a: b: c\n",
            "a:\n    b: 1\n  c: 2\n",
            "a: 1\n- b\n",
            "- a\nb: 1\n",
            "a: b:\n",
            "just text\n",
            "a:b\n",
        ]);
    }

    #[test]
    fn nesting_past_the_depth_goes_to_the_full_parser() {
        let mut doc = String::new();
        for level in 0..=super::MAX_DEPTH + 1 {
            doc.push_str(&" ".repeat(level * 2));
            doc.push_str("a:\n");
        }
        assert_eq!(parse(&doc), None);
    }
}
