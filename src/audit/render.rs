//! The audit in words and pictures: a `kubeadm certs check-expiration`-style table, a stable
//! JSON document (schema in docs/audit.md), and one self-contained HTML page (inline CSS and
//! SVG; no script, font, stylesheet or image is fetched from anywhere).

use super::{failing, rows, Group, Inventory, Row, Status};
use crate::analysis::{human_duration, rfc3339};
use serde::Serialize;

/// `apiVersion` of the JSON document; bumped only on incompatible changes.
pub const JSON_API_VERSION: &str = "tlsgate.io/audit/v1";

/// kubeadm's EXPIRES column: "Dec 30, 2020 23:36 UTC".
pub fn kubeadm_time(unix: i64) -> String {
    let f =
        time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&f).ok())
        .unwrap_or_else(|| rfc3339(unix))
}

/// kubeadm's RESIDUAL TIME (`duration.ShortHumanDuration`): "364d", "9y", "<invalid>".
pub fn kubeadm_residual(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 48 * 3_600 => format!("{}h", s / 3_600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

/// RESIDUAL TIME of the main table: "412 days", or "expired 31 days ago".
pub fn residual(seconds: i64) -> String {
    if seconds < 0 {
        format!("expired {} ago", human_duration(seconds))
    } else {
        human_duration(seconds)
    }
}

fn key_label(r: &Row<'_>) -> String {
    if r.cert.index > 0 {
        format!("{} #{}", r.cert.key, r.cert.index)
    } else {
        r.cert.key.clone()
    }
}

fn name_label(r: &Row<'_>) -> String {
    match r.cert.kind.as_str() {
        "Secret" | "ConfigMap" | "kubeadm PKI" | "kubeconfig" => r.cert.name.clone(),
        kind => format!("{}/{}", kind.to_ascii_lowercase(), r.cert.name),
    }
}

fn issuer_label(c: &crate::analysis::cert::CertInfo) -> String {
    match &c.issuer_cn {
        Some(cn) => format!("CN={cn}"),
        None => c.issuer.to_string(),
    }
}

fn status_label(r: &Row<'_>) -> String {
    let mut s = r.status.as_str().to_string();
    for p in &r.cert.problems {
        s.push_str(", ");
        s.push_str(&p.code);
    }
    s
}

fn table(header: &[&str], body: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = String::new();
        let last = cells.len() - 1;
        for (i, c) in cells.into_iter().enumerate() {
            if i == last {
                l.push_str(&c);
            } else {
                let pad = widths[i] - c.chars().count();
                l.push_str(&c);
                l.push_str(&" ".repeat(pad + 3));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in body {
        out.push_str(&line(row));
    }
    out
}

/// The human report: the certificate table, kubeadm's two tables for a PKI directory, the
/// Istio root, problems and notes, and a one-line summary.
pub fn to_text(inv: &Inventory, now: i64, days: i64) -> String {
    let rows = rows(inv, now, days);
    let mut out = String::new();
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.cert.namespace.clone().unwrap_or_else(|| "-".into()),
                name_label(r),
                key_label(r),
                r.cert.cert.display_name(),
                kubeadm_time(r.cert.cert.not_after),
                residual(r.residual_seconds),
                issuer_label(&r.cert.cert),
                if r.cert.used_by.is_empty() {
                    "-".into()
                } else {
                    r.cert.used_by.join("; ")
                },
                status_label(r),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "NAMESPACE",
            "NAME",
            "KEY",
            "SUBJECT",
            "EXPIRES",
            "RESIDUAL TIME",
            "ISSUER",
            "USED BY",
            "STATUS",
        ],
        body,
    ));
    let pki: Vec<&Row<'_>> = rows.iter().filter(|r| r.cert.pki.is_some()).collect();
    if !pki.is_empty() {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let check = |b: Option<bool>| b.map_or("-".to_string(), yes_no);
        let mut leaves: Vec<&&Row<'_>> = pki
            .iter()
            .filter(|r| {
                r.cert
                    .pki
                    .as_ref()
                    .is_some_and(|p| p.certificate_authority.is_some())
            })
            .collect();
        leaves.sort_by_key(|r| r.cert.name.clone());
        let mut cas: Vec<&&Row<'_>> = pki
            .iter()
            .filter(|r| {
                r.cert
                    .pki
                    .as_ref()
                    .is_some_and(|p| p.certificate_authority.is_none())
            })
            .collect();
        cas.sort_by_key(|r| r.cert.name.clone());
        out.push('\n');
        out.push_str(&table(
            &[
                "CERTIFICATE",
                "EXPIRES",
                "RESIDUAL TIME",
                "CERTIFICATE AUTHORITY",
                "EXTERNALLY MANAGED",
                "SIGNED BY CA",
                "KEY MATCHES",
            ],
            leaves
                .iter()
                .filter_map(|r| {
                    let p = r.cert.pki.as_ref()?;
                    Some(vec![
                        p.certificate.clone(),
                        kubeadm_time(r.cert.cert.not_after),
                        kubeadm_residual(r.residual_seconds),
                        p.certificate_authority.clone().unwrap_or_default(),
                        yes_no(p.externally_managed),
                        check(p.signed_by_ca),
                        check(p.key_matches),
                    ])
                })
                .collect(),
        ));
        out.push('\n');
        out.push_str(&table(
            &[
                "CERTIFICATE AUTHORITY",
                "EXPIRES",
                "RESIDUAL TIME",
                "EXTERNALLY MANAGED",
            ],
            cas.iter()
                .filter_map(|r| {
                    let p = r.cert.pki.as_ref()?;
                    Some(vec![
                        p.certificate.clone(),
                        kubeadm_time(r.cert.cert.not_after),
                        kubeadm_residual(r.residual_seconds),
                        yes_no(p.externally_managed),
                    ])
                })
                .collect(),
        ));
    }
    if let Some(root) = &inv.mesh_root {
        let left = root.cert.not_after - now;
        out.push_str(&format!(
            "\nIstio mesh root: {}/{} ({}), notAfter {}: {}\n",
            root.namespace,
            root.name,
            root.cert.display_name(),
            rfc3339(root.cert.not_after),
            if left < 0 {
                format!("EXPIRED {} ago", human_duration(left))
            } else {
                format!("{} days before the root cert expires", left / 86_400)
            }
        ));
        if inv.root_mismatches.is_empty() {
            out.push_str("  every istio-ca-root-cert ConfigMap and istio.io/key-and-cert Secret matches the current root\n");
        } else {
            for f in &inv.root_mismatches {
                out.push_str(&format!("  MISMATCH {}: {}\n", f.object, f.message));
            }
        }
    }
    let problems: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.cert.problems.iter().map(move |p| {
                let at = match &r.cert.namespace {
                    Some(ns) => format!("{} {ns}/{}", r.cert.kind, r.cert.name),
                    None => format!("{} {}", r.cert.kind, r.cert.name),
                };
                format!("  [{}] {at}: {}\n", p.code, p.message)
            })
        })
        .collect();
    if !problems.is_empty() {
        out.push_str("\nProblems:\n");
        for p in problems {
            out.push_str(&p);
        }
    }
    if !inv.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in &inv.notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    let s = Summary::of(&rows);
    out.push_str(&format!(
        "\n{} certificates as of {}: {} expired, {} expire within {days} days, {} not yet valid, {} ok{}\n",
        s.certificates,
        rfc3339(now),
        s.expired,
        s.expiring_soon,
        s.not_yet_valid,
        s.ok,
        if failing(&rows) { "" } else { " — nothing to renew" }
    ));
    out
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub certificates: usize,
    pub expired: usize,
    pub not_yet_valid: usize,
    pub expiring_soon: usize,
    pub ok: usize,
    /// Certificates with at least one problem (`not-signed-by-ca`, `key-mismatch`, ...).
    pub with_problems: usize,
    pub istio_root_mismatches: usize,
}

