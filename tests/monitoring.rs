//! manifests/monitoring: the PrometheusRule passes `promtool check rules` and the unit tests in
//! tests/monitoring/alerts.test.yaml (one or more per alert), every metric the rules and the
//! Grafana dashboard query is one tlsgate's registry writes, and `kubectl kustomize` renders it.
//!
//! Without promtool or kubectl the tests that need them skip with one line; .ci/run installs
//! both and sets `TLSGATE_REQUIRE_TOOLS=1`, so there a missing one fails instead.

mod tools;

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, RwLock};
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tlsgate::webhook::metrics::{Metrics, RequestLabels, Verdict};

const PROMTOOL: &str = "apt-get install prometheus (it ships promtool)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn monitoring(file: &str) -> PathBuf {
    root().join("manifests/monitoring").join(file)
}

#[track_caller]
fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rule_spec() -> Value {
    yaml(&monitoring("prometheusrule.yaml"))["spec"].clone()
}

fn dashboard() -> Value {
    let p = monitoring("dashboard.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).expect("dashboard.json is JSON")
}

/// Every rule's `alert` name.
fn alerts() -> BTreeSet<String> {
    rule_spec()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

/// The rules as promtool reads them (the PrometheusRule's spec) beside a copy of the unit
/// tests, in a fresh directory.
fn promtool_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        yaml_serde::to_string(&rule_spec()).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        root().join("tests/monitoring/alerts.test.yaml"),
        dir.path().join("alerts.test.yaml"),
    )
    .unwrap();
    dir
}

#[track_caller]
fn promtool(args: &[&str], dir: &Path) -> Option<String> {
    let promtool = tools::tool("promtool", PROMTOOL)?;
    let o = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "promtool {args:?} failed:\n{text}");
    Some(text)
}

#[test]
fn promtool_check_rules_accepts_the_prometheus_rule() {
    let dir = promtool_dir();
    let Some(out) = promtool(&["check", "rules", "rules.yaml"], dir.path()) else {
        return;
    };
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", alerts().len())),
        "{out}"
    );
}

#[test]
fn promtool_unit_tests_of_the_alerts_pass() {
    let dir = promtool_dir();
    let Some(out) = promtool(&["test", "rules", "alerts.test.yaml"], dir.path()) else {
        return;
    };
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires() {
    let tests = yaml(&root().join("tests/monitoring/alerts.test.yaml"));
    let firing: BTreeSet<String> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()))
        .map(|a| a["alertname"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = alerts().difference(&firing).cloned().collect();
    assert!(
        missing.is_empty(),
        "alerts without a firing unit test: {missing:?}"
    );
    for tier in [
        "CertificateExpiresWithin28Days",
        "CertificateExpiresWithin14Days",
        "CertificateExpiresWithin7Days",
        "CertificateExpired",
        "TlsgateServingCertificateExpiresSoon",
        "TlsgateAdmissionErrors",
        "TlsgateAdmissionLatencyHigh",
        "TlsgateViewNotSynced",
        "TlsgateDown",
    ] {
        assert!(alerts().contains(tier), "no alert {tier}");
    }
}

/// PromQL's aggregation operators, which may be followed by `by (...)` instead of `(`.
const AGGREGATIONS: [&str; 13] = [
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
];

/// Metric names in a PromQL expression: identifiers that are not functions, keywords, label
/// names in `by (...)`/`on (...)`, label matchers, strings, ranges or Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut cleaned = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' if depth_brace == 0 => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            c => cleaned.push(c),
        }
    }
    let mut names = BTreeSet::new();
    let chars: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let keyword = [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
                "bool",
                "and",
                "or",
                "unless",
                "offset",
            ]
            .contains(&word.as_str());
            if keyword {
                after_grouping =
                    !matches!(word.as_str(), "bool" | "and" | "or" | "unless" | "offset");
            } else if next == Some(&'(') || AGGREGATIONS.contains(&word.as_str()) {
                // a function call, or an aggregation before its `by (...)`
            } else if !after_grouping {
                names.insert(word);
            }
            continue;
        }
        if c == ')' {
            after_grouping = false;
        }
        i += 1;
    }
    names
}

/// Every PromQL expression of the rules and the dashboard.
fn queried_expressions() -> Vec<String> {
    let mut exprs: Vec<String> = rule_spec()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect();
    for p in dashboard()["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    exprs
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (le) (rate(tlsgate_admission_duration_seconds_bucket{a="b(c)"}[5m]))) > 0.5"#
        ),
        BTreeSet::from(["tlsgate_admission_duration_seconds_bucket".to_string()])
    );
    assert_eq!(
        metric_names(r#"up{job="tlsgate"} == 0 or absent(up{job="tlsgate"})"#),
        BTreeSet::from(["up".to_string()])
    );
}

