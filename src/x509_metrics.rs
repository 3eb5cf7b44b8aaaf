//! Certificate expiry series exactly as x509-certificate-exporter v4 names and labels them, so
//! its dashboards and alerts work on tlsgate unchanged. The one home of the metric names, the
//! label schema per source type, label-value escaping and the series cap; `/metrics`
//! ([`crate::webhook::metrics`]) and `tlsgate audit -o prometheus` both write through [`write`].
//!
//! The exporter's schema (`pkg/registry/labels.go`, `docs/metrics.md` "Common labels"): every
//! series carries `serial_number` (decimal), `issuer_C` … `issuer_CN`, `subject_C` … `subject_CN`
//! and the location labels of its source type; location labels of the other source types are
//! empty there, which Prometheus treats as absent, so tlsgate leaves them out. `crl_number`
//! (CRLs only) and `discriminator` (set only on a label collision) are always empty here: two
//! certificates never share a label set, as the serial, issuer and location tell them apart.
//!
//! Pure: the caller passes `now`; nothing here reads a clock, a file or the cluster.

use crate::analysis::cert::CertInfo;
use std::fmt::Write;

/// Where a certificate was found, in the exporter's terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// A Secret's data key (`tls.crt`, not `data["tls.crt"]`).
    Secret {
        namespace: String,
        name: String,
        key: String,
    },
    ConfigMap {
        namespace: String,
        name: String,
        key: String,
    },
    /// A webhook configuration, APIService or CRD caBundle; `entry` is the webhook's name in
    /// a webhook configuration, empty for the single-caBundle kinds.
    CaBundle {
        kind: String,
        name: String,
        entry: String,
    },
    /// A kubeconfig: `embedded_kind` is `cluster` or `user`, `embedded_key` its name there.
    Kubeconfig {
        path: String,
        embedded_kind: String,
        embedded_key: String,
    },
    /// A PEM file on disk (the kubeadm PKI directory).
    File { path: String },
    /// Inline PEM in an OpenShift Route (tlsgate's own source kind: the exporter reads no
    /// Routes); `field` is the path, `spec.tls.certificate`, `spec.tls.caCertificate` or
    /// `spec.tls.destinationCACertificate`.
    Route {
        namespace: String,
        name: String,
        field: String,
    },
}

/// The exporter's `source_kind` vocabulary (`docs/metrics.md` "Source kinds"), in
/// [`Location`] order; `tlsgate_x509_certificates{source_kind}` takes these values.
pub const SOURCE_KINDS: [&str; 6] = [
    "kube-secret",
    "kube-configmap",
    "kube-cabundle",
    "kubeconfig",
    "file",
    "kube-route",
];

/// The location labels each source kind fills (x509-certificate-exporter v4 `fillLocationLabels`).
/// `kube-route` follows the exporter's `kube-secret` pattern (`<kind>_namespace`, `_name`, and
/// where inside it).
pub const LOCATION_LABELS: [(&str, &[&str]); 6] = [
    (
        "kube-secret",
        &["secret_namespace", "secret_name", "secret_key"],
    ),
    (
        "kube-configmap",
        &["configmap_namespace", "configmap_name", "configmap_key"],
    ),
    (
        "kube-cabundle",
        &[
            "cabundle_resource_kind",
            "cabundle_resource_name",
            "cabundle_entry",
        ],
    ),
    (
        "kubeconfig",
        &["filename", "filepath", "embedded_kind", "embedded_key"],
    ),
    ("file", &["filename", "filepath"]),
    (
        "kube-route",
        &["route_namespace", "route_name", "route_field"],
    ),
];

