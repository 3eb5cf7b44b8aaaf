//! The live cluster view against an in-process API server: kube-runtime's watchers list,
//! watch, resume and relist through `tlsgate::cluster`, and the index follows.

#[path = "../benches/common/cluster.rs"]
mod bench_cluster;
#[path = "../benches/common/proc.rs"]
mod bench_proc;

/// The allocator the `tlsgate` binary runs with (src/main.rs), so `ready_with_many_secrets`
/// measures start-up as it runs in the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use support::fake_apiserver::*;
use tlsgate::analysis::Analyzer;
use tlsgate::cluster::{self, ClusterView};
use tlsgate::finding::Code;
use tlsgate::lookup::{Found, Index, Lookup};

/// Upper bound for anything a test waits on; waits end as soon as the condition holds.
/// Generous because a 410 relist waits out the watcher's backoff (about a second).
const WAIT: Duration = Duration::from_secs(10);

// ---- builders -------------------------------------------------------------------------

/// A Secret exactly as `kubectl create secret ... --dry-run=client -o yaml` printed it.
#[track_caller]
fn kubectl_secret(file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/secrets/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_serde::from_str(&yaml).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn renamed(mut obj: Value, namespace: &str, name: &str) -> Value {
    obj["metadata"]["namespace"] = json!(namespace);
    obj["metadata"]["name"] = json!(name);
    obj
}

/// `httpbin-credential` in `istio-system`: cert for httpbin.example.com and its key.
fn httpbin_credential() -> Value {
    kubectl_secret("httpbin-credential-san.yaml")
}

/// `httpbin-credential` in `istio-system`: httpbin cert with helloworld's key.
fn mismatched_credential() -> Value {
    kubectl_secret("mismatch.yaml")
}

fn mk_istio_gateway(api_version: &str, namespace: &str, name: &str, credential: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "Gateway",
        "metadata": { "namespace": namespace, "name": name },
        "spec": {
            "selector": { "istio": "ingressgateway" },
            "servers": [{
                "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
                "tls": { "mode": "SIMPLE", "credentialName": credential },
                "hosts": ["httpbin.example.com"],
            }],
        },
    })
}

fn mk_pod(namespace: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "namespace": namespace, "name": name, "labels": labels },
        "spec": { "containers": [{ "name": "istio-proxy", "image": "istio/proxyv2" }] },
    })
}

// ---- harness --------------------------------------------------------------------------

struct Started {
    view: ClusterView,
    index: Arc<RwLock<Index>>,
}

fn start(server: &FakeApiServer) -> Started {
    let index = Arc::new(RwLock::new(Index::new(Arc::new(Analyzer::new()))));
    let view = cluster::start(server.client(), index.clone());
    Started { view, index }
}

impl Started {
    fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap())
    }

    async fn ready(&self) {
        self.ready_within(WAIT).await;
    }

    async fn ready_within(&self, limit: Duration) {
        let mut ready = self.view.ready.clone();
        bounded_by(limit, "the cluster view to become ready", async {
            ready
                .wait_for(|r| *r)
                .await
                .expect("readiness sender alive");
        })
        .await;
    }

    /// Polls the index until `cond` holds; panics naming `what` after [`WAIT`].
    async fn eventually(&self, what: &str, cond: impl Fn(&Index) -> bool) {
        bounded(what, async {
            while !self.read(&cond) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    fn secret_found(&self, namespace: &str, name: &str) -> bool {
        self.read(|i| matches!(i.secret(namespace, name), Found::Yes(_)))
    }
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    bounded_by(WAIT, what, f).await
}

async fn bounded_by<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// The Istio Gateway probes that answered 404 (other optional sources, DestinationRules
/// among them, are probed too).
fn istio_not_found(server: &FakeApiServer) -> Vec<String> {
    server
        .not_found()
        .into_iter()
        .filter(|p| p.contains("networking.istio.io") && p.ends_with("/gateways"))
        .collect()
}

fn lists(requests: &[Request]) -> usize {
    requests.iter().filter(|r| r.lists()).count()
}

// ---- tests ----------------------------------------------------------------------------

#[tokio::test]
async fn initial_list_fills_index_and_flips_ready() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, httpbin_credential());
    let c = start(&server);

    c.ready().await;

    assert!(c.view.is_ready());
    assert!(c.read(Index::is_synced));
    let Found::Yes(s) = c.read(|i| i.secret("istio-system", "httpbin-credential")) else {
        panic!("httpbin-credential not indexed after the first list");
    };
    assert_eq!(s.summary.secret_type(), "kubernetes.io/tls");
    let leaf = s.summary.leaf().expect("server certificate summarised");
    assert!(
        format!("{leaf:?}").contains("httpbin.example.com"),
        "{leaf:?}"
    );
    assert!(s.summary.issues.is_empty(), "{:?}", s.summary.issues);
}

/// 250 Secrets in `apps`, listed until ready from a server that streams lists unless `refused`
/// says how it refuses them: the Secret requests it answered.
async fn list_250_secrets(refused: Option<Refusal>) -> Vec<Request> {
    let server = FakeApiServer::start(&EVERYTHING).await;
    if let Some(how) = refused {
        server.refuse_streaming_lists(how);
    }
    for i in 0..250 {
        server.apply(
            SECRETS,
            renamed(httpbin_credential(), "apps", &format!("cred-{i}")),
        );
    }
    let c = start(&server);

    c.ready().await;

    assert!(c.secret_found("apps", "cred-0") && c.secret_found("apps", "cred-249"));
    server.requests(SECRETS)
}

