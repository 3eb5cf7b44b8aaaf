//! Reading manifests: files, directories (recursive `*.yaml|*.yml|*.json`), `-` for stdin;
//! multi-document YAML split the way kubectl splits it, JSON, and `kind: List`.
//! A document that cannot be parsed is reported with its file and index; the rest still loads.

use crate::analysis::MAX_OBJECT_BYTES;
use anyhow::Context;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where a document came from, for messages and SARIF locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    /// 0-based index of the document in the file.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (document {}, line {})",
            self.file, self.index, self.line
        )
    }
}

#[derive(Debug, Clone)]
pub struct Document {
    pub source: Source,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub struct LoadError {
    pub source: Source,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub errors: Vec<LoadError>,
}

/// Receives documents as they are parsed, so a large input need not be held whole
/// (`serve --manifests` indexes each document and drops it).
pub trait Sink {
    fn document(&mut self, d: Document);
    fn error(&mut self, e: LoadError);
}

impl Sink for Loaded {
    fn document(&mut self, d: Document) {
        self.documents.push(d);
    }
    fn error(&mut self, e: LoadError) {
        self.errors.push(e);
    }
}

/// Loads every path (`-` is stdin). I/O errors (a missing file) are hard errors naming the path.
pub fn load_paths(paths: &[PathBuf]) -> anyhow::Result<Loaded> {
    let mut loaded = Loaded::default();
    visit_paths(paths, &mut loaded)?;
    Ok(loaded)
}

/// Like [`load_paths`], handing each document to `loaded` as soon as it is parsed.
pub fn visit_paths<S: Sink>(paths: &[PathBuf], loaded: &mut S) -> anyhow::Result<()> {
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            load_text(&text, "<stdin>", loaded);
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            for f in manifest_files(p)? {
                load_file(&f, loaded)?;
            }
        } else {
            load_file(p, loaded)?;
        }
    }
    Ok(())
}

fn load_file<S: Sink>(p: &Path, loaded: &mut S) -> anyhow::Result<()> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    match String::from_utf8(bytes) {
        Ok(text) => load_text(&text, &p.display().to_string(), loaded),
        Err(_) => loaded.error(LoadError {
            source: Source {
                file: p.display().to_string(),
                index: 0,
                line: 1,
            },
            reason: "is not UTF-8 text".into(),
        }),
    }
    Ok(())
}

/// Manifest files under `dir`, sorted, recursively.
pub fn manifest_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Splits and parses one text. Documents that are empty or comments only are skipped.
pub fn load_text<S: Sink>(text: &str, file: &str, loaded: &mut S) {
    // Windows editors and PowerShell write a byte-order mark; kubectl ignores it too.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let line = text.len() - trimmed.len();
        let line = text[..line].matches('\n').count() + 1;
        let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for (index, v) in stream.enumerate() {
            let source = Source {
                file: file.to_string(),
                index,
                line,
            };
            match v {
                Ok(v) => push_value(v, source, loaded),
                Err(e) => {
                    loaded.error(LoadError {
                        source,
                        reason: format!("invalid JSON: {e}"),
                    });
                    break;
                }
            }
        }
        return;
    }
    let docs = split_yaml(text);
    // A stream that opens with `---` (helm template) has nothing before it: not a document.
    let skip = usize::from(docs.len() > 1 && is_blank(docs[0].1));
    for (index, (line, doc)) in docs.into_iter().skip(skip).enumerate() {
        let source = Source {
            file: file.to_string(),
            index,
            line,
        };
        if doc.len() > MAX_OBJECT_BYTES {
            loaded.error(LoadError {
                source,
                reason: format!("document is larger than {MAX_OBJECT_BYTES} bytes"),
            });
            continue;
        }
        if is_blank(doc) {
            continue;
        }
        match yaml_serde::from_str::<Value>(doc) {
            Ok(Value::Null) => {}
            Ok(v) => push_value(v, source, loaded),
            Err(e) => {
                // yaml_serde counts lines from the document; say where it is in the file.
                let reason = match e.location() {
                    Some(at) => {
                        let own = format!(" at line {} column {}", at.line(), at.column());
                        let msg = e.to_string().replace(&own, "");
                        format!("invalid YAML at line {}: {msg}", line + at.line() - 1)
                    }
                    None => format!("invalid YAML: {e}"),
                };
                loaded.error(LoadError { source, reason })
            }
        }
    }
}

fn is_blank(doc: &str) -> bool {
    doc.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// kubectl's YAML reader splits on lines that are exactly `---` (optionally followed by a comment).
fn split_yaml(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let l = line.trim_end();
        if l == "---" || l.starts_with("--- ") || l.starts_with("---#") {
            docs.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

fn push_value<S: Sink>(v: Value, source: Source, loaded: &mut S) {
    match v {
        Value::Object(ref m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = m.get("items") {
                for item in items {
                    push_value(item.clone(), source.clone(), loaded);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                push_value(item, source.clone(), loaded);
            }
        }
        Value::Object(_) => loaded.document(Document { source, value: v }),
        other => loaded.error(LoadError {
            source,
            reason: format!(
                "expected a Kubernetes object (a mapping), found {}",
                kind_of(&other)
            ),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_tracks_start_lines() {
        let mut l = Loaded::default();
        load_text("kind: A\n---\n# c\nkind: B\n", "f.yaml", &mut l);
        assert_eq!(l.documents.len(), 2);
        assert_eq!(l.documents[1].source.line, 3);
        assert_eq!(l.documents[1].source.index, 1);
    }

    #[test]
    fn broken_document_is_reported_and_the_rest_loads() {
        let mut l = Loaded::default();
        load_text("kind: [\n---\nkind: B\n", "f.yaml", &mut l);
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].source.index, 0);
        assert_eq!(l.documents.len(), 1);
    }

    #[test]
    fn leading_separator_does_not_count_as_a_document() {
        let mut l = Loaded::default();
        load_text(
            "---\n# Source: chart/templates/a.yaml\nkind: A\n",
            "f.yaml",
            &mut l,
        );
        assert_eq!(l.documents[0].source.index, 0);
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let mut l = Loaded::default();
        load_text("\u{feff}kind: A\n", "f.yaml", &mut l);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(l.documents.len(), 1);
    }

    #[test]
    fn yaml_error_line_counts_from_the_top_of_the_file() {
        let mut l = Loaded::default();
        load_text("kind: A\n---\nkind: B\nspec: x: y\n", "f.yaml", &mut l);
        assert!(
            l.errors[0].reason.contains("at line 4"),
            "{}",
            l.errors[0].reason
        );
    }

    #[test]
    fn list_items_are_expanded() {
        let mut l = Loaded::default();
        load_text(
            r#"{"kind":"List","items":[{"kind":"A"},{"kind":"B"}]}"#,
            "f.json",
            &mut l,
        );
        assert_eq!(l.documents.len(), 2);
    }

    #[test]
    fn scalar_document_is_an_error_not_a_panic() {
        let mut l = Loaded::default();
        load_text("just a string\n", "f.yaml", &mut l);
        assert_eq!(l.errors.len(), 1);
    }
}
