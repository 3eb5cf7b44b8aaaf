//! The HTTPS front door: axum routes over rustls. Handlers parse, call the shared check, and
//! answer; they never panic and never wait on the cluster.

pub mod admission;
pub mod metrics;
pub mod ratelimit;
pub mod reload;
pub mod server;
pub mod tls;

use crate::analysis::Analyzer;
use crate::lookup::{Found, Index, Lookup, Referrer, StoredConfigMap, StoredSecret};
use crate::model::{GatewayApiGateway, IstioGateway, ReferenceGrant};
use crate::policy::Policy;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use metrics::{RequestLabels, Verdict};
use ratelimit::{Every, PerKey};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// An UPDATE carries object and oldObject, each up to the 1 MiB Secret limit after base64.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Below the API server's `timeoutSeconds: 5` in the shipped webhook configuration. A backstop
/// over the whole request (body included); reviews have their own, shorter deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// How long the same object's denials (and the 400s, and deadline misses) stay at debug after
/// one was logged at its level.
pub const LOG_WINDOW: Duration = Duration::from_secs(60);
/// Objects remembered for the per-object log window.
const LOG_KEYS: usize = 10_000;

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

/// What the webhook answers when a review misses its deadline (`--on-review-timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnTimeout {
    /// Admit the object with a warning: what `failurePolicy: Ignore` would do anyway.
    Allow,
    /// Deny it, saying tlsgate could not review it in time.
    Deny,
}

/// Limits on review work. Reviews of bodies over [`INLINE_REVIEW_BYTES`] run on tokio's blocking
/// pool, never on the threads that accept connections and answer `/healthz`; smaller ones are
/// too cheap to be worth the hand-off.
#[derive(Clone, Copy, Debug)]
pub struct ReviewLimits {
    /// From the request's arrival to its answer; past it the answer is `on_timeout`.
    pub deadline: Duration,
    /// Reviews running at once; more wait for a slot (within the deadline).
    pub max_concurrent: usize,
    pub on_timeout: OnTimeout,
    /// Request bodies held in memory at once, in bytes (each counts its Content-Length, or
    /// [`MAX_BODY_BYTES`] when it has none).
    pub max_body_bytes_in_flight: usize,
    /// Added to every review: lets tests stand in for an expensive input. Zero in `serve`.
    #[doc(hidden)]
    pub test_delay: Duration,
}

impl Default for ReviewLimits {
    fn default() -> Self {
        ReviewLimits {
            deadline: Duration::from_secs(3),
            max_concurrent: std::thread::available_parallelism()
                .map_or(2, usize::from)
                .max(2),
            on_timeout: OnTimeout::Allow,
            max_body_bytes_in_flight: 32 * 1024 * 1024,
            test_delay: Duration::ZERO,
        }
    }
}

/// Everything `serve_on` can be told.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeOptions {
    pub conn: server::ConnLimits,
    pub review: ReviewLimits,
}

/// Bodies up to this size are reviewed on the worker that read them, not on the blocking
/// pool: 16 KiB is a Secret CREATE or UPDATE with a few certificates and a key (the 6.7 KB
/// CREATE of the load benchmark, twice over for its UPDATE), whose review is bounded at well
/// under a millisecond by what fits in it. Bigger bodies, and every review while all review
/// slots are taken, go to the blocking pool under the deadline.
pub const INLINE_REVIEW_BYTES: usize = 16 * 1024;

/// Body memory is reserved in KiB units: a semaphore counts at most `u32::MAX` permits.
const BODY_UNIT: usize = 1024;

struct Gate {
    limits: ReviewLimits,
    reviews: Arc<Semaphore>,
    body_units: Arc<Semaphore>,
    denials: Mutex<PerKey<(String, String, String)>>,
    timeouts: Mutex<PerKey<(String, String, String)>>,
    invalid: Mutex<Every>,
}

/// What every handler reads, behind one `Arc`: axum clones the state for each request, and
/// one reference count is cheaper than the eight of `AppState` and the gate (each shared by
/// every worker).
#[derive(Clone)]
struct Shared(Arc<SharedParts>);

struct SharedParts {
    app: AppState,
    gate: Gate,
}

impl std::ops::Deref for Shared {
    type Target = SharedParts;

    fn deref(&self) -> &SharedParts {
        &self.0
    }
}

pub fn router(state: AppState) -> Router {
    router_with(state, ReviewLimits::default())
}

impl Gate {
    fn new(limits: ReviewLimits) -> Self {
        let body_units = limits.max_body_bytes_in_flight.div_ceil(BODY_UNIT).max(1);
        Gate {
            limits,
            reviews: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            body_units: Arc::new(Semaphore::new(body_units.min(u32::MAX as usize))),
            denials: Mutex::new(PerKey::new(LOG_WINDOW, LOG_KEYS)),
            timeouts: Mutex::new(PerKey::new(LOG_WINDOW, LOG_KEYS)),
            invalid: Mutex::new(Every::new(LOG_WINDOW)),
        }
    }
}

