//! The x509 series are x509-certificate-exporter v4's: names, label sets per source type,
//! values at a fixed now, escaping, the series cap, and `tlsgate audit -o prometheus`.
//!
//! The expected label sets are copied from the exporter's documentation, not from tlsgate:
//! enix/x509-certificate-exporter `docs/metrics.md`, "Common labels (per-certificate metrics)"
//! (which labels each source kind populates, serial decimal, subject/issuer C, ST, L, O, OU,
//! CN) and `pkg/registry/labels.go` `newSchema`/`fillLocationLabels` (the order). The metric
//! names are the "At a glance" table plus `x509_read_errors` (`internal/collector.go`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, RwLock};
use tlsgate::analysis::cert::{inspect, CertInfo};
use tlsgate::analysis::Analyzer;
use tlsgate::audit::Inventory;
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::x509_metrics::{self, Item, Location, MAX_CERT_SERIES};

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;
const NOW_ARG: &str = "2027-01-01T00:00:00Z";

/// The exporter's documented per-certificate metrics (docs/metrics.md "At a glance", the
/// `x509_cert_*` rows) and v3's `x509_read_errors`.
const EXPORTER_METRICS: [&str; 7] = [
    "x509_cert_not_after",
    "x509_cert_not_before",
    "x509_cert_expired",
    "x509_cert_expires_in_seconds",
    "x509_cert_valid_since_seconds",
    "x509_cert_error",
    "x509_read_errors",
];

/// docs/metrics.md "Common labels": populated for every source kind.
const EXPORTER_CERT_LABELS: [&str; 13] = [
    "serial_number",
    "issuer_C",
    "issuer_ST",
    "issuer_L",
    "issuer_O",
    "issuer_OU",
    "issuer_CN",
    "subject_C",
    "subject_ST",
    "subject_L",
    "subject_O",
    "subject_OU",
    "subject_CN",
];

/// docs/metrics.md "Common labels", the "When populated" column, per source kind.
fn exporter_location_labels(source_kind: &str) -> BTreeSet<&'static str> {
    match source_kind {
        "kube-secret" => ["secret_namespace", "secret_name", "secret_key"].into(),
        "kube-configmap" => ["configmap_namespace", "configmap_name", "configmap_key"].into(),
        "kube-cabundle" => [
            "cabundle_resource_kind",
            "cabundle_resource_name",
            "cabundle_entry",
        ]
        .into(),
        "kubeconfig" => ["filename", "filepath", "embedded_kind", "embedded_key"].into(),
        "file" => ["filename", "filepath"].into(),
        other => panic!("the exporter documents no source kind {other}"),
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A certificate made by openssl (tests/fixtures/certs/, make-fixtures.sh).
#[track_caller]
fn openssl_cert(name: &str) -> Arc<CertInfo> {
    let pem = std::fs::read(fixture(&format!("certs/{name}"))).expect("fixture certificate");
    let der = tlsgate::analysis::pem::parse(&pem, 1)
        .expect("PEM")
        .remove(0)
        .der;
    inspect(&der).expect("a certificate").0
}

/// A certificate with a subject rcgen writes as given: `"`, `\` and a line feed in the CN.
fn awkward_cert() -> Arc<CertInfo> {
    let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "evil\"} x509_cert_expired 0\n\\");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example Ltd");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    inspect(cert.der()).unwrap().0
}

fn secret_at(key: &str) -> Location {
    Location::Secret {
        namespace: "istio-system".into(),
        name: "httpbin-credential".into(),
        key: key.into(),
    }
}

fn render(items: &mut Vec<Item<'_>>) -> String {
    let mut out = String::new();
    x509_metrics::write(&mut out, items, NOW);
    out
}

/// Label names of a series line `name{a="..",b=".."} value`, read with the escaping rules
/// (so an escaped quote inside a value does not end it).
#[track_caller]
fn label_names(line: &str) -> Vec<String> {
    let body = &line[line.find('{').expect("labels")..];
    let mut names = Vec::new();
    let mut chars = body[1..].chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '=' => {
                assert_eq!(chars.next(), Some('"'), "{line}");
                names.push(std::mem::take(&mut name));
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            ',' => {}
            '}' => return names,
            c => name.push(c),
        }
    }
    panic!("unterminated label block: {line}")
}

