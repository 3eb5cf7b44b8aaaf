//! An in-process Kubernetes API server speaking just enough of the list + watch wire format
//! for kube-runtime's watcher: `GET <collection>` lists (`limit` pages it as the API server
//! does: a `continue` token, every page at the first page's resourceVersion),
//! `?watch=true&resourceVersion=N` streams newline-delimited watch events,
//! `?watch=true&sendInitialEvents=true` is a streaming list (the API server's WatchList: an
//! `ADDED` event per object, then a `BOOKMARK` annotated `k8s.io/initial-events-end`, then
//! the changes), and `Accept: ...;as=PartialObjectMetadataList` answers metadata-only shapes. Collections
//! that were not registered answer 404, as an API server does for a CRD that is not installed.
//!
//! Resource versions are one counter shared by every collection, like etcd's revision. Each
//! observed change is kept in the collection's history, so a watch from version N replays
//! what happened after N: a test may change objects while the client is disconnected and
//! the client still sees the change when it resumes.
//!
//! Test controls: [`FakeApiServer::drop_watches`] closes open watches (the client resumes
//! from its last version), [`FakeApiServer::expire_watches`] makes the next watch answer
//! `410 Gone` (the client relists), [`FakeApiServer::delete_unobserved`] removes an object
//! without an event (a change lost to compaction), [`FakeApiServer::hold_lists`] keeps
//! list requests (streaming ones too) waiting, and [`FakeApiServer::refuse_streaming_lists`]
//! fails streaming lists as an API server that cannot stream does (a [`Refusal`]).
//!
//! Single objects, for controllers that write (tlsgate's self-managed certificates): namespaced
//! paths (`/api/v1/namespaces/{ns}/secrets[/{name}]`) and cluster-scoped object paths
//! (`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{name}`) resolve to
//! the registered collection. `GET` one object, `POST` creates (409 AlreadyExists), `PUT`
//! replaces and `PATCH` (merge or strategic merge; lists of objects with a `name` merge by
//! name, as `webhooks` does) — both answer 409 Conflict when the body carries a
//! `metadata.resourceVersion` that is not the current one, which is the API server's
//! optimistic concurrency. `DELETE` removes. Lists and watches honour
//! `fieldSelector=metadata.name=...`, `type!=...`, `labelSelector` equality terms and the namespace in the path. [`FakeApiServer::changes`]
//! is every change in resourceVersion order across collections, marked by who made it.
#![allow(dead_code)] // each test binary uses a part

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

pub const SECRETS: &str = "/api/v1/secrets";
pub const PODS: &str = "/api/v1/pods";
pub const CONFIG_MAPS: &str = "/api/v1/configmaps";
pub const SERVICES: &str = "/api/v1/services";
pub const BACKEND_TLS_POLICIES: &str = "/apis/gateway.networking.k8s.io/v1/backendtlspolicies";
pub const ISTIO_GATEWAYS: &str = "/apis/networking.istio.io/v1/gateways";
pub const ISTIO_GATEWAYS_V1BETA1: &str = "/apis/networking.istio.io/v1beta1/gateways";
pub const ISTIO_GATEWAYS_V1ALPHA3: &str = "/apis/networking.istio.io/v1alpha3/gateways";
pub const DESTINATION_RULES: &str = "/apis/networking.istio.io/v1/destinationrules";
pub const GATEWAYS: &str = "/apis/gateway.networking.k8s.io/v1/gateways";
pub const ISSUERS: &str = "/apis/cert-manager.io/v1/issuers";
pub const CLUSTER_ISSUERS: &str = "/apis/cert-manager.io/v1/clusterissuers";
pub const CERTIFICATES: &str = "/apis/cert-manager.io/v1/certificates";
pub const ROUTES: &str = "/apis/route.openshift.io/v1/routes";
pub const LISTENER_SETS: &str = "/apis/gateway.networking.k8s.io/v1/listenersets";
pub const REFERENCE_GRANTS: &str = "/apis/gateway.networking.k8s.io/v1/referencegrants";
pub const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";
pub const VALIDATING_WEBHOOKS: &str =
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
pub const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
pub const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";