pub fn router_with(state: AppState, limits: ReviewLimits) -> Router {
    let gate = Gate::new(limits);
    Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(Shared(Arc::new(SharedParts { app: state, gate })))
}

/// The view behind its lock, taken for each lookup only: a review never holds the lock over
/// PEM/X.509 work, so the watchers' writes wait for a hash lookup at most.
struct Locked<'a>(&'a RwLock<Index>);

impl Locked<'_> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Lookup for Locked<'_> {
    fn secret(&self, namespace: &str, name: &str) -> Found<Arc<StoredSecret>> {
        self.read().secret(namespace, name)
    }
    fn secret_namespaces(&self, name: &str) -> Vec<String> {
        self.read().secret_namespaces(name)
    }
    fn service_exists(&self, namespace: &str, name: &str) -> Option<bool> {
        self.read().service_exists(namespace, name)
    }
    fn config_map(&self, namespace: &str, name: &str) -> Found<Arc<StoredConfigMap>> {
        self.read().config_map(namespace, name)
    }
    fn istio_gateway(&self, namespace: &str, name: &str) -> Found<Arc<IstioGateway>> {
        self.read().istio_gateway(namespace, name)
    }
    fn istio_gateway_names(&self, namespace: &str) -> Vec<String> {
        self.read().istio_gateway_names(namespace)
    }
    fn reference_grants(&self, namespace: &str) -> Vec<Arc<ReferenceGrant>> {
        self.read().reference_grants(namespace)
    }
    fn issuer(
        &self,
        cluster: bool,
        namespace: &str,
        name: &str,
    ) -> Found<Arc<crate::model::Issuer>> {
        self.read().issuer(cluster, namespace, name)
    }
    fn certificates_issued_by(
        &self,
        cluster: bool,
        namespace: &str,
        issuer: &str,
    ) -> Vec<Arc<crate::model::Certificate>> {
        self.read()
            .certificates_issued_by(cluster, namespace, issuer)
    }
    fn referrers(&self, name: &str) -> Vec<Referrer> {
        self.read().referrers(name)
    }
    fn workload_namespaces(&self, selector: &BTreeMap<String, String>) -> Option<Vec<String>> {
        self.read().workload_namespaces(selector)
    }
    fn gateway_api_gateway(&self, namespace: &str, name: &str) -> Found<Arc<GatewayApiGateway>> {
        self.read().gateway_api_gateway(namespace, name)
    }
    fn no_workload_matches(&self, selector: &BTreeMap<String, String>) -> bool {
        self.read().no_workload_matches(selector)
    }
    fn stale_resources(&self) -> Vec<String> {
        self.read().stale_resources()
    }
    fn namespace_terminating(&self, ns: &str) -> bool {
        self.read().namespace_terminating(ns)
    }
}

/// The synchronous review, run on the blocking pool.
fn review(st: &AppState, body: &[u8]) -> Result<admission::Answer, admission::BadReview> {
    let lookup = Locked(&st.view);
    let reviewer = admission::Reviewer {
        lookup: &lookup,
        policy: &st.policy,
        analyzer: &st.analyzer,
        now: (st.clock)(),
        synced: st.synced.load(Ordering::Acquire),
    };
    reviewer.review(body)
}

/// How a review ended, when it did not produce an answer.
enum Missed {
    Deadline,
    Panicked,
}