impl Summary {
    fn of(rows: &[Row<'_>]) -> Summary {
        let n = |s: Status| rows.iter().filter(|r| r.status == s).count();
        Summary {
            certificates: rows.len(),
            expired: n(Status::Expired),
            not_yet_valid: n(Status::NotYetValid),
            expiring_soon: n(Status::ExpiringSoon),
            ok: n(Status::Ok),
            with_problems: rows.iter().filter(|r| !r.cert.problems.is_empty()).count(),
            istio_root_mismatches: 0,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonCert<'a> {
    group: Group,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    key: &'a str,
    index: usize,
    subject: &'a str,
    issuer: &'a str,
    serial: String,
    sha256: String,
    is_ca: bool,
    not_before: String,
    not_after: String,
    residual_seconds: i64,
    residual_time: String,
    status: Status,
    message: Option<&'a str>,
    used_by: &'a [String],
    managed_by: Option<&'a str>,
    pki: Option<&'a super::PkiFacts>,
    problems: &'a [super::Problem],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonMeshRoot<'a> {
    namespace: &'a str,
    name: &'a str,
    subject: &'a str,
    sha256: String,
    not_after: String,
    residual_seconds: i64,
    status: Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonIstio<'a> {
    mesh_root: Option<JsonMeshRoot<'a>>,
    root_mismatches: &'a [crate::finding::Finding],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    api_version: &'static str,
    now: String,
    expiry_warning_days: i64,
    failing: bool,
    summary: Summary,
    certificates: Vec<JsonCert<'a>>,
    istio: JsonIstio<'a>,
    notes: &'a [String],
}

/// The JSON document (pretty-printed). Schema: docs/audit.md.
pub fn to_json(inv: &Inventory, now: i64, days: i64) -> String {
    let rows = rows(inv, now, days);
    let mut summary = Summary::of(&rows);
    summary.istio_root_mismatches = inv.root_mismatches.len();
    let certificates = rows
        .iter()
        .map(|r| {
            let c = &r.cert.cert;
            JsonCert {
                group: r.cert.group,
                kind: &r.cert.kind,
                namespace: r.cert.namespace.as_deref(),
                name: &r.cert.name,
                key: &r.cert.key,
                index: r.cert.index,
                subject: &c.subject,
                issuer: &c.issuer,
                serial: c.serial_hex(),
                sha256: c.fingerprint_hex(),
                is_ca: c.is_ca,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                residual_seconds: r.residual_seconds,
                residual_time: residual(r.residual_seconds),
                status: r.status,
                message: r.message.as_deref(),
                used_by: &r.cert.used_by,
                managed_by: r.cert.managed_by.as_deref(),
                pki: r.cert.pki.as_ref(),
                problems: &r.cert.problems,
            }
        })
        .collect();
    let report = JsonReport {
        api_version: JSON_API_VERSION,
        now: rfc3339(now),
        expiry_warning_days: days,
        failing: failing(&rows),
        summary,
        certificates,
        istio: JsonIstio {
            mesh_root: inv.mesh_root.as_ref().map(|m| JsonMeshRoot {
                namespace: &m.namespace,
                name: &m.name,
                subject: &m.cert.subject,
                sha256: m.cert.fingerprint_hex(),
                not_after: rfc3339(m.cert.not_after),
                residual_seconds: m.cert.not_after - now,
                status: super::status_of(&m.cert, now, days).0,
            }),
            root_mismatches: &inv.root_mismatches,
        },
        notes: &inv.notes,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // A URL in the text (a kubeconfig's server) must not read as a resource reference.
            ':' => o.push_str("&#58;"),
            c => o.push(c),
        }
    }
    o
}

fn colour(s: Status) -> &'static str {
    match s {
        Status::Expired => "#c62828",
        Status::ExpiringSoon | Status::NotYetValid => "#ef8f00",
        Status::Ok => "#2e7d32",
    }
}

fn short(s: &str, max: usize) -> String {
    crate::report::truncate(s, max)
}

const CSS: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#555;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}
.expired b{color:#c62828}.soon b{color:#ef8f00}.ok b{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 6px;text-align:left;vertical-align:top}
th,td.nw{white-space:nowrap}td.wrap{overflow-wrap:anywhere}
th{background:#f5f5f7;position:sticky;top:0}
td.mono{overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.pill{display:inline-block;border-radius:9px;padding:0 8px;color:#fff;font-weight:600;font-size:11.5px}
.problem{color:#c62828;font-size:12px}
ul.notes{color:#555;font-size:12.5px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
"#;

/// One self-contained HTML page: summary cards, a timeline of every certificate by expiry
/// (grouped by kind, coloured by status), the Istio root, the table, problems and notes.
pub fn to_html(inv: &Inventory, now: i64, days: i64) -> String {
    let rows = rows(inv, now, days);
    let s = Summary::of(&rows);
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<title>tlsgate audit</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body>\n");
    h.push_str(&format!(
        "<h1>tlsgate audit</h1><p class=\"sub\">{} certificates as of {} · warning threshold {days} days</p>\n",
        s.certificates,
        esc(&rfc3339(now))
    ));
    h.push_str(&format!(
        "<div class=\"cards\"><div class=\"card expired\"><b>{}</b>expired</div><div class=\"card soon\"><b>{}</b>within {days} days</div><div class=\"card soon\"><b>{}</b>not yet valid</div><div class=\"card ok\"><b>{}</b>fine</div><div class=\"card\"><b>{}</b>with problems</div></div>\n",
        s.expired, s.expiring_soon, s.not_yet_valid, s.ok, s.with_problems
    ));
    h.push_str("<h2>Timeline</h2>\n");
    h.push_str(&timeline(&rows, now, days));
    if let Some(root) = &inv.mesh_root {
        h.push_str("<h2>Istio mesh root</h2>\n<p>");
        let (st, _) = super::status_of(&root.cert, now, days);
        h.push_str(&format!(
            "<span class=\"pill\" style=\"background:{}\">{}</span> {}/{} ({}) expires {} — {}</p>\n",
            colour(st),
            st.as_str(),
            esc(&root.namespace),
            esc(&root.name),
            esc(&root.cert.display_name()),
            esc(&kubeadm_time(root.cert.not_after)),
            esc(&residual(root.cert.not_after - now))
        ));
        if inv.root_mismatches.is_empty() {
            h.push_str("<p>Every istio-ca-root-cert ConfigMap and istio.io/key-and-cert Secret matches the current root.</p>\n");
        } else {
            h.push_str("<ul class=\"mismatches\">");
            for f in &inv.root_mismatches {
                h.push_str(&format!(
                    "<li class=\"problem\"><b>{}</b>: {}</li>",
                    esc(&f.object.to_string()),
                    esc(&f.message)
                ));
            }
            h.push_str("</ul>\n");
        }
    }
    h.push_str("<h2>Certificates</h2>\n<table><thead><tr><th>NAMESPACE</th><th>NAME</th><th>KEY</th><th>SUBJECT</th><th>EXPIRES</th><th>RESIDUAL TIME</th><th>ISSUER</th><th>USED BY</th><th>STATUS</th></tr></thead><tbody>\n");
    for r in &rows {
        let problems: String = r
            .cert
            .problems
            .iter()
            .map(|p| {
                format!(
                    "<div class=\"problem\">{}: {}</div>",
                    esc(&p.code),
                    esc(&p.message)
                )
            })
            .collect();
        h.push_str(&format!(
            "<tr class=\"cert\" data-status=\"{}\" data-group=\"{}\"><td class=\"nw\">{}</td><td class=\"wrap\">{}</td><td class=\"mono\">{}</td><td class=\"wrap\">{}</td><td class=\"nw\">{}</td><td class=\"nw\">{}</td><td class=\"wrap\">{}</td><td>{}</td><td><span class=\"pill\" style=\"background:{}\">{}</span>{}</td></tr>\n",
            r.status.as_str(),
            serde_json::to_value(r.cert.group).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            esc(r.cert.namespace.as_deref().unwrap_or("-")),
            esc(&name_label(r)),
            esc(&key_label(r)),
            esc(&r.cert.cert.display_name()),
            esc(&kubeadm_time(r.cert.cert.not_after)),
            esc(&residual(r.residual_seconds)),
            esc(&issuer_label(&r.cert.cert)),
            esc(&r.cert.used_by.join("; ")),
            colour(r.status),
            r.status.as_str(),
            problems
        ));
    }
    h.push_str("</tbody></table>\n");
    if !inv.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul class=\"notes\">");
        for n in &inv.notes {
            h.push_str(&format!("<li>{}</li>", esc(n)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// The SVG timeline: one bar per certificate from notBefore to notAfter, a dot at notAfter,
/// rows grouped by [`Group`] and sorted by expiry inside, a line at `now` and at the threshold.
fn timeline(rows: &[Row<'_>], now: i64, days: i64) -> String {
    const W: i64 = 1320;
    const LABEL: i64 = 380;
    const RIGHT: i64 = 20;
    const ROW: i64 = 18;
    const HEAD: i64 = 26;
    const TOP: i64 = 30;
    if rows.is_empty() {
        return "<p>No certificates found.</p>\n".into();
    }
    let threshold = now + days * 86_400;
    let lo = rows
        .iter()
        .map(|r| r.cert.cert.not_before.min(r.cert.cert.not_after))
        .min()
        .unwrap_or(now)
        .min(now - 30 * 86_400);
    let hi = rows
        .iter()
        .map(|r| r.cert.cert.not_after)
        .max()
        .unwrap_or(now)
        .max(threshold + 30 * 86_400);
    let span = (hi - lo).max(1) as f64;
    let plot = (W - LABEL - RIGHT) as f64;
    let x = |t: i64| LABEL as f64 + (t - lo) as f64 / span * plot;
    let groups: Vec<(Group, Vec<&Row<'_>>)> = Group::ALL
        .iter()
        .map(|g| {
            (
                *g,
                rows.iter()
                    .filter(|r| r.cert.group == *g)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let height = TOP
        + groups
            .iter()
            .map(|(_, v)| HEAD + ROW * v.len() as i64)
            .sum::<i64>()
        + 56;
    let mut s = format!(
        "<svg class=\"timeline\" role=\"img\" aria-label=\"certificates by expiry date\" width=\"100%\" style=\"max-width:{W}px;height:auto\" viewBox=\"0 0 {W} {height}\">\n"
    );
    // Year ticks.
    let first_year = time::OffsetDateTime::from_unix_timestamp(lo)
        .map(|t| t.year())
        .unwrap_or(1970);
    let last_year = time::OffsetDateTime::from_unix_timestamp(hi)
        .map(|t| t.year())
        .unwrap_or(1970);
    let step = ((last_year - first_year) / 12 + 1).max(1);
    let mut y = first_year + 1;
    while y <= last_year {
        let t = time::Date::from_calendar_date(y, time::Month::January, 1)
            .map(|d| d.midnight().assume_utc().unix_timestamp())
            .unwrap_or(lo);
        let tx = x(t);
        s.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"#e3e3e3\"/><text x=\"{tx:.1}\" y=\"{}\" font-size=\"11\" fill=\"#666\" text-anchor=\"middle\">{y}</text>\n",
            TOP - 6,
            height - 46,
            height - 30
        ));
        y += step;
    }
    let mut cy = TOP;
    for (g, members) in &groups {
        s.push_str(&format!(
            "<text class=\"group\" x=\"4\" y=\"{}\" font-size=\"13\" font-weight=\"700\" fill=\"#1d1d1f\">{} ({})</text>\n",
            cy + 17,
            esc(g.title()),
            members.len()
        ));
        s.push_str(&format!(
            "<line x1=\"0\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#bbb\"/>\n",
            cy + HEAD - 3,
            cy + HEAD - 3
        ));
        cy += HEAD;
        for r in members {
            let c = &r.cert.cert;
            let label = match &r.cert.namespace {
                Some(ns) => format!("{ns}/{} {}", name_label(r), key_label(r)),
                None => format!("{} {}", name_label(r), key_label(r)),
            };
            let x1 = x(c.not_before.min(c.not_after));
            let x2 = x(c.not_after);
            let col = colour(r.status);
            s.push_str(&format!(
                "<g class=\"bar\" data-status=\"{}\"><title>{} — {} — notAfter {} ({})</title><text x=\"10\" y=\"{}\" font-size=\"11\" fill=\"#333\">{}</text><rect x=\"{x1:.1}\" y=\"{}\" width=\"{:.1}\" height=\"8\" rx=\"3\" fill=\"{col}\" fill-opacity=\"0.35\"/><circle cx=\"{x2:.1}\" cy=\"{}\" r=\"5\" fill=\"{col}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10.5\" fill=\"{col}\" text-anchor=\"{}\">{}</text></g>\n",
                r.status.as_str(),
                esc(&label),
                esc(&c.display_name()),
                esc(&rfc3339(c.not_after)),
                esc(&residual(r.residual_seconds)),
                cy + 12,
                esc(&short(&label, 58)),
                cy + 4,
                (x2 - x1).max(2.0),
                cy + 8,
                if x2 > (W - 160) as f64 { x2 - 8.0 } else { x2 + 8.0 },
                cy + 12,
                if x2 > (W - 160) as f64 { "end" } else { "start" },
                esc(&kubeadm_time(c.not_after))
            ));
            cy += ROW;
        }
    }
    let nx = x(now);
    let tx = x(threshold);
    s.push_str(&format!(
        "<rect x=\"{nx:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#ef8f00\" fill-opacity=\"0.10\"/>\n",
        TOP - 4,
        (tx - nx).max(1.0),
        cy - TOP + 4
    ));
    s.push_str(&format!(
        "<line x1=\"{nx:.1}\" y1=\"{}\" x2=\"{nx:.1}\" y2=\"{cy}\" stroke=\"#1a237e\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/><text x=\"{nx:.1}\" y=\"{}\" font-size=\"11\" fill=\"#1a237e\" text-anchor=\"middle\">now {}</text>\n",
        TOP - 4,
        TOP - 12,
        esc(&rfc3339(now)[..10])
    ));
    s.push_str(&format!(
        "<g font-size=\"11\"><circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"#c62828\"/><text x=\"{}\" y=\"{}\">expired</text><circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"#ef8f00\"/><text x=\"{}\" y=\"{}\">within {days} days / not yet valid</text><circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"#2e7d32\"/><text x=\"{}\" y=\"{}\">fine</text></g>\n",
        LABEL, height - 4 - 4, LABEL + 9, height - 4,
        LABEL + 80, height - 4 - 4, LABEL + 89, height - 4,
        LABEL + 300, height - 4 - 4, LABEL + 309, height - 4,
    ));
    s.push_str("</svg>\n");
    s
}