#[tokio::test]
async fn secrets_are_listed_as_one_streaming_watch_not_in_pages() {
    let requests = list_250_secrets(None).await;

    assert!(
        requests.iter().all(|r| r.watch) && requests[0].send_initial_events,
        "{requests:?}"
    );
    assert_eq!(lists(&requests), 1, "{requests:?}");
}

/// Listed in 3 pages of 100 when the server refuses streaming lists `how`.
async fn listed_in_pages_when_streaming_is_refused(how: Refusal) {
    let requests = list_250_secrets(Some(how)).await;

    let paged = requests.iter().filter(|r| !r.watch).count();
    assert_eq!(paged, 3, "250 Secrets in pages of 100: {requests:?}");
}

#[tokio::test]
async fn an_api_server_without_watch_list_is_listed_in_pages() {
    listed_in_pages_when_streaming_is_refused(Refusal::Invalid).await;
}

#[tokio::test]
async fn an_api_server_over_etcd_without_progress_notify_is_listed_in_pages() {
    listed_in_pages_when_streaming_is_refused(Refusal::NoProgressNotify).await;
}

#[tokio::test]
async fn a_change_during_a_streaming_list_is_seen_after_it() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "first"));
    server.hold_lists(SECRETS);
    let c = start(&server);
    bounded("the streaming list request", async {
        while lists(&server.requests(SECRETS)) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "second"));
    server.release_lists(SECRETS);

    c.ready().await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "third"));

    c.eventually("the secret created after the list", |i| {
        matches!(i.secret("apps", "third"), Found::Yes(_))
    })
    .await;
    assert!(c.secret_found("apps", "first") && c.secret_found("apps", "second"));
}

#[tokio::test]
async fn listed_key_mismatch_is_summarised_without_keeping_the_key() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let secret = mismatched_credential();
    let key_b64 = secret["data"]["tls.key"].as_str().unwrap().to_string();
    server.apply(SECRETS, secret);
    let c = start(&server);

    c.ready().await;

    let Found::Yes(s) = c.read(|i| i.secret("istio-system", "httpbin-credential")) else {
        panic!("httpbin-credential not indexed");
    };
    let mismatch = s
        .summary
        .issues
        .iter()
        .find(|i| i.code == Code::KeyMismatch)
        .unwrap_or_else(|| panic!("no key-mismatch in {:?}", s.summary.issues));
    assert_eq!(mismatch.path, r#"data["tls.key"]"#);
    // What the index keeps names the key but holds neither its base64 nor its PEM body.
    let key_pem = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &key_b64).unwrap(),
    )
    .unwrap();
    let pem_line = key_pem.lines().nth(1).unwrap();
    let kept = format!("{s:?}");
    assert!(s.summary.keys().iter().any(|k| &**k == "tls.key"));
    assert!(!kept.contains(&key_b64[..40]) && !kept.contains(pem_line));
}

#[tokio::test]
async fn added_secret_event_is_indexed() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;
    assert!(!c.secret_found("istio-system", "httpbin-credential"));

    server.apply(SECRETS, httpbin_credential());

    c.eventually("the ADDED secret", |i| {
        matches!(
            i.secret("istio-system", "httpbin-credential"),
            Found::Yes(_)
        )
    })
    .await;
}

#[tokio::test]
async fn modified_secret_event_replaces_its_summary() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, mismatched_credential());
    let c = start(&server);
    c.ready().await;

    server.apply(SECRETS, httpbin_credential());

    c.eventually("the MODIFIED secret without key-mismatch", |i| {
        matches!(i.secret("istio-system", "httpbin-credential"),
            Found::Yes(s) if s.summary.issues.iter().all(|x| x.code != Code::KeyMismatch))
    })
    .await;
}

#[tokio::test]
async fn deleted_secret_event_removes_it() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, httpbin_credential());
    let c = start(&server);
    c.ready().await;
    assert!(c.secret_found("istio-system", "httpbin-credential"));

    server.delete(SECRETS, "istio-system", "httpbin-credential");

    c.eventually("the DELETED secret to answer Missing", |i| {
        matches!(
            i.secret("istio-system", "httpbin-credential"),
            Found::Missing
        )
    })
    .await;
    assert!(c.read(|i| i.secret_namespaces("httpbin-credential").is_empty()));
}

#[tokio::test]
async fn istio_gateway_reference_shows_in_referrers() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;

    server.apply(
        ISTIO_GATEWAYS,
        mk_istio_gateway(
            "networking.istio.io/v1",
            "istio-system",
            "mygateway",
            "httpbin-credential",
        ),
    );

    c.eventually("the gateway among the secret's referrers", |i| {
        !i.referrers("httpbin-credential").is_empty()
    })
    .await;
    let refs = c.read(|i| i.referrers("httpbin-credential"));
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].object.api_version, "networking.istio.io");
    assert_eq!(refs[0].object.kind, "Gateway");
    assert_eq!(refs[0].object.name, "mygateway");
    assert_eq!(refs[0].reference.path, "spec.servers[0].tls.credentialName");
    assert!(c.read(|i| matches!(i.istio_gateway("istio-system", "mygateway"), Found::Yes(_))));
}