#[track_caller]
fn series<'a>(text: &'a str, metric: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .collect()
}

/// For each source kind: the label names of its series are exactly the exporter's documented
/// location labels of that kind plus the common certificate labels.
#[track_caller]
fn assert_exporter_label_set(line: &str, source_kind: &str) {
    let names = label_names(line);
    let got: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(got.len(), names.len(), "a label written twice: {line}");
    let mut want = exporter_location_labels(source_kind);
    want.extend(EXPORTER_CERT_LABELS);
    assert_eq!(got, want, "{line}");
}

#[test]
fn every_exporter_metric_is_written_as_a_gauge() {
    let cert = openssl_cert("httpbin-san.crt");
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: Some(&cert),
    }]);
    for m in EXPORTER_METRICS {
        assert!(
            text.contains(&format!("# TYPE {m} gauge\n")),
            "{m}:\n{text}"
        );
        assert!(!series(&text, m).is_empty(), "no {m} series:\n{text}");
    }
}

#[test]
fn each_source_kind_carries_exactly_the_exporters_documented_labels() {
    let cert = openssl_cert("httpbin-san.crt");
    let locations = [
        secret_at("tls.crt"),
        Location::ConfigMap {
            namespace: "default".into(),
            name: "istio-ca-root-cert".into(),
            key: "root-cert.pem".into(),
        },
        Location::CaBundle {
            kind: "ValidatingWebhookConfiguration".into(),
            name: "istio-galley".into(),
            entry: "pilot.validation.istio.io".into(),
        },
        Location::Kubeconfig {
            path: "/etc/kubernetes/admin.conf".into(),
            embedded_kind: "user".into(),
            embedded_key: "kubernetes-admin".into(),
        },
        Location::File {
            path: "/etc/kubernetes/pki/apiserver.crt".into(),
        },
    ];
    for at in &locations {
        let text = render(&mut vec![Item {
            location: at,
            cert: Some(&cert),
        }]);
        for m in &EXPORTER_METRICS[..6] {
            let lines = series(&text, m);
            assert_eq!(lines.len(), 1, "{m}:\n{text}");
            assert_exporter_label_set(lines[0], at.source_kind());
        }
    }
}

#[test]
fn serial_number_is_decimal_as_the_exporter_writes_it() {
    let cert = openssl_cert("httpbin-san.crt");
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: Some(&cert),
    }]);
    let decimal = u128::from_str_radix(&cert.serial_hex(), 16)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| cert.serial_decimal());
    assert_eq!(cert.serial_decimal(), decimal);
    assert!(
        text.contains(&format!("serial_number=\"{decimal}\"")),
        "{text}"
    );
}

#[test]
fn relative_gauges_are_computed_from_the_given_now() {
    let cert = openssl_cert("httpbin-san.crt");
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: Some(&cert),
    }]);
    let value = |m: &str| -> i64 {
        series(&text, m)[0]
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("x509_cert_not_after"), cert.not_after);
    assert_eq!(value("x509_cert_not_before"), cert.not_before);
    assert_eq!(value("x509_cert_expires_in_seconds"), cert.not_after - NOW);
    assert_eq!(
        value("x509_cert_valid_since_seconds"),
        NOW - cert.not_before
    );
    assert_eq!(value("x509_cert_expired"), i64::from(NOW > cert.not_after));
    assert_eq!(value("x509_cert_error"), 0);
}

#[test]
fn expired_certificate_has_expired_1_and_negative_expires_in() {
    let cert = openssl_cert("dated/expired-2021.crt");
    assert!(cert.not_after < NOW, "fixture expired before NOW");
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: Some(&cert),
    }]);
    assert!(
        series(&text, "x509_cert_expired")[0].ends_with(" 1"),
        "{text}"
    );
    assert!(
        series(&text, "x509_cert_expires_in_seconds")[0]
            .ends_with(&format!(" -{}", NOW - cert.not_after)),
        "{text}"
    );
}

