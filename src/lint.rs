//! The offline front door's engine: manifests in, a [`Report`] out. The manifests are both
//! what is checked and the cluster view it is checked against.

use crate::analysis::Analyzer;
use crate::check::{check, Ctx};
use crate::finding::{Code, Issue, ObjectRef};
use crate::load::{Loaded, Source};
use crate::lookup::Index;
use crate::model::Object;
use crate::policy::Policy;
use crate::report::{Entry, Report, SourceJson};
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
        let api_version = d
            .value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        match Object::from_value(&d.value) {
            Ok(Some(obj)) => objects.push((obj, api_version, d.source.clone())),
            Ok(None) => {}
            Err(err) => {
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
                errors.push(invalid(
                    &d.source,
                    &format!("field `{}`: {}", err.path, err.reason),
                    oref,
                ));
            }
        }
    }
    Objects { objects, errors }
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

/// Pods and the pod templates of workload controllers in the input, as (namespace, name,
/// labels): with them lint can tell that an Istio Gateway's selector matches nothing.
fn workloads(loaded: &Loaded) -> Vec<(String, String, std::collections::BTreeMap<String, String>)> {
    let labels_at = |v: &serde_json::Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    loaded
        .documents
        .iter()
        .filter_map(|d| {
            let v = &d.value;
            let kind = v.get("kind").and_then(|k| k.as_str())?;
            let labels = match kind {
                "Pod" => labels_at(v, "/metadata/labels"),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
                    labels_at(v, "/spec/template/metadata/labels")
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
        })
        .collect()
}

/// Lints loaded manifests against themselves.
pub fn lint(loaded: &Loaded, policy: &Policy, now: i64, analyzer: Arc<Analyzer>) -> Report {
    let objects = decode(loaded);
    let mut idx = index(&objects, analyzer.clone());
    for (ns, name, labels) in workloads(loaded) {
        idx.upsert_pod(&ns, &name, labels);
    }
    let ctx = Ctx {
        lookup: &idx,
        policy,
        analyzer: &analyzer,
        now,
        referrers: false,
    };
    let mut entries = objects.errors.clone();
    let mut ignored = 0;
    for (obj, api_version, source) in &objects.objects {
        if crate::exempt::is_ignored(&obj.meta().labels) {
            // Still in the index above: a Gateway that reads it finds it.
            ignored += 1;
            continue;
        }
        for f in check(obj, api_version, &ctx) {
            entries.push(Entry {
                finding: f,
                source: Some(SourceJson::from(source)),
            });
        }
    }
    let mut report = Report::new(entries, objects.objects.len() - ignored);
    report.summary.ignored = ignored;
    report
}
