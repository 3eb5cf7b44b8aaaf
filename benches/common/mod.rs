//! Inputs shared by the benchmarks.
#![allow(dead_code)]

pub mod cluster;
pub mod proc;
pub mod serve;

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// The captured Secret CREATE (tests/admission/) carrying a 2-certificate chain and its key:
/// about 6.7 KB, the request both benchmarks measure.
pub fn review_body() -> Vec<u8> {
    let path = format!(
        "{}/tests/admission/secret-create-live-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["request"]["object"]["data"] = serde_json::json!({
        "tls.crt": b64(&fixture("certs/chain/fullchain.pem")),
        "tls.key": b64(&fixture("certs/chain/leaf.key")),
    });
    v["request"]["object"]["metadata"]["annotations"] = serde_json::json!({});
    serde_json::to_vec(&v).unwrap()
}

/// An empty, synced cluster view, the default policy and an analyzer: what the in-process
/// review benchmarks answer [`review_body`] against.
pub struct EmptyView {
    pub analyzer: tlsgate::analysis::Analyzer,
    pub index: tlsgate::lookup::Index,
    pub policy: tlsgate::policy::Policy,
}

impl EmptyView {
    pub fn new() -> Self {
        EmptyView {
            analyzer: tlsgate::analysis::Analyzer::new(),
            index: tlsgate::lookup::Index::new(std::sync::Arc::new(
                tlsgate::analysis::Analyzer::new(),
            )),
            policy: tlsgate::policy::Policy::default(),
        }
    }

    pub fn reviewer(&self, now: i64) -> tlsgate::webhook::admission::Reviewer<'_> {
        tlsgate::webhook::admission::Reviewer {
            lookup: &self.index,
            policy: &self.policy,
            analyzer: &self.analyzer,
            now,
            synced: true,
        }
    }
}

/// `tlsgate serve`'s webhook router (limits, timeout, metrics, answer) over an empty, synced
/// view and the default policy, serving `certs/dated/long-valid`, its clock fixed at `now`:
/// what the router benchmarks send [`review_body`] through, without TLS or sockets.
pub fn empty_router(now: fn() -> i64) -> axum::Router {
    use std::sync::Arc;
    use tlsgate::analysis::Analyzer;
    let view = Arc::new(std::sync::RwLock::new(tlsgate::lookup::Index::new(
        Arc::new(Analyzer::new()),
    )));
    let state = tlsgate::webhook::AppState {
        metrics: Arc::new(tlsgate::webhook::metrics::Metrics::new(view.clone(), now)),
        view,
        policy: Arc::new(Default::default()),
        analyzer: Arc::new(Analyzer::new()),
        synced: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        cert: tlsgate::webhook::tls::CertStore::new(
            tlsgate::webhook::tls::load_pair(
                &fixture("certs/dated/long-valid.crt"),
                &fixture("certs/dated/long-valid.key"),
                now(),
                &Analyzer::new(),
            )
            .unwrap(),
        ),
        clock: now,
    };
    tlsgate::webhook::router(state)
}