/// What `/metrics` writes once every family has a sample: a caBundle in the view, a watched
/// resource, a review answered, a denial counted.
fn scraped_names() -> BTreeSet<String> {
    let list: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/audit/cabundles.json")).unwrap(),
    )
    .unwrap();
    let mut index = Index::new(Arc::new(Analyzer::new()));
    for item in list["items"].as_array().unwrap() {
        index.upsert_ca_bundles(item);
    }
    index.set_resource_synced("secrets", true);
    let metrics = Metrics::new(Arc::new(RwLock::new(index)), || 1_798_761_600);
    metrics.count(RequestLabels::new("", "Secret", "CREATE", Verdict::Denied));
    metrics.duration.observe(0.002);
    metrics.count_denial(&[tlsgate::finding::Finding {
        code: tlsgate::finding::Code::KeyMismatch,
        severity: tlsgate::finding::Severity::Deny,
        object: tlsgate::finding::ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some("default".into()),
            name: "x".into(),
        },
        path: "data[\"tls.key\"]".into(),
        message: String::new(),
        skipped: None,
    }]);
    metrics
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn every_metric_the_rules_and_dashboard_query_is_one_tlsgate_emits() {
    let emitted = scraped_names();
    // `up` is the one series Prometheus writes itself, per scrape target.
    let queried: BTreeSet<String> = queried_expressions()
        .iter()
        .flat_map(|e| metric_names(e))
        .filter(|n| n != "up")
        .collect();
    for m in [
        "x509_cert_not_after",
        "tlsgate_view_synced",
        "tlsgate_admission_denials_total",
    ] {
        assert!(queried.contains(m), "the parser missed {m}: {queried:?}");
    }
    let unknown: Vec<_> = queried.difference(&emitted).collect();
    assert!(
        unknown.is_empty(),
        "queried but not emitted: {unknown:?}\nemitted: {emitted:?}"
    );
}

#[test]
fn the_dashboard_has_the_expiry_table_timeline_and_admission_panels() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    let has = |kind: &str, metric: &str| {
        panels.iter().any(|p| {
            p["type"] == kind
                && p["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["expr"].as_str().unwrap().contains(metric))
        })
    };
    assert!(has("table", "x509_cert_not_after"), "expiry table");
    assert!(has("timeseries", "x509_cert_not_after"), "expiry timeline");
    assert!(
        has("timeseries", "tlsgate_admission_requests_total"),
        "rate"
    );
    assert!(
        has("timeseries", "tlsgate_admission_duration_seconds_bucket"),
        "latency"
    );
    assert!(
        has("timeseries", "tlsgate_admission_denials_total"),
        "denials"
    );
    let ids: BTreeSet<_> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
}

/// `kubectl kustomize manifests/<dir>`, one value per document; `None` without kubectl.
fn render(dir: &str) -> Option<Vec<Value>> {
    let kubectl = tools::tool("kubectl", "install kubectl >= 1.27")?;
    let o = Command::new(kubectl)
        .args([
            "kustomize",
            &format!("{}/manifests/{dir}", env!("CARGO_MANIFEST_DIR")),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "kubectl kustomize manifests/{dir}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    Some(
        yaml_serde::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect(),
    )
}

#[test]
fn kustomize_renders_the_rule_the_service_monitor_and_the_dashboard_config_map() {
    let Some(docs) = render("monitoring") else {
        return;
    };
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["ConfigMap", "PrometheusRule", "ServiceMonitor"])
    );
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["name"], "tlsgate-dashboard");
    let json = cm["data"]["tlsgate-dashboard.json"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(json).unwrap(), dashboard());
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "tlsgate-system", "{d}");
    }
}

#[test]
fn service_monitor_scrapes_the_webhook_service_port_over_verified_tls() {
    let Some(base) = render("base") else { return };
    let Some(docs) = render("monitoring") else {
        return;
    };
    let service = base
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "tlsgate")
        .expect("base has Service tlsgate");
    let sm = docs.iter().find(|d| d["kind"] == "ServiceMonitor").unwrap();
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][k], v, "selector {k}");
    }
    let endpoint = &sm["spec"]["endpoints"][0];
    let ports: Vec<&Value> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert!(
        ports.contains(&&endpoint["port"]),
        "{endpoint} vs {ports:?}"
    );
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(
        endpoint["tlsConfig"]["serverName"],
        "tlsgate.tlsgate-system.svc"
    );
    assert!(endpoint["tlsConfig"]["insecureSkipVerify"].is_null());
    assert_eq!(
        endpoint["tlsConfig"]["ca"]["secret"]["name"],
        "tlsgate-serving-cert"
    );
}
