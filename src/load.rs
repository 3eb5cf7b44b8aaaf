//! Reading manifests: files, directories (recursive `*.yaml|*.yml|*.json`), `-` for stdin;
//! multi-document YAML split the way kubectl splits it, JSON, and `kind: List`.
//! A document that cannot be parsed is reported with its file and index; the rest still loads.
//!
//! Every file tlsgate reads (manifests, dumps, the policy file, kubeconfigs, PKI files) goes
//! through [`read_regular`]: regular files only, within a size budget, so a FIFO, a device or a
//! huge file is an immediate error naming the path, never a hang or an allocation failure.
//!
//! A rendered stream (stdin, `lint -k`) is also attributed to the files its objects were written
//! in, so SARIF and JUnit can point at them: kustomize's `config.kubernetes.io/origin`
//! annotation (`buildMetadata: [originAnnotations]`), kyaml/kpt's `config.kubernetes.io/path` and
//! `index`, and helm's `# Source: chart/templates/x.yaml` comment. See [`Origin`].

use crate::analysis::MAX_OBJECT_BYTES;
use crate::redact::serde_error;
use anyhow::Context;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod block;

/// Largest manifest or dump file read (`kubectl get secrets -A -o json` of a large cluster fits).
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Largest total read by one run across every path given (and stdin).
pub const MAX_RUN_BYTES: u64 = 1 << 30;
/// Largest policy file, kubeconfig or PKI file (each is a few KiB in practice).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Deepest nesting of sequences and mappings the YAML pre-scan lets through to the parser: twice
/// the parsers' own limit (128 in yaml_serde and serde_json), so the scan never refuses what the
/// parser would read; it only makes input nested 100,000 deep fail in a linear pass instead of
/// a quadratic one.
pub const MAX_NESTING: usize = 256;
/// Deepest `kind: List` inside `kind: List` expanded. kubectl never writes nested Lists.
pub const MAX_LIST_NESTING: usize = 16;

/// Why a file could not be read. The caller adds the path and the flag.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not found")]
    NotFound,
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Io(std::io::Error),
}