#[tokio::test]
async fn deleted_istio_gateway_leaves_referrers() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(
        ISTIO_GATEWAYS,
        mk_istio_gateway(
            "networking.istio.io/v1",
            "istio-system",
            "mygateway",
            "httpbin-credential",
        ),
    );
    let c = start(&server);
    c.ready().await;
    assert_eq!(c.read(|i| i.referrers("httpbin-credential")).len(), 1);

    server.delete(ISTIO_GATEWAYS, "istio-system", "mygateway");

    c.eventually("no referrers once the gateway is deleted", |i| {
        i.referrers("httpbin-credential").is_empty()
            && matches!(i.istio_gateway("istio-system", "mygateway"), Found::Missing)
    })
    .await;
}

#[tokio::test]
async fn istio_gateway_updated_to_undecodable_is_dropped() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let gw = mk_istio_gateway(
        "networking.istio.io/v1",
        "istio-system",
        "mygateway",
        "httpbin-credential",
    );
    server.apply(ISTIO_GATEWAYS, gw.clone());
    let c = start(&server);
    c.ready().await;
    let mut broken = gw;
    broken["spec"]["servers"] = json!("not a list");

    server.apply(ISTIO_GATEWAYS, broken);

    c.eventually("the undecodable gateway to leave the index", |i| {
        matches!(i.istio_gateway("istio-system", "mygateway"), Found::Missing)
            && i.referrers("httpbin-credential").is_empty()
    })
    .await;
}

#[tokio::test]
async fn gateway_pod_labels_resolve_the_workload_namespace() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(
        PODS,
        mk_pod(
            "istio-ingress",
            "istio-ingressgateway-7d9c",
            json!({ "istio": "ingressgateway", "app": "istio-ingressgateway" }),
        ),
    );
    server.apply(
        PODS,
        mk_pod("default", "httpbin-5f6b", json!({ "app": "httpbin" })),
    );
    let c = start(&server);
    c.ready().await;
    let selector = BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]);

    let namespaces = c.read(|i| i.workload_namespaces(&selector));

    assert_eq!(namespaces, Some(vec!["istio-ingress".to_string()]));
}

#[tokio::test]
async fn gateway_api_and_ingress_references_are_indexed() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(
        GATEWAYS,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "namespace": "gateways", "name": "shared" },
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [{
                    "name": "https", "hostname": "app.example.com", "port": 443, "protocol": "HTTPS",
                    "tls": { "mode": "Terminate",
                             "certificateRefs": [{ "kind": "Secret", "name": "app-cert", "namespace": "certs" }] },
                }],
            },
        }),
    );
    server.apply(
        REFERENCE_GRANTS,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "ReferenceGrant",
            "metadata": { "namespace": "certs", "name": "gateways-read-certs" },
            "spec": {
                "from": [{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gateways" }],
                "to": [{ "group": "", "kind": "Secret" }],
            },
        }),
    );
    server.apply(
        INGRESSES,
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": { "namespace": "shop", "name": "shop" },
            "spec": { "tls": [{ "hosts": ["shop.example.com"], "secretName": "shop-tls" }] },
        }),
    );
    let c = start(&server);

    c.ready().await;

    let gw = c.read(|i| i.referrers("app-cert"));
    assert_eq!(gw.len(), 1, "{gw:?}");
    assert_eq!(gw[0].object.api_version, "gateway.networking.k8s.io");
    assert_eq!(gw[0].object.kind, "Gateway");
    assert_eq!(c.read(|i| i.reference_grants("certs")).len(), 1);
    let ing = c.read(|i| i.referrers("shop-tls"));
    assert_eq!(ing.len(), 1, "{ing:?}");
    assert_eq!(ing[0].object.kind, "Ingress");
    assert_eq!(ing[0].reference.path, "spec.tls[0].secretName");
}

#[tokio::test]
async fn destination_rule_credential_is_indexed_and_forgotten_on_delete() {
    let mut served = EVERYTHING.to_vec();
    served.push(DESTINATION_RULES);
    let server = FakeApiServer::start(&served).await;
    server.apply(
        DESTINATION_RULES,
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": { "namespace": "istio-system", "name": "originate-mtls-for-nginx" },
            "spec": {
                "host": "my-nginx.mesh-external.svc.cluster.local",
                "trafficPolicy": { "portLevelSettings": [{
                    "port": { "number": 443 },
                    "tls": { "mode": "MUTUAL", "credentialName": "client-credential" },
                }] },
            },
        }),
    );
    let c = start(&server);
    c.ready().await;

    let refs = c.read(|i| i.referrers("client-credential"));
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].object.kind, "DestinationRule");
    assert_eq!(
        refs[0].reference.path,
        "spec.trafficPolicy.portLevelSettings[0].tls.credentialName"
    );
    server.delete(
        DESTINATION_RULES,
        "istio-system",
        "originate-mtls-for-nginx",
    );
    c.eventually("the rule gone from the referrers", |i| {
        i.referrers("client-credential").is_empty()
    })
    .await;
}

#[tokio::test]
async fn istio_credential_names_are_indexed_each_at_its_index() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(
        ISTIO_GATEWAYS,
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": { "namespace": "istio-system", "name": "dual-cert-gateway" },
            "spec": {
                "selector": { "istio": "ingressgateway" },
                "servers": [{
                    "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
                    "hosts": ["keys.example.com"],
                    "tls": { "mode": "SIMPLE", "credentialNames": ["keys-rsa", "keys-ecdsa"] },
                }],
            },
        }),
    );
    let c = start(&server);
    c.ready().await;

    let ecdsa = c.read(|i| i.referrers("keys-ecdsa"));
    assert_eq!(ecdsa.len(), 1, "{ecdsa:?}");
    assert_eq!(
        ecdsa[0].reference.path,
        "spec.servers[0].tls.credentialNames[1]"
    );
    assert_eq!(ecdsa[0].reference.alternatives, ["keys-rsa"]);
    let rsa = c.read(|i| i.referrers("keys-rsa"));
    assert_eq!(
        rsa[0].reference.path,
        "spec.servers[0].tls.credentialNames[0]"
    );
}