/// Per-certificate gauges, with the exporter's names and help texts.
pub const CERT_METRICS: [(&str, &str); 6] = [
    (
        "x509_cert_not_after",
        "Indicates the certificate's not after timestamp",
    ),
    (
        "x509_cert_not_before",
        "Indicates the certificate's not before timestamp",
    ),
    (
        "x509_cert_expired",
        "Indicates if the certificate is expired",
    ),
    (
        "x509_cert_expires_in_seconds",
        "Indicates the remaining time before the certificate's not after timestamp",
    ),
    (
        "x509_cert_valid_since_seconds",
        "Indicates the elapsed time since the certificate's not before timestamp",
    ),
    (
        "x509_cert_error",
        "Indicates whether the corresponding bundle item has read failure(s)",
    ),
];

/// Number of read failures: `x509_read_errors`, one unlabelled series.
pub const READ_ERRORS: &str = "x509_read_errors";
/// tlsgate's own series beside the exporter's: certificates by `source_kind`, and how many were
/// left out past [`MAX_CERT_SERIES`].
pub const CERTIFICATES: &str = "tlsgate_x509_certificates";
pub const DROPPED: &str = "tlsgate_x509_series_dropped";

/// At most this many certificates (and unreadable items) get series, 6 gauges each: about
/// 300,000 series, 110 MB of text (≈ 380 bytes a series, measured by
/// `cargo bench --bench core -- metrics_scrape`). Past it the soonest-expiring are kept, so
/// the ones an alert is about are never the ones dropped, and `tlsgate_x509_series_dropped`
/// says how many were left out. 10,000 TLS Secrets with a CA each are 20,000.
pub const MAX_CERT_SERIES: usize = 50_000;

impl Location {
    pub fn source_kind(&self) -> &'static str {
        SOURCE_KINDS[self.rank()]
    }

    fn rank(&self) -> usize {
        match self {
            Location::Secret { .. } => 0,
            Location::ConfigMap { .. } => 1,
            Location::CaBundle { .. } => 2,
            Location::Kubeconfig { .. } => 3,
            Location::File { .. } => 4,
            Location::Route { .. } => 5,
        }
    }

    /// Values of [`LOCATION_LABELS`] for this source kind, in that order.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Location::Secret {
                namespace,
                name,
                key,
            }
            | Location::ConfigMap {
                namespace,
                name,
                key,
            } => vec![namespace, name, key],
            Location::CaBundle { kind, name, entry } => vec![kind, name, entry],
            Location::Kubeconfig {
                path,
                embedded_kind,
                embedded_key,
            } => vec![file_name(path), path, embedded_kind, embedded_key],
            Location::File { path } => vec![file_name(path), path],
            Location::Route {
                namespace,
                name,
                field,
            } => vec![namespace, name, field],
        }
    }

    /// `(label, value)` pairs of the location labels.
    pub fn labels(&self) -> Vec<(&'static str, &str)> {
        LOCATION_LABELS[self.rank()]
            .1
            .iter()
            .copied()
            .zip(self.values())
            .collect()
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// One series' worth: a certificate where it was found, or (`cert: None`) an item there that
/// should have been a certificate and could not be read.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub location: &'a Location,
    pub cert: Option<&'a CertInfo>,
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub items: usize,
    pub dropped: usize,
}

/// Escapes a label value for the text exposition formats (Prometheus 0.0.4 and OpenMetrics):
/// backslash, double quote and line feed. A subject CN may hold any of them.
pub fn escape(value: &str, out: &mut String) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `issuer_` and `subject_` + each of [`DN_FIELDS`].
pub const ISSUER_LABELS: [&str; 6] = [
    "issuer_C",
    "issuer_ST",
    "issuer_L",
    "issuer_O",
    "issuer_OU",
    "issuer_CN",
];
pub const SUBJECT_LABELS: [&str; 6] = [
    "subject_C",
    "subject_ST",
    "subject_L",
    "subject_O",
    "subject_OU",
    "subject_CN",
];