/// Reads a regular file of at most `max` bytes. The type is checked before opening: opening a
/// FIFO blocks until a writer appears, and `/dev/zero` never ends.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound,
        _ => FileError::Io(e),
    })?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(file_kind(&meta)));
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the check and the read.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text, for YAML files; the error says "is not UTF-8 text".
pub fn read_text(path: &Path, max: u64) -> anyhow::Result<String> {
    let bytes = read_regular(path, max).map_err(|e| anyhow::anyhow!("{} {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    "not a regular file"
}

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
///
/// A YAML file is parsed in chunks on every core; the sink's [`Sink::preparer`] runs on the
/// core that parsed each document (decoding, analysis: work that needs no order), and what it
/// made reaches [`Sink::accept`] in input order, while later chunks are being parsed.
pub trait Sink {
    type Prepared: Send + 'static;
    fn preparer(&self) -> Preparer<Self::Prepared>;
    fn accept(&mut self, p: Self::Prepared);
    fn error(&mut self, e: LoadError);

    /// One document, prepared here (JSON streams, attributed rendered streams).
    fn document(&mut self, d: Document) {
        let p = self.preparer()(d);
        self.accept(p)
    }
}

/// What a [`Sink`] does to each document on any core.
pub type Preparer<P> = std::sync::Arc<dyn Fn(Document) -> P + Send + Sync>;

impl Sink for Loaded {
    type Prepared = Document;

    fn preparer(&self) -> Preparer<Document> {
        std::sync::Arc::new(|d| d)
    }
    fn accept(&mut self, d: Document) {
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
    visit_within(paths, stdin_name, MAX_RUN_BYTES, &mut loaded)?;
    Ok(loaded)
}

/// Like [`load_paths`], handing each document to `loaded` as soon as it is parsed.
/// A file named twice (directly, or through a symlink) is read once.
pub fn visit_paths<S: Sink>(paths: &[PathBuf], loaded: &mut S) -> anyhow::Result<()> {
    visit_within(paths, None, MAX_RUN_BYTES, loaded)
}

/// [`visit_paths`] naming standard input `stdin_name`, as [`load_paths_as`] does.
pub fn visit_paths_as<S: Sink>(
    paths: &[PathBuf],
    stdin_name: Option<&str>,
    loaded: &mut S,
) -> anyhow::Result<()> {
    visit_within(paths, stdin_name, MAX_RUN_BYTES, loaded)
}

fn visit_within<S: Sink>(
    paths: &[PathBuf],
    stdin_name: Option<&str>,
    run_max: u64,
    loaded: &mut S,
) -> anyhow::Result<()> {
    let mut budget = run_max;
    let mut seen = HashSet::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_FILE_BYTES.min(budget) + 1)
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            anyhow::ensure!(
                (bytes.len() as u64) <= MAX_FILE_BYTES.min(budget),
                "standard input is over the limit of {} bytes",
                MAX_FILE_BYTES.min(budget)
            );
            budget -= bytes.len() as u64;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("standard input is not UTF-8 text"))?;
            let root = stdin_name.map(build_root);
            load_rendered(&text, stdin_name.unwrap_or(STDIN), root, loaded);
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        let files = if meta.is_dir() {
            manifest_files(p)?
        } else {
            vec![p.clone()]
        };
        let files: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())))
            .collect();
        // The next file is read while this one is parsed (a directory of 10,000-Secret files
        // otherwise waits on each read), when it is small enough to hold two at once.
        std::thread::scope(|s| -> anyhow::Result<()> {
            let files = &files;
            let read_ahead = |i: usize| {
                let f = files.get(i)?;
                let small = std::fs::metadata(f).is_ok_and(|m| m.len() <= READ_AHEAD_BYTES);
                small.then(|| s.spawn(move || read_regular(f, MAX_FILE_BYTES)))
            };
            let mut next = read_ahead(0);
            for (i, f) in files.iter().enumerate() {
                let read = match next.take() {
                    Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    None => read_regular(f, MAX_FILE_BYTES.min(budget)),
                };
                next = read_ahead(i + 1);
                load_file(f, read, &mut budget, loaded)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Largest file read ahead while the one before it is parsed.
const READ_AHEAD_BYTES: u64 = 32 << 20;

fn load_file<S: Sink>(
    p: &Path,
    read: Result<Vec<u8>, FileError>,
    budget: &mut u64,
    loaded: &mut S,
) -> anyhow::Result<()> {
    let over_run = || {
        anyhow::anyhow!(
            "{}: the files given add up to more than the limit for one run ({MAX_RUN_BYTES} bytes)",
            p.display()
        )
    };
    let bytes = read.map_err(|e| match e {
        FileError::TooLarge { .. } if *budget < MAX_FILE_BYTES => over_run(),
        e => anyhow::anyhow!("{} {e}", p.display()),
    })?;
    if bytes.len() as u64 > *budget {
        return Err(over_run());
    }
    *budget -= bytes.len() as u64;
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

/// Manifest files under `dir`, sorted, recursively. Symlinks are followed; a link back to a
/// directory being walked (a loop) is skipped, and a file reached twice is listed once.
pub fn manifest_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.loop_ancestor().is_some() => continue,
            Err(e) => {
                let at = e.path().unwrap_or(dir).display().to_string();
                return Err(anyhow::anyhow!("cannot list {at}: {e}"));
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.into_path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) && seen.insert(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()))
        {
            out.push(path);
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
                        reason: format!("invalid JSON: {}", serde_error(&e.to_string())),
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
    let docs: Vec<(usize, usize, &str)> = docs
        .into_iter()
        .skip(skip)
        .enumerate()
        .map(|(index, (line, doc))| (index, line, doc))
        .collect();
    // Parsed and prepared on every core, CHUNK documents at a time, handed on in order while
    // later chunks are parsed. An attributed stream looks each object's origin up in order, so
    // its documents are prepared as they are handed on.
    let attributed = attribution.is_some();
    let prepare = loaded.preparer();
    let stage = |&(index, line, doc): &(usize, usize, &str)| {
        let source = Source {
            file: file.to_string(),
            index,
            line,
            origin: None,
        };
        match parse_yaml_doc(line, doc) {
            Parsed::Nothing => Vec::new(),
            Parsed::Error(reason) => vec![Staged::Error(LoadError { source, reason })],
            Parsed::Value(v) if attributed => vec![Staged::Value(v, source)],
            Parsed::Value(v) => {
                let mut out = Vec::new();
                expand(v, source, 0, &mut out);
                out.into_iter()
                    .map(|r| match r {
                        Ok(d) => Staged::Prepared(prepare(d)),
                        Err(e) => Staged::Error(e),
                    })
                    .collect()
            }
        }
    };
    let chunks: Vec<&[(usize, usize, &str)]> = docs.chunks(CHUNK).collect();
    let threads = crate::par::threads();
    if threads <= 1 || chunks.len() <= 1 {
        for chunk in chunks {
            let staged = chunk.iter().map(stage).collect();
            hand_on((chunk, staged), attribution, loaded);
        }
        return;
    }
    // Workers for the whole file take chunks as they free up; this thread hands the results on
    // in order. At most IN_FLIGHT_PER_THREAD chunks a worker are parsed or waiting at once.
    let (work, jobs) = std::sync::mpsc::channel::<(usize, &[(usize, usize, &str)])>();
    let jobs = std::sync::Mutex::new(jobs);
    let (finished, results) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (jobs, finished) = (&jobs, finished.clone());
            s.spawn(move || loop {
                let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((k, chunk)) = job else { break };
                let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    chunk.iter().map(stage).collect::<Vec<_>>()
                }));
                if finished.send((k, staged)).is_err() {
                    break;
                }
            });
        }
        drop(finished);
        let in_flight = IN_FLIGHT_PER_THREAD * threads;
        let (mut sent, mut next) = (0, 0);
        let mut waiting = std::collections::BTreeMap::new();
        while next < chunks.len() {
            while sent < chunks.len() && sent - next < in_flight {
                // The workers live as long as `jobs`, which outlives this loop.
                let _ = work.send((sent, chunks[sent]));
                sent += 1;
            }
            let Ok((k, staged)) = results.recv() else {
                break;
            };
            match staged {
                Ok(staged) => waiting.insert(k, staged),
                Err(panic) => {
                    drop(work);
                    std::panic::resume_unwind(panic)
                }
            };
            while let Some(staged) = waiting.remove(&next) {
                hand_on((chunks[next], staged), attribution, loaded);
                next += 1;
            }
        }
        drop(work);
    });
}