async fn validate(State(s): State<Shared>, request: Request) -> Response {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + s.gate.limits.deadline);
    let body = match read_body(&s.gate, request, deadline).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A small review is bounded work (well under a millisecond: a few certificates, one key):
    // handing it to the blocking pool and back would cost more than the review itself.
    let inline = (body.0.len() <= INLINE_REVIEW_BYTES && s.gate.limits.test_delay.is_zero())
        .then(|| s.gate.reviews.clone().try_acquire_owned().ok())
        .flatten();
    let reviewed = if let Some(_slot) = inline {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| review(&s.app, &body.0))) {
            Ok(answer) => Ok(answer),
            Err(_) => Err(Missed::Panicked),
        }
    } else {
        match tokio::time::timeout_at(deadline, s.gate.reviews.clone().acquire_owned()).await {
            Ok(Ok(slot)) => {
                let (st, b, delay) = (s.app.clone(), body.0.clone(), s.gate.limits.test_delay);
                let work = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    review(&st, &b)
                });
                match tokio::time::timeout_at(deadline, work).await {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(_)) => Err(Missed::Panicked),
                    Err(_) => Err(Missed::Deadline),
                }
            }
            _ => Err(Missed::Deadline),
        }
    };
    let (answer, verdict) = match reviewed {
        Ok(Ok(a)) => {
            let v = if a.allowed {
                Verdict::Allowed
            } else {
                Verdict::Denied
            };
            (Ok(a), v)
        }
        Ok(Err(bad)) => (Err(bad), Verdict::Invalid),
        Err(missed) => unreviewed(&s, body.0.clone(), missed).await,
    };
    drop(body);
    s.app
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    let now = Instant::now();
    match answer {
        Ok(a) => {
            s.app
                .metrics
                .count(RequestLabels::new(&a.group, &a.kind, &a.operation, verdict));
            if a.old_object_reused {
                s.app.metrics.old_object_reused.inc();
            }
            if verdict == Verdict::Denied {
                s.app.metrics.count_denial(&a.findings);
                log_denial(&s.gate, &a, now);
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                a.body.into_bytes(),
            )
                .into_response()
        }
        Err(bad) => {
            s.app
                .metrics
                .count(RequestLabels::new("", "", "", Verdict::Invalid));
            log_invalid(&s.gate, &bad, now);
            (
                StatusCode::BAD_REQUEST,
                format!("invalid AdmissionReview: {bad}\n"),
            )
                .into_response()
        }
    }
}

/// A request body in memory, holding its share of the body budget.
struct Held(Bytes, #[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// Reads the body within [`MAX_BODY_BYTES`] (413 past it) after reserving its size from the
/// in-flight body budget (503 when the budget stays full until the deadline).
async fn read_body(
    gate: &Gate,
    request: Request,
    deadline: tokio::time::Instant,
) -> Result<Held, Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let units = declared
        .unwrap_or(MAX_BODY_BYTES)
        .div_ceil(BODY_UNIT)
        .max(1);
    let units = u32::try_from(units).unwrap_or(u32::MAX);
    let Ok(Ok(permit)) =
        tokio::time::timeout_at(deadline, gate.body_units.clone().acquire_many_owned(units)).await
    else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "tlsgate is holding its whole request-body budget; retry\n",
        )
            .into_response());
    };
    match axum::body::to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES).await {
        Ok(b) => Ok(Held(b, permit)),
        Err(_) => Err(too_large()),
    }
}

fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is over {MAX_BODY_BYTES} bytes\n"),
    )
        .into_response()
}

/// The configured answer for a review that missed its deadline (or failed), logged with the
/// object it was about.
async fn unreviewed(
    s: &Shared,
    body: Bytes,
    missed: Missed,
) -> (Result<admission::Answer, admission::BadReview>, Verdict) {
    let limits = s.gate.limits;
    let ms = limits.deadline.as_millis();
    let allowed = limits.on_timeout == OnTimeout::Allow;
    let message = match (&missed, allowed) {
        (Missed::Deadline, true) => format!("tlsgate-review-timeout: tlsgate did not finish reviewing this object within {ms} ms and admitted it unchecked; run `tlsgate lint` on it"),
        (Missed::Deadline, false) => format!("tlsgate-review-timeout: tlsgate could not review this object within {ms} ms; retry, and if it persists ask the cluster admin to check tlsgate's load"),
        (Missed::Panicked, true) => "tlsgate-review-failed: tlsgate failed while reviewing this object and admitted it unchecked; run `tlsgate lint` on it".to_string(),
        (Missed::Panicked, false) => "tlsgate-review-failed: tlsgate failed while reviewing this object; retry, and report it if it persists".to_string(),
    };
    // Reading the envelope scans the body: off the reactor too.
    let answer =
        tokio::task::spawn_blocking(move || admission::unreviewed(&body, allowed, &message))
            .await
            .unwrap_or_else(|_| Err(admission::BadReview("body could not be read".into())));
    if let Ok(a) = &answer {
        let key = (
            a.kind.clone(),
            a.namespace.clone().unwrap_or_default(),
            a.name.clone(),
        );
        let first = s
            .gate
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .due(key, Instant::now());
        let what = match missed {
            Missed::Deadline => "review deadline passed",
            Missed::Panicked => "review failed",
        };
        let answered = if allowed { "allowed" } else { "denied" };
        if first {
            tracing::warn!(kind = %a.kind, namespace = %a.namespace.as_deref().unwrap_or_default(), name = %a.name, deadline_ms = ms as u64, answered, "{what}");
        } else {
            tracing::debug!(kind = %a.kind, namespace = %a.namespace.as_deref().unwrap_or_default(), name = %a.name, deadline_ms = ms as u64, answered, "{what}");
        }
    }
    (answer, Verdict::Timeout)
}

