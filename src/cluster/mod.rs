//! Cluster view: kube-rs watchers feeding the shared [`Index`], and the readiness that says
//! when the index can be trusted.
//!
//! ```text
//!  Secrets ─────────── watcher ──────────┐
//!  Pods, Namespaces, ─ watcher (meta) ───┤   decode outside the lock,    ┌─> Index (summaries,
//!  Services                              │
//!  Istio Gateways ──┐                    ├─> apply one event per write ──┤    reverse index)
//!  Gateway API GWs  ├─ probe, watcher ───┤   guard, prune after relist   └─> ready: watch<bool>
//!  ReferenceGrants  │  (DynamicObject)   │
//!  Ingresses, ConfigMaps, DestinationRules,
//!  ListenerSets, BackendTLSPolicies ─────┘ (the registry's Crd/Probe kinds, src/kinds.rs)
//! ```
//!
//! Only derived summaries reach the index: a Secret is decoded, summarised by
//! [`Index::upsert`] and dropped; nothing here keeps a store of raw Secrets (private keys).
//!
//! Istio and Gateway API kinds follow the CRD watch: a kind is watched (in the first version
//! its CRD serves) from the moment its CustomResourceDefinition is Established, and dropped
//! with its objects when the CRD is deleted; until then it counts as empty and synced. Built-in
//! optional kinds (Ingress, webhook configurations, APIServices) are probed once at start.
//!
//! Freshness: after any watch error a resource is listed again (at once after `410 Gone`,
//! else within [`RETRY_MAX`]); meanwhile [`Index::set_resource_synced`] marks it, so answers
//! reading it say `view-not-synced` instead of trusting a stale view.

pub mod connect;

use crate::analysis::Analyzer;
use crate::kinds::{self, Watch};
use crate::lookup::{Index, StoredSecret};
use crate::model::{Object, DEFAULT_NAMESPACE};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{ApiResource, DynamicObject, ListParams, PartialObjectMeta, TypeMeta};
use kube::runtime::watcher::{self, watcher, Event};
use kube::{Api, Client, ResourceExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tracing::{info, warn};

/// A kind as the registry writes it, and as [`Index::keys_of`] and [`Index::remove`] take it.
type Kind = &'static kinds::Kind;

const SECRET: Kind = &kinds::SECRET;
const POD: Kind = &kinds::POD;
const SERVICE: Kind = &kinds::SERVICE;
const NAMESPACE: Kind = &kinds::NAMESPACE;
const CRD: Kind = &kinds::CUSTOM_RESOURCE_DEFINITION;

/// Resources that may or may not be served, watched as a `DynamicObject` in the first
/// version the API server answers for: the registry's [`Watch::Crd`] kinds (watched while
/// their CRD is Established, rather than probed) and [`Watch::Probe`] kinds.
fn optional() -> impl Iterator<Item = Kind> {
    kinds::ALL
        .into_iter()
        .filter(|k| matches!(k.watch, Watch::Crd | Watch::CrdOrAggregated | Watch::Probe))
}

/// Every watched source: Secrets, Pods, Namespaces, and the optional resources.
fn sources() -> usize {
    kinds::ALL.iter().filter(|k| k.watch != Watch::No).count()
}

/// Page size of Secret lists when the API server does not stream them (see [`follow`]). A
/// page is held in memory whole while it is decoded; Secrets are the one kind whose objects
/// can be large (up to 1 MiB each), so pages stay small: 100 TLS Secrets are about 1 MiB, and
/// 10,000 of them take 100 round trips on loopback-fast paths.
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
    {
        let mut idx = write(&index);
        idx.set_synced(false);
        idx.track_pods();
    }
    let (tx, ready) = watch::channel(false);
    let ctx = Ctx {
        index: index.clone(),
        readiness: Arc::new(Readiness {
            pending: AtomicUsize::new(sources()),
            index: index.clone(),
            tx,
        }),
        crds: Arc::new(watch::channel(Crds::Unknown).0),
        streaming: Arc::new(AtomicBool::new(true)),
    };

    let mut tasks = Vec::with_capacity(sources());
    let secrets = Api::<WatchedSecret>::all(client.clone());
    let secret_config = watcher::Config::default()
        .fields(&secret_field_selector())
        .page_size(SECRET_PAGE);
    tasks.push(spawn(follow(
        SECRET,
        secret_config,
        move |c| watcher(secrets.clone(), c),
        decode_secret,
        ctx.clone(),
        Arc::new(AtomicBool::new(false)),
    )));
    let pods = Api::<PartialObjectMeta<Pod>>::all(client.clone());
    tasks.push(spawn(follow(
        POD,
        watcher::Config::default().page_size(PAGE),
        move |c| watcher(pods.clone(), c),
        decode_pod,
        ctx.clone(),
        Arc::new(AtomicBool::new(false)),
    )));
    // Service metadata: BackendTLSPolicy targetRefs name Services.
    tasks.push(spawn(follow_services(client.clone(), ctx.clone())));
    // Namespace metadata: a DELETE inside a terminating namespace is the namespace being
    // emptied, whoever sends it (denyDeleteInUse must never block that).
    tasks.push(spawn(follow_namespaces(client.clone(), ctx.clone())));
    for source in optional() {
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
    /// The CustomResourceDefinitions the API server serves, from the CRD watch: a kind backed
    /// by a CRD is watched while its CRD is Established (Istio installed after tlsgate).
    crds: Arc<watch::Sender<Crds>>,
    /// Whether lists are streamed (see [`follow`]): true until the API server refuses a
    /// streaming list, then false for every watch of this process.
    streaming: Arc<AtomicBool>,
}

/// What the CRD watch knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Crds {
    /// Its first list has not completed.
    Unknown,
    /// The API server does not serve CRDs (a test double): CRD-backed kinds are probed once.
    Unavailable,
    /// Established CRDs by name (`gateways.networking.istio.io`) -> their served versions.
    Listed(BTreeMap<String, Vec<String>>),
}