/// What a cluster with Istio and the Gateway API serves.
pub const EVERYTHING: [&str; 6] = [
    SECRETS,
    PODS,
    ISTIO_GATEWAYS,
    GATEWAYS,
    REFERENCE_GRANTS,
    INGRESSES,
];

/// One request the server answered, for asserting how the client behaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub watch: bool,
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`: a streaming list.
    pub send_initial_events: bool,
}

impl Request {
    /// A list: paged, or streamed as watch events.
    pub fn lists(&self) -> bool {
        !self.watch || self.send_initial_events
    }

    fn of(query: &HashMap<String, String>) -> Request {
        Request {
            watch: flag(query, "watch"),
            resource_version: query.get("resourceVersion").cloned(),
            send_initial_events: flag(query, "sendInitialEvents"),
        }
    }
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|w| w == "true" || w == "1")
}

/// One change to an object, in resourceVersion order across collections.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub collection: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (before it, for `DELETED`).
    pub object: Value,
    /// `POST`, `PUT`, `PATCH` or `DELETE` from a client; `None` for test controls.
    pub by_client: Option<&'static str>,
}

pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::AbortHandle,
}

struct Shared {
    state: Mutex<ServerState>,
}

struct ServerState {
    resource_version: u64,
    collections: HashMap<String, Collection>,
    not_found: Vec<String>,
    changes: Vec<Change>,
    refuse_streaming_lists: Option<Refusal>,
}

/// How an API server that cannot stream lists answers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `422 Invalid`: the WatchList feature is off (before Kubernetes 1.27 a watch with
    /// `resourceVersionMatch` is invalid too).
    Invalid,
    /// `200`, then an `ERROR` event `500 InternalError`: kube-apiserver over an etcd without
    /// progress notifications (3.4.23, as in envtest here).
    NoProgressNotify,
}

struct Collection {
    api_version: String,
    kind: String,
    /// Built-in kinds' list items come without apiVersion/kind; CRDs' carry them.
    builtin: bool,
    objects: BTreeMap<(String, String), Value>,
    /// (resourceVersion, event type, object) of every observed change.
    history: Vec<(u64, &'static str, Value)>,
    watches: Vec<OpenWatch>,
    expire_next_watch: bool,
    lists_open: watch::Sender<bool>,
    requests: Vec<Request>,
}

struct OpenWatch {
    metadata_only: bool,
    filter: Filter,
    tx: mpsc::UnboundedSender<Bytes>,
}

/// What a list or watch is limited to: the namespace in its path, `fieldSelector`.
#[derive(Debug, Clone, Default)]
struct Filter {
    namespace: Option<String>,
    name: Option<String>,
    /// `type!=T` terms (Secrets' field selector).
    not_types: Vec<String>,
    /// `labelSelector` equality terms: `(key, value, equal)`.
    labels: Vec<(String, String, bool)>,
}

impl Filter {
    fn new(namespace: Option<String>, query: &HashMap<String, String>) -> Self {
        let mut f = Filter {
            namespace,
            name: None,
            not_types: Vec::new(),
            labels: Vec::new(),
        };
        for term in query
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let (k, v, eq) = match term.split_once("!=") {
                Some((k, v)) => (k, v, false),
                None => match term.split_once('=') {
                    Some((k, v)) => (k, v.trim_start_matches('='), true),
                    None => (term, "", true),
                },
            };
            f.labels.push((k.to_string(), v.to_string(), eq));
        }
        for term in query
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
        {
            if let Some(t) = term.strip_prefix("type!=") {
                f.not_types.push(t.to_string());
                continue;
            }
            match term.split_once('=') {
                Some(("metadata.name", v)) => f.name = Some(v.to_string()),
                Some(("metadata.namespace", v)) => f.namespace = Some(v.to_string()),
                _ => {}
            }
        }
        f
    }

    fn matches(&self, obj: &Value) -> bool {
        let (ns, name) = key_of(obj);
        let ty = obj["type"].as_str().unwrap_or("Opaque");
        self.namespace.as_ref().is_none_or(|n| *n == ns)
            && self.name.as_ref().is_none_or(|n| *n == name)
            && !self.not_types.iter().any(|t| t == ty)
            && self.labels.iter().all(|(k, v, eq)| {
                let got = obj["metadata"]["labels"][k.as_str()].as_str();
                match (v.is_empty(), eq) {
                    (true, true) => got.is_some(),
                    _ => (got == Some(v.as_str())) == *eq,
                }
            })
    }
}

impl FakeApiServer {
    /// Serves the given collections (paths like [`SECRETS`]); every other path answers 404.
    pub async fn start(collections: &[&str]) -> Self {
        let collections = collections
            .iter()
            .map(|path| (path.to_string(), Collection::new(path)))
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(ServerState {
                resource_version: 1,
                collections,
                not_found: Vec::new(),
                changes: Vec::new(),
                refuse_streaming_lists: None,
            }),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake apiserver");
        })
        .abort_handle();
        FakeApiServer {
            addr,
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, for a kubeconfig that points a separate process here.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> kube::Client {
        let url = format!("http://{}", self.addr).parse().expect("url");
        kube::Client::try_from(kube::Config::new(url)).expect("kube client")
    }

    /// Creates or replaces an object (ADDED or MODIFIED), stamping a new resourceVersion.
    #[track_caller]
    pub fn apply(&self, collection: &str, mut obj: Value) {
        let mut st = self.lock();
        st.resource_version += 1;
        let rv = st.resource_version;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = key_of(&obj);
        let c = st.collection(collection);
        let kind = if c.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        c.objects.insert(key, obj.clone());
        c.record(rv, kind, obj.clone());
        st.log(rv, collection, kind, obj, None);
    }

    /// The object as stored, if any (`namespace` is `""` for cluster-scoped objects).
    #[track_caller]
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .collection(collection)
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every change so far, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        self.lock().changes.clone()
    }

    /// Deletes an object with a DELETED event.
    #[track_caller]
    pub fn delete(&self, collection: &str, namespace: &str, name: &str) {
        let mut st = self.lock();
        st.resource_version += 1;
        let rv = st.resource_version;
        let c = st.collection(collection);
        let mut obj = c
            .objects
            .remove(&(namespace.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no {namespace}/{name} in {collection}"));
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        c.record(rv, "DELETED", obj.clone());
        st.log(rv, collection, "DELETED", obj, None);
    }

    /// Deletes an object without any watch event, as if the event had been compacted away.
    #[track_caller]
    pub fn delete_unobserved(&self, collection: &str, namespace: &str, name: &str) {
        let mut st = self.lock();
        st.resource_version += 1;
        st.collection(collection)
            .objects
            .remove(&(namespace.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no {namespace}/{name} in {collection}"));
    }

    /// Ends every open watch on `collection` cleanly, as an API server does at its timeout.
    #[track_caller]
    pub fn drop_watches(&self, collection: &str) {
        self.lock().collection(collection).watches.clear();
    }

    /// Ends open watches; the next watch gets an `ERROR` event with status 410 Gone.
    #[track_caller]
    pub fn expire_watches(&self, collection: &str) {
        let mut st = self.lock();
        let c = st.collection(collection);
        c.expire_next_watch = true;
        c.watches.clear();
    }

    /// From now on, streaming lists (`sendInitialEvents=true`) fail as `how` says.
    pub fn refuse_streaming_lists(&self, how: Refusal) {
        self.lock().refuse_streaming_lists = Some(how);
    }

    /// List requests on `collection` (streaming lists too) wait until
    /// [`FakeApiServer::release_lists`].
    #[track_caller]
    pub fn hold_lists(&self, collection: &str) {
        self.lock()
            .collection(collection)
            .lists_open
            .send_replace(false);
    }

    #[track_caller]
    pub fn release_lists(&self, collection: &str) {
        self.lock()
            .collection(collection)
            .lists_open
            .send_replace(true);
    }

    /// Requests answered (or being answered) on `collection`, oldest first.
    #[track_caller]
    pub fn requests(&self, collection: &str) -> Vec<Request> {
        self.lock().collection(collection).requests.clone()
    }

    /// Starts serving a collection that was absent (a CRD installed while clients run).
    pub fn serve_collection(&self, path: &str) {
        self.lock()
            .collections
            .entry(path.to_string())
            .or_insert_with(|| Collection::new(path));
    }

    /// Paths requested that are not served (probes of absent resources), oldest first.
    pub fn not_found(&self) -> Vec<String> {
        self.lock().not_found.clone()
    }

    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.shared.lock()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServerState {
    fn log(
        &mut self,
        rv: u64,
        collection: &str,
        kind: &'static str,
        object: Value,
        by_client: Option<&'static str>,
    ) {
        self.changes.push(Change {
            resource_version: rv,
            collection: collection.to_string(),
            kind,
            object,
            by_client,
        });
    }

    #[track_caller]
    fn collection(&mut self, path: &str) -> &mut Collection {
        self.collections
            .get_mut(path)
            .unwrap_or_else(|| panic!("{path} is not served by this fake apiserver"))
    }
}

impl Collection {
    fn new(path: &str) -> Self {
        let (api_version, plural) = match path.split('/').collect::<Vec<_>>()[..] {
            ["", "api", version, plural] => (version.to_string(), plural),
            ["", "apis", group, version, plural] => (format!("{group}/{version}"), plural),
            _ => panic!("{path} is not a cluster-scoped collection path"),
        };
        let kind = match plural {
            "secrets" => "Secret",
            "pods" => "Pod",
            "configmaps" => "ConfigMap",
            "services" => "Service",
            "backendtlspolicies" => "BackendTLSPolicy",
            "gateways" => "Gateway",
            "destinationrules" => "DestinationRule",
            "issuers" => "Issuer",
            "clusterissuers" => "ClusterIssuer",
            "certificates" => "Certificate",
            "routes" => "Route",
            "listenersets" => "ListenerSet",
            "referencegrants" => "ReferenceGrant",
            "ingresses" => "Ingress",
            "validatingwebhookconfigurations" => "ValidatingWebhookConfiguration",
            "leases" => "Lease",
            "customresourcedefinitions" => "CustomResourceDefinition",
            other => panic!("no kind known for {other}"),
        };
        Collection {
            builtin: !api_version.contains('/')
                || [
                    "networking.k8s.io/",
                    "admissionregistration.k8s.io/",
                    "coordination.k8s.io/",
                    "apiextensions.k8s.io/",
                ]
                .iter()
                .any(|g| api_version.starts_with(g)),
            api_version,
            kind: kind.to_string(),
            objects: BTreeMap::new(),
            history: Vec::new(),
            watches: Vec::new(),
            expire_next_watch: false,
            lists_open: watch::channel(true).0,
            requests: Vec::new(),
        }
    }

    fn record(&mut self, rv: u64, kind: &'static str, obj: Value) {
        self.watches.retain(|w| {
            !w.filter.matches(&obj)
                || w.tx
                    .unbounded_send(event_line(kind, &obj, w.metadata_only))
                    .is_ok()
        });
        self.history.push((rv, kind, obj));
    }
}

/// (namespace, name); the namespace is `""` for cluster-scoped objects.
fn key_of(obj: &Value) -> (String, String) {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("object without metadata.name: {obj}"))
        .to_string();
    let namespace = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (namespace, name)
}

fn metadata_only(obj: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": obj["metadata"],
    })
}

fn event_line(kind: &str, obj: &Value, meta_only: bool) -> Bytes {
    // `{"type":…,"object":…}` written around the object, which is not copied to be wrapped.
    let mut line = format!(r#"{{"type":"{kind}","object":"#).into_bytes();
    if meta_only {
        serde_json::to_writer(&mut line, &metadata_only(obj))
    } else {
        serde_json::to_writer(&mut line, obj)
    }
    .expect("json");
    line.extend_from_slice(b"}\n");
    line.into()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let routed = resolve(path).filter(|t| shared.lock().collections.contains_key(&t.collection));
    if let Some(t) = routed {
        return object_request(&shared, method, t, &headers, &query, &body).await;
    }
    let meta_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("as=PartialObjectMetadata"));
    {
        let mut st = shared.lock();
        if !st.collections.contains_key(path) {
            st.not_found.push(path.to_string());
            return json_response(
                StatusCode::NOT_FOUND,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            );
        }
    }
    read_collection(&shared, path, &query, meta_only, Filter::new(None, &query)).await
}

/// A list, a streaming list or a watch of `collection`.
async fn read_collection(
    shared: &Arc<Shared>,
    collection: &str,
    query: &HashMap<String, String>,
    meta_only: bool,
    filter: Filter,
) -> Response {
    let request = Request::of(query);
    let lists_open = {
        let mut st = shared.lock();
        match st
            .refuse_streaming_lists
            .filter(|_| request.send_initial_events)
        {
            Some(Refusal::Invalid) => {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &status(
                        422,
                        "Invalid",
                        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    ),
                );
            }
            Some(Refusal::NoProgressNotify) => {
                return error_event(status(
                    500,
                    "InternalError",
                    "a watch stream was requested by the client but the required storage feature RequestWatchProgress is disabled",
                ));
            }
            None => {}
        }
        let c = st.collection(collection);
        c.requests.push(request.clone());
        if request.watch && !request.send_initial_events {
            return watch(c, query, meta_only, filter);
        }
        c.lists_open.subscribe()
    };
    if request.send_initial_events {
        return streaming_list(shared, collection, lists_open, meta_only, filter).await;
    }
    list(
        shared,
        collection,
        lists_open,
        meta_only,
        filter,
        Page::of(query),
    )
    .await
}

/// A request on a namespaced path or a single object, resolved to its collection.
#[derive(Debug)]
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn resolve(path: &str) -> Option<Target> {
    let seg: Vec<&str> = path.split('/').collect();
    let t = |collection: String, namespace: Option<&str>, name: Option<&&str>| Target {
        collection,
        namespace: namespace.map(str::to_string),
        name: name.map(|n| n.to_string()),
    };
    match seg[..] {
        ["", "api", v, "namespaces", ns, plural, ref rest @ ..] if rest.len() <= 1 => {
            Some(t(format!("/api/{v}/{plural}"), Some(ns), rest.first()))
        }
        ["", "apis", g, v, "namespaces", ns, plural, ref rest @ ..] if rest.len() <= 1 => {
            Some(t(format!("/apis/{g}/{v}/{plural}"), Some(ns), rest.first()))
        }
        ["", "api", v, plural, ref name] => {
            Some(t(format!("/api/{v}/{plural}"), Some(""), Some(name)))
        }
        ["", "apis", g, v, plural, ref name] => {
            Some(t(format!("/apis/{g}/{v}/{plural}"), Some(""), Some(name)))
        }
        _ => None,
    }
}

fn not_found(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &status(404, "NotFound", &format!("{what} not found")),
    )
}

async fn object_request(
    shared: &Arc<Shared>,
    method: Method,
    t: Target,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let meta_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("as=PartialObjectMetadata"));
    let namespace = t.namespace.clone().unwrap_or_default();
    let Some(name) = t.name.clone() else {
        if method == Method::POST {
            return write(
                shared,
                "POST",
                &t.collection,
                &namespace,
                None,
                headers,
                body,
            );
        }
        let filter = Filter::new(t.namespace.clone(), query);
        return read_collection(shared, &t.collection, query, meta_only, filter).await;
    };
    match method {
        Method::GET => {
            let mut st = shared.lock();
            match st
                .collection(&t.collection)
                .objects
                .get(&(namespace.clone(), name.clone()))
            {
                Some(o) => json_response(StatusCode::OK, o),
                None => not_found(&name),
            }
        }
        Method::PUT => write(
            shared,
            "PUT",
            &t.collection,
            &namespace,
            Some(&name),
            headers,
            body,
        ),
        Method::PATCH => write(
            shared,
            "PATCH",
            &t.collection,
            &namespace,
            Some(&name),
            headers,
            body,
        ),
        Method::DELETE => {
            let mut st = shared.lock();
            st.resource_version += 1;
            let rv = st.resource_version;
            let c = st.collection(&t.collection);
            let Some(mut obj) = c.objects.remove(&(namespace, name.clone())) else {
                return not_found(&name);
            };
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            c.record(rv, "DELETED", obj.clone());
            st.log(rv, &t.collection, "DELETED", obj.clone(), Some("DELETE"));
            json_response(StatusCode::OK, &obj)
        }
        _ => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &status(405, "MethodNotAllowed", "method not allowed"),
        ),
    }
}

/// POST, PUT or PATCH: the new object is stamped with the next resourceVersion.
fn write(
    shared: &Shared,
    method: &'static str,
    collection: &str,
    namespace: &str,
    name: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &status(400, "BadRequest", "body is not JSON"),
        );
    };
    let mut st = shared.lock();
    let c = st.collection(collection);
    let name = name
        .map(str::to_string)
        .or_else(|| body["metadata"]["name"].as_str().map(str::to_string))
        .unwrap_or_default();
    let key = (namespace.to_string(), name.clone());
    let existing = c.objects.get(&key).cloned();
    let sent_rv = body["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    let mut obj = match (method, existing) {
        ("POST", Some(_)) => {
            return json_response(
                StatusCode::CONFLICT,
                &status(409, "AlreadyExists", &format!("{name} already exists")),
            )
        }
        ("POST", None) => body,
        (_, None) => return not_found(&name),
        (_, Some(current)) => {
            let current_rv = current["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            if sent_rv.is_some() && sent_rv != current_rv {
                return json_response(
                    StatusCode::CONFLICT,
                    &status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {name}: the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    ),
                );
            }
            if method == "PUT" {
                body
            } else {
                let strategic = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("strategic-merge-patch"));
                let mut merged = current;
                merge(&mut merged, &body, strategic);
                merged
            }
        }
    };
    if !namespace.is_empty() {
        obj["metadata"]["namespace"] = json!(namespace);
    }
    obj["metadata"]["name"] = json!(name);
    if obj.get("apiVersion").is_none() {
        obj["apiVersion"] = json!(c.api_version);
        obj["kind"] = json!(c.kind);
    }
    st.resource_version += 1;
    let rv = st.resource_version;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    let c = st.collection(collection);
    let kind = if c.objects.insert(key, obj.clone()).is_some() {
        "MODIFIED"
    } else {
        "ADDED"
    };
    c.record(rv, kind, obj.clone());
    st.log(rv, collection, kind, obj.clone(), Some(method));
    let code = if kind == "ADDED" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(code, &obj)
}

/// JSON merge patch (RFC 7386); with `strategic`, lists whose items all carry a `name` merge
/// item by item on it, as strategic merge patch does for `webhooks`, `containers`, ....
fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v, strategic);
                }
            }
        }
        Value::Array(items)
            if strategic && target.is_array() && items.iter().all(|i| i.get("name").is_some()) =>
        {
            let t = target.as_array_mut().expect("array");
            for item in items {
                match t.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(x) => merge(x, item, strategic),
                    None => t.push(item.clone()),
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// `limit` and `continue` of a list request. The token is the first page's resourceVersion and
/// the last key served, so every page of one list reports the same version, as a consistent
/// paged list does, and the watch that follows replays what changed while it was paged.
struct Page {
    limit: Option<usize>,
    after: Option<(u64, (String, String))>,
}

impl Page {
    fn of(query: &HashMap<String, String>) -> Page {
        let after = query.get("continue").and_then(|t| {
            let mut parts = t.splitn(3, '/');
            let rv = parts.next()?.parse().ok()?;
            Some((rv, (parts.next()?.to_string(), parts.next()?.to_string())))
        });
        Page {
            limit: query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .filter(|&l| l > 0),
            after,
        }
    }
}

async fn list(
    shared: &Shared,
    path: &str,
    mut lists_open: watch::Receiver<bool>,
    meta_only: bool,
    filter: Filter,
    page: Page,
) -> Response {
    use std::ops::Bound;
    // The sender lives as long as the collection, which lives as long as the server.
    let _ = lists_open.wait_for(|open| *open).await;
    let mut st = shared.lock();
    let rv = page
        .after
        .as_ref()
        .map_or(st.resource_version, |(rv, _)| *rv);
    let c = st.collection(path);
    let from = match &page.after {
        Some((_, key)) => Bound::Excluded(key.clone()),
        None => Bound::Unbounded,
    };
    let matching = c
        .objects
        .range((from, Bound::Unbounded))
        .filter(|(_, o)| filter.matches(o));
    let mut items = Vec::new();
    let mut last = None;
    // Whether a matching object is left after this page.
    let mut more = false;
    for (key, o) in matching {
        if page.limit.is_some_and(|l| items.len() == l) {
            more = true;
            break;
        }
        items.push(if meta_only {
            metadata_only(o)
        } else if c.builtin {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            o
        } else {
            o.clone()
        });
        last = Some(key.clone());
    }
    let (api_version, kind) = if meta_only {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (c.api_version.clone(), format!("{}List", c.kind))
    };
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if let (true, Some((ns, name))) = (more, last) {
        metadata["continue"] = format!("{rv}/{ns}/{name}").into();
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": metadata,
            "items": items,
        }),
    )
}

fn watch(
    c: &mut Collection,
    query: &HashMap<String, String>,
    meta_only: bool,
    filter: Filter,
) -> Response {
    if std::mem::take(&mut c.expire_next_watch) {
        return gone();
    }
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let replay: Vec<Bytes> = c
        .history
        .iter()
        .filter(|(rv, _, obj)| *rv > from && filter.matches(obj))
        .map(|(_, kind, obj)| event_line(kind, obj, meta_only))
        .collect();
    let (tx, rx) = mpsc::unbounded();
    c.watches.push(OpenWatch {
        metadata_only: meta_only,
        filter,
        tx,
    });
    stream_response(futures::stream::iter(replay).chain(rx))
}

/// A streaming list (`sendInitialEvents=true`): an `ADDED` event per matching object in key
/// order, a `BOOKMARK` at the resourceVersion the watch started at, annotated
/// `k8s.io/initial-events-end`, then every later change, as kube-apiserver serves it from its
/// watch cache. The watch is registered first and the objects are read [`STREAM_CHUNK`] at a
/// time as the client takes them, so nothing is copied up front; an object changed meanwhile
/// may be sent in its new state and again as a change, which a watcher applies twice to the
/// same end.
async fn streaming_list(
    shared: &Arc<Shared>,
    collection: &str,
    mut lists_open: watch::Receiver<bool>,
    meta_only: bool,
    filter: Filter,
) -> Response {
    let _ = lists_open.wait_for(|open| *open).await;
    let (rx, end) = {
        let mut st = shared.lock();
        let rv = st.resource_version;
        let c = st.collection(collection);
        if std::mem::take(&mut c.expire_next_watch) {
            return gone();
        }
        let (kind, api_version) = if meta_only {
            (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (c.kind.clone(), c.api_version.clone())
        };
        let (tx, rx) = mpsc::unbounded();
        c.watches.push(OpenWatch {
            metadata_only: meta_only,
            filter: filter.clone(),
            tx,
        });
        let end = json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {
                "resourceVersion": rv.to_string(),
                "annotations": { "k8s.io/initial-events-end": "true" },
            },
        });
        (rx, end)
    };
    let state = (shared.clone(), collection.to_string(), None, false);
    let initial = futures::stream::unfold(state, move |(shared, collection, after, done)| {
        let filter = filter.clone();
        async move {
            if done {
                return None;
            }
            let chunk = {
                use std::ops::Bound;
                let mut st = shared.lock();
                let c = st.collection(&collection);
                let from = after.map_or(Bound::Unbounded, Bound::Excluded);
                c.objects
                    .range((from, Bound::Unbounded))
                    .filter(|(_, o)| filter.matches(o))
                    .take(STREAM_CHUNK)
                    .map(|(k, o)| (k.clone(), event_line("ADDED", o, meta_only)))
                    .collect::<Vec<_>>()
            };
            let last = chunk.last().map(|(k, _)| k.clone());
            let lines: Vec<Bytes> = chunk.into_iter().map(|(_, l)| l).collect();
            let done = lines.len() < STREAM_CHUNK;
            Some((
                futures::stream::iter(lines),
                (shared, collection, last, done),
            ))
        }
    })
    .flatten()
    .chain(futures::stream::once(async move {
        event_line("BOOKMARK", &end, false)
    }));
    stream_response(initial.chain(rx))
}

/// Objects a streaming list reads under one hold of the lock.
const STREAM_CHUNK: usize = 100;

/// One `ERROR` event, 410 Gone: the watch's resourceVersion is too old.
fn gone() -> Response {
    error_event(status(410, "Expired", "too old resource version"))
}

/// A watch that answers one `ERROR` event carrying `status`, then ends.
fn error_event(status: Value) -> Response {
    stream_response(futures::stream::iter([event_line("ERROR", &status, false)]))
}

/// A chunked 200 response that ends when `lines` does.
fn stream_response(lines: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines.map(Ok::<_, Infallible>)),
    )
        .into_response()
}
