//! The accept loop: TLS handshakes, HTTP/1.1 and HTTP/2 (ALPN) over hyper, and the limits a
//! server in the API server's write path needs so that no client can hold it: a handshake
//! deadline, a request-head deadline, an idle deadline, and a cap on open connections.
//!
//! kube-apiserver's webhook client (Go `http.Transport`, client-go defaults) closes a connection
//! it kept idle for 90 s. tlsgate's keep-alive idle timeout is longer (120 s) so the client,
//! never the server, ends an idle connection: a server closing first races the client's next
//! POST, which Go does not retry, and the API server would apply `failurePolicy`.

use super::metrics::ConnMetrics;
use super::ratelimit::Every;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Connection limits. Every number is a flag of `tlsgate serve`; see the README's
/// "Limits and hardening".
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// TCP accepted to TLS handshake finished.
    pub handshake_timeout: Duration,
    /// A request head must arrive whole within this of its first byte, and a new connection
    /// must start its first request within this of its handshake (the API server sends at once).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most; one more is closed at once, logged and counted.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection was closed by tlsgate: the `phase` label of
/// `tlsgate_connection_timeouts_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Handshake,
    Header,
    Idle,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Handshake => "handshake",
            Phase::Header => "header",
            Phase::Idle => "idle",
        }
    }
}

/// Serves `app` over TLS on an already-bound listener until `shutdown` resolves, then stops
/// accepting and lets open connections finish within `limits.drain_timeout`.
pub async fn serve_router(
    listener: std::net::TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    limits: ConnLimits,
    metrics: ConnMetrics,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // tlsgate tracks request heads itself (below): hyper's own header timer also runs while a
    // keep-alive connection is idle, which would cut idle connections at the header deadline.
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    let mut refused_log = Every::new(Duration::from_secs(60));
    let mut accept_error_log = Every::new(Duration::from_secs(60));
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, mostly: say so, and let connections close.
                    metrics.refused("accept-error");
                    if let Some(more) = accept_error_log.due(Instant::now()) {
                        tracing::error!(error = %e, suppressed = more, "cannot accept connections");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused("max-connections");
            if let Some(more) = refused_log.due(Instant::now()) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    suppressed = more,
                    "connection limit reached: new connections are closed (raise --max-connections)"
                );
            }
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let conn = Connection {
            acceptor: acceptor.clone(),
            app: app.clone(),
            builder: builder.clone(),
            limits,
            stop: stop_rx.clone(),
            metrics: metrics.clone(),
        };
        tokio::spawn(async move {
            let _slot = slot;
            conn.run(tcp).await;
        });
    }
    let _ = stop_tx.send(true);
    drop(listener);
    let max = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain_timeout, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(
            open = limits.max_connections - slots.available_permits(),
            "drain deadline passed; closing the remaining connections"
        );
    }
    Ok(())
}

struct Connection {
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    builder: Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    limits: ConnLimits,
    stop: watch::Receiver<bool>,
    metrics: ConnMetrics,
}

impl Connection {
    async fn run(mut self, tcp: tokio::net::TcpStream) {
        let _open = self.metrics.opened();
        let tls =
            match tokio::time::timeout(self.limits.handshake_timeout, self.acceptor.accept(tcp))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    self.metrics.timed_out(Phase::Handshake);
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
        // HTTP/2 clients send frames (PING, SETTINGS) between requests; only HTTP/1 bytes on an
        // idle connection are the start of a request head.
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: tls,
            activity: activity.clone(),
            heads: !h2,
        });
        let app = self.app.clone();
        let act = activity.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = act.begin();
            let call = app.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let response = call.await;
                drop(busy);
                response
            }
        });
        let builder = self.builder.clone();
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut closing: Option<Instant> = None;
        // One timer for the connection's life, moved as its deadline moves: a deadline pushed
        // later (every request pushes the idle one) only updates the registered entry, where a
        // new timer per turn of this loop (a few per request) was registered with the runtime's
        // timer wheel and removed again each time.
        let timer = tokio::time::sleep_until(activity.start.into());
        tokio::pin!(timer);
        loop {
            let (wake, phase) = match closing {
                Some(at) => (at, None),
                None => activity.deadline(&self.limits),
            };
            let wake = tokio::time::Instant::from_std(wake);
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = &mut timer => {
                    if closing.is_some() {
                        return;
                    }
                    // The deadline may have moved while this slept: look again.
                    let (again, phase_now) = activity.deadline(&self.limits);
                    if again > Instant::now() || phase_now.is_none() || phase != phase_now {
                        continue;
                    }
                    let phase = phase_now.unwrap_or(Phase::Idle);
                    self.metrics.timed_out(phase);
                    tracing::debug!(phase = phase.label(), "closing a connection past its deadline");
                    if phase == Phase::Header {
                        // A half-sent head: nothing to finish politely.
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + self.limits.drain_timeout);
                }
                _ = activity.changed.notified(), if closing.is_none() => {}
                _ = self.stop.changed(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + self.limits.drain_timeout);
                }
            }
        }
    }
}

const NONE: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// When the last request finished (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of a request head arrived, while no request is in flight.
    head_since: AtomicU64,
    /// Woken when a deadline moves (a request starts or ends, a head starts).
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        self.changed.notify_one();
        Busy(self.clone())
    }

    fn saw_bytes(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// When this connection is next due to be closed, and why (`None`: a request is in flight,
    /// bounded by the request timeout; look again later).
    fn deadline(&self, limits: &ConnLimits) -> (Instant, Option<Phase>) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            let recheck = limits.header_read_timeout.min(limits.idle_timeout);
            return (Instant::now() + recheck, None);
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != NONE {
            return (
                self.at(head) + limits.header_read_timeout,
                Some(Phase::Header),
            );
        }
        let idle = self.at(self.idle_since.load(Ordering::Acquire));
        if self.requests.load(Ordering::Acquire) == 0 {
            (idle + limits.header_read_timeout, Some(Phase::Header))
        } else {
            (idle + limits.idle_timeout, Some(Phase::Idle))
        }
    }
}

/// A request in flight; dropped when its response is ready or the connection goes away.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The TLS stream, noting when request bytes arrive on an idle HTTP/1 connection.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    heads: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.heads && buf.filled().len() > before {
            self.activity.saw_bytes();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            ..ConnLimits::default()
        }
    }

    #[test]
    fn a_fresh_connection_must_start_a_request_within_the_header_timeout() {
        let a = Activity::new();
        let (at, phase) = a.deadline(&limits());
        assert_eq!(phase, Some(Phase::Header));
        assert_eq!(at, a.start + Duration::from_secs(10));
    }

    #[test]
    fn an_idle_keep_alive_connection_gets_the_idle_timeout() {
        let a = Arc::new(Activity::new());
        drop(a.begin());
        let (at, phase) = a.deadline(&limits());
        assert_eq!(phase, Some(Phase::Idle));
        assert!(at >= a.start + Duration::from_secs(120));
    }

    #[test]
    fn a_request_in_flight_is_never_due() {
        let a = Arc::new(Activity::new());
        let _busy = a.begin();
        assert_eq!(a.deadline(&limits()).1, None);
    }

    #[test]
    fn bytes_of_a_new_head_start_the_header_timer() {
        let a = Arc::new(Activity::new());
        drop(a.begin());
        a.saw_bytes();
        assert_eq!(a.deadline(&limits()).1, Some(Phase::Header));
    }
}