#[tokio::test]
async fn cert_manager_issuer_secrets_are_indexed_and_forgotten_on_delete() {
    let mut served = EVERYTHING.to_vec();
    served.extend([ISSUERS, CLUSTER_ISSUERS]);
    let server = FakeApiServer::start(&served).await;
    server.apply(
        ISSUERS,
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": { "namespace": "sandbox", "name": "ca-issuer" },
            "spec": { "ca": { "secretName": "ca-key-pair" } },
        }),
    );
    server.apply(
        CLUSTER_ISSUERS,
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": { "name": "ca-cluster-issuer" },
            "spec": { "ca": { "secretName": "cluster-ca-key-pair" } },
        }),
    );
    let c = start(&server);
    c.ready().await;

    let refs = c.read(|i| i.referrers("ca-key-pair"));
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].object.kind, "Issuer");
    assert_eq!(refs[0].reference.path, "spec.ca.secretName");
    let cluster = c.read(|i| i.referrers("cluster-ca-key-pair"));
    assert_eq!(cluster.len(), 1, "{cluster:?}");
    assert_eq!(cluster[0].object.kind, "ClusterIssuer");
    assert_eq!(cluster[0].object.namespace, None);
    server.delete(CLUSTER_ISSUERS, "", "ca-cluster-issuer");
    c.eventually("the cluster issuer gone from the referrers", |i| {
        i.referrers("cluster-ca-key-pair").is_empty()
    })
    .await;
}

/// cert-manager Certificates are watched so that replacing their issuer's CA Secret can name
/// the ones whose leaves would outlive the new CA.
#[tokio::test]
async fn cert_manager_certificates_are_found_by_their_issuer_and_forgotten_on_delete() {
    use tlsgate::lookup::Lookup;
    let mut served = EVERYTHING.to_vec();
    served.extend([ISSUERS, CLUSTER_ISSUERS, CERTIFICATES]);
    let server = FakeApiServer::start(&served).await;
    let certificate = |name: &str, kind: &str, issuer: &str| {
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": { "namespace": "sandbox", "name": name },
            "spec": {
                "secretName": format!("{name}-tls"),
                "dnsNames": ["app.example.com"],
                "issuerRef": { "name": issuer, "kind": kind, "group": "cert-manager.io" },
            },
        })
    };
    server.apply(CERTIFICATES, certificate("app", "Issuer", "ca-issuer"));
    server.apply(
        CERTIFICATES,
        certificate("edge", "ClusterIssuer", "ca-cluster-issuer"),
    );
    let c = start(&server);
    c.ready().await;

    let names = |cluster: bool, issuer: &'static str| {
        move |i: &tlsgate::lookup::Index| -> Vec<String> {
            i.certificates_issued_by(cluster, "sandbox", issuer)
                .iter()
                .map(|c| c.metadata.name.clone())
                .collect()
        }
    };
    assert_eq!(c.read(names(false, "ca-issuer")), ["app"]);
    assert_eq!(c.read(names(true, "ca-cluster-issuer")), ["edge"]);
    server.delete(CERTIFICATES, "sandbox", "app");
    c.eventually("the Certificate gone from its issuer's list", |i| {
        i.certificates_issued_by(false, "sandbox", "ca-issuer")
            .is_empty()
    })
    .await;
}

/// An OpenShift Route as `oc get route -o json` lists it: inline certificate and key, and the
/// OpenShift 4.16+ externalCertificate naming a Secret in its namespace.
fn mk_route(external: &str) -> Value {
    let text = |f: &str| {
        let path = format!(
            "{}/tests/fixtures/certs/route/{f}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    json!({
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": { "namespace": "frontend", "name": "frontend" },
        "spec": {
            "host": "www.example.com",
            "to": { "kind": "Service", "name": "frontend", "weight": 100 },
            "tls": {
                "termination": "reencrypt",
                "certificate": text("www.crt"),
                "key": text("www.key"),
                "destinationCACertificate": text("ca.crt"),
                "externalCertificate": { "name": external },
            },
        },
    })
}

#[tokio::test]
async fn openshift_routes_are_indexed_with_their_external_certificate_and_forgotten_on_delete() {
    let mut served = EVERYTHING.to_vec();
    served.push(ROUTES);
    let server = FakeApiServer::start(&served).await;
    server.apply(ROUTES, mk_route("www-tls"));
    let c = start(&server);
    c.ready().await;

    let refs = c.read(|i| i.referrers("www-tls"));
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].object.kind, "Route");
    assert_eq!(refs[0].object.namespace.as_deref(), Some("frontend"));
    assert_eq!(refs[0].reference.path, "spec.tls.externalCertificate.name");
    let fields: Vec<&str> = c.read(|i| {
        i.routes()
            .flat_map(|r| r.summary.bundles.iter().map(|(f, _)| *f))
            .collect()
    });
    assert_eq!(
        fields,
        ["spec.tls.certificate", "spec.tls.destinationCACertificate"]
    );
    server.apply(ROUTES, mk_route("www-tls-2"));
    c.eventually("the renamed externalCertificate indexed", |i| {
        i.referrers("www-tls").is_empty() && i.referrers("www-tls-2").len() == 1
    })
    .await;
    server.delete(ROUTES, "frontend", "frontend");
    c.eventually("the Route gone from the index", |i| {
        i.referrers("www-tls-2").is_empty() && i.routes().next().is_none()
    })
    .await;
}