/// The label block of one item, `{...}`, escaped.
fn label_block(item: &Item<'_>, out: &mut String) {
    let mut first = true;
    let mut label = |name: &str, value: &str, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape(value, out);
        out.push('"');
    };
    out.push('{');
    for (name, value) in item.location.labels() {
        label(name, value, out);
    }
    let (serial, issuer, subject) = match item.cert {
        Some(c) => (c.serial_decimal(), c.issuer_dn(), c.subject_dn()),
        None => (String::new(), [""; 6], [""; 6]),
    };
    label("serial_number", &serial, out);
    for (name, v) in ISSUER_LABELS.iter().zip(issuer) {
        label(name, v, out);
    }
    for (name, v) in SUBJECT_LABELS.iter().zip(subject) {
        label(name, v, out);
    }
    out.push('}');
}

/// Writes the exporter's families and tlsgate's `tlsgate_x509_*` for `items` at `now`, in the
/// text exposition format (each family's `# HELP`/`# TYPE`, no `# EOF`). Keeps the
/// [`MAX_CERT_SERIES`] soonest-expiring items (unreadable ones first: they are the surest
/// trouble); the order is stable, so scrapes differ only in the values that move with `now`.
pub fn write(out: &mut String, items: &mut Vec<Item<'_>>, now: i64) -> Written {
    items.sort_by(|a, b| {
        let when = |i: &Item<'_>| i.cert.map_or(i64::MIN, |c| c.not_after);
        when(a)
            .cmp(&when(b))
            .then_with(|| a.location.cmp(b.location))
            .then_with(|| {
                let (sa, sb) = (a.cert.map(|c| c.serial()), b.cert.map(|c| c.serial()));
                sa.cmp(&sb)
            })
    });
    // A label set written twice is an invalid exposition; the exporter adds a discriminator
    // label then. Here it only happens for the same certificate twice in one bundle (or a
    // reissue keeping serial, subject and issuer), so the soonest-expiring one is kept.
    let mut seen = std::collections::HashSet::new();
    let mut blocks = Vec::with_capacity(items.len());
    items.retain(|i| {
        let mut s = String::with_capacity(256);
        label_block(i, &mut s);
        if seen.insert(s.clone()) {
            blocks.push(s);
            true
        } else {
            false
        }
    });
    drop(seen);
    let dropped = items.len().saturating_sub(MAX_CERT_SERIES);
    items.truncate(MAX_CERT_SERIES);
    blocks.truncate(MAX_CERT_SERIES);
    for (metric, (name, help)) in CERT_METRICS.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}.\n# TYPE {name} gauge");
        for (item, labels) in items.iter().zip(&blocks) {
            let value = match (metric, item.cert) {
                (5, c) => i64::from(c.is_none()),
                (_, None) => continue,
                (0, Some(c)) => c.not_after,
                (1, Some(c)) => c.not_before,
                (2, Some(c)) => {
                    i64::from(crate::analysis::validity::is_expired_at(c.not_after, now))
                }
                (3, Some(c)) => c.not_after - now,
                (_, Some(c)) => now - c.not_before,
            };
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    }
    let errors = items.iter().filter(|i| i.cert.is_none()).count();
    let _ = writeln!(
        out,
        "# HELP {READ_ERRORS} Indicates the number of read failure(s).\n# TYPE {READ_ERRORS} gauge\n{READ_ERRORS} {errors}"
    );
    let _ = writeln!(
        out,
        "# HELP {CERTIFICATES} Certificates with x509_cert_* series, by where they were found.\n# TYPE {CERTIFICATES} gauge"
    );
    let mut counts = [0usize; SOURCE_KINDS.len()];
    for i in items.iter().filter(|i| i.cert.is_some()) {
        counts[i.location.rank()] += 1;
    }
    for (kind, n) in SOURCE_KINDS.iter().zip(counts) {
        let _ = writeln!(out, "{CERTIFICATES}{{source_kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP {DROPPED} Certificates left without series past the cap of {MAX_CERT_SERIES} (the latest-expiring go first).\n# TYPE {DROPPED} gauge\n{DROPPED} {dropped}"
    );
    Written {
        items: items.len(),
        dropped,
    }
}

