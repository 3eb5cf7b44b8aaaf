//! `tlsgate audit -o html`: one self-contained page, rendered by headless Chromium (Debian
//! package `chromium`, installed by .ci/run) to a PNG and to its DOM. Without Chromium the
//! rendering test skips with one line, unless `TLSGATE_REQUIRE_BROWSER=1` (.ci/run sets it).

mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

const NOW_ARG: &str = "2027-01-01T00:00:00Z";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

/// The HTML report of every audit fixture: 28 certificates.
fn report() -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(dir())
        .args([
            "audit",
            "-f",
            "cluster-dump.json",
            "-f",
            "cabundles.json",
            "--pki-dir",
            "pki",
            "--kubeconfig-certs",
            "kubeconfigs/admin.conf",
            "--kubeconfig-certs",
            "kubeconfigs/dev.conf",
            "--now",
            NOW_ARG,
            "-o",
            "html",
        ])
        .output()
        .expect("run tlsgate");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8")
}

const CERTIFICATES: usize = 28;

#[test]
fn html_report_is_self_contained() {
    let html = report();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in [
        "http://", "https://", "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
    ] {
        assert!(
            !html.contains(forbidden),
            "the report must not load anything: found {forbidden}"
        );
    }
    assert!(html.contains("<style>") && html.contains("<svg"));
}

#[test]
fn html_report_has_one_table_row_and_one_timeline_bar_per_certificate() {
    let html = report();
    assert_eq!(html.matches("<tr class=\"cert\"").count(), CERTIFICATES);
    assert_eq!(html.matches("<g class=\"bar\"").count(), CERTIFICATES);
    assert_eq!(
        html.matches("<tr class=\"cert\" data-status=\"expired\"")
            .count(),
        7
    );
}

#[test]
fn html_timeline_is_grouped_by_kind() {
    let html = report();
    let titles = [
        "Gateway credentials (2)",
        "Istio CA (7)",
        "Control-plane PKI (10)",
        "Kubeconfigs (5)",
        "caBundles (4)",
    ];
    let positions: Vec<usize> = titles
        .iter()
        .map(|t| html.find(t).unwrap_or_else(|| panic!("no group {t}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

/// Runs headless Chromium on `page` with `mode` (`--screenshot=...` or `--dump-dom`).
fn headless(chromium: &Path, page: &Path, mode: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(chromium) = tools::browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("report.html");
    std::fs::write(&page, report()).unwrap();

    let png = tmp.path().join("out.png");
    let shot = headless(&chromium, &page, &format!("--screenshot={}", png.display()));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); chromium said: {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1400x1000 page compresses to a few kB; the report is tens of kB.
    assert!(
        bytes.len() > 30_000,
        "screenshot looks blank: {} bytes",
        bytes.len()
    );

    let dom = headless(&chromium, &page, "--dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<tr class=\"cert\"").count(),
        CERTIFICATES,
        "the table rows are in the rendered DOM"
    );
    assert!(dom.contains("validatingwebhookconfiguration/istio-galley"));
    assert!(dom.contains("<svg class=\"timeline\""));
}