#[test]
fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
    let cert = awkward_cert();
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: Some(&cert),
    }]);
    let lines = series(&text, "x509_cert_not_after");
    assert_eq!(lines.len(), 1, "one line, the newline escaped:\n{text}");
    assert!(
        lines[0].contains(r#"subject_CN="evil\"} x509_cert_expired 0\n\\""#),
        "{}",
        lines[0]
    );
    assert_exporter_label_set(lines[0], "kube-secret");
    assert!(
        lines[0].contains(r#"subject_O="Example Ltd""#),
        "{}",
        lines[0]
    );
}

#[test]
fn unreadable_bundle_is_x509_cert_error_1_and_counted_in_read_errors() {
    let at = secret_at("tls.crt");
    let text = render(&mut vec![Item {
        location: &at,
        cert: None,
    }]);
    let error = series(&text, "x509_cert_error");
    assert_eq!(error.len(), 1, "{text}");
    assert!(error[0].ends_with(" 1"), "{text}");
    assert!(error[0].contains(r#"serial_number="""#), "{text}");
    assert!(series(&text, "x509_cert_not_after").is_empty(), "{text}");
    assert_eq!(series(&text, "x509_read_errors"), ["x509_read_errors 1"]);
}

#[test]
fn one_series_per_source_and_certificate() {
    let leaf = openssl_cert("httpbin-san.crt");
    let ca = openssl_cert("chain/root.crt");
    let (crt, ca_key) = (secret_at("tls.crt"), secret_at("ca.crt"));
    let text = render(&mut vec![
        Item {
            location: &crt,
            cert: Some(&leaf),
        },
        Item {
            location: &crt,
            cert: Some(&ca),
        },
        Item {
            location: &ca_key,
            cert: Some(&ca),
        },
    ]);
    let lines = series(&text, "x509_cert_not_after");
    assert_eq!(lines.len(), 3, "{text}");
    let labels: BTreeSet<&str> = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(labels.len(), 3, "label sets collide:\n{text}");
    assert!(text.contains("tlsgate_x509_certificates{source_kind=\"kube-secret\"} 3"));
}

#[test]
fn past_the_series_cap_the_latest_expiring_are_dropped_and_counted() {
    let base = openssl_cert("httpbin-san.crt");
    let certs: Vec<CertInfo> = (0..=MAX_CERT_SERIES as i64)
        .map(|i| {
            let mut c = (*base).clone();
            c.not_after = NOW + i;
            c
        })
        .collect();
    let locations: Vec<Location> = (0..certs.len())
        .map(|i| secret_at(&format!("k{i}")))
        .collect();
    let mut items: Vec<Item<'_>> = locations
        .iter()
        .zip(&certs)
        .map(|(location, c)| Item {
            location,
            cert: Some(c),
        })
        .collect();
    let text = render(&mut items);
    assert_eq!(series(&text, "x509_cert_not_after").len(), MAX_CERT_SERIES);
    assert!(
        text.contains("\ntlsgate_x509_series_dropped 1\n"),
        "{}",
        &text[text.len() - 600..]
    );
    let last = format!("secret_key=\"k{MAX_CERT_SERIES}\"");
    assert!(
        !text.contains(&last),
        "the latest-expiring one is the one dropped"
    );
    assert!(text.contains("secret_key=\"k0\""));
}

#[test]
fn admission_denials_are_counted_by_finding_code() {
    let view = Arc::new(RwLock::new(Index::new(Arc::new(Analyzer::new()))));
    let metrics = tlsgate::webhook::metrics::Metrics::new(view, || NOW);
    let finding = |code, severity| tlsgate::finding::Finding {
        code,
        severity,
        object: tlsgate::finding::ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some("istio-system".into()),
            name: "httpbin-credential".into(),
        },
        path: "data[\"tls.crt\"]".into(),
        message: String::new(),
        skipped: None,
    };
    metrics.count_denial(&[
        finding(
            tlsgate::finding::Code::KeyMismatch,
            tlsgate::finding::Severity::Deny,
        ),
        finding(
            tlsgate::finding::Code::CertExpired,
            tlsgate::finding::Severity::Warn,
        ),
    ]);
    let text = metrics.encode();
    assert!(
        text.contains("tlsgate_admission_denials_total{code=\"key-mismatch\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("code=\"cert-expired\""),
        "a warning is not a denial: {text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn metrics_view_series_use_the_webhook_entry_name_for_cabundles() {
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("audit/cabundles.json")).unwrap()).unwrap();
    let mut index = Index::new(Arc::new(Analyzer::new()));
    for item in list["items"].as_array().unwrap() {
        index.upsert_ca_bundles(item);
    }
    let metrics = tlsgate::webhook::metrics::Metrics::new(Arc::new(RwLock::new(index)), || NOW);
    let text = metrics.encode();
    let line = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"cabundle_entry="sidecar-injector.istio.io""#))
        .unwrap_or_else(|| panic!("no sidecar-injector series:\n{text}"));
    assert!(
        line.starts_with(r#"x509_cert_not_after{cabundle_resource_kind="MutatingWebhookConfiguration",cabundle_resource_name="istio-sidecar-injector","#),
        "{line}"
    );
    assert_exporter_label_set(line, "kube-cabundle");
}

fn audit_prometheus(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["audit", "--now", NOW_ARG, "-o", "prometheus"])
        .args(args)
        .output()
        .expect("tlsgate runs");
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn audit_prometheus_labels_dump_secrets_and_configmaps_like_the_exporter() {
    let text = audit_prometheus(&["-f", "tests/fixtures/audit/cluster-dump.json"]);
    let secret = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"secret_name="httpbin-credential""#))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        secret.starts_with(r#"x509_cert_not_after{secret_namespace="istio-system",secret_name="httpbin-credential",secret_key="tls.crt","#),
        "{secret}"
    );
    let cm = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains("configmap_name="))
        .unwrap_or_else(|| panic!("{text}"));
    assert_exporter_label_set(cm, "kube-configmap");
    assert!(cm.contains(r#"configmap_key="root-cert.pem""#), "{cm}");
    assert!(
        !text.contains("# EOF"),
        "a textfile is plain Prometheus text"
    );
}

#[test]
fn audit_prometheus_labels_kubeconfig_certificates_like_the_exporter() {
    let text = audit_prometheus(&[
        "--kubeconfig-certs",
        "tests/fixtures/audit/kubeconfigs/admin.conf",
    ]);
    let user = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"embedded_kind="user""#))
        .unwrap_or_else(|| panic!("{text}"));
    assert_exporter_label_set(user, "kubeconfig");
    assert!(
        user.contains(r#"embedded_key="kubernetes-admin""#),
        "{user}"
    );
    assert!(user.contains(r#"filename="admin.conf""#), "{user}");
    assert!(
        series(&text, "x509_cert_not_after")
            .iter()
            .any(|l| l.contains(r#"embedded_kind="cluster",embedded_key="kubernetes""#)),
        "{text}"
    );
}

#[test]
fn audit_prometheus_labels_pki_files_with_their_path() {
    let text = audit_prometheus(&["--pki-dir", "tests/fixtures/audit/pki"]);
    let apiserver = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"filename="apiserver.crt""#))
        .unwrap_or_else(|| panic!("{text}"));
    assert_exporter_label_set(apiserver, "file");
    assert!(
        apiserver.contains(r#"filepath="tests/fixtures/audit/pki/apiserver.crt""#),
        "{apiserver}"
    );
}

#[test]
fn audit_prometheus_writes_one_series_per_distinct_certificate() {
    let inv = {
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("audit/cluster-dump.json")).unwrap())
                .unwrap();
        let items = list["items"].as_array().unwrap().clone();
        let doubled: Vec<_> = items.iter().chain(items.iter()).cloned().collect();
        let mut inv = Inventory::new();
        inv.add_objects(&doubled, &Policy::default(), &Arc::new(Analyzer::new()));
        inv
    };
    let text = tlsgate::audit::render::to_prometheus(&inv, NOW);
    let lines = series(&text, "x509_cert_not_after");
    let distinct: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), distinct.len(), "{text}");
}

#[test]
fn secret_whose_tls_crt_is_not_pem_is_an_x509_cert_error_in_the_view() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "broken", "namespace": "default"},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": b64(b"not a certificate"),
            "tls.key": b64(&std::fs::read(fixture("certs/httpbin-san.key")).unwrap()),
        },
    });
    let mut index = Index::new(Arc::new(Analyzer::new()));
    index.upsert(
        &tlsgate::model::Object::from_value(&secret)
            .unwrap()
            .unwrap(),
    );
    let text =
        tlsgate::webhook::metrics::Metrics::new(Arc::new(RwLock::new(index)), || NOW).encode();
    let error = series(&text, "x509_cert_error");
    assert_eq!(error.len(), 1, "{text}");
    assert!(
        error[0].starts_with(r#"x509_cert_error{secret_namespace="default",secret_name="broken",secret_key="tls.crt","#)
            && error[0].ends_with(" 1"),
        "{}",
        error[0]
    );
    assert_eq!(series(&text, "x509_read_errors"), ["x509_read_errors 1"]);
}

