//! The offline front door's engine: manifests in, a [`Report`] out. The manifests are both
//! what is checked and the cluster view it is checked against.

use crate::analysis::Analyzer;
use crate::check::{check_analyzed, Ctx};
use crate::finding::{Code, Issue, ObjectRef};
use crate::load::{Document, LoadError, Loaded, Sink, Source};
use crate::lookup::{Found, Index, Lookup, StoredSecret};
use crate::model::{DecodeError, Object};
use crate::policy::Policy;
use crate::report::{Entry, Report, SourceJson, Subject};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Decoded objects with their origin.
pub struct Objects {
    pub objects: Vec<(Object, String, Source)>,
    pub errors: Vec<Entry>,
}

/// Decodes documents into objects; other kinds are skipped, broken ones become findings.
pub fn decode(loaded: &Loaded) -> Objects {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for e in &loaded.errors {
        errors.push(invalid(
            &e.source,
            &e.reason,
            ObjectRef {
                kind: "Document".into(),
                name: e.source.file.clone(),
                ..Default::default()
            },
        ));
    }
    for d in &loaded.documents {
        let api_version = api_version_of(&d.value);
        match Object::from_value(&d.value) {
            Ok(Some(obj)) => objects.push((obj, api_version, d.source.clone())),
            Ok(None) => {}
            Err(err) => errors.push(undecodable(d, api_version, &err)),
        }
    }
    Objects { objects, errors }
}

/// A document of a kind tlsgate reads whose fields do not decode: `manifest-invalid` naming
/// the field.
fn undecodable(d: &Document, api_version: String, err: &DecodeError) -> Entry {
    let oref = ObjectRef {
        api_version,
        kind: err.kind.clone(),
        namespace: d
            .value
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        name: err.name.clone(),
    };
    invalid(
        &d.source,
        &format!("field `{}`: {}", err.path, err.reason),
        oref,
    )
}

fn invalid(source: &Source, reason: &str, object: ObjectRef) -> Entry {
    let issue = Issue::new(
        Code::ManifestInvalid,
        format!("document {}", source.index),
        format!("{}: {reason}", source.file),
    );
    Entry {
        finding: issue.on(&object),
        source: Some(SourceJson::from(source)),
    }
}

/// Builds the cluster view from decoded objects.
pub fn index(objects: &Objects, analyzer: Arc<Analyzer>) -> Index {
    let mut idx = Index::new(analyzer);
    for (o, _, _) in &objects.objects {
        idx.upsert(o);
    }
    idx
}

/// A document's `apiVersion`, empty when it has none.
fn api_version_of(v: &Value) -> String {
    v.get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// A Pod, or the pod template of a workload controller, as (namespace, name, labels): with
/// them lint can tell that an Istio Gateway's selector matches nothing.
fn workload(v: &Value) -> Option<(String, String, BTreeMap<String, String>)> {
    let labels_at = |pointer: &str| {
        v.pointer(pointer)
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = v.get("kind").and_then(|k| k.as_str())?;
    let labels = match kind {
        "Pod" => labels_at("/metadata/labels"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            labels_at("/spec/template/metadata/labels")
        }
        _ => return None,
    };
    let ns = v
        .pointer("/metadata/namespace")
        .and_then(|n| n.as_str())
        .unwrap_or(crate::model::DEFAULT_NAMESPACE);
    let name = v
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default();
    Some((ns.to_string(), format!("{kind}/{name}"), labels))
}

/// One document decoded and, when it is a Secret, analysed: the part of loading that runs on
/// every core ([`Sink::prepare`]), shared by `lint` and `serve --manifests`. A decoded object no
/// longer needs its YAML value, so it is dropped there too, on the core that made it.
pub struct Prepared {
    pub document: Document,
    pub api_version: String,
    /// A Pod or workload's pod labels ([`workload`]).
    pub workload: Option<(String, String, BTreeMap<String, String>)>,
    pub object: Result<Option<Object>, DecodeError>,
    pub secret: Option<StoredSecret>,
}

/// Decodes `document` and analyses it when it is a Secret; a Secret keeps only its key names
/// once its summary is made.
pub fn prepare(analyzer: &Analyzer, mut document: Document) -> Prepared {
    let mut object = Object::from_value(&document.value);
    let secret = match &mut object {
        Ok(Some(Object::Secret(s))) => {
            let stored = Index::analyze_secret(analyzer, s);
            // Freed, not cleared: every decoded buffer is replaced by an empty one.
            s.data.clear_values();
            Some(stored)
        }
        _ => None,
    };
    let api_version = api_version_of(&document.value);
    let workload = workload(&document.value);
    if matches!(object, Ok(Some(_))) {
        document.value = Value::Null;
    }
    Prepared {
        document,
        api_version,
        workload,
        object,
        secret,
    }
}

/// An object kept for checking once the whole input is indexed. A Secret keeps its summary
/// (shared with the index) and its key names, not its data. 100,000 of them are most of what
/// `lint` holds besides the index: the apiVersion and file name are shared, not copied.
struct Pending {
    object: Held,
    api_version: Arc<str>,
    source: HeldSource,
    summary: Option<Arc<StoredSecret>>,
}

/// A Secret by value (a quarter of the size of [`Object`], whose largest kinds set its size);
/// other kinds boxed.
enum Held {
    Secret(crate::model::Secret),
    Other(Box<Object>),
}

impl Held {
    fn new(object: Object) -> Self {
        match object {
            Object::Secret(s) => Held::Secret(s),
            other => Held::Other(Box::new(other)),
        }
    }

    fn object(self) -> Object {
        match self {
            Held::Secret(s) => Object::Secret(s),
            Held::Other(o) => *o,
        }
    }

    fn object_ref(&self, api_version: &str) -> ObjectRef {
        match self {
            // Built the way Object::object_ref builds it, without moving the Secret.
            Held::Secret(s) => Object::Secret(s.clone()).object_ref(api_version),
            Held::Other(o) => o.object_ref(api_version),
        }
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Held::Secret(s) => &s.meta.labels,
            Held::Other(o) => &o.meta().labels,
        }
    }
}

/// A [`Source`] whose file name is the sink's shared copy.
struct HeldSource {
    file: Arc<str>,
    index: usize,
    line: usize,
    origin: Option<Box<crate::load::Origin>>,
}

impl HeldSource {
    fn json(&self) -> SourceJson {
        SourceJson::from(&Source {
            file: self.file.to_string(),
            index: self.index,
            line: self.line,
            origin: self.origin.as_deref().cloned(),
        })
    }
}

/// One shared copy of each string many documents repeat (apiVersions, file names).
#[derive(Default)]
struct Strings(std::collections::HashSet<Arc<str>>);

impl Strings {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(hit) = self.0.get(s) {
            return hit.clone();
        }
        let new: Arc<str> = s.into();
        self.0.insert(new.clone());
        new
    }
}

