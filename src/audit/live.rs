//! Listing a live cluster: the objects `tlsgate audit` reads (the registry's
//! [`kinds::Kind::audit`] kinds), as the JSON a `kubectl get -o json`
//! dump would hold, so the dump and the live cluster go through the same
//! [`super::Inventory::add_objects`]. Resources that are not served (no Istio, no Gateway API,
//! no aggregated APIs) are skipped: a 404 is an answer, not an error.

use crate::kinds;
use anyhow::Context;
use kube::api::{ApiResource, DynamicObject, ListParams, TypeMeta};
use kube::{Api, Client};
use serde_json::Value;

/// What to list, as kubectl's `-n` and `-l` say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `-n`: only this namespace, and no cluster-scoped objects; `None`: every namespace.
    pub namespace: Option<String>,
    /// `-l`: a label selector the API server applies to every list.
    pub selector: Option<String>,
}

/// Page size of list requests.
const PAGE: u32 = 500;

/// Lists every resource the audit reads within `scope`. ConfigMaps are listed by field
/// selector: only `istio-ca-root-cert` matters. `progress(plural, listed)` is called after
/// every page with the resource being listed and the number of objects listed so far.
pub async fn list(
    client: &Client,
    scope: &Scope,
    progress: &mut dyn FnMut(&str, usize),
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for r in kinds::ALL.into_iter().filter(|k| k.audit) {
        if scope.namespace.is_some() && r.scope == kinds::Scope::Cluster {
            continue;
        }
        for version in r.versions {
            let api_version = r.api_version(version);
            let ar = ApiResource {
                group: r.group.into(),
                version: (*version).into(),
                api_version: api_version.clone(),
                kind: r.kind.into(),
                plural: r.plural.into(),
            };
            progress(r.plural, out.len());
            let before = out.len();
            let mut page = |n: usize| progress(r.plural, before + n);
            match list_all(client, &ar, scope, r.id == kinds::Id::ConfigMap, &mut page).await {
                Ok(items) => {
                    out.extend(items);
                    break;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => continue,
                Err(kube::Error::Api(e)) if e.code == 400 && scope.selector.is_some() => {
                    anyhow::bail!(
                        "-l: the API server refused the label selector for {}: {}",
                        r.plural,
                        e.message
                    )
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot list {} ({api_version})", r.plural))
                }
            }
        }
    }
    Ok(out)
}

async fn list_all(
    client: &Client,
    ar: &ApiResource,
    scope: &Scope,
    root_cert_only: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Value>, kube::Error> {
    let api = match &scope.namespace {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, ar),
        None => Api::<DynamicObject>::all_with(client.clone(), ar),
    };
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let mut params = ListParams::default().limit(PAGE);
    if root_cert_only {
        params = params.fields("metadata.name=istio-ca-root-cert");
    }
    if let Some(selector) = &scope.selector {
        params = params.labels(selector);
    }
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        for mut o in page.items {
            if root_cert_only && o.metadata.name.as_deref() != Some("istio-ca-root-cert") {
                continue;
            }
            // List items of built-in kinds carry no apiVersion/kind; the decoder needs both.
            o.types = Some(types.clone());
            match serde_json::to_value(&o) {
                Ok(v) => out.push(v),
                Err(e) => {
                    tracing::warn!(error = %crate::redact::serde_error(&e.to_string()), kind = %ar.kind, "skipping an object that does not serialize")
                }
            }
        }
        progress(out.len());
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(out)
}
