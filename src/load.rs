//! Reading manifests: files, directories (recursive `*.yaml|*.yml|*.json`), `-` for stdin;
//! multi-document YAML split the way kubectl splits it, JSON, and `kind: List`.
//! A document that cannot be parsed is reported with its file and index; the rest still loads.
//!
//! A rendered stream (stdin, `lint -k`) is also attributed to the files its objects were written
//! in, so SARIF and JUnit can point at them: kustomize's `config.kubernetes.io/origin`
//! annotation (`buildMetadata: [originAnnotations]`), kyaml/kpt's `config.kubernetes.io/path` and
//! `index`, and helm's `# Source: chart/templates/x.yaml` comment. See [`Origin`].

use crate::analysis::MAX_OBJECT_BYTES;
use anyhow::Context;
use serde_json::Value;
use std::collections::HashMap;
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
    /// Where the object was written before kustomize or helm rendered it; only for rendered
    /// streams (a file on disk is its own location).
    pub origin: Option<Origin>,
}

/// The file (and line) an object of a rendered stream came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Relative to the current directory when the build root is known (`--stdin-filename`,
    /// `-k`); as the annotation or comment wrote it otherwise.
    pub file: String,
    /// 1-based line of the object's document in `file`; 1 when it cannot be found there (a
    /// helm template is not YAML before rendering; kustomize may have renamed the object).
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
    load_paths_as(paths, None)
}

/// Like [`load_paths`], naming standard input `stdin_name` (`--stdin-filename`, as eslint and
/// ruff take it): the file the stream stands for, or was built from (a `kustomization.yaml`,
/// a chart directory), against which origin paths resolve.
pub fn load_paths_as(paths: &[PathBuf], stdin_name: Option<&str>) -> anyhow::Result<Loaded> {
    let mut loaded = Loaded::default();
    visit_paths_as(paths, stdin_name, &mut loaded)?;
    Ok(loaded)
}

/// Like [`load_paths`], handing each document to `loaded` as soon as it is parsed.
pub fn visit_paths<S: Sink>(paths: &[PathBuf], loaded: &mut S) -> anyhow::Result<()> {
    visit_paths_as(paths, None, loaded)
}

