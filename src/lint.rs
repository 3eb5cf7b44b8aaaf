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

/// Lints loaded manifests against themselves.
pub fn lint(loaded: &Loaded, policy: &Policy, now: i64, analyzer: Arc<Analyzer>) -> Report {
    let objects = decode(loaded);
    let idx = index(&objects, analyzer.clone());
    let ctx = Ctx {
        lookup: &idx,
        policy,
        analyzer: &analyzer,
        now,
        referrers: false,
    };
    let mut entries = objects.errors.clone();
    for (obj, api_version, source) in &objects.objects {
        for f in check(obj, api_version, &ctx) {
            entries.push(Entry {
                finding: f,
                source: Some(SourceJson::from(source)),
            });
        }
    }
    Report::new(entries, objects.objects.len())
}