impl Crds {
    /// The first of `versions` that CRD `name` serves, when it is Established.
    fn served(&self, name: &str, versions: &[&str]) -> Option<String> {
        let Crds::Listed(crds) = self else {
            return None;
        };
        let served = crds.get(name)?;
        versions
            .iter()
            .find(|v| served.iter().any(|s| s == *v))
            .map(|v| v.to_string())
    }
}

/// Name, and served versions when Established, of a CRD as JSON.
fn crd_state(v: &serde_json::Value) -> (String, Option<Vec<String>>) {
    let name = v
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string();
    let established = v
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
    let served = established.then(|| {
        v.pointer("/spec/versions")
            .and_then(|vs| vs.as_array())
            .map(|vs| {
                vs.iter()
                    .filter(|v| v["served"] == true)
                    .filter_map(|v| v["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    });
    (name, served)
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
            // The initial lists' parse garbage, once (see `par::release_freed`).
            crate::par::release_freed();
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
    /// A namespace: whether it is being deleted.
    Namespace(bool),
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
            warn!(namespace, name, error = %crate::redact::serde_error(&e.to_string()), "ignoring an object that does not serialize");
            Entry::Unusable
        }
    };
    Decoded {
        namespace,
        name,
        entry,
    }
}

/// A Secret as the watch reads it: `metadata` for the watcher, `type` and `data` as the API
/// server sends them. k8s-openapi's `Secret` decodes every value's base64 on arrival, and the
/// model wants the text (a value the parse cache knows is never decoded): at 100,000 Secrets
/// the decode, re-encode and decode again was most of the watch's start-up CPU.
#[derive(Clone, Debug, serde::Deserialize)]
struct WatchedSecret {
    #[serde(default)]
    metadata: kube::api::ObjectMeta,
    #[serde(rename = "type", default)]
    secret_type: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, Option<Box<str>>>,
}

impl kube::Resource for WatchedSecret {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        <Secret as k8s_openapi::Resource>::KIND.into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        <Secret as k8s_openapi::Resource>::GROUP.into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        <Secret as k8s_openapi::Resource>::VERSION.into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        <Secret as k8s_openapi::Resource>::URL_PATH_SEGMENT.into()
    }
    fn meta(&self) -> &kube::api::ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut kube::api::ObjectMeta {
        &mut self.metadata
    }
}

fn decode_secret(s: WatchedSecret) -> Decoded {
    let (namespace, name) = (namespace_of(&s), s.name_any());
    let m = s.metadata;
    let meta = crate::model::Meta {
        name: name.clone(),
        namespace: Some(namespace.clone()),
        labels: m.labels.unwrap_or_default(),
        annotations: m.annotations.unwrap_or_default(),
        deletion_timestamp: m
            .deletion_timestamp
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_string)),
    };
    let secret = crate::model::Secret::from_base64(meta, s.secret_type, s.data);
    Decoded {
        namespace,
        name,
        entry: Entry::Object(Box::new(Object::Secret(secret))),
    }
}

fn decode_pod(p: PartialObjectMeta<Pod>) -> Decoded {
    Decoded {
        namespace: namespace_of(&p),
        name: p.name_any(),
        entry: Entry::Pod(p.metadata.labels.unwrap_or_default()),
    }
}

fn decode_service(s: PartialObjectMeta<k8s_openapi::api::core::v1::Service>) -> Decoded {
    let (namespace, name) = (namespace_of(&s), s.name_any());
    let meta = crate::model::Meta {
        name: name.clone(),
        namespace: Some(namespace.clone()),
        ..Default::default()
    };
    Decoded {
        namespace,
        name,
        entry: Entry::Object(Box::new(Object::Service(crate::model::Service {
            metadata: meta,
        }))),
    }
}

fn decode_namespace(n: PartialObjectMeta<Namespace>) -> Decoded {
    Decoded {
        namespace: namespace_of(&n),
        name: n.name_any(),
        entry: Entry::Namespace(n.metadata.deletion_timestamp.is_some()),
    }
}

fn decode_dynamic(mut o: DynamicObject, types: &TypeMeta) -> Decoded {
    // List items of built-in kinds carry no apiVersion/kind; `Object::from_value` needs both.
    o.types = Some(types.clone());
    let group = types.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if kinds::carries_ca_bundle(group, &types.kind) {
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

async fn follow_optional(client: Client, source: Kind, ctx: Ctx) {
    let reported = Arc::new(AtomicBool::new(false));
    if source.group == CRD.group {
        // The CRD watch itself: the one that tells the CRD-backed kinds when to start.
        if discover(&client, source).await.is_none() {
            ctx.crds.send_replace(Crds::Unavailable);
            report_absent(source, &ctx, &reported);
            return;
        }
    }
    if matches!(source.watch, Watch::Crd | Watch::CrdOrAggregated) {
        let mut crds = ctx.crds.subscribe();
        let first = crds
            .wait_for(|c| *c != Crds::Unknown)
            .await
            .map(|c| c.clone())
            .unwrap_or(Crds::Unavailable);
        if first != Crds::Unavailable {
            if source.watch == Watch::CrdOrAggregated
                && first.served(source.resource, source.versions).is_none()
            {
                // No CRD defines it: an aggregated API server may serve it all the same.
                if let Some(ar) = discover(&client, source).await {
                    info!(
                        resource = source.resource,
                        "served without a CRD (an aggregated API); watching it"
                    );
                    return watch_resource(client, source, ar, ctx, reported).await;
                }
            }
            return follow_crd_backed(client, source, ctx, crds, reported).await;
        }
    }
    let Some(ar) = discover(&client, source).await else {
        report_absent(source, &ctx, &reported);
        return;
    };
    watch_resource(client, source, ar, ctx, reported).await;
}

/// Namespace metadata, when tlsgate may read it. A ClusterRole from before namespaces were
/// watched answers 403: then the view goes without (DELETEs are judged by who sends them, as
/// before) rather than never becoming ready.
async fn follow_namespaces(client: Client, ctx: Ctx) {
    let api = Api::<PartialObjectMeta<Namespace>>::all(client);
    if !may_list(
        &api,
        "namespaces",
        "a DELETE in a terminating namespace is recognised only when the namespace controller sends it as its own ServiceAccount",
        &ctx,
    )
    .await
    {
        return;
    }
    follow(
        NAMESPACE,
        watcher::Config::default().page_size(PAGE),
        move |c| watcher(api.clone(), c),
        decode_namespace,
        ctx,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
}

/// Service metadata, when tlsgate may read it: a ClusterRole from before Services were read
/// answers 403, and then `target-not-found` is never said rather than the view never ready.
async fn follow_services(client: Client, ctx: Ctx) {
    let api = Api::<PartialObjectMeta<k8s_openapi::api::core::v1::Service>>::all(client);
    if !may_list(
        &api,
        "services",
        "BackendTLSPolicy targets are not checked",
        &ctx,
    )
    .await
    {
        return;
    }
    // Only now: without a view of Services nothing is said about targets.
    write(&ctx.index).track_services();
    follow(
        SERVICE,
        watcher::Config::default().page_size(PAGE),
        move |c| watcher(api.clone(), c),
        decode_service,
        ctx,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
}

/// Whether the metadata of `resource` can be listed: a 403 or 404 (a ClusterRole from before
/// tlsgate read it) is said once, with what goes `without` it, and counts the source as synced
/// so the view still becomes ready; any other error is retried with backoff.
async fn may_list<K>(api: &Api<K>, resource: &str, without: &str, ctx: &Ctx) -> bool
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut delay = RETRY_FIRST;
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return true,
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {
                warn!(
                    code = e.code,
                    "cannot list {resource} (the ClusterRole needs {resource} get/list/watch); {without}"
                );
                ctx.readiness.source_synced();
                return false;
            }
            Err(e) => {
                warn!(error = %e, retry_in = ?delay, "cannot tell whether {resource} can be listed; readiness waits");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

fn report_absent(source: Kind, ctx: &Ctx, reported: &AtomicBool) {
    info!(
        resource = source.resource,
        "not served by this cluster; treating it as empty"
    );
    if !reported.swap(true, Ordering::AcqRel) {
        ctx.readiness.source_synced();
    }
}

/// Watches a CRD-backed kind while its CRD is Established, in the first version it serves;
/// stops (and forgets the kind's objects) when the CRD goes away. No probing: the CRD watch
/// says when, and the CRD's `spec.versions` say which version, so no request meets a 404.
async fn follow_crd_backed(
    client: Client,
    source: Kind,
    ctx: Ctx,
    mut crds: watch::Receiver<Crds>,
    reported: Arc<AtomicBool>,
) {
    let name = source.resource;
    loop {
        let version = crds
            .wait_for(|c| {
                if c.served(name, source.versions).is_none() {
                    // Absent now: an empty, synced source until its CRD appears.
                    if !reported.swap(true, Ordering::AcqRel) {
                        info!(
                            resource = name,
                            "no CRD established; watching it once there is"
                        );
                        ctx.readiness.source_synced();
                    }
                    return false;
                }
                true
            })
            .await
            .ok()
            .and_then(|c| c.served(name, source.versions));
        let Some(version) = version else { return };
        let ar = ApiResource {
            group: source.group.into(),
            version: version.clone(),
            api_version: source.api_version(&version),
            kind: source.kind.into(),
            plural: source.plural.into(),
        };
        let watching = watch_resource(client.clone(), source, ar, ctx.clone(), reported.clone());
        tokio::select! {
            _ = watching => {}
            _ = crds.wait_for(|c| c.served(name, source.versions).as_deref() != Some(version.as_str())) => {
                info!(resource = name, "CRD deleted or changed; watch stopped");
                prune(&ctx.index, source, &HashSet::new());
                write(&ctx.index).set_resource_synced(name, true);
            }
        }
    }
}

async fn watch_resource(
    client: Client,
    source: Kind,
    ar: ApiResource,
    ctx: Ctx,
    reported: Arc<AtomicBool>,
) {
    info!(api_version = %ar.api_version, resource = source.resource, "watching");
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let api = Api::<DynamicObject>::all_with(client, &ar);
    follow(
        source,
        watcher::Config::default().page_size(PAGE),
        move |c| watcher(api.clone(), c),
        move |o| decode_dynamic(o, &types),
        ctx,
        reported,
    )
    .await;
}

/// The first served version of `source`, `None` when none is. Retries (with backoff) while
/// the answer is not a clear "not found", so a flaky API server does not make Istio vanish.
async fn discover(client: &Client, source: Kind) -> Option<ApiResource> {
    let mut delay = Duration::from_millis(500);
    loop {
        match probe(client, source).await {
            Ok(found) => return found,
            Err(e) => {
                warn!(
                    group = source.group,
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

async fn probe(client: &Client, source: Kind) -> Result<Option<ApiResource>, kube::Error> {
    for version in source.versions {
        let ar = ApiResource {
            group: source.group.into(),
            version: (*version).into(),
            api_version: source.api_version(version),
            kind: source.kind.into(),
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
/// `InitDone` unless `reported` says it was already (a source that appeared after start was
/// counted as synced, empty).
///
/// Lists are streamed (`sendInitialEvents`, the API server's WatchList, Kubernetes 1.27+,
/// served from its watch cache as watch events: one request, not one per `page_size`
/// objects). An API server that cannot stream says so: before 1.27 a watch with
/// `resourceVersionMatch` is invalid (400/422), later with the feature off
/// `sendInitialEvents` is, and over an etcd without progress notifications (before 3.4.31
/// and 3.5.13) the watch ends in a 500 `ERROR` event. Any such answer to a streaming list
/// that has not ended switches every watch of this process to lists in pages of `config`'s
/// size, at once: as client-go falls back, making progress over waiting for a stream.
///
/// Freshness over thrift: after any error the resource is marked not synced (answers that
/// read it carry `view-not-synced`) and re-listed — at once after `410 Gone` (the resource
/// version is gone, only a list helps), else after [`RETRY_FIRST`] doubling to
/// [`RETRY_MAX`]. kube's default backoff grows to 30 s, which after an API server restart
/// left tlsgate answering from a stale view for 10–40 s.
async fn follow<K, W, S, D>(
    kind: Kind,
    config: watcher::Config,
    watch: W,
    decode: D,
    ctx: Ctx,
    reported: Arc<AtomicBool>,
) where
    K: ResourceExt + Send,
    W: Fn(watcher::Config) -> S,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    D: Fn(K) -> Decoded + Send + Sync,
{
    let mut delay = RETRY_FIRST;
    loop {
        let streamed = ctx.streaming.load(Ordering::Acquire);
        let config = if streamed {
            config.clone().streaming_lists()
        } else {
            config.clone()
        };
        let (error, listed) = follow_stream(kind, watch(config), &decode, &ctx, &reported).await;
        write(&ctx.index).set_resource_synced(kind.resource, false);
        if listed {
            delay = RETRY_FIRST;
        }
        if let Some(e) = error
            .as_ref()
            .filter(|e| streamed && !listed && streaming_refused(e))
        {
            if ctx.streaming.swap(false, Ordering::AcqRel) {
                info!(
                    resource = kind.resource,
                    error = %crate::redact::serde_error(&e.to_string()),
                    "the API server does not stream lists (WatchList); listing in pages"
                );
            }
            continue;
        }
        let expired = error.as_ref().is_some_and(is_expired);
        let retry_in = if expired { Duration::ZERO } else { delay };
        match &error {
            Some(e) => warn!(
                resource = kind.resource,
                error = %crate::redact::serde_error(&e.to_string()),
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

/// The API server's answer to a streaming list was an error status: it does not stream lists
/// (see [`follow`]). Not `410 Gone` (relisted at once anyway) nor `429` (try again later).
fn streaming_refused(e: &watcher::Error) -> bool {
    let status = match e {
        watcher::Error::WatchError(s)
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s,
        _ => return false,
    };
    status.code != 429 && !is_expired(e)
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
    reported: &AtomicBool,
) -> (Option<watcher::Error>, bool)
where
    K: ResourceExt + Send,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    D: Fn(K) -> Decoded + Send + Sync,
{
    let mut stream = std::pin::pin!(stream);
    // Keys seen since the last `Init`: what a relist did not mention is gone.
    let mut relisted: Option<HashSet<(String, String)>> = None;
    // Established CRDs seen since the last `Init` (the CRD watch only).
    let mut listing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut listed = false;
    // Secrets of a list, decoded and analysed a batch at a time on every core, while the next
    // page is fetched and read; applied in list order.
    let mut batch: Vec<K> = Vec::new();
    let mut analysing = InFlight::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => {
                relisted = Some(HashSet::new());
                listing.clear();
                write(&ctx.index).set_resource_synced(kind.resource, false);
            }
            Ok(Event::InitApply(obj)) if kind == SECRET => {
                if let Some(seen) = &mut relisted {
                    seen.insert((namespace_of(&obj), obj.name_any()));
                }
                batch.push(obj);
                if batch.len() >= crate::par::BATCH {
                    analysing
                        .next(&ctx.index, kind, batch.drain(..).map(decode).collect())
                        .await;
                }
            }
            Ok(Event::InitApply(obj)) => {
                let d = decode(obj);
                if let Some(seen) = &mut relisted {
                    seen.insert((d.namespace.clone(), d.name.clone()));
                }
                if let (true, Entry::CaBundles(v)) = (kind == CRD, &d.entry) {
                    if let (name, Some(served)) = crd_state(v) {
                        listing.insert(name, served);
                    }
                }
                apply(&ctx.index, kind, d);
            }
            Ok(Event::InitDone) => {
                analysing
                    .last(&ctx.index, kind, batch.drain(..).map(decode).collect())
                    .await;
                let pruned = prune(&ctx.index, kind, &relisted.take().unwrap_or_default());
                if pruned > 0 {
                    info!(
                        resource = kind.resource,
                        pruned, "relist removed objects deleted meanwhile"
                    );
                }
                write(&ctx.index).set_resource_synced(kind.resource, true);
                listed = true;
                if kind == CRD {
                    // Whole, at the end of the list: a half-listed set would look like absent CRDs.
                    ctx.crds
                        .send_replace(Crds::Listed(std::mem::take(&mut listing)));
                }
                if !reported.swap(true, Ordering::AcqRel) {
                    info!(resource = kind.resource, "first list done");
                    ctx.readiness.source_synced();
                }
            }
            Ok(Event::Apply(obj)) => {
                let d = decode(obj);
                if kind == CRD {
                    note_crd(ctx, &d);
                }
                apply(&ctx.index, kind, d);
            }
            Ok(Event::Delete(obj)) => {
                let name = obj.name_any();
                if kind == CRD {
                    ctx.crds.send_if_modified(|c| match c {
                        Crds::Listed(m) => m.remove(&name).is_some(),
                        _ => false,
                    });
                }
                remove(&mut write(&ctx.index), kind, &namespace_of(&obj), &name);
            }
            Err(e) => {
                analysing
                    .last(&ctx.index, kind, batch.drain(..).map(decode).collect())
                    .await;
                return (Some(e), listed);
            }
        }
    }
    analysing
        .last(&ctx.index, kind, batch.drain(..).map(decode).collect())
        .await;
    (None, listed)
}

/// The batch of listed Secrets being analysed on the blocking pool while the stream goes on:
/// one part per core, on the pool's threads (kept between batches, none started per batch).
#[derive(Default)]
struct InFlight(Vec<tokio::task::JoinHandle<Vec<Analysed>>>);

/// A listed object and, for a Secret, its summary.
type Analysed = (Decoded, Option<StoredSecret>);

impl InFlight {
    /// Starts analysing `decoded`, after applying the batch before it.
    async fn next(&mut self, index: &RwLock<Index>, kind: Kind, decoded: Vec<Decoded>) {
        self.finish(index, kind).await;
        let analyzer = analyzer_of(index);
        let part = decoded.len().div_ceil(crate::par::threads()).max(1);
        let mut decoded = decoded.into_iter().peekable();
        while decoded.peek().is_some() {
            let items: Vec<Decoded> = decoded.by_ref().take(part).collect();
            let analyzer = analyzer.clone();
            self.0.push(tokio::task::spawn_blocking(move || {
                items
                    .into_iter()
                    .map(|d| {
                        let analyzed = analyze(&analyzer, &d);
                        (d, analyzed)
                    })
                    .collect()
            }));
        }
    }

    /// Analyses and applies `decoded`, the rest of a list, after the batch in flight.
    async fn last(&mut self, index: &RwLock<Index>, kind: Kind, decoded: Vec<Decoded>) {
        self.next(index, kind, decoded).await;
        self.finish(index, kind).await;
    }

    /// Applies the batch in flight, if any, in list order.
    async fn finish(&mut self, index: &RwLock<Index>, kind: Kind) {
        for handle in std::mem::take(&mut self.0) {
            match handle.await {
                Ok(done) => {
                    let mut idx = write(index);
                    for (d, analyzed) in done {
                        apply_analyzed(&mut idx, kind, d, analyzed);
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: the runtime is shutting down.
                Err(_) => {}
            }
        }
    }
}

/// Records a CRD's change (after the list) for the CRD-backed watchers.
fn note_crd(ctx: &Ctx, d: &Decoded) {
    let Entry::CaBundles(v) = &d.entry else {
        return;
    };
    let (name, served) = crd_state(v);
    ctx.crds.send_if_modified(|c| {
        let Crds::Listed(m) = c else { return false };
        match served {
            Some(s) if m.get(&name) != Some(&s) => {
                m.insert(name, s);
                true
            }
            Some(_) => false,
            None => m.remove(&name).is_some(),
        }
    });
}

/// A Secret analysed (PEM, X.509, key match); `None` for anything else.
fn analyze(analyzer: &Analyzer, d: &Decoded) -> Option<StoredSecret> {
    match &d.entry {
        Entry::Object(obj) => match obj.as_ref() {
            Object::Secret(s) => Some(Index::analyze_secret(analyzer, s)),
            _ => None,
        },
        _ => None,
    }
}

fn analyzer_of(index: &RwLock<Index>) -> Arc<Analyzer> {
    index
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .analyzer()
        .clone()
}

fn apply(index: &RwLock<Index>, kind: Kind, d: Decoded) {
    // Analyse a Secret (PEM, X.509, key match) before taking the write lock, so admission
    // reviews reading the index never wait behind certificate parsing.
    let analyzed = analyze(&analyzer_of(index), &d);
    apply_analyzed(&mut write(index), kind, d, analyzed);
}

fn apply_analyzed(idx: &mut Index, kind: Kind, d: Decoded, analyzed: Option<StoredSecret>) {
    match d.entry {
        Entry::Object(obj) => idx.upsert_analyzed(&obj, analyzed),
        Entry::Pod(labels) => idx.upsert_pod(&d.namespace, &d.name, labels),
        Entry::Namespace(terminating) => idx.set_namespace_terminating(&d.name, terminating),
        Entry::CaBundles(v) => idx.upsert_ca_bundles(&v),
        Entry::Unusable => remove(idx, kind, &d.namespace, &d.name),
    }
}

fn remove(idx: &mut Index, kind: Kind, namespace: &str, name: &str) {
    if kind == POD {
        idx.remove_pod(namespace, name);
    } else if kind == NAMESPACE {
        idx.set_namespace_terminating(name, false);
    } else {
        idx.remove(kind, namespace, name);
    }
}

/// Removes every indexed object of `kind` not in `seen`; returns how many.
fn prune(index: &RwLock<Index>, kind: Kind, seen: &HashSet<(String, String)>) -> usize {
    let mut idx = write(index);
    let gone: Vec<_> = idx
        .keys_of(kind)
        .into_iter()
        .filter(|k| !seen.contains(k))
        .collect();
    for (ns, name) in &gone {
        remove(&mut idx, kind, ns, name);
    }
    gone.len()
}
