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
        "http://",
        "https://",
        "<script src",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(
            !html.contains(forbidden),
            "the report must not load anything: found {forbidden}"
        );
    }
    assert!(html.contains("<style>") && html.contains("<svg"));
    assert_eq!(html.matches("<script>").count(), 2, "two inline scripts");
}

#[test]
fn html_report_has_one_table_row_and_one_bar_per_timeline_per_certificate() {
    let html = report();
    assert_eq!(html.matches("<tr class=\"cert\"").count(), CERTIFICATES);
    assert_eq!(html.matches("<g class=\"bar\"").count(), CERTIFICATES);
    assert_eq!(html.matches("<g class=\"bar-full\"").count(), CERTIFICATES);
    assert_eq!(
        html.matches("data-status=\"expired\" data-group").count(),
        7
    );
}

#[test]
fn html_report_has_the_kubeadm_and_kubeconfig_rows() {
    let html = report();
    assert_eq!(
        html.matches("<tr class=\"pki\">").count(),
        10,
        "kubeadm table"
    );
    assert_eq!(html.matches("data-group=\"control-plane-pki\"").count(), 10);
    assert_eq!(html.matches("data-group=\"kubeconfigs\"").count(), 5);
}

/// The focused timeline (`tl-focus`) and the full one (`tl-full`).
fn timelines(html: &str) -> (&str, &str) {
    let focus = html.find("<svg id=\"tl-focus\"").expect("focused timeline");
    let full = html.find("<svg id=\"tl-full\"").expect("full timeline");
    let end = html[full..].find("</svg>").unwrap() + full;
    (&html[focus..full], &html[full..end])
}

#[test]
fn html_timeline_focuses_on_the_next_13_months() {
    let html = report();
    let (focus, _) = timelines(&html);
    // Month ticks from January 2027 to January 2028, no year ticks.
    assert!(focus.contains(">Jan 2027</text>"), "{focus}");
    assert!(focus.contains(">Jan 2028</text>"), "{focus}");
    assert!(!focus.contains(">2030</text>"), "{focus}");
}

#[test]
fn html_timeline_marks_certificates_outside_the_focus_at_the_edges() {
    let html = report();
    let (focus, _) = timelines(&html);
    assert!(focus.contains(">expired 2019-11-22</text>"), "left edge");
    assert!(focus.contains(">2036-11-22</text>"), "right edge");
}

#[test]
fn html_full_timeline_spans_every_certificate_and_starts_hidden() {
    let html = report();
    let (_, full) = timelines(&html);
    assert!(full.starts_with("<svg id=\"tl-full\" class=\"timeline hidden\""));
    assert!(
        full.contains(">2030</text>") || full.contains(">2031</text>"),
        "{full}"
    );
    assert!(html.contains("id=\"full-range\""), "the toggle");
}

#[test]
fn html_timeline_draws_the_renewal_threshold_as_a_labelled_line() {
    let html = report();
    let (focus, full) = timelines(&html);
    for svg in [focus, full] {
        assert_eq!(svg.matches("<line class=\"threshold\"").count(), 1);
        assert!(svg.contains(">renewal threshold: 30 days (2027-01-31)</text>"));
    }
}

/// The value of `attr="…"` in the first tag at or after `from`.
fn attr<'a>(html: &'a str, from: usize, attr: &str) -> &'a str {
    let needle = format!("{attr}=\"");
    let start = html[from..].find(&needle).unwrap() + from + needle.len();
    let end = html[start..].find('"').unwrap() + start;
    &html[start..end]
}

#[test]
fn html_certificate_links_to_the_objects_that_use_it_and_back() {
    let html = report();
    let gateway = "Gateway istio-system/mygateway (spec.servers[0].tls.credentialName)";
    let cell = html
        .find(&format!(">{gateway}</a></li>"))
        .expect("the httpbin credential's row links to its gateway");
    let row = html[..cell].rfind("<tr class=\"cert\" id=\"").unwrap();
    assert!(html[row..cell].contains(">httpbin-credential<"));
    let cert_id = attr(&html, row, "id").to_string();
    let use_href = attr(&html, html[row..].find("<a href=").unwrap() + row, "href").to_string();
    let use_row = html
        .find(&format!("<tr id=\"{}\">", &use_href[1..]))
        .expect("the gateway's row in Used by");
    let back = &html[use_row..use_row + html[use_row..].find("</tr>").unwrap()];
    assert!(back.contains(gateway), "{back}");
    assert!(back.contains(&format!("href=\"#{cert_id}\"")), "{back}");
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
    headless_at(chromium, page, "", mode)
}

/// [`headless`] on `page` opened with `query` (`?sort=left&dir=desc`), which the page's
/// script reads as its initial sort, filter and range.
fn headless_at(chromium: &Path, page: &Path, query: &str, mode: &str) -> std::process::Output {
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
        .arg(format!("file://{}{query}", page.display()))
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
    assert!(dom.contains("validatingwebhookconfiguration/<wbr>istio-galley"));
    assert!(dom.contains("<svg id=\"tl-focus\" class=\"timeline\""));
}

/// The DOM of the report after its script ran, opened with `query`; `None` without Chromium.
fn dom(query: &str) -> Option<String> {
    let chromium = tools::browser()?;
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("report.html");
    std::fs::write(&page, report()).unwrap();
    let o = headless_at(&chromium, &page, query, "--dump-dom");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        dom.contains("<html lang=\"en\" data-ready=\"1\""),
        "the script ran to its end: {}",
        &dom[..dom.len().min(300)]
    );
    Some(dom)
}

/// `(id, class)` of each certificate row, in DOM order.
fn cert_rows(dom: &str) -> Vec<(String, String)> {
    dom.match_indices("<tr class=\"cert")
        .map(|(i, _)| {
            (
                attr(dom, i, "id").to_string(),
                attr(dom, i, "class").to_string(),
            )
        })
        .collect()
}

#[test]
fn html_script_runs_without_errors() {
    let Some(dom) = dom("") else {
        return;
    };
    assert!(!dom.contains("data-js-error=\""), "{}", &dom[..300]);
    assert!(dom.contains("showing 28 of 28"));
}

#[test]
fn html_table_sorts_by_days_left_descending() {
    let Some(dom) = dom("?sort=left&dir=desc") else {
        return;
    };
    let left: Vec<i64> = dom
        .match_indices("<td class=\"num\" data-v=\"")
        .map(|(i, _)| attr(&dom, i, "data-v").parse().unwrap())
        .collect();
    assert_eq!(left.len(), CERTIFICATES);
    assert!(left.windows(2).all(|w| w[0] >= w[1]), "{left:?}");
    assert!(dom.contains("aria-sort=\"descending\""));
}

#[test]
fn html_table_filters_by_status() {
    let Some(dom) = dom("?status=expired") else {
        return;
    };
    let rows = cert_rows(&dom);
    let shown: Vec<&(String, String)> = rows.iter().filter(|(_, c)| c == "cert").collect();
    assert_eq!(shown.len(), 7, "{rows:?}");
    assert!(dom.contains("showing 7 of 28"));
}

#[test]
fn html_table_filters_by_text() {
    let Some(dom) = dom("?q=dev.conf") else {
        return;
    };
    assert!(
        dom.contains("showing 3 of 28"),
        "alice, bob and the dev cluster CA"
    );
}

#[test]
fn html_full_range_toggle_swaps_the_timelines() {
    let Some(dom) = dom("?range=full") else {
        return;
    };
    assert!(dom.contains("<svg id=\"tl-focus\" class=\"timeline hidden\""));
    assert!(dom.contains("<svg id=\"tl-full\" class=\"timeline\""));
}