/// Every certificate of the cluster view: Secrets by data key, Routes by field, the CA
/// ConfigMaps something reads by key ([`crate::check::config_map_readers`]), caBundles by object
/// and entry;
/// a bundle that failed to parse is one unreadable item.
pub fn view_locations(
    view: &crate::lookup::Index,
) -> Vec<(Location, Vec<std::sync::Arc<CertInfo>>)> {
    let mut out = Vec::new();
    let unreadable = |b: &crate::analysis::Bundle| {
        b.certs.is_empty()
            && b.issues
                .iter()
                .any(|(c, _, _)| *c == crate::finding::Code::SecretMalformed)
    };
    for s in view.secrets() {
        for (key, bundle) in &s.summary.bundles {
            if bundle.certs.is_empty() && !unreadable(bundle) {
                continue;
            }
            out.push((
                Location::Secret {
                    namespace: s.namespace.to_string(),
                    name: s.name.to_string(),
                    key: key.to_string(),
                },
                bundle.certs.to_vec(),
            ));
        }
    }
    for r in view.routes() {
        for (field, bundle) in &r.summary.bundles {
            if bundle.certs.is_empty() && !unreadable(bundle) {
                continue;
            }
            out.push((
                Location::Route {
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    field: field.to_string(),
                },
                bundle.certs.to_vec(),
            ));
        }
    }
    // Only the ConfigMaps something reads (not every namespace's kube-root-ca.crt).
    let mut config_maps: Vec<_> = view
        .config_maps()
        .filter(|cm| !crate::check::config_map_readers(view, cm).is_empty())
        .filter_map(|cm| cm.ca.as_ref().map(|b| (cm, b)))
        .collect();
    config_maps.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
    for (cm, bundle) in config_maps {
        if bundle.certs.is_empty() && !unreadable(bundle) {
            continue;
        }
        out.push((
            Location::ConfigMap {
                namespace: cm.namespace.clone(),
                name: cm.name.clone(),
                key: cm.ca_key.to_string(),
            },
            bundle.certs.to_vec(),
        ));
    }
    for b in view.ca_bundles() {
        if b.bundle.certs.is_empty() && !unreadable(&b.bundle) {
            continue;
        }
        out.push((
            Location::CaBundle {
                kind: b.kind.clone(),
                name: b.name.clone(),
                entry: b.entry.clone(),
            },
            b.bundle.certs.to_vec(),
        ));
    }
    out
}

/// Items of [`view_locations`]: one per certificate, one per unreadable bundle.
pub fn items_of(locations: &[(Location, Vec<std::sync::Arc<CertInfo>>)]) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    for (location, certs) in locations {
        if certs.is_empty() {
            items.push(Item {
                location,
                cert: None,
            });
        }
        for c in certs {
            items.push(Item {
                location,
                cert: Some(c.as_ref()),
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_label_names_follow_dn_fields() {
        for (i, f) in crate::analysis::cert::DN_FIELDS.iter().enumerate() {
            assert_eq!(ISSUER_LABELS[i], format!("issuer_{f}"));
            assert_eq!(SUBJECT_LABELS[i], format!("subject_{f}"));
        }
    }

    #[test]
    fn escapes_backslash_quote_and_newline() {
        let mut s = String::new();
        escape("a\\b\"c\nd", &mut s);
        assert_eq!(s, r#"a\\b\"c\nd"#);
    }

    #[test]
    fn kubeconfig_filename_is_the_last_path_component() {
        let l = Location::Kubeconfig {
            path: "/etc/kubernetes/admin.conf".into(),
            embedded_kind: "user".into(),
            embedded_key: "kubernetes-admin".into(),
        };
        assert_eq!(
            l.labels(),
            vec![
                ("filename", "admin.conf"),
                ("filepath", "/etc/kubernetes/admin.conf"),
                ("embedded_kind", "user"),
                ("embedded_key", "kubernetes-admin"),
            ]
        );
    }
}
