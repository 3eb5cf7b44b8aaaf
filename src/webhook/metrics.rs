//! Prometheus metrics. Certificate expiry gauges are x509-certificate-exporter's, written by
//! [`crate::x509_metrics`] so existing dashboards and alerts work unchanged; they are computed
//! at scrape time from the cluster view, so there is no second copy of certificate state to
//! keep in sync. tlsgate's own series are all `tlsgate_*`.

use crate::lookup::Index;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

/// Every label value comes from a closed set, never from the request as sent: 20,000 made-up
/// kinds must not become 20,000 series. Build them with [`RequestLabels::new`].
/// Static strings: counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub kind: &'static str,
    pub operation: &'static str,
    pub verdict: &'static str,
}

/// The answers tlsgate gives, as the `verdict` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// HTTP 400: the body is not an AdmissionReview tlsgate can answer.
    Invalid,
    /// The review passed its deadline and got the configured answer (`--on-review-timeout`).
    Timeout,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Invalid => "invalid",
            Verdict::Timeout => "timeout",
        }
    }
}

/// Label value for anything outside a closed set.
pub const OTHER: &str = "other";

impl RequestLabels {
    /// `kind` is the request's kind when tlsgate handles that (group, kind)
    /// ([`super::admission::is_handled`], the one list of handled kinds), else `other`;
    /// `operation` is one of the four admission operations, else `other`.
    pub fn new(group: &str, kind: &str, operation: &str, verdict: Verdict) -> Self {
        let kind = match crate::kinds::find(group, kind) {
            Some(k) if super::admission::is_handled(group, kind) => k.kind,
            _ => OTHER,
        };
        let operation = match operation {
            "CREATE" => "CREATE",
            "UPDATE" => "UPDATE",
            "DELETE" => "DELETE",
            "CONNECT" => "CONNECT",
            _ => OTHER,
        };
        RequestLabels {
            kind,
            operation,
            verdict: verdict.label(),
        }
    }
}

/// The `code` of a denial: a [`crate::finding::Code`], a closed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Connection counters, shared by the accept loop and `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct ConnMetrics {
    open: Gauge,
    refused: Family<ReasonLabel, Counter>,
    timeouts: Family<PhaseLabel, Counter>,
}