/// Documents a worker parses and prepares at a time, and how many such chunks per worker may
/// be in flight (parsed and waiting to be handed on in order): with 2 cores, about 400
/// documents are held at once.
const CHUNK: usize = 64;
const IN_FLIGHT_PER_THREAD: usize = 3;

/// A batch of documents (index, line, text) and what each became.
type StagedBatch<'a, P> = (&'a [(usize, usize, &'a str)], Vec<Vec<Staged<P>>>);

/// A batch of staged documents to the sink, in order.
fn hand_on<S: Sink>(
    (batch, staged): StagedBatch<'_, S::Prepared>,
    attribution: &mut Option<Attribution>,
    loaded: &mut S,
) {
    for (&(_, _, doc), staged) in batch.iter().zip(staged) {
        for s in staged {
            match s {
                Staged::Prepared(p) => loaded.accept(p),
                Staged::Value(v, source) => {
                    push_value(v, source, helm_source(doc), attribution, loaded)
                }
                Staged::Error(e) => loaded.error(e),
            }
        }
    }
}

/// A parsed document on its way to the sink.
enum Staged<P> {
    Prepared(P),
    /// For [`push_value`], in order.
    Value(Value, Source),
    Error(LoadError),
}

enum Parsed {
    /// Empty, comments only, or `null`.
    Nothing,
    Value(Value),
    Error(String),
}

/// Parses one YAML document starting at `line` of its file.
fn parse_yaml_doc(line: usize, doc: &str) -> Parsed {
    if doc.len() > MAX_OBJECT_BYTES {
        return Parsed::Error(format!("document is larger than {MAX_OBJECT_BYTES} bytes"));
    }
    if is_blank(doc) {
        return Parsed::Nothing;
    }
    // Block-style YAML as tools write it, without the full parser; anything else (and every
    // error) is the full parser's.
    if let Some(v) = block::parse(doc) {
        return Parsed::Value(v);
    }
    if let Some(at) = too_deep(doc) {
        return Parsed::Error(format!(
            "invalid YAML at line {}: nested more than {MAX_NESTING} levels deep",
            line + at - 1
        ));
    }
    match yaml_serde::from_str::<Value>(doc) {
        Ok(Value::Null) => Parsed::Nothing,
        Ok(v) => Parsed::Value(v),
        Err(e) => {
            // yaml_serde counts lines from the document; say where it is in the file.
            Parsed::Error(match e.location() {
                Some(at) => {
                    let own = format!(" at line {} column {}", at.line(), at.column());
                    let msg = serde_error(&e.to_string().replace(&own, ""));
                    format!("invalid YAML at line {}: {msg}", line + at.line() - 1)
                }
                None => format!("invalid YAML: {}", serde_error(&e.to_string())),
            })
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
    source: Source,
    helm: Option<&str>,
    attribution: &mut Option<Attribution>,
    loaded: &mut S,
) {
    push_nested(v, source, 0, helm, attribution, loaded)
}

fn push_nested<S: Sink>(
    v: Value,
    source: Source,
    lists: usize,
    helm: Option<&str>,
    attribution: &mut Option<Attribution>,
    loaded: &mut S,
) {
    let mut out = Vec::new();
    expand(v, source, lists, &mut out);
    for r in out {
        match r {
            Ok(mut d) => {
                if let Some(a) = attribution {
                    d.source.origin = a.origin(&d.value, helm);
                }
                loaded.document(d)
            }
            Err(e) => loaded.error(e),
        }
    }
}

/// The objects of a parsed document, in order: the document itself, or the items of a `kind:
/// List` (or of a top-level sequence). Items are moved out of their List, not copied: nested
/// Lists cost their size once.
fn expand(v: Value, source: Source, lists: usize, out: &mut Vec<Result<Document, LoadError>>) {
    match v {
        Value::Object(mut m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            if lists == MAX_LIST_NESTING {
                return out.push(Err(LoadError {
                    source,
                    reason: format!("kind: List nested more than {MAX_LIST_NESTING} deep"),
                }));
            }
            if let Some(Value::Array(items)) = m.remove("items") {
                for item in items {
                    expand(item, source.clone(), lists + 1, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                expand(item, source.clone(), lists + 1, out);
            }
        }
        Value::Object(_) => out.push(Ok(Document { source, value: v })),
        other => out.push(Err(LoadError {
            source,
            reason: format!(
                "expected a Kubernetes object (a mapping), found {}",
                kind_of(&other)
            ),
        })),
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

/// A linear pre-scan of a YAML document for nesting deeper than [`MAX_NESTING`]: flow
/// collections (`[[[`, `{a: {a:`), block sequences on one line (`- - -`) and indentation.
/// Quoted scalars, block scalars (`|`, `>`) and comments are skipped. It errs on the low side
/// where YAML is ambiguous; the parser's own limit has the last word. Returns the 1-based line
/// within the document where the limit is passed.
fn too_deep(doc: &str) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    let mut block_scalar: Option<usize> = None;
    for (n, line) in doc.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut s = &line[indent..];
        if let Some(parent) = block_scalar {
            if s.is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut block = 0;
        if flow == 0 && quote.is_none() {
            if s.is_empty() || s.starts_with('#') {
                continue;
            }
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            while let Some(r) = s.strip_prefix("- ").or(s.strip_prefix("? ")) {
                block += 1;
                s = r.trim_start_matches(' ');
            }
        }
        let mut prev = ' ';
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
                prev = c;
                continue;
            }
            // Outside a flow collection, `[`, `{` and quotes open one only at the start of a
            // value; inside a plain scalar (`x[0]`) they are text.
            let token_start = flow > 0 || prev == ' ';
            match c {
                '#' if prev == ' ' => break,
                '"' | '\'' if token_start => quote = Some(c),
                '[' | '{' if token_start => {
                    flow += 1;
                    if indents.len() + block + flow > MAX_NESTING {
                        return Some(n + 1);
                    }
                }
                ']' | '}' if flow > 0 => flow -= 1,
                _ => {}
            }
            prev = c;
        }
        if indents.len() + block + flow > MAX_NESTING {
            return Some(n + 1);
        }
        if flow == 0 && quote.is_none() {
            let value = s.split(" #").next().unwrap_or(s).trim_end();
            let indicator =
                value.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
            if indicator.ends_with(": |")
                || indicator.ends_with(": >")
                || indicator == "|"
                || indicator == ">"
                || indicator.ends_with("- |")
                || indicator.ends_with("- >")
            {
                block_scalar = Some(indent);
            }
        }
    }
    None
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
    fn documents_of_many_batches_reach_the_sink_in_input_order() {
        let n = 25 * CHUNK + 7;
        let text: Vec<String> = (0..n)
            .map(|i| match i {
                700 => "a: [unclosed\n".to_string(),
                _ => format!("kind: ConfigMap\nmetadata:\n  name: cm-{i}\n"),
            })
            .collect();
        let mut l = Loaded::default();
        load_text(&text.join("---\n"), "f.yaml", &mut l);
        let names: Vec<usize> = l
            .documents
            .iter()
            .map(|d| {
                d.value["metadata"]["name"].as_str().unwrap()[3..]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(names, (0..n).filter(|&i| i != 700).collect::<Vec<_>>());
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].source.index, 700);
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

    fn error_of(text: &str) -> String {
        let mut l = Loaded::default();
        load_text(text, "f.yaml", &mut l);
        assert_eq!(l.errors.len(), 1, "{:?}", l.documents);
        l.errors[0].reason.clone()
    }

    #[test]
    fn flow_nesting_100k_deep_is_refused_before_parsing() {
        let text = format!("kind: {}", "[".repeat(100_000));
        assert_eq!(
            error_of(&text),
            "invalid YAML at line 1: nested more than 256 levels deep"
        );
    }

    #[test]
    fn block_sequences_on_one_line_count_as_nesting() {
        let text = format!("{}x\n", "- ".repeat(300));
        assert!(error_of(&text).contains("nested more than 256"));
    }

    #[test]
    fn indentation_counts_as_nesting() {
        let text: String = (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(error_of(&text).contains("nested more than 256"));
    }

    #[test]
    fn brackets_in_quotes_comments_and_block_scalars_are_not_nesting() {
        let deep = "[".repeat(300);
        let text = format!(
            "kind: ConfigMap\ndata:\n  a: \"{deep}\"\n  b: '{deep}'\n  # {deep}\n  c: |\n    {deep}\n  d: x{deep}\n"
        );
        let mut l = Loaded::default();
        load_text(&text, "f.yaml", &mut l);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
    }

    #[test]
    fn nested_lists_past_the_limit_are_an_error() {
        let mut v = serde_json::json!({"kind": "Secret"});
        for _ in 0..MAX_LIST_NESTING + 1 {
            v = serde_json::json!({"kind": "List", "items": [v]});
        }
        let mut l = Loaded::default();
        load_text(&v.to_string(), "f.json", &mut l);
        assert_eq!(
            l.errors[0].reason,
            format!("kind: List nested more than {MAX_LIST_NESTING} deep")
        );
    }

    #[test]
    fn a_json_type_error_names_the_type_not_the_value() {
        let mut l = Loaded::default();
        load_text("[\"-----BEGIN PRIVATE KEY-----\"]", "f.json", &mut l);
        assert_eq!(
            l.errors[0].reason,
            "expected a Kubernetes object (a mapping), found a string"
        );
        let mut l = Loaded::default();
        load_text("{\"kind\": \"x\"} \"-----BEGIN\" ,", "f.json", &mut l);
        assert!(
            !l.errors[0].reason.contains("BEGIN"),
            "{}",
            l.errors[0].reason
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_reading_it() {
        let e = read_regular(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
        assert_eq!(e.to_string(), "is a device, not a regular file");
    }

    #[test]
    fn a_file_over_the_budget_is_refused_from_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        // Sparse: the size is checked, the bytes are never read.
        std::fs::File::create(&p)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let e = read_regular(&p, MAX_FILE_BYTES).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn files_past_the_run_budget_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.yaml", "b.yaml"] {
            std::fs::write(dir.path().join(f), "kind: A\n".repeat(10)).unwrap();
        }
        let mut l = Loaded::default();
        let e = visit_within(&[dir.path().to_path_buf()], None, 100, &mut l).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("b.yaml") && e.contains("limit for one run"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "kind: A\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("self")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink("../a.yaml", dir.path().join("sub/b.yaml")).unwrap();
        let files = manifest_files(dir.path()).unwrap();
        assert_eq!(files, vec![dir.path().join("a.yaml")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_in_a_walked_directory_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.yaml");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut l = Loaded::default();
        let e = visit_paths(&[dir.path().to_path_buf()], &mut l).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is a socket, not a regular file", sock.display())
        );
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