#[tokio::test]
async fn without_the_route_crd_the_view_still_becomes_ready() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;
    assert!(c.read(|i| i.routes().next().is_none()));
}

#[tokio::test]
async fn listener_set_and_backend_client_certificate_references_are_indexed() {
    let mut served = EVERYTHING.to_vec();
    served.push(LISTENER_SETS);
    let server = FakeApiServer::start(&served).await;
    server.apply(
        LISTENER_SETS,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "ListenerSet",
            "metadata": { "namespace": "apps", "name": "listenerset-https" },
            "spec": {
                "parentRef": { "name": "parent-gateway", "namespace": "gateways" },
                "listeners": [{
                    "name": "https", "hostname": "app.example.com", "port": 443, "protocol": "HTTPS",
                    "tls": { "mode": "Terminate", "certificateRefs": [{ "name": "app-cert" }] },
                }],
            },
        }),
    );
    server.apply(
        GATEWAYS,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": { "namespace": "gateways", "name": "parent-gateway" },
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }],
                "tls": { "backend": { "clientCertificateRef": { "name": "backend-client" } } },
            },
        }),
    );
    let c = start(&server);
    c.ready().await;

    let ls = c.read(|i| i.referrers("app-cert"));
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0].object.kind, "ListenerSet");
    assert_eq!(
        ls[0].reference.path,
        "spec.listeners[0].tls.certificateRefs[0]"
    );
    let gw = c.read(|i| i.referrers("backend-client"));
    assert_eq!(gw.len(), 1, "{gw:?}");
    assert_eq!(
        gw[0].reference.path,
        "spec.tls.backend.clientCertificateRef"
    );
}

#[tokio::test]
async fn ca_config_maps_are_indexed_and_others_are_not() {
    let mut served = EVERYTHING.to_vec();
    served.push(CONFIG_MAPS);
    let server = FakeApiServer::start(&served).await;
    let mut ca = kubectl_secret("configmap-client-ca.yaml");
    ca["metadata"]["namespace"] = json!("gateways");
    server.apply(CONFIG_MAPS, ca);
    server.apply(
        CONFIG_MAPS,
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "namespace": "gateways", "name": "app-config" },
                "data": { "settings.yaml": "replicas: 3" } }),
    );
    let c = start(&server);
    c.ready().await;

    let found = c.read(|i| match i.config_map("gateways", "client-ca") {
        Found::Yes(cm) => cm.ca.as_ref().map(|b| b.certs.len()),
        _ => None,
    });
    assert_eq!(found, Some(1));
    assert!(c.read(|i| matches!(i.config_map("gateways", "app-config"), Found::Missing)));
}

#[tokio::test]
async fn backend_tls_policy_references_and_services_are_indexed() {
    let mut served = EVERYTHING.to_vec();
    served.extend([SERVICES, BACKEND_TLS_POLICIES]);
    let server = FakeApiServer::start(&served).await;
    server.apply(
        SERVICES,
        json!({ "apiVersion": "v1", "kind": "Service",
                "metadata": { "namespace": "apps", "name": "backendtlspolicy-test" },
                "spec": { "ports": [{ "port": 443 }] } }),
    );
    server.apply(
        BACKEND_TLS_POLICIES,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "BackendTLSPolicy",
            "metadata": { "namespace": "apps", "name": "normative-test-backendtlspolicy" },
            "spec": {
                "targetRefs": [{ "group": "", "kind": "Service", "name": "backendtlspolicy-test" }],
                "validation": {
                    "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "backend-ca" }],
                    "hostname": "abc.example.com",
                },
            },
        }),
    );
    let c = start(&server);
    c.ready().await;

    let refs = c.read(|i| i.referrers("backend-ca"));
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].object.kind, "BackendTLSPolicy");
    assert_eq!(
        refs[0].reference.path,
        "spec.validation.caCertificateRefs[0]"
    );
    assert_eq!(
        c.read(|i| i.service_exists("apps", "backendtlspolicy-test")),
        Some(true)
    );
    assert_eq!(c.read(|i| i.service_exists("apps", "gone")), Some(false));
}

#[tokio::test]
async fn without_services_served_targets_are_not_judged() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;
    assert_eq!(c.read(|i| i.service_exists("apps", "anything")), None);
}

#[tokio::test]
async fn dropped_watch_resumes_from_last_resource_version() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "first"));
    c.eventually("the first secret", |i| {
        matches!(i.secret("apps", "first"), Found::Yes(_))
    })
    .await;
    let last_seen = server.resource_version().to_string();

    server.drop_watches(SECRETS);
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "second"));

    c.eventually("the secret added after the watch dropped", |i| {
        matches!(i.secret("apps", "second"), Found::Yes(_))
    })
    .await;
    let requests = server.requests(SECRETS);
    assert_eq!(lists(&requests), 1, "resumed, not relisted: {requests:?}");
    let resumed = requests.last().unwrap();
    assert!(resumed.watch, "{requests:?}");
    assert_eq!(
        resumed.resource_version.as_deref(),
        Some(last_seen.as_str())
    );
    assert!(c.secret_found("apps", "first"));
}