/// One line per denial: kind, namespace, name, user, codes. Never any Secret data. The first
/// denial of an object in [`LOG_WINDOW`] is logged at info, repeats at debug: a client retrying
/// a denied apply in a loop must not fill the log (`tlsgate_admission_requests_total` counts
/// every one).
fn log_denial(gate: &Gate, a: &admission::Answer, now: Instant) {
    let key = (
        a.kind.clone(),
        a.namespace.clone().unwrap_or_default(),
        a.name.clone(),
    );
    let first = gate
        .denials
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .due(key, now);
    let codes: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.severity == crate::finding::Severity::Deny)
        .map(|f| f.code.as_str())
        .collect();
    let codes = codes.join(",");
    let namespace = a.namespace.as_deref().unwrap_or_default();
    if first {
        tracing::info!(kind = %a.kind, operation = %a.operation, namespace = %namespace, name = %a.name, user = %a.user, dry_run = a.dry_run, codes = %codes, "denied");
    } else {
        tracing::debug!(kind = %a.kind, operation = %a.operation, namespace = %namespace, name = %a.name, user = %a.user, dry_run = a.dry_run, codes = %codes, "denied (again)");
    }
}

/// 400s: one warning per [`LOG_WINDOW`] with how many were held back, the rest at debug.
fn log_invalid(gate: &Gate, bad: &admission::BadReview, now: Instant) {
    let due = gate
        .invalid
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .due(now);
    match due {
        Some(suppressed) => {
            tracing::warn!(reason = %bad, suppressed, "rejected an unreadable AdmissionReview")
        }
        None => tracing::debug!(reason = %bad, "rejected an unreadable AdmissionReview"),
    }
}

async fn readyz(State(s): State<Shared>) -> Response {
    let st = &s.app;
    // The API server judges the serving certificate by the real clock, whatever --now says.
    let now = crate::wall_clock();
    if !st.synced.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster view not synced yet\n",
        )
            .into_response();
    }
    if crate::analysis::validity::is_expired_at(st.cert.not_after(), now) {
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

async fn metrics_text(State(s): State<Shared>) -> Response {
    let st = &s.app;
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

/// Serves `state` on an already-bound listener until `shutdown` resolves. In-flight requests
/// then drain within `opts.conn.drain_timeout` (the API server retries nothing on a reset
/// connection).
pub async fn serve_on(
    listener: std::net::TcpListener,
    state: AppState,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cfg = Arc::new(tls::server_config(state.cert.clone())?);
    let conns = state.metrics.connections.clone();
    let app = router_with(state, opts.review);
    server::serve_router(listener, app, cfg, opts.conn, conns, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Lines logged at info and above while `f` runs.
    fn info_lines(f: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    fn denial(name: &str) -> admission::Answer {
        admission::Answer {
            body: admission::AnswerBody::new(b"{}".to_vec()),
            allowed: false,
            group: String::new(),
            kind: "Secret".into(),
            operation: "CREATE".into(),
            namespace: Some("istio-system".into()),
            name: name.into(),
            user: "alice".into(),
            dry_run: false,
            findings: Vec::new(),
            old_object_reused: false,
        }
    }

    #[test]
    fn repeated_denials_of_one_object_log_one_info_line_per_minute() {
        let gate = Gate::new(ReviewLimits::default());
        let t0 = Instant::now();
        let lines = info_lines(|| {
            for i in 0..50 {
                log_denial(
                    &gate,
                    &denial("httpbin-credential"),
                    t0 + Duration::from_millis(i),
                );
            }
        });
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("denied"), "{lines:#?}");
        assert!(lines[0].contains("name=httpbin-credential"), "{lines:#?}");
    }

    #[test]
    fn each_denied_object_gets_its_own_line() {
        let gate = Gate::new(ReviewLimits::default());
        let t0 = Instant::now();
        let lines = info_lines(|| {
            log_denial(&gate, &denial("a"), t0);
            log_denial(&gate, &denial("b"), t0);
            log_denial(&gate, &denial("a"), t0 + LOG_WINDOW);
        });
        assert_eq!(lines.len(), 3, "{lines:#?}");
    }

    #[test]
    fn a_flood_of_unreadable_reviews_logs_one_warning_per_minute() {
        let gate = Gate::new(ReviewLimits::default());
        let t0 = Instant::now();
        let bad = admission::BadReview("body is not JSON".into());
        let lines = info_lines(|| {
            for i in 0..1000 {
                log_invalid(&gate, &bad, t0 + Duration::from_millis(i));
            }
            log_invalid(&gate, &bad, t0 + LOG_WINDOW + Duration::from_secs(1));
        });
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[1].contains("suppressed=999"), "{lines:#?}");
    }
}
