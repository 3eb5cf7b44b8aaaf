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
/// selector (`istio-ca-root-cert`), then the ones the listed objects' `caCertificateRefs` name
/// and Linkerd's `linkerd-identity-trust-roots` are read one by one ([`read_ca_config_maps`]):
/// a cluster's other ConfigMaps are never fetched. `progress(plural, listed)` is called after
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
    let config_maps = read_ca_config_maps(client, scope, &out).await?;
    out.extend(config_maps);
    progress(kinds::CONFIG_MAP.plural, out.len());
    Ok(out)
}

/// The CA ConfigMaps the listed objects name (`caCertificateRefs`, in their namespaces) and
/// Linkerd's trust roots, each read by name within `scope`; one that does not exist is skipped.
async fn read_ca_config_maps(
    client: &Client,
    scope: &Scope,
    listed: &[Value],
) -> anyhow::Result<Vec<Value>> {
    let mut wanted = std::collections::BTreeSet::new();
    for v in listed {
        let Ok(Some(o)) = crate::model::Object::from_value(v) else {
            continue;
        };
        for r in crate::refs::credential_refs(&o) {
            if let (crate::refs::Target::ConfigMap, crate::refs::Scope::Namespace(ns)) =
                (r.target, &r.scope)
            {
                wanted.insert((ns.clone(), r.name.clone()));
            }
        }
    }
    wanted.insert((
        crate::analysis::LINKERD_NAMESPACE.to_string(),
        crate::analysis::LINKERD_TRUST_ROOTS.to_string(),
    ));
    let k = &kinds::CONFIG_MAP;
    let ar = ApiResource {
        group: k.group.into(),
        version: k.versions[0].into(),
        api_version: k.api_version(k.versions[0]),
        kind: k.kind.into(),
        plural: k.plural.into(),
    };
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let mut out = Vec::new();
    for (ns, name) in wanted {
        if scope.namespace.as_ref().is_some_and(|n| *n != ns)
            || name == crate::lookup::ISTIO_ROOT_CONFIG_MAP
        {
            continue;
        }
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar);
        let got = api
            .get_opt(&name)
            .await
            .with_context(|| format!("cannot read configmap {ns}/{name}"))?;
        if let Some(mut o) = got {
            o.types = Some(types.clone());
            if let Ok(v) = serde_json::to_value(&o) {
                out.push(v);
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
