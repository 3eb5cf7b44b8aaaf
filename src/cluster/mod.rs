//! Cluster view: kube-rs watchers feeding the shared [`Index`], and the readiness that says
//! when the index can be trusted.
//!
//! ```text
//!  Secrets ─────────── watcher ──────────┐
//!  Pods (metadata) ─── watcher (meta) ───┤   decode outside the lock,    ┌─> Index (summaries,
//!  Istio Gateways ──┐                    ├─> apply one event per write ──┤    reverse index)
//!  Gateway API GWs  ├─ probe, watcher ───┤   guard, prune after relist   └─> ready: watch<bool>
//!  ReferenceGrants  │  (DynamicObject)   │
//!  Ingresses ───────┘                    │
//! ```
//!
//! Only derived summaries reach the index: a Secret is decoded, summarised by
//! [`Index::upsert`] and dropped; nothing here keeps a store of raw Secrets (private keys).
//!
//! Each source is probed before it is watched, so a cluster without Istio or without the
//! Gateway API counts that source as empty and synced. The probe runs once at start: a CRD
//! installed later is picked up on the next restart.

use crate::lookup::Index;
use crate::model::{Object, DEFAULT_NAMESPACE};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ApiResource, DynamicObject, ListParams, PartialObjectMeta, TypeMeta};
use kube::runtime::watcher::{self, watcher, Event};
use kube::{Api, Client, ResourceExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tracing::{info, warn};

/// A kind as [`Index::keys_of`] and [`Index::remove`] name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    group: &'static str,
    kind: &'static str,
    /// `plural[.group]`, as kubectl names a resource: the label of its sync state.
    resource: &'static str,
}

const SECRET: Kind = Kind {
    group: "",
    kind: "Secret",
    resource: "secrets",
};
const POD: Kind = Kind {
    group: "",
    kind: "Pod",
    resource: "pods",
};

/// A resource that may or may not be served, watched as a `DynamicObject` in the first
/// version the API server answers for.
struct Optional {
    kind: Kind,
    plural: &'static str,
    /// Newest first: the first one served is watched.
    versions: &'static [&'static str],
}