#[tokio::test]
async fn gone_watch_relists_and_prunes_objects_deleted_meanwhile() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "kept"));
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "deleted"));
    server.apply(
        ISTIO_GATEWAYS,
        mk_istio_gateway("networking.istio.io/v1", "apps", "gone-gw", "deleted"),
    );
    let c = start(&server);
    c.ready().await;
    assert!(c.secret_found("apps", "deleted"));

    // The deletions' events are lost (compacted); only a relist can reveal them.
    server.delete_unobserved(SECRETS, "apps", "deleted");
    server.delete_unobserved(ISTIO_GATEWAYS, "apps", "gone-gw");
    server.expire_watches(SECRETS);
    server.expire_watches(ISTIO_GATEWAYS);

    c.eventually("the relist to prune the deleted secret and gateway", |i| {
        matches!(i.secret("apps", "deleted"), Found::Missing) && i.referrers("deleted").is_empty()
    })
    .await;
    assert!(c.secret_found("apps", "kept"));
    assert_eq!(lists(&server.requests(SECRETS)), 2);
    assert!(c.view.is_ready(), "a relist does not take readiness away");
}

#[tokio::test]
async fn absent_istio_crds_still_become_ready() {
    let server =
        FakeApiServer::start(&[SECRETS, PODS, GATEWAYS, REFERENCE_GRANTS, INGRESSES]).await;
    let c = start(&server);

    c.ready().await;

    assert!(c.read(|i| matches!(i.istio_gateway("istio-system", "mygateway"), Found::Missing)));
    assert_eq!(
        istio_not_found(&server),
        [
            ISTIO_GATEWAYS,
            ISTIO_GATEWAYS_V1BETA1,
            ISTIO_GATEWAYS_V1ALPHA3
        ]
    );
}

#[tokio::test]
async fn istio_gateways_are_watched_at_v1beta1_when_v1_is_not_served() {
    let server = FakeApiServer::start(&[
        SECRETS,
        PODS,
        ISTIO_GATEWAYS_V1BETA1,
        GATEWAYS,
        REFERENCE_GRANTS,
        INGRESSES,
    ])
    .await;
    server.apply(
        ISTIO_GATEWAYS_V1BETA1,
        mk_istio_gateway(
            "networking.istio.io/v1beta1",
            "istio-system",
            "mygateway",
            "httpbin-credential",
        ),
    );
    let c = start(&server);

    c.ready().await;

    assert!(c.read(|i| matches!(i.istio_gateway("istio-system", "mygateway"), Found::Yes(_))));
    assert_eq!(istio_not_found(&server), [ISTIO_GATEWAYS]);
}

#[tokio::test]
async fn lookups_answer_not_synced_before_the_first_list_completes() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, httpbin_credential());
    server.hold_lists(SECRETS);
    let c = start(&server);
    bounded("the secrets list request", async {
        while lists(&server.requests(SECRETS)) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    assert!(c.read(|i| matches!(
        i.secret("istio-system", "httpbin-credential"),
        Found::NotSyncedYet
    )));
    assert!(c.read(|i| matches!(i.istio_gateway("istio-system", "gw"), Found::NotSyncedYet)));
    assert!(!c.view.is_ready());

    server.release_lists(SECRETS);
    c.ready().await;

    assert!(c.secret_found("istio-system", "httpbin-credential"));
    assert!(c.read(|i| matches!(i.secret("istio-system", "other"), Found::Missing)));
}

#[tokio::test]
async fn object_counts_follow_the_index() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "one"));
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "two"));
    server.apply(
        ISTIO_GATEWAYS,
        mk_istio_gateway("networking.istio.io/v1", "apps", "gw", "one"),
    );
    let c = start(&server);
    c.ready().await;

    let counts: BTreeMap<_, _> = c.view.object_counts().into_iter().collect();

    assert_eq!(counts["secret"], 2);
    assert_eq!(counts["istio-gateway"], 1);
    assert_eq!(counts["referrer"], 1);
}

/// Time to ready for a large cluster of distinct certificates (the growth benchmark's set,
/// `benches/common/cluster.rs`), `TLSGATE_SECRETS` of them (default 10,000) plus one Gateway
/// per ten, listed as streaming lists (`TLSGATE_LISTS=paged`: in pages, from a server that
/// refuses them); run with
/// `TLSGATE_SECRETS=100000 cargo test --release --test cluster_watch -- --ignored --nocapture ready_with_many_secrets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn ready_with_many_secrets() {
    let n: usize = std::env::var("TLSGATE_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let set = bench_cluster::tls_cluster(n, n / 10);
    let server = FakeApiServer::start(&EVERYTHING).await;
    let paged = std::env::var("TLSGATE_LISTS").is_ok_and(|v| v == "paged");
    if paged {
        server.refuse_streaming_lists(Refusal::Invalid);
    }
    for (i, s) in set.secrets.iter().enumerate() {
        server.apply(SECRETS, s.json(i));
    }
    for g in &set.gateways {
        server.apply(
            ISTIO_GATEWAYS,
            mk_istio_gateway(
                "networking.istio.io/v1",
                &g.namespace,
                &g.name,
                &g.credential,
            ),
        );
    }
    drop(set);
    let cpu_before = bench_proc::cpu_seconds(std::process::id());
    let started = Instant::now();
    let c = start(&server);

    c.ready_within(Duration::from_secs(300)).await;

    let elapsed = started.elapsed();
    let cpu = bench_proc::cpu_seconds(std::process::id()) - cpu_before;
    let counts = c.view.object_counts();
    println!(
        "{n} distinct TLS secrets, lists {}: ready in {elapsed:?}, {cpu:.2} s of CPU (fake API \
         server included); index counts {counts:?}",
        if paged { "in pages" } else { "streamed" }
    );
    assert_eq!(counts[0], ("secret", n));
}

