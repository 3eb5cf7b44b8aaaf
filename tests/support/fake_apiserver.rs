//! An in-process Kubernetes API server speaking just enough of the list + watch wire format
//! for kube-runtime's watcher: `GET <collection>` lists (with or without `limit`; everything
//! comes in one page), `?watch=true&resourceVersion=N` streams newline-delimited watch events,
//! and `Accept: ...;as=PartialObjectMetadataList` answers metadata-only shapes. Collections
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
//! without an event (a change lost to compaction), and [`FakeApiServer::hold_lists`] keeps
//! list requests waiting.
#![allow(dead_code)] // each test binary uses a part

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
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
pub const ISTIO_GATEWAYS: &str = "/apis/networking.istio.io/v1/gateways";
pub const ISTIO_GATEWAYS_V1BETA1: &str = "/apis/networking.istio.io/v1beta1/gateways";
pub const ISTIO_GATEWAYS_V1ALPHA3: &str = "/apis/networking.istio.io/v1alpha3/gateways";
pub const GATEWAYS: &str = "/apis/gateway.networking.k8s.io/v1/gateways";
pub const REFERENCE_GRANTS: &str = "/apis/gateway.networking.k8s.io/v1/referencegrants";
pub const INGRESSES: &str = "/apis/networking.k8s.io/v1/ingresses";

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
    tx: mpsc::UnboundedSender<Bytes>,
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
        c.record(rv, kind, obj);
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
        c.record(rv, "DELETED", obj);
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

    /// List requests on `collection` wait until [`FakeApiServer::release_lists`].
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
            "gateways" => "Gateway",
            "referencegrants" => "ReferenceGrant",
            "ingresses" => "Ingress",
            other => panic!("no kind known for {other}"),
        };
        Collection {
            builtin: !api_version.contains('/') || api_version.starts_with("networking.k8s.io/"),
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
            w.tx.unbounded_send(event_line(kind, &obj, w.metadata_only))
                .is_ok()
        });
        self.history.push((rv, kind, obj));
    }
}

fn key_of(obj: &Value) -> (String, String) {
    let field = |f: &str| {
        obj["metadata"][f]
            .as_str()
            .unwrap_or_else(|| panic!("object without metadata.{f}: {obj}"))
            .to_string()
    };
    (field("namespace"), field("name"))
}

fn metadata_only(obj: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": obj["metadata"],
    })
}

fn event_line(kind: &str, obj: &Value, meta_only: bool) -> Bytes {
    let object = if meta_only {
        metadata_only(obj)
    } else {
        obj.clone()
    };
    let mut line = serde_json::to_vec(&json!({ "type": kind, "object": object })).expect("json");
    line.push(b'\n');
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
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path();
    let meta_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("as=PartialObjectMetadata"));
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let lists_open = {
        let mut st = shared.lock();
        if !st.collections.contains_key(path) {
            st.not_found.push(path.to_string());
        }
        let Some(c) = st.collections.get_mut(path) else {
            return json_response(
                StatusCode::NOT_FOUND,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            );
        };
        c.requests.push(Request {
            watch: watching,
            resource_version: query.get("resourceVersion").cloned(),
        });
        if watching {
            return watch(c, &query, meta_only);
        }
        c.lists_open.subscribe()
    };
    list(&shared, path, lists_open, meta_only).await
}

async fn list(
    shared: &Shared,
    path: &str,
    mut lists_open: watch::Receiver<bool>,
    meta_only: bool,
) -> Response {
    // The sender lives as long as the collection, which lives as long as the server.
    let _ = lists_open.wait_for(|open| *open).await;
    let mut st = shared.lock();
    let rv = st.resource_version;
    let c = st.collection(path);
    let items: Vec<Value> = c
        .objects
        .values()
        .map(|o| {
            if meta_only {
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
            }
        })
        .collect();
    let (api_version, kind) = if meta_only {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (c.api_version.clone(), format!("{}List", c.kind))
    };
    json_response(
        StatusCode::OK,
        &json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": { "resourceVersion": rv.to_string() },
            "items": items,
        }),
    )
}

fn watch(c: &mut Collection, query: &HashMap<String, String>, meta_only: bool) -> Response {
    if std::mem::take(&mut c.expire_next_watch) {
        let gone = status(410, "Expired", "too old resource version");
        let mut line =
            serde_json::to_vec(&json!({ "type": "ERROR", "object": gone })).expect("json");
        line.push(b'\n');
        return stream_response(futures::stream::iter([Bytes::from(line)]));
    }
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let replay: Vec<Bytes> = c
        .history
        .iter()
        .filter(|(rv, _, _)| *rv > from)
        .map(|(_, kind, obj)| event_line(kind, obj, meta_only))
        .collect();
    let (tx, rx) = mpsc::unbounded();
    c.watches.push(OpenWatch {
        metadata_only: meta_only,
        tx,
    });
    stream_response(futures::stream::iter(replay).chain(rx))
}

/// A chunked 200 response that ends when `lines` does.
fn stream_response(lines: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines.map(Ok::<_, Infallible>)),
    )
        .into_response()
}