const OPTIONAL: [Optional; 8] = [
    Optional {
        kind: Kind {
            group: "networking.istio.io",
            kind: "Gateway",
            resource: "gateways.networking.istio.io",
        },
        plural: "gateways",
        versions: &["v1", "v1beta1", "v1alpha3"],
    },
    Optional {
        kind: Kind {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            resource: "gateways.gateway.networking.k8s.io",
        },
        plural: "gateways",
        versions: &["v1", "v1beta1"],
    },
    Optional {
        kind: Kind {
            group: "gateway.networking.k8s.io",
            kind: "ReferenceGrant",
            resource: "referencegrants.gateway.networking.k8s.io",
        },
        plural: "referencegrants",
        versions: &["v1", "v1beta1"],
    },
    Optional {
        kind: Kind {
            group: "networking.k8s.io",
            kind: "Ingress",
            resource: "ingresses.networking.k8s.io",
        },
        plural: "ingresses",
        versions: &["v1"],
    },
    // caBundles: webhook configurations, aggregated APIs and CRD conversion webhooks, kept
    // only as parsed CA bundles for the x509 metrics.
    Optional {
        kind: Kind {
            group: "admissionregistration.k8s.io",
            kind: "ValidatingWebhookConfiguration",
            resource: "validatingwebhookconfigurations.admissionregistration.k8s.io",
        },
        plural: "validatingwebhookconfigurations",
        versions: &["v1"],
    },
    Optional {
        kind: Kind {
            group: "admissionregistration.k8s.io",
            kind: "MutatingWebhookConfiguration",
            resource: "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        },
        plural: "mutatingwebhookconfigurations",
        versions: &["v1"],
    },
    Optional {
        kind: Kind {
            group: "apiregistration.k8s.io",
            kind: "APIService",
            resource: "apiservices.apiregistration.k8s.io",
        },
        plural: "apiservices",
        versions: &["v1"],
    },
    Optional {
        kind: Kind {
            group: "apiextensions.k8s.io",
            kind: "CustomResourceDefinition",
            resource: "customresourcedefinitions.apiextensions.k8s.io",
        },
        plural: "customresourcedefinitions",
        versions: &["v1"],
    },
];

/// Secrets, Pods, and the optional resources.
const SOURCES: usize = 2 + OPTIONAL.len();

/// Page size of Secret lists. A page is held in memory whole while it is decoded; Secrets are
/// the one kind whose objects can be large (up to 1 MiB each), so pages stay small: 100 TLS
/// Secrets are about 1 MiB, and 10,000 of them take 100 round trips on loopback-fast paths.
const SECRET_PAGE: u32 = 100;
/// Page size of every other list (pod metadata, Gateways, webhook configurations): small
/// objects, so kube's usual 500.
const PAGE: u32 = 500;

/// Secret types the webhook never receives and tlsgate therefore never needs to see: tokens,
/// Helm release records and registry credentials (often most of a cluster's Secrets, and
/// the largest). The one list both the Secret watch's server-side field selector and the
/// webhook's `never-tokens-or-release-records` matchCondition in
/// `manifests/base/validatingwebhookconfiguration.yaml` are made from (a test checks they agree).
pub const IGNORED_SECRET_TYPES: [&str; 4] = [
    "kubernetes.io/service-account-token",
    "helm.sh/release.v1",
    "bootstrap.kubernetes.io/token",
    "kubernetes.io/dockerconfigjson",
];

/// `type!=A,type!=B,...` over [`IGNORED_SECRET_TYPES`]: the API server filters them out of
/// lists and watches, so they cost tlsgate neither memory nor start-up time.
pub fn secret_field_selector() -> String {
    IGNORED_SECRET_TYPES
        .iter()
        .map(|t| format!("type!={t}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Upper bound between probes of a resource whose presence could not be determined.
const MAX_PROBE_DELAY: Duration = Duration::from_secs(30);

/// The running watchers. Dropping it stops them; the index keeps what it had.
pub struct ClusterView {
    /// `true` once every source has finished its first list (or was found absent). It never
    /// goes back to `false`: after a relist the index is stale, not empty.
    pub ready: watch::Receiver<bool>,
    index: Arc<RwLock<Index>>,
    tasks: Vec<AbortHandle>,
}

impl ClusterView {
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    pub fn index(&self) -> &Arc<RwLock<Index>> {
        &self.index
    }

    /// Objects held per kind, read from [`Index::counts`] at call time: meant to be called
    /// when metrics are scraped, to set `tlsgate_cache_objects{kind}`. Kinds are `secret`,
    /// `istio-gateway`, `referencegrant` and `referrer` (objects that reference a credential).
    pub fn object_counts(&self) -> [(&'static str, usize); 5] {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .counts()
    }
}

impl Drop for ClusterView {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Marks `index` as not synced and starts watching the cluster into it. Must be called
/// inside a Tokio runtime; returns at once, before anything is listed.
pub fn start(client: Client, index: Arc<RwLock<Index>>) -> ClusterView {
    start_with_reprobe(client, index, REPROBE)
}

/// How often a resource found absent at start is probed again.
pub const REPROBE: Duration = Duration::from_secs(300);

/// [`start`], probing absent optional resources again every `reprobe`.
pub fn start_with_reprobe(
    client: Client,
    index: Arc<RwLock<Index>>,
    reprobe: Duration,
) -> ClusterView {
    {
        let mut idx = write(&index);
        idx.set_synced(false);
        idx.track_pods();
    }
    let (tx, ready) = watch::channel(false);
    let ctx = Ctx {
        index: index.clone(),
        readiness: Arc::new(Readiness {
            pending: AtomicUsize::new(SOURCES),
            index: index.clone(),
            tx,
        }),
        reprobe,
    };

    let mut tasks = Vec::with_capacity(SOURCES);
    let secrets = Api::<Secret>::all(client.clone());
    let secret_config = watcher::Config::default()
        .fields(&secret_field_selector())
        .page_size(SECRET_PAGE);
    tasks.push(spawn(follow(
        SECRET,
        move || watcher(secrets.clone(), secret_config.clone()),
        decode_secret,
        ctx.clone(),
        true,
    )));
    let pods = Api::<PartialObjectMeta<Pod>>::all(client.clone());
    tasks.push(spawn(follow(
        POD,
        move || watcher(pods.clone(), watcher::Config::default().page_size(PAGE)),
        decode_pod,
        ctx.clone(),
        true,
    )));
    for source in &OPTIONAL {
        tasks.push(spawn(follow_optional(client.clone(), source, ctx.clone())));
    }
    ClusterView {
        ready,
        index,
        tasks,
    }
}

fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) -> AbortHandle {
    tokio::spawn(f).abort_handle()
}

#[derive(Clone)]
struct Ctx {
    index: Arc<RwLock<Index>>,
    readiness: Arc<Readiness>,
    /// How often an absent optional resource is probed again (Istio installed after tlsgate).
    reprobe: Duration,
}

/// Counts down the sources that have not finished their first list.
struct Readiness {
    pending: AtomicUsize,
    index: Arc<RwLock<Index>>,
    tx: watch::Sender<bool>,
}

impl Readiness {
    /// Called once per source.
    fn source_synced(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            write(&self.index).set_synced(true);
            self.tx.send_replace(true);
            info!("cluster view synced: every source has been listed");
        }
    }
}

/// A poisoned lock means a panic elsewhere while applying an event; the index is still the
/// best view there is, so keep serving it.
fn write(index: &RwLock<Index>) -> RwLockWriteGuard<'_, Index> {
    index.write().unwrap_or_else(PoisonError::into_inner)
}

/// One watched object, decoded before the index lock is taken.
struct Decoded {
    namespace: String,
    name: String,
    entry: Entry,
}

enum Entry {
    Object(Box<Object>),
    Pod(BTreeMap<String, String>),
    /// A webhook configuration, APIService or CRD: only its caBundles are kept.
    CaBundles(serde_json::Value),
    /// Does not decode as the kind it claims; treated as absent so an earlier version that
    /// did decode does not linger.
    Unusable,
}

fn namespace_of(o: &impl ResourceExt) -> String {
    o.namespace().unwrap_or_else(|| DEFAULT_NAMESPACE.into())
}

/// Decodes through the same [`Object::from_value`] the linter and webhook use, so a cluster
/// object and a manifest of it are read identically.
fn decode_value(
    namespace: String,
    name: String,
    value: serde_json::Result<serde_json::Value>,
) -> Decoded {
    let entry = match value.map(|v| Object::from_value(&v)) {
        Ok(Ok(Some(obj))) => Entry::Object(Box::new(obj)),
        Ok(Ok(None)) => Entry::Unusable,
        Ok(Err(e)) => {
            warn!(namespace, error = %e, "ignoring an object that does not decode");
            Entry::Unusable
        }
        Err(e) => {
            warn!(namespace, name, error = %e, "ignoring an object that does not serialize");
            Entry::Unusable
        }
    };
    Decoded {
        namespace,
        name,
        entry,
    }
}

fn decode_secret(s: Secret) -> Decoded {
    // k8s-openapi writes apiVersion and kind itself; list items arrive without them.
    decode_value(namespace_of(&s), s.name_any(), serde_json::to_value(&s))
}

fn decode_pod(p: PartialObjectMeta<Pod>) -> Decoded {
    Decoded {
        namespace: namespace_of(&p),
        name: p.name_any(),
        entry: Entry::Pod(p.metadata.labels.unwrap_or_default()),
    }
}

fn decode_dynamic(mut o: DynamicObject, types: &TypeMeta) -> Decoded {
    // List items of built-in kinds carry no apiVersion/kind; `Object::from_value` needs both.
    o.types = Some(types.clone());
    let group = types.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if crate::lookup::carries_ca_bundle(group, &types.kind) {
        let entry = match serde_json::to_value(&o) {
            Ok(v) => Entry::CaBundles(v),
            Err(_) => Entry::Unusable,
        };
        return Decoded {
            namespace: namespace_of(&o),
            name: o.name_any(),
            entry,
        };
    }
    decode_value(namespace_of(&o), o.name_any(), serde_json::to_value(&o))
}

async fn follow_optional(client: Client, source: &'static Optional, ctx: Ctx) {
    let (ar, report_synced) = match discover(&client, source).await {
        Some(ar) => (ar, true),
        None => {
            info!(
                group = source.kind.group,
                resource = source.plural,
                "not served by this cluster; treating it as empty"
            );
            ctx.readiness.source_synced();
            // Istio or the Gateway API may be installed after tlsgate: look again now and then.
            loop {
                tokio::time::sleep(ctx.reprobe).await;
                if let Ok(Some(ar)) = probe(&client, source).await {
                    break (ar, false);
                }
            }
        }
    };
    info!(api_version = %ar.api_version, resource = source.plural, "watching");
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let api = Api::<DynamicObject>::all_with(client, &ar);
    follow(
        source.kind,
        move || watcher(api.clone(), watcher::Config::default().page_size(PAGE)),
        move |o| decode_dynamic(o, &types),
        ctx,
        report_synced,
    )
    .await;
}

/// The first served version of `source`, `None` when none is. Retries (with backoff) while
/// the answer is not a clear "not found", so a flaky API server does not make Istio vanish.
async fn discover(client: &Client, source: &Optional) -> Option<ApiResource> {
    let mut delay = Duration::from_millis(500);
    loop {
        match probe(client, source).await {
            Ok(found) => return found,
            Err(e) => {
                warn!(
                    group = source.kind.group,
                    resource = source.plural,
                    error = %e,
                    retry_in = ?delay,
                    "cannot tell whether the resource is served; readiness waits"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_PROBE_DELAY);
            }
        }
    }
}

async fn probe(client: &Client, source: &Optional) -> Result<Option<ApiResource>, kube::Error> {
    for version in source.versions {
        let ar = ApiResource {
            group: source.kind.group.into(),
            version: (*version).into(),
            api_version: format!("{}/{version}", source.kind.group),
            kind: source.kind.kind.into(),
            plural: source.plural.into(),
        };
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(Some(ar)),
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Follows one resource into the index, forever: a watcher stream from `watch` until it
/// fails, then a fresh one, which lists again. Reports the source synced at its first
/// `InitDone` when `report_synced` (a source that appeared after start was already counted as
/// synced, empty).
///
/// Freshness over thrift: after any error the resource is marked not synced (answers that
/// read it carry `view-not-synced`) and re-listed — at once after `410 Gone` (the resource
/// version is gone, only a list helps), else after [`RETRY_FIRST`] doubling to
/// [`RETRY_MAX`]. kube's default backoff grows to 30 s, which after an API server restart
/// left tlsgate answering from a stale view for 10–40 s.
async fn follow<K, W, S, D>(kind: Kind, watch: W, decode: D, ctx: Ctx, report_synced: bool)
where
    K: ResourceExt,
    W: Fn() -> S,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    D: Fn(K) -> Decoded + Send,
{
    let mut reported = !report_synced;
    let mut delay = RETRY_FIRST;
    loop {
        let (error, listed) = follow_stream(kind, watch(), &decode, &ctx, &mut reported).await;
        write(&ctx.index).set_resource_synced(kind.resource, false);
        if listed {
            delay = RETRY_FIRST;
        }
        let expired = error.as_ref().is_some_and(is_expired);
        let retry_in = if expired { Duration::ZERO } else { delay };
        match &error {
            Some(e) => warn!(
                resource = kind.resource,
                error = %e,
                ?retry_in,
                "watch failed; answers reading this resource carry view-not-synced until it is listed again"
            ),
            None => warn!(resource = kind.resource, "watch ended; listing again"),
        }
        if !expired {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }
}

/// Delay before the first re-list after an API error, doubled per failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(250);
/// "A few seconds": a restarted API server is followed within this of being ready.
pub const RETRY_MAX: Duration = Duration::from_secs(2);

/// `410 Gone` / `Expired`: the watch's resource version was compacted away.
fn is_expired(e: &watcher::Error) -> bool {
    let status = match e {
        watcher::Error::WatchError(s) => Some(s.as_ref()),
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
        _ => None,
    };
    status.is_some_and(|s| s.code == 410 || s.reason == "Expired" || s.reason == "Gone")
}

/// Applies one watcher stream until it yields an error (returned) or ends (`None`). The bool
/// says whether a list completed meanwhile.
async fn follow_stream<K, S, D>(
    kind: Kind,
    stream: S,
    decode: &D,
    ctx: &Ctx,
    reported: &mut bool,
) -> (Option<watcher::Error>, bool)
where
    K: ResourceExt,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    D: Fn(K) -> Decoded + Send,
{
    let mut stream = std::pin::pin!(stream);
    // Keys seen since the last `Init`: what a relist did not mention is gone.
    let mut relisted: Option<HashSet<(String, String)>> = None;
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => {
                relisted = Some(HashSet::new());
                write(&ctx.index).set_resource_synced(kind.resource, false);
            }
            Ok(Event::InitApply(obj)) => {
                let d = decode(obj);
                if let Some(seen) = &mut relisted {
                    seen.insert((d.namespace.clone(), d.name.clone()));
                }
                apply(&ctx.index, kind, d);
            }
            Ok(Event::InitDone) => {
                let pruned = prune(&ctx.index, kind, &relisted.take().unwrap_or_default());
                if pruned > 0 {
                    info!(
                        resource = kind.resource,
                        pruned, "relist removed objects deleted meanwhile"
                    );
                }
                write(&ctx.index).set_resource_synced(kind.resource, true);
                listed = true;
                if !*reported {
                    *reported = true;
                    info!(resource = kind.resource, "first list done");
                    ctx.readiness.source_synced();
                }
            }
            Ok(Event::Apply(obj)) => apply(&ctx.index, kind, decode(obj)),
            Ok(Event::Delete(obj)) => remove(
                &mut write(&ctx.index),
                kind,
                &namespace_of(&obj),
                &obj.name_any(),
            ),
            Err(e) => return (Some(e), listed),
        }
    }
    (None, listed)
}

fn apply(index: &RwLock<Index>, kind: Kind, d: Decoded) {
    // Analyse a Secret (PEM, X.509, key match) before taking the write lock, so admission
    // reviews reading the index never wait behind certificate parsing.
    let analyzed = match &d.entry {
        Entry::Object(obj) => match obj.as_ref() {
            Object::Secret(s) => {
                let analyzer = index
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .analyzer()
                    .clone();
                Some(Index::analyze_secret(&analyzer, s))
            }
            _ => None,
        },
        _ => None,
    };
    let mut idx = write(index);
    match d.entry {
        Entry::Object(obj) => idx.upsert_analyzed(&obj, analyzed),
        Entry::Pod(labels) => idx.upsert_pod(&d.namespace, &d.name, labels),
        Entry::CaBundles(v) => idx.upsert_ca_bundles(&v),
        Entry::Unusable => remove(&mut idx, kind, &d.namespace, &d.name),
    }
}

fn remove(idx: &mut Index, kind: Kind, namespace: &str, name: &str) {
    if kind == POD {
        idx.remove_pod(namespace, name);
    } else {
        idx.remove(kind.group, kind.kind, namespace, name);
    }
}

/// Removes every indexed object of `kind` not in `seen`; returns how many.
fn prune(index: &RwLock<Index>, kind: Kind, seen: &HashSet<(String, String)>) -> usize {
    let mut idx = write(index);
    let gone: Vec<_> = idx
        .keys_of(kind.group, kind.kind)
        .into_iter()
        .filter(|k| !seen.contains(k))
        .collect();
    for (ns, name) in &gone {
        remove(&mut idx, kind, ns, name);
    }
    gone.len()
}