/// `lint` as a [`Sink`]: each document is indexed as it is parsed and dropped, so memory is the
/// index plus a batch of documents, not the whole input. [`LintSink::finish`] checks every object
/// against the complete view, in input order.
pub struct LintSink {
    analyzer: Arc<Analyzer>,
    index: Index,
    load_errors: Vec<Entry>,
    decode_errors: Vec<Entry>,
    pending: Vec<Pending>,
    strings: Strings,
    documents: usize,
}

impl LintSink {
    pub fn new(analyzer: Arc<Analyzer>) -> Self {
        LintSink {
            index: Index::new(analyzer.clone()),
            analyzer,
            load_errors: Vec::new(),
            decode_errors: Vec::new(),
            pending: Vec::new(),
            strings: Strings::default(),
            documents: 0,
        }
    }

    /// Documents read so far, of any kind.
    pub fn documents(&self) -> usize {
        self.documents
    }

    fn accept_prepared(&mut self, p: Prepared) {
        let d = p.document;
        if let Some((ns, name, labels)) = p.workload {
            self.index.upsert_pod(&ns, &name, labels);
        }
        match p.object {
            Ok(Some(object)) => {
                self.index.upsert_analyzed(&object, p.secret);
                let summary = match &object {
                    // Checked from its summary: only the key names are read again.
                    Object::Secret(_) => match self.index.secret(object.namespace(), object.name())
                    {
                        Found::Yes(stored) => Some(stored),
                        _ => None,
                    },
                    _ => None,
                };
                let source = HeldSource {
                    file: self.strings.get(&d.source.file),
                    index: d.source.index,
                    line: d.source.line,
                    origin: d.source.origin.map(Box::new),
                };
                self.pending.push(Pending {
                    object: Held::new(object),
                    api_version: self.strings.get(&p.api_version),
                    source,
                    summary,
                });
            }
            Ok(None) => {}
            Err(err) => self
                .decode_errors
                .push(undecodable(&d, p.api_version, &err)),
        }
    }

    /// The objects that will be checked, for JUnit's one-testcase-per-object.
    pub fn subjects(&mut self) -> Vec<Subject> {
        self.pending
            .iter()
            .map(|p| Subject {
                object: p.object.object_ref(&p.api_version),
                source: Some(p.source.json()),
            })
            .collect()
    }

    /// Checks every object against the whole input: load errors, then decode errors, then the
    /// findings of each object in input order.
    pub fn finish(mut self, policy: &Policy, now: i64) -> Report {
        // Taken by value: each object is freed once checked.
        let pending = std::mem::take(&mut self.pending);
        let checked = pending.len();
        let ctx = Ctx {
            lookup: &self.index,
            policy,
            analyzer: &self.analyzer,
            now,
            referrers: false,
        };
        let mut entries = self.load_errors;
        entries.append(&mut self.decode_errors);
        let mut ignored = 0;
        for p in pending {
            if crate::exempt::is_ignored(p.object.labels()) {
                // Still in the index: a Gateway that reads it finds it.
                ignored += 1;
                continue;
            }
            // Each copy of a Secret named twice keeps its own summary: checked as written.
            let summary = p.summary.as_ref().map(|s| &s.summary);
            let object = p.object.object();
            for f in check_analyzed(&object, &p.api_version, &ctx, summary) {
                entries.push(Entry {
                    finding: f,
                    source: Some(p.source.json()),
                });
            }
        }
        let mut report = Report::new(entries, checked - ignored);
        report.summary.ignored = ignored;
        report
    }
}

impl Sink for LintSink {
    type Prepared = Prepared;

    fn preparer(&self) -> crate::load::Preparer<Prepared> {
        let analyzer = self.analyzer.clone();
        Arc::new(move |d| prepare(&analyzer, d))
    }

    fn accept(&mut self, p: Prepared) {
        self.documents += 1;
        self.accept_prepared(p);
    }

    fn error(&mut self, e: LoadError) {
        let object = ObjectRef {
            kind: "Document".into(),
            name: e.source.file.clone(),
            ..Default::default()
        };
        self.load_errors.push(invalid(&e.source, &e.reason, object));
    }
}

/// Lints loaded manifests against themselves.
pub fn lint(loaded: &Loaded, policy: &Policy, now: i64, analyzer: Arc<Analyzer>) -> Report {
    let mut sink = LintSink::new(analyzer);
    for e in &loaded.errors {
        sink.error(e.clone());
    }
    for d in &loaded.documents {
        sink.document(d.clone());
    }
    sink.finish(policy, now)
}