/// The `istio-galley` ValidatingWebhookConfiguration from tests/fixtures/audit/cabundles.json
/// (its caBundle is the Citadel root that expired in the seed's outage).
fn galley_webhook_configuration() -> Value {
    let path = format!(
        "{}/tests/fixtures/audit/cabundles.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let list: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "istio-galley")
        .expect("istio-galley in the fixture")
        .clone()
}

#[tokio::test]
async fn webhook_configuration_ca_bundles_are_indexed_and_pruned_on_delete() {
    let mut collections = EVERYTHING.to_vec();
    collections.push(VALIDATING_WEBHOOKS);
    let server = FakeApiServer::start(&collections).await;
    server.apply(VALIDATING_WEBHOOKS, galley_webhook_configuration());
    let c = start(&server);
    c.ready().await;

    c.eventually("the galley caBundle in the index", |i| {
        i.ca_bundles().count() == 1
    })
    .await;
    let (kind, name, path) = c.read(|i| {
        let b = i.ca_bundles().next().unwrap();
        (b.kind.clone(), b.name.clone(), b.path.clone())
    });
    assert_eq!(kind, "ValidatingWebhookConfiguration");
    assert_eq!(name, "istio-galley");
    assert_eq!(path, "webhooks[0].clientConfig.caBundle");

    server.delete(VALIDATING_WEBHOOKS, "", "istio-galley");
    c.eventually("the caBundle gone after DELETED", |i| {
        i.ca_bundles().count() == 0
    })
    .await;
}

/// Istio's Gateway CRD as the API server serves it once Established.
fn istio_gateway_crd(established: bool) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.networking.istio.io"},
        "spec": {
            "group": "networking.istio.io",
            "names": {"kind": "Gateway", "plural": "gateways"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": true, "storage": true},
                {"name": "v1beta1", "served": true, "storage": false},
            ],
        },
        "status": {"conditions": [
            {"type": "Established", "status": if established { "True" } else { "False" }},
        ]},
    })
}

#[tokio::test]
async fn istio_crd_established_after_start_is_watched_at_once_and_forgotten_when_deleted() {
    let server =
        FakeApiServer::start(&[SECRETS, PODS, GATEWAYS, REFERENCE_GRANTS, INGRESSES, CRDS]).await;
    let c = start(&server);
    c.ready().await;
    assert!(c.read(|i| matches!(i.istio_gateway("istio-system", "mygateway"), Found::Missing)));
    assert!(
        istio_not_found(&server).is_empty(),
        "with a CRD watch nothing is probed: {:?}",
        istio_not_found(&server)
    );

    // `istioctl install` lands the CRD (not yet Established), then it is, then a Gateway.
    server.apply(CRDS, istio_gateway_crd(false));
    server.serve_collection(ISTIO_GATEWAYS);
    server.apply(
        ISTIO_GATEWAYS,
        mk_istio_gateway(
            "networking.istio.io/v1",
            "istio-system",
            "mygateway",
            "httpbin-credential",
        ),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server.requests(ISTIO_GATEWAYS).is_empty(),
        "not watched before the CRD is Established"
    );
    server.apply(CRDS, istio_gateway_crd(true));
    bounded_by(
        Duration::from_secs(2),
        "the late Istio Gateway in the index",
        async {
            while !c.read(|i| matches!(i.istio_gateway("istio-system", "mygateway"), Found::Yes(_)))
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    assert!(
        c.view.is_ready(),
        "readiness must not flap when a source appears late"
    );

    server.delete(CRDS, "", "gateways.networking.istio.io");
    c.eventually("the Gateways of a deleted CRD forgotten", |i| {
        matches!(i.istio_gateway("istio-system", "mygateway"), Found::Missing)
            && i.referrers("httpbin-credential").is_empty()
    })
    .await;
}

#[tokio::test]
async fn while_a_relist_after_410_is_pending_missing_secrets_answer_not_synced() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "kept"));
    let c = start(&server);
    c.ready().await;
    assert!(matches!(
        c.read(|i| i.secret("apps", "other")),
        Found::Missing
    ));

    server.hold_lists(SECRETS);
    server.expire_watches(SECRETS);
    c.eventually("the 410 to mark secrets not synced", |i| {
        i.stale_resources() == ["secrets"]
    })
    .await;
    assert!(
        matches!(c.read(|i| i.secret("apps", "other")), Found::NotSyncedYet),
        "a Secret missing from a view being re-listed is not known to be missing"
    );
    assert!(
        c.secret_found("apps", "kept"),
        "the stale view still answers what it has"
    );
    assert!(
        c.read(|i| matches!(i.istio_gateway("apps", "none"), Found::Missing)),
        "other resources stay in sync"
    );

    server.release_lists(SECRETS);
    c.eventually("the relist to finish", |i| i.stale_resources().is_empty())
        .await;
    assert!(matches!(
        c.read(|i| i.secret("apps", "other")),
        Found::Missing
    ));
}