#[test]
fn the_same_certificate_twice_in_one_bundle_is_one_series() {
    let ca = openssl_cert("chain/root.crt");
    let at = secret_at("ca.crt");
    let text = render(&mut vec![
        Item {
            location: &at,
            cert: Some(&ca),
        },
        Item {
            location: &at,
            cert: Some(&ca),
        },
    ]);
    assert_eq!(series(&text, "x509_cert_not_after").len(), 1, "{text}");
    assert!(text.contains("tlsgate_x509_certificates{source_kind=\"kube-secret\"} 1"));
}

/// A fixture object (`kubectl create ... --dry-run=client -o yaml`), in the cluster view.
#[track_caller]
fn view_of(objects: &[serde_json::Value]) -> tlsgate::webhook::metrics::Metrics {
    let mut index = Index::new(Arc::new(Analyzer::new()));
    for o in objects {
        index.upsert(&tlsgate::model::Object::from_value(o).unwrap().unwrap());
    }
    tlsgate::webhook::metrics::Metrics::new(Arc::new(RwLock::new(index)), || NOW)
}

#[track_caller]
fn yaml_fixture(rel: &str) -> serde_json::Value {
    yaml_serde::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

/// `configmap-client-ca.yaml` as ConfigMap `ns/name`.
fn client_ca(ns: &str, name: &str) -> serde_json::Value {
    let mut cm = yaml_fixture("secrets/configmap-client-ca.yaml");
    cm["metadata"] = serde_json::json!({ "name": name, "namespace": ns });
    cm
}

fn frontend_gateway(ns: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": "client-validation", "namespace": ns },
        "spec": { "gatewayClassName": "istio", "listeners": [],
                  "tls": { "frontend": { "default": { "validation": { "caCertificateRefs": [
                      { "group": "", "kind": "ConfigMap", "name": "client-ca" }] } } } } },
    })
}

