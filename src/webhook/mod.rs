//! The HTTPS front door: axum routes over rustls. Handlers parse, call the shared check, and
//! answer; they never panic and never wait on the cluster.

pub mod admission;
pub mod metrics;
pub mod reload;
pub mod tls;

use crate::analysis::Analyzer;
use crate::lookup::{Index, Lookup};
use crate::policy::Policy;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// An UPDATE carries object and oldObject, each up to the 1 MiB Secret limit after base64.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Below the API server's `timeoutSeconds: 5` in the shipped webhook configuration.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);

/// Everything a request handler reads.
#[derive(Clone)]
pub struct AppState {
    pub view: Arc<RwLock<Index>>,
    pub policy: Arc<Policy>,
    pub analyzer: Arc<Analyzer>,
    pub metrics: Arc<metrics::Metrics>,
    /// The cluster view finished its first sync.
    pub synced: Arc<AtomicBool>,
    /// The serving certificate is loaded and currently valid.
    pub cert: Arc<tls::CertStore>,
    pub clock: fn() -> i64,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

async fn validate(State(st): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let now = (st.clock)();
    let synced = st.synced.load(Ordering::Acquire);
    let answer = {
        let view = st.view.read().unwrap_or_else(|e| e.into_inner());
        let reviewer = admission::Reviewer {
            lookup: &*view,
            policy: &st.policy,
            analyzer: &st.analyzer,
            now,
            synced,
        };
        reviewer.review(&body)
    };
    let elapsed = started.elapsed().as_secs_f64();
    st.metrics.duration.observe(elapsed);
    match answer {
        Ok(a) => {
            let verdict = if a.allowed { "allowed" } else { "denied" };
            st.metrics
                .requests
                .get_or_create(&metrics::RequestLabels {
                    kind: a.kind.clone(),
                    operation: a.operation.clone(),
                    verdict: verdict.into(),
                })
                .inc();
            if !a.allowed {
                log_denial(&a);
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                a.body.to_string(),
            )
                .into_response()
        }
        Err(bad) => {
            st.metrics
                .requests
                .get_or_create(&metrics::RequestLabels {
                    kind: String::new(),
                    operation: String::new(),
                    verdict: "invalid".into(),
                })
                .inc();
            tracing::warn!(reason = %bad, "rejected an unreadable AdmissionReview");
            (
                StatusCode::BAD_REQUEST,
                format!("invalid AdmissionReview: {bad}\n"),
            )
                .into_response()
        }
    }
}

/// One line per denial: kind, namespace, name, user, codes. Never any Secret data.
fn log_denial(a: &admission::Answer) {
    let codes: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.severity == crate::finding::Severity::Deny)
        .map(|f| f.code.as_str())
        .collect();
    tracing::info!(
        kind = %a.kind,
        operation = %a.operation,
        namespace = %a.namespace.as_deref().unwrap_or_default(),
        name = %a.name,
        user = %a.user,
        dry_run = a.dry_run,
        codes = %codes.join(","),
        "denied"
    );
}

async fn readyz(State(st): State<AppState>) -> Response {
    // The API server judges the serving certificate by the real clock, whatever --now says.
    let now = crate::wall_clock();
    if !st.synced.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster view not synced yet\n",
        )
            .into_response();
    }
    if st.cert.not_after() < now {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "serving certificate expired\n",
        )
            .into_response();
    }
    // A watch that broke after the first sync does not make the pod unready: an unready pod
    // leaves the Service, and with failurePolicy Ignore that means no checking at all. The
    // answers say `view-not-synced` instead; /readyz names the resources.
    let stale = st
        .view
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .stale_resources();
    if !stale.is_empty() {
        return (
            StatusCode::OK,
            format!("ready; view not synced: {}\n", stale.join(", ")),
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    st.metrics.serving_cert_not_after.set(st.cert.not_after());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

/// Serves `state` on an already-bound listener until `handle` is told to shut down.
/// In-flight requests drain (the API server retries nothing on a reset connection).
pub async fn serve_on(
    listener: std::net::TcpListener,
    state: AppState,
    handle: axum_server::Handle<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let cfg = tls::server_config(state.cert.clone())?;
    let rustls_cfg = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, rustls_cfg)?
        .handle(handle)
        .serve(router(state).into_make_service())
        .await?;
    Ok(())
}