fn visit_paths_as<S: Sink>(
    paths: &[PathBuf],
    stdin_name: Option<&str>,
    loaded: &mut S,
) -> anyhow::Result<()> {
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            let root = stdin_name.map(build_root);
            load_rendered(&text, stdin_name.unwrap_or(STDIN), root, loaded);
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
                origin: None,
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

/// What standard input is called in messages when `--stdin-filename` does not name it.
pub const STDIN: &str = "<stdin>";

/// The directory a rendered stream was built from: `name` itself when it is a directory (`-k
/// overlays/prod`, a chart), else the directory holding it (`overlays/prod/kustomization.yaml`,
/// `chart/Chart.yaml`).
pub fn build_root(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_dir() {
        return p.to_path_buf();
    }
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Splits and parses one text. Documents that are empty or comments only are skipped.
pub fn load_text<S: Sink>(text: &str, file: &str, loaded: &mut S) {
    parse_text(text, file, &mut None, loaded)
}

/// Like [`load_text`] for the output of `kustomize build` / `helm template`: each object is
/// also attributed to its [`Origin`]. `root` is the directory that was built (origin paths are
/// relative to it); without it they are kept as written.
pub fn load_rendered<S: Sink>(text: &str, name: &str, root: Option<PathBuf>, loaded: &mut S) {
    let mut attribution = Some(Attribution {
        root,
        files: HashMap::new(),
    });
    parse_text(text, name, &mut attribution, loaded)
}

fn parse_text<S: Sink>(
    text: &str,
    file: &str,
    attribution: &mut Option<Attribution>,
    loaded: &mut S,
) {
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
                origin: None,
            };
            match v {
                Ok(v) => push_value(v, source, None, attribution, loaded),
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
            origin: None,
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
            Ok(v) => push_value(v, source, helm_source(doc), attribution, loaded),
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

/// `helm template` writes `# Source: CHART/templates/FILE` at the top of each document.
fn helm_source(doc: &str) -> Option<&str> {
    doc.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# Source: "))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

fn push_value<S: Sink>(
    v: Value,
    mut source: Source,
    helm: Option<&str>,
    attribution: &mut Option<Attribution>,
    loaded: &mut S,
) {
    match v {
        Value::Object(ref m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = m.get("items") {
                for item in items {
                    push_value(item.clone(), source.clone(), helm, attribution, loaded);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                push_value(item, source.clone(), helm, attribution, loaded);
            }
        }
        Value::Object(_) => {
            if let Some(a) = attribution {
                source.origin = a.origin(&v, helm);
            }
            loaded.document(Document { source, value: v })
        }
        other => loaded.error(LoadError {
            source,
            reason: format!(
                "expected a Kubernetes object (a mapping), found {}",
                kind_of(&other)
            ),
        }),
    }
}

/// kustomize's origin annotation (`buildMetadata: [originAnnotations]`): `path` for a
/// resource file, `configuredIn` for a generated object; `repo` when the file is in a remote
/// base, which has no local file to point at.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KustomizeOrigin {
    path: Option<String>,
    configured_in: Option<String>,
    repo: Option<String>,
}

const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";
/// kyaml (kpt, kustomize functions) and its older internal spelling.
const PATH_ANNOTATIONS: [&str; 2] = [
    "config.kubernetes.io/path",
    "internal.config.kubernetes.io/path",
];
const INDEX_ANNOTATIONS: [&str; 2] = [
    "config.kubernetes.io/index",
    "internal.config.kubernetes.io/index",
];

/// Origin lookup state for one rendered stream: the build root, and the documents of each
/// origin file read so far (a stream names the same file many times; it is read once).
struct Attribution {
    root: Option<PathBuf>,
    files: HashMap<String, Vec<Document>>,
}

impl Attribution {
    fn origin(&mut self, v: &Value, helm: Option<&str>) -> Option<Origin> {
        let annotation = |key: &str| {
            v.pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
        };
        if let Some(text) = annotation(ORIGIN_ANNOTATION) {
            let o: KustomizeOrigin = yaml_serde::from_str(text).ok()?;
            if o.repo.is_some() {
                return None;
            }
            let file = self.resolve(&o.path.or(o.configured_in)?);
            let line = self.line_of(&file, v, None);
            return Some(Origin { file, line });
        }
        if let Some(path) = PATH_ANNOTATIONS.iter().find_map(|k| annotation(k)) {
            let index = INDEX_ANNOTATIONS
                .iter()
                .find_map(|k| annotation(k))
                .and_then(|i| i.parse().ok());
            let file = self.resolve(path);
            let line = self.line_of(&file, v, index);
            return Some(Origin { file, line });
        }
        let helm = helm?;
        // `CHART/templates/x.yaml` is relative to the chart's parent; the root is the chart.
        let file = match (&self.root, helm.split_once('/')) {
            (Some(root), Some((_chart, rest))) => normalize(&root.join(rest)),
            _ => helm.to_string(),
        };
        Some(Origin { file, line: 1 })
    }

    fn resolve(&self, path: &str) -> String {
        match &self.root {
            Some(root) => normalize(&root.join(path)),
            None => path.to_string(),
        }
    }

    /// The start line of `v`'s document in `file`: the `index`-th document when kyaml says
    /// which, else the one of the same kind and name (kustomize's `namePrefix`/`nameSuffix`
    /// only add to the name). 1 when the file cannot be read or the object is not found.
    fn line_of(&mut self, file: &str, v: &Value, index: Option<usize>) -> usize {
        let docs = self.files.entry(file.to_string()).or_insert_with(|| {
            let mut own = Loaded::default();
            let small = std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_ORIGIN_FILE_BYTES);
            if let Some(text) = small.then(|| std::fs::read_to_string(file).ok()).flatten() {
                load_text(&text, file, &mut own);
            }
            own.documents
        });
        if let Some(i) = index {
            return docs.get(i).map_or(1, |d| d.source.line);
        }
        let kind = |v: &Value| v.get("kind").and_then(Value::as_str).map(str::to_string);
        let name = |v: &Value| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (Some(want_kind), Some(want_name)) = (kind(v), name(v)) else {
            return 1;
        };
        let same_kind = || {
            docs.iter()
                .filter(|d| kind(&d.value) == Some(want_kind.clone()))
        };
        if let Some(d) = same_kind().find(|d| name(&d.value).as_deref() == Some(&want_name)) {
            return d.source.line;
        }
        let renamed: Vec<&Document> = same_kind()
            .filter(|d| name(&d.value).is_some_and(|n| !n.is_empty() && want_name.contains(&n)))
            .collect();
        match renamed.as_slice() {
            [d] => d.source.line,
            _ => 1,
        }
    }
}

/// An origin file larger than this is not read for a line number (the location stays line 1).
const MAX_ORIGIN_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// `a/b/../c` to `a/c`, lexically (the files may not exist here); `/` separators.
fn normalize(p: &Path) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in p.components() {
        match c {
            Component::RootDir => absolute = true,
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|l| l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
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

    fn rendered(text: &str, root: Option<&str>) -> Loaded {
        let mut l = Loaded::default();
        load_rendered(text, "<stdin>", root.map(PathBuf::from), &mut l);
        l
    }

    #[test]
    fn helm_source_resolves_against_the_chart_root() {
        let l = rendered(
            "---\n# Source: web/templates/secret.yaml\nkind: Secret\n",
            Some("charts/web"),
        );
        let origin = l.documents[0].source.origin.clone().unwrap();
        assert_eq!(origin.file, "charts/web/templates/secret.yaml");
        assert_eq!(origin.line, 1);
    }

    #[test]
    fn helm_source_without_a_root_is_kept_as_written() {
        let l = rendered("# Source: web/templates/a.yaml\nkind: A\n", None);
        assert_eq!(
            l.documents[0].source.origin.as_ref().unwrap().file,
            "web/templates/a.yaml"
        );
    }

    #[test]
    fn kustomize_origin_resolves_parent_directories() {
        let doc = "kind: Secret\nmetadata:\n  name: a\n  annotations:\n    config.kubernetes.io/origin: |\n      path: ../../base/s.yaml\n";
        let l = rendered(doc, Some("k8s/overlays/prod"));
        let origin = l.documents[0].source.origin.clone().unwrap();
        assert_eq!(origin.file, "k8s/base/s.yaml");
    }

    #[test]
    fn remote_kustomize_origin_gives_no_file() {
        let doc = "kind: Secret\nmetadata:\n  name: a\n  annotations:\n    config.kubernetes.io/origin: |\n      path: s.yaml\n      repo: https://example.com/r\n";
        assert_eq!(rendered(doc, Some(".")).documents[0].source.origin, None);
    }

    #[test]
    fn files_on_disk_are_not_attributed() {
        let mut l = Loaded::default();
        load_text(
            "# Source: web/templates/a.yaml\nkind: A\n",
            "f.yaml",
            &mut l,
        );
        assert_eq!(l.documents[0].source.origin, None);
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("a/b/../../c/./d")), "c/d");
        assert_eq!(normalize(Path::new("../x")), "../x");
        assert_eq!(normalize(Path::new("/a/../b")), "/b");
    }
}
