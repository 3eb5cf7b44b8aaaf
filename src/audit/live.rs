//! Listing a live cluster: the objects `tlsgate audit` reads, as the JSON a `kubectl get -o json`
//! dump would hold, so the dump and the live cluster go through the same
//! [`super::Inventory::add_objects`]. Resources that are not served (no Istio, no Gateway API,
//! no aggregated APIs) are skipped: a 404 is an answer, not an error.

use anyhow::Context;
use kube::api::{ApiResource, DynamicObject, ListParams, TypeMeta};
use kube::{Api, Client};
use serde_json::Value;

/// A resource to list: group, versions to try (newest first), kind, plural.
struct Resource {
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
}

const RESOURCES: [Resource; 11] = [
    Resource {
        group: "",
        versions: &["v1"],
        kind: "Secret",
        plural: "secrets",
    },
    Resource {
        group: "",
        versions: &["v1"],
        kind: "ConfigMap",
        plural: "configmaps",
    },
    Resource {
        group: "networking.istio.io",
        versions: &["v1", "v1beta1", "v1alpha3"],
        kind: "Gateway",
        plural: "gateways",
    },
    Resource {
        group: "networking.istio.io",
        versions: &["v1", "v1beta1", "v1alpha3"],
        kind: "VirtualService",
        plural: "virtualservices",
    },
    Resource {
        group: "gateway.networking.k8s.io",
        versions: &["v1", "v1beta1"],
        kind: "Gateway",
        plural: "gateways",
    },
    Resource {
        group: "gateway.networking.k8s.io",
        versions: &["v1", "v1beta1"],
        kind: "ReferenceGrant",
        plural: "referencegrants",
    },
    Resource {
        group: "networking.k8s.io",
        versions: &["v1"],
        kind: "Ingress",
        plural: "ingresses",
    },
    Resource {
        group: "admissionregistration.k8s.io",
        versions: &["v1"],
        kind: "ValidatingWebhookConfiguration",
        plural: "validatingwebhookconfigurations",
    },
    Resource {
        group: "admissionregistration.k8s.io",
        versions: &["v1"],
        kind: "MutatingWebhookConfiguration",
        plural: "mutatingwebhookconfigurations",
    },
    Resource {
        group: "apiregistration.k8s.io",
        versions: &["v1"],
        kind: "APIService",
        plural: "apiservices",
    },
    Resource {
        group: "apiextensions.k8s.io",
        versions: &["v1"],
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
    },
];

/// Page size of list requests.
const PAGE: u32 = 500;

/// Lists every resource the audit reads, all namespaces. ConfigMaps are listed by field
/// selector: only `istio-ca-root-cert` matters. `progress(plural, listed)` is called after
/// every page with the resource being listed and the number of objects listed so far.
pub async fn list(
    client: &Client,
    progress: &mut dyn FnMut(&str, usize),
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for r in &RESOURCES {
        for version in r.versions {
            let api_version = if r.group.is_empty() {
                version.to_string()
            } else {
                format!("{}/{version}", r.group)
            };
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
            match list_all(client, &ar, r.kind == "ConfigMap", &mut page).await {
                Ok(items) => {
                    out.extend(items);
                    break;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => continue,
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
    root_cert_only: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Value>, kube::Error> {
    let api = Api::<DynamicObject>::all_with(client.clone(), ar);
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let mut params = ListParams::default().limit(PAGE);
    if root_cert_only {
        params = params.fields("metadata.name=istio-ca-root-cert");
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