#[test]
fn metrics_view_series_label_a_referenced_ca_config_map_like_the_exporter() {
    let text = view_of(&[frontend_gateway("infra"), client_ca("infra", "client-ca")]).encode();
    let line = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"configmap_name="client-ca""#))
        .unwrap_or_else(|| panic!("no client-ca series:\n{text}"));
    assert!(
        line.starts_with(r#"x509_cert_not_after{configmap_namespace="infra",configmap_name="client-ca",configmap_key="ca.crt","#),
        "{line}"
    );
    assert_exporter_label_set(line, "kube-configmap");
}

#[test]
fn metrics_view_leaves_out_ca_config_maps_nothing_reads() {
    // kube-root-ca.crt is in every namespace, with a ca.crt no Gateway names.
    let text = view_of(&[
        frontend_gateway("infra"),
        client_ca("infra", "kube-root-ca.crt"),
    ])
    .encode();
    assert!(!text.contains("configmap_name="), "{text}");
}

#[test]
fn metrics_view_series_label_linkerd_trust_roots_with_ca_bundle_crt() {
    let text = view_of(&[yaml_fixture("secrets/linkerd-trust-roots.yaml")]).encode();
    let line = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"configmap_name="linkerd-identity-trust-roots""#))
        .unwrap_or_else(|| panic!("no trust roots series:\n{text}"));
    assert!(line.contains(r#"configmap_key="ca-bundle.crt""#), "{line}");
    assert_exporter_label_set(line, "kube-configmap");
}

#[test]
fn metrics_view_series_label_istio_root_config_maps_with_root_cert_pem() {
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("audit/cluster-dump.json")).unwrap())
            .unwrap();
    let roots: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "istio-ca-root-cert")
        .cloned()
        .collect();
    assert!(!roots.is_empty(), "the dump holds istio-ca-root-cert");
    let text = view_of(&roots).encode();
    let line = series(&text, "x509_cert_not_after")
        .into_iter()
        .find(|l| l.contains(r#"configmap_name="istio-ca-root-cert""#))
        .unwrap_or_else(|| panic!("no istio root series:\n{text}"));
    assert!(line.contains(r#"configmap_key="root-cert.pem""#), "{line}");
}