#[tokio::test]
async fn relist_after_410_starts_without_backoff() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    let c = start(&server);
    c.ready().await;
    let before = lists(&server.requests(SECRETS));
    server.expire_watches(SECRETS);
    let started = std::time::Instant::now();
    bounded("the relist after 410", async {
        while lists(&server.requests(SECRETS)) == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // kube's default backoff waits 800 ms before the first retry; the relist does not wait.
    assert!(
        started.elapsed() < cluster::RETRY_FIRST,
        "relist started only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn secret_types_the_webhook_never_receives_are_filtered_by_the_api_server() {
    let server = FakeApiServer::start(&EVERYTHING).await;
    server.apply(SECRETS, renamed(httpbin_credential(), "apps", "tls"));
    for (i, ty) in cluster::IGNORED_SECRET_TYPES.iter().enumerate() {
        server.apply(
            SECRETS,
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": ty,
                "metadata": {"namespace": "apps", "name": format!("ignored-{i}")},
                "data": {"x": "eA=="},
            }),
        );
    }
    let c = start(&server);
    c.ready().await;
    assert_eq!(
        c.read(|i| i.secrets().count()),
        1,
        "only the tls Secret is listed"
    );
}

/// The Secret types the watch's field selector leaves out are exactly those the webhook's
/// `never-tokens-or-release-records` matchCondition never sends: one list, two renderings.
#[test]
fn secret_field_selector_and_the_manifests_match_condition_exclude_the_same_types() {
    let path = format!(
        "{}/manifests/base/validatingwebhookconfiguration.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let vwc: Value = yaml_serde::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let expression = vwc["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["matchConditions"].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == "never-tokens-or-release-records")
        .and_then(|c| c["expression"].as_str().map(str::to_string))
        .expect("the secrets webhook keeps its never-tokens-or-release-records condition");
    let list = expression
        .rsplit_once("in [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the condition ends in `in [...]`");
    let mut in_cel: Vec<String> = list
        .split(',')
        .map(|t| t.trim().trim_matches('\'').to_string())
        .collect();
    in_cel.sort();
    let mut in_watch: Vec<String> = cluster::IGNORED_SECRET_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    in_watch.sort();
    assert_eq!(in_cel, in_watch);
    let selector = cluster::secret_field_selector();
    for t in &in_watch {
        assert!(selector.contains(&format!("type!={t}")), "{selector}");
    }
}

#[tokio::test]
async fn linkerd_trust_roots_are_indexed_and_a_replacement_is_checked_against_the_issuer() {
    let mut served = EVERYTHING.to_vec();
    served.push(CONFIG_MAPS);
    let server = FakeApiServer::start(&served).await;
    server.apply(SECRETS, kubectl_secret("linkerd-identity-issuer.yaml"));
    server.apply(CONFIG_MAPS, kubectl_secret("linkerd-trust-roots.yaml"));
    let c = start(&server);
    c.ready().await;

    let anchors = c.read(
        |i| match i.config_map("linkerd", "linkerd-identity-trust-roots") {
            Found::Yes(cm) => Some(cm.anchors_der.len()),
            _ => None,
        },
    );
    assert_eq!(anchors, Some(1));
    // 2026-06-01, inside the issuer's and anchors' windows.
    let replacement =
        tlsgate::model::Object::from_value(&kubectl_secret("linkerd-trust-roots-other.yaml"))
            .unwrap()
            .unwrap();
    let found = c.read(|i| {
        let analyzer = Analyzer::new();
        let policy = tlsgate::policy::Policy::default();
        let ctx = tlsgate::check::Ctx {
            lookup: i,
            policy: &policy,
            analyzer: &analyzer,
            now: 1_780_272_000,
            referrers: true,
        };
        tlsgate::check::check(&replacement, "v1", &ctx)
    });
    let f = found
        .iter()
        .find(|f| f.code == Code::NotSignedByCa)
        .unwrap_or_else(|| panic!("no not-signed-by-ca in {found:?}"));
    assert!(
        f.message.contains("secret linkerd/linkerd-identity-issuer"),
        "{}",
        f.message
    );
}

/// OpenShift serves Routes from openshift-apiserver (an APIService), not a CRD: with a CRD
/// watch running and no Route CRD, Routes are probed once and watched.
#[tokio::test]
async fn aggregated_routes_without_a_crd_are_watched() {
    let server = FakeApiServer::start(&[SECRETS, PODS, CRDS, ROUTES]).await;
    server.apply(ROUTES, mk_route("www-tls"));
    let c = start(&server);
    c.ready().await;
    let refs = c.read(|i| i.referrers("www-tls"));
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0].object.kind, "Route");
}

/// MicroShift installs Routes as a CRD: one Established after start is watched then.
#[tokio::test]
async fn route_crd_established_after_start_is_watched() {
    let server = FakeApiServer::start(&[SECRETS, PODS, CRDS]).await;
    let c = start(&server);
    c.ready().await;
    server.apply(
        CRDS,
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "routes.route.openshift.io"},
            "spec": {
                "group": "route.openshift.io",
                "names": {"kind": "Route", "plural": "routes"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true}],
            },
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        }),
    );
    server.serve_collection(ROUTES);
    server.apply(ROUTES, mk_route("www-tls"));
    c.eventually("the Route of a late CRD indexed", |i| {
        i.referrers("www-tls").len() == 1
    })
    .await;
}