/// Decrements the open-connections gauge when the connection ends.
pub struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ConnMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "tlsgate_connections",
            "TLS connections open",
            self.open.clone(),
        );
        registry.register(
            "tlsgate_connections_refused",
            "Connections closed at accept: max-connections reached, or accept failed (out of file descriptors)",
            self.refused.clone(),
        );
        registry.register(
            "tlsgate_connection_timeouts",
            "Connections closed by tlsgate for passing a deadline, by phase (handshake, header, idle)",
            self.timeouts.clone(),
        );
    }

    pub fn opened(&self) -> Open {
        self.open.inc();
        Open(self.open.clone())
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn timed_out(&self, phase: super::server::Phase) {
        self.timeouts
            .get_or_create(&PhaseLabel {
                phase: phase.label(),
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: String,
}

pub struct Metrics {
    registry: Registry,
    view: Arc<RwLock<Index>>,
    clock: fn() -> i64,
    pub requests: Family<RequestLabels, Counter>,
    /// Denials by the code of each denying finding (one review may count under several).
    pub denials: Family<CodeLabel, Counter>,
    pub duration: Histogram,
    /// UPDATEs whose oldObject read the same as the object for every check (a label edit),
    /// so its findings were reused instead of checked again.
    pub old_object_reused: Counter<u64, AtomicU64>,
    pub serving_cert_not_after: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub serving_cert_reload_errors: Counter<u64, AtomicU64>,
    pub serving_cert_reloads: Counter<u64, AtomicU64>,
    /// Reads of --tls-cert-file/--tls-key-file that failed (missing, unreadable, not a file).
    pub serving_cert_read_errors: Counter<u64, AtomicU64>,
    pub connections: ConnMetrics,
}

impl Metrics {
    pub fn new(view: Arc<RwLock<Index>>, clock: fn() -> i64) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "tlsgate_admission_requests",
            "AdmissionReviews answered",
            requests.clone(),
        );
        let denials = Family::<CodeLabel, Counter>::default();
        registry.register(
            "tlsgate_admission_denials",
            "Denying findings, by finding code",
            denials.clone(),
        );
        let duration = Histogram::new([
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]);
        registry.register(
            "tlsgate_admission_duration_seconds",
            "Time to answer one AdmissionReview",
            duration.clone(),
        );
        let old_object_reused = Counter::default();
        registry.register(
            "tlsgate_admission_old_object_reused",
            "UPDATEs whose oldObject was the object but for metadata no check reads (a label edit), so it was not checked again",
            old_object_reused.clone(),
        );
        let serving_cert_not_after = Gauge::default();
        registry.register(
            "tlsgate_serving_cert_not_after",
            "notAfter of the certificate tlsgate serves, in Unix seconds",
            serving_cert_not_after.clone(),
        );
        let serving_cert_reload_errors = Counter::default();
        registry.register(
            "tlsgate_serving_cert_reload_errors",
            "Serving certificate changes rejected (the last good pair kept serving)",
            serving_cert_reload_errors.clone(),
        );
        let serving_cert_reloads = Counter::default();
        registry.register(
            "tlsgate_serving_cert_reloads",
            "Serving certificate changes applied",
            serving_cert_reloads.clone(),
        );
        let serving_cert_read_errors = Counter::default();
        registry.register(
            "tlsgate_serving_cert_read_errors",
            "Reads of the serving certificate or key file that failed (missing, unreadable, not a regular file)",
            serving_cert_read_errors.clone(),
        );
        let connections = ConnMetrics::default();
        connections.register(&mut registry);
        registry.register_collector(Box::new(ViewCollector { view: view.clone() }));
        Metrics {
            registry,
            view,
            clock,
            requests,
            denials,
            duration,
            old_object_reused,
            serving_cert_not_after,
            serving_cert_reload_errors,
            serving_cert_reloads,
            serving_cert_read_errors,
            connections,
        }
    }

    pub fn count(&self, labels: RequestLabels) {
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a denial under the code of every denying finding.
    pub fn count_denial(&self, findings: &[crate::finding::Finding]) {
        for f in findings
            .iter()
            .filter(|f| f.severity == crate::finding::Severity::Deny)
        {
            self.denials
                .get_or_create(&CodeLabel {
                    code: f.code.as_str(),
                })
                .inc();
        }
    }

    /// The OpenMetrics text: the registry's families, then the x509 series of the view
    /// ([`crate::x509_metrics`], which escapes label values; prometheus-client 0.24 does not),
    /// then `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        // The view is copied out (Arc clones) so the read lock is not held while formatting.
        let locations = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            crate::x509_metrics::view_locations(&view)
        };
        let mut items = crate::x509_metrics::items_of(&locations);
        crate::x509_metrics::write(&mut out, &mut items, (self.clock)());
        prometheus_client::encoding::text::encode_eof(&mut out).ok();
        out
    }
}

struct ViewCollector {
    view: Arc<RwLock<Index>>,
}

impl std::fmt::Debug for ViewCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewCollector")
    }
}

impl Collector for ViewCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        {
            let mut m = encoder.encode_descriptor(
                "tlsgate_cache_objects",
                "Objects in the cluster view",
                None,
                MetricType::Gauge,
            )?;
            for (kind, n) in view.counts() {
                ConstGauge::new(n as i64).encode(m.encode_family(&KindLabel {
                    kind: kind.to_string(),
                })?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "tlsgate_view_synced",
                "1 while the watch of a resource follows the API server, 0 while it is broken or re-listing",
                None,
                MetricType::Gauge,
            )?;
            for (resource, synced) in view.resource_sync() {
                ConstGauge::new(i64::from(synced)).encode(m.encode_family(&ResourceLabel {
                    resource: resource.to_string(),
                })?)?;
            }
        }
        Ok(())
    }
}
