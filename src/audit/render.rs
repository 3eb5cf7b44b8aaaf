//! The audit in words and pictures: a `kubeadm certs check-expiration`-style table, a stable
//! JSON document (schema in docs/audit.md), and one self-contained HTML page (inline CSS, SVG
//! and script; no script, font, stylesheet or image is fetched from anywhere).

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
    match c.issuer_cn() {
        Some(cn) => format!("CN={cn}"),
        None => c.issuer().to_string(),
    }
}

fn problem_codes(r: &Row<'_>) -> String {
    let codes: Vec<String> = r
        .cert
        .problems
        .iter()
        .map(|p| match p.skipped {
            Some(_) => format!("{} (skipped)", p.code.as_str()),
            None => p.code.as_str().to_string(),
        })
        .collect();
    if codes.is_empty() {
        "-".into()
    } else {
        codes.join(", ")
    }
}

/// The width the default table fits in: a terminal split in two, a CI log, a code review.
pub const NARROW_WIDTH: usize = 120;

/// How [`to_text`] lays the report out.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// Every column, however wide (`-o wide`); else the columns an operator acts on, within
    /// [`NARROW_WIDTH`].
    pub wide: bool,
    /// STATUS in colour (ANSI SGR); for a terminal only.
    pub color: bool,
}

/// SGR style of a status: red for expired, yellow for expiring soon, magenta for not yet valid.
fn status_style(s: Status) -> &'static str {
    match s {
        Status::Expired => "31;1",
        Status::ExpiringSoon => "33;1",
        Status::NotYetValid => "35;1",
        Status::Ok => "32",
    }
}

/// `data["tls.crt"]` reads `tls.crt`; `users["bob"].client-certificate-data` reads
/// `users[bob].client-certificate-data`.
fn short_key(r: &Row<'_>) -> String {
    let k = &r.cert.key;
    let k = match k
        .strip_prefix("data[\"")
        .and_then(|k| k.strip_suffix("\"]"))
    {
        Some(inner) => inner.to_string(),
        None => k.replace("[\"", "[").replace("\"]", "]"),
    };
    if r.cert.index > 0 {
        format!("{k} #{}", r.cert.index)
    } else {
        k
    }
}

/// WHERE of the narrow table: the object and the place in it, in one cell. The long kinds
/// that hold caBundles go by shorter names (`crd` is kubectl's), so the name survives the cut.
fn where_label(r: &Row<'_>) -> String {
    let key = short_key(r).replace(".clientConfig.caBundle", ".caBundle");
    let short_kind = match r.cert.kind.as_str() {
        "ValidatingWebhookConfiguration" => Some("validatingwebhook"),
        "MutatingWebhookConfiguration" => Some("mutatingwebhook"),
        "CustomResourceDefinition" => Some("crd"),
        _ => None,
    };
    match (r.cert.kind.as_str(), &r.cert.namespace, short_kind) {
        ("kubeadm PKI", _, _) => format!("pki/{key}"),
        (_, _, Some(kind)) => format!("{kind}/{} {key}", r.cert.name),
        (_, Some(ns), None) => format!("{ns}/{} {key}", name_label(r)),
        (_, None, None) => format!("{} {key}", name_label(r)),
    }
}

/// USED BY of the narrow table: the first user, and how many more.
fn used_by_short(r: &Row<'_>) -> String {
    match r.cert.used_by.as_slice() {
        [] => "-".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (+{} more)", rest.len()),
    }
}

/// Days left, negative once expired: `327d`, `-31d`.
fn days_left(seconds: i64) -> String {
    format!("{}d", seconds.div_euclid(86_400))
}

/// A column: its header, and how readily it gives up width to fit (`0`: never, else the
/// higher the weight, the more width it keeps).
struct Column {
    header: &'static str,
    weight: u32,
}

const fn col(header: &'static str, weight: u32) -> Column {
    Column { header, weight }
}

/// A table with `gap` spaces between columns. With a `width`, the flexible column widest for
/// its weight gives up a character at a time until the table fits, and a cell longer than its column
/// ends in `…`. `styles[i]` colours the first cell of body row `i`, after padding, so colour
/// never shifts a column.
fn table(
    cols: &[Column],
    body: Vec<Vec<String>>,
    gap: usize,
    width: Option<usize>,
    styles: &[Option<&str>],
) -> String {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.header.chars().count()).collect();
    for row in &body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    if let Some(max) = width {
        let total = |w: &[usize]| w.iter().sum::<usize>() + gap * w.len().saturating_sub(1);
        while total(&widths) > max {
            let widest = (0..cols.len())
                .filter(|&i| {
                    cols[i].weight > 0 && widths[i] > cols[i].header.chars().count().max(8)
                })
                .max_by_key(|&i| (widths[i] * 100 / cols[i].weight as usize, i));
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
    }
    let line = |cells: Vec<String>, style: Option<&str>| {
        let mut l = String::new();
        let last = cells.len() - 1;
        for (i, c) in cells.into_iter().enumerate() {
            let c = crate::report::truncate(&c, widths[i]);
            let pad = if i == last {
                0
            } else {
                widths[i] - c.chars().count() + gap
            };
            match (i, style) {
                (0, Some(code)) => l.push_str(&crate::report::paint(&c, code, true)),
                _ => l.push_str(&c),
            }
            l.push_str(&" ".repeat(pad));
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(cols.iter().map(|c| c.header.to_string()).collect(), None);
    for (i, row) in body.into_iter().enumerate() {
        out.push_str(&line(row, styles.get(i).copied().flatten()));
    }
    out
}

/// Breaks `line` at spaces so that no piece is wider than `width`; pieces after the first
/// are indented by `indent` spaces. A word longer than the width stays whole.
fn wrap(line: &str, width: usize, indent: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let lead = line.len() - line.trim_start().len();
    let mut out = String::new();
    let mut cur = line[..lead].to_string();
    let mut cur_len = lead;
    for (n, word) in line[lead..].split(' ').enumerate() {
        let len = word.chars().count();
        if n > 0 && cur_len + 1 + len > width {
            out.push_str(cur.trim_end());
            out.push('\n');
            cur = " ".repeat(indent);
            cur_len = indent;
        } else if n > 0 {
            cur.push(' ');
            cur_len += 1;
        }
        cur.push_str(word);
        cur_len += len;
    }
    out.push_str(&cur);
    out
}

/// The human report: the certificate table, kubeadm's two tables for a PKI directory, the
/// Istio root, problems and notes, and a one-line summary. Without `wide`, every line of it
/// fits [`NARROW_WIDTH`] columns (a single word longer than that excepted).
pub fn to_text(inv: &Inventory, now: i64, days: i64, opts: TextOptions) -> String {
    let rows = rows(inv, now, days);
    let mut out = String::new();
    let styles: Vec<Option<&str>> = rows
        .iter()
        .map(|r| opts.color.then(|| status_style(r.status)))
        .collect();
    let gap = if opts.wide { 3 } else { 2 };
    let width = (!opts.wide).then_some(NARROW_WIDTH);
    if opts.wide {
        let body = rows
            .iter()
            .map(|r| {
                vec![
                    r.status.as_str().to_string(),
                    r.cert.namespace.clone().unwrap_or_else(|| "-".into()),
                    name_label(r),
                    key_label(r),
                    r.cert.cert.display_name(),
                    issuer_label(&r.cert.cert),
                    kubeadm_time(r.cert.cert.not_before),
                    kubeadm_time(r.cert.cert.not_after),
                    residual(r.residual_seconds),
                    if r.cert.used_by.is_empty() {
                        "-".into()
                    } else {
                        r.cert.used_by.join("; ")
                    },
                    r.cert.managed_by.clone().unwrap_or_else(|| "-".into()),
                    problem_codes(r),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                col("STATUS", 0),
                col("NAMESPACE", 0),
                col("NAME", 0),
                col("KEY", 0),
                col("SUBJECT", 0),
                col("ISSUER", 0),
                col("NOT BEFORE", 0),
                col("EXPIRES", 0),
                col("RESIDUAL TIME", 0),
                col("USED BY", 0),
                col("MANAGED BY", 0),
                col("PROBLEMS", 0),
            ],
            body,
            gap,
            None,
            &styles,
        ));
    } else {
        let body = rows
            .iter()
            .map(|r| {
                vec![
                    r.status.as_str().to_string(),
                    days_left(r.residual_seconds),
                    rfc3339(r.cert.cert.not_after)[..10].to_string(),
                    where_label(r),
                    used_by_short(r),
                    problem_codes(r),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                col("STATUS", 0),
                col("LEFT", 0),
                col("EXPIRES", 0),
                col("WHERE", 3),
                col("USED BY", 2),
                col("PROBLEMS", 2),
            ],
            body,
            gap,
            width,
            &styles,
        ));
    }
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
        // kubeadm's two tables; the narrow report leaves out EXPIRES, which the main table has.
        let kubeadm = |cols: Vec<Column>, body: Vec<Vec<String>>| {
            let keep = |i: usize| opts.wide || i != 1;
            let cols: Vec<Column> = cols
                .into_iter()
                .enumerate()
                .filter_map(|(i, c)| keep(i).then_some(c))
                .collect();
            let body = body
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .enumerate()
                        .filter_map(|(i, c)| keep(i).then_some(c))
                        .collect()
                })
                .collect();
            format!("\n{}", table(&cols, body, gap, width, &[]))
        };
        out.push_str(&kubeadm(
            vec![
                col("CERTIFICATE", 1),
                col("EXPIRES", 0),
                col("RESIDUAL TIME", 0),
                col("CERTIFICATE AUTHORITY", 0),
                col("EXTERNALLY MANAGED", 0),
                col("SIGNED BY CA", 0),
                col("KEY MATCHES", 0),
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
        out.push_str(&kubeadm(
            vec![
                col("CERTIFICATE AUTHORITY", 1),
                col("EXPIRES", 0),
                col("RESIDUAL TIME", 0),
                col("EXTERNALLY MANAGED", 0),
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
    let mut prose = String::new();
    if let Some(root) = &inv.mesh_root {
        let left = root.cert.not_after - now;
        prose.push_str(&format!(
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
            prose.push_str("  every istio-ca-root-cert ConfigMap and istio.io/key-and-cert Secret matches the current root\n");
        } else {
            for f in &inv.root_mismatches {
                prose.push_str(&format!("  MISMATCH {}: {}\n", f.object, f.message));
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
        prose.push_str("\nProblems:\n");
        for p in problems {
            prose.push_str(&p);
        }
    }
    if !inv.notes.is_empty() {
        prose.push_str("\nNotes:\n");
        for n in &inv.notes {
            prose.push_str(&format!("  {n}\n"));
        }
    }
    let s = Summary::of(&rows);
    prose.push_str(&format!(
        "\n{} certificates as of {}: {} expired, {} expire within {days} days, {} not yet valid, {} ok{}\n",
        s.certificates,
        rfc3339(now),
        s.expired,
        s.expiring_soon,
        s.not_yet_valid,
        s.ok,
        if failing(&rows) { "" } else { " — nothing to renew" }
    ));
    match width {
        Some(w) => {
            for l in prose.lines() {
                out.push_str(&wrap(l, w, 4));
                out.push('\n');
            }
        }
        None => out.push_str(&prose),
    }
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
    /// The finding code lint and the webhook would give it (`chain-cert-expired` for an expired
    /// CA beside a valid one).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<crate::finding::Code>,
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
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

/// x509-certificate-exporter's series for every certificate (and unreadable caBundle) of the
/// audit, in the Prometheus text format node-exporter's textfile collector reads: the same
/// names and labels `/metrics` serves ([`crate::x509_metrics`], which also writes a
/// certificate listed twice at one place, one PEM in two inputs, once).
pub fn to_prometheus(inv: &Inventory, now: i64) -> String {
    use crate::x509_metrics::{write, Item};
    let mut items: Vec<Item<'_>> = inv
        .certs
        .iter()
        .map(|c| Item {
            location: &c.location,
            cert: Some(&c.cert),
        })
        .chain(inv.unreadable.iter().map(|location| Item {
            location,
            cert: None,
        }))
        .collect();
    let mut out = String::new();
    write(&mut out, &mut items, now);
    out
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
                subject: c.subject(),
                issuer: c.issuer(),
                serial: c.serial_hex(),
                sha256: c.fingerprint_hex(),
                is_ca: c.is_ca,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                residual_seconds: r.residual_seconds,
                residual_time: residual(r.residual_seconds),
                status: r.status,
                code: r.code,
                message: r.message.as_deref(),
                skipped: r.skipped.as_deref(),
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
                subject: m.cert.subject(),
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

/// [`esc`], with a line-break opportunity after each `.`, `/` and `[`: a long key or object
/// name wraps at its parts instead of widening the table or breaking mid-word.
fn esc_wbr(s: &str) -> String {
    esc(s)
        .replace('.', ".<wbr>")
        .replace('/', "/<wbr>")
        .replace('[', "[<wbr>")
}

fn colour(s: Status) -> &'static str {
    match s {
        Status::Expired => "#c62828",
        Status::ExpiringSoon => "#e07b00",
        Status::NotYetValid => "#8e24aa",
        Status::Ok => "#2e7d32",
    }
}

/// Sort rank of a status: the worst first.
fn rank(s: Status) -> u8 {
    match s {
        Status::Expired => 0,
        Status::NotYetValid => 1,
        Status::ExpiringSoon => 2,
        Status::Ok => 3,
    }
}

fn short(s: &str, max: usize) -> String {
    crate::report::truncate(s, max)
}

fn group_slug(g: Group) -> String {
    serde_json::to_value(g)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `YYYY-MM-DD` of a Unix time.
fn day(unix: i64) -> String {
    rfc3339(unix).chars().take(10).collect()
}

const CSS: &str = r#"
:root{--red:#c62828;--amber:#e07b00;--violet:#8e24aa;--green:#2e7d32;--ink:#1d1d1f;--muted:#5f6368;--line:#e3e5e8;--bg2:#f6f7f9}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:var(--ink);background:#fff}
main{max-width:1400px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:30px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0 4px}
.card{border:1px solid var(--line);border-left:5px solid #9aa0a6;border-radius:8px;padding:8px 16px;min-width:130px;background:#fff;color:var(--muted);font-size:12.5px}
.card b{display:block;font-size:24px;line-height:1.2;color:var(--ink)}
.card.expired{border-left-color:var(--red)}.card.expired b{color:var(--red)}
.card.soon{border-left-color:var(--amber)}.card.soon b{color:var(--amber)}
.card.nyv{border-left-color:var(--violet)}.card.nyv b{color:var(--violet)}
.card.ok{border-left-color:var(--green)}.card.ok b{color:var(--green)}
.tl-head{display:flex;align-items:center;gap:16px;flex-wrap:wrap;color:var(--muted);font-size:12.5px}
.tl-head label{cursor:pointer;user-select:none}
.legend span{display:inline-flex;align-items:center;gap:5px;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%}
.timeline{display:block;width:100%;height:auto;margin-top:6px}
.timeline a:hover text.lbl{text-decoration:underline}
svg text.d{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.hidden{display:none}
.controls{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:6px 0 10px;font-size:13px}
.controls input,.controls select{font:inherit;padding:5px 8px;border:1px solid #c8ccd1;border-radius:6px;background:#fff}
.controls input{min-width:280px}
#count{color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid var(--line);padding:5px 7px;text-align:left;vertical-align:top}
th{background:var(--bg2);position:sticky;top:0;white-space:nowrap;font-weight:600;color:#3c4043}
th.sortable{cursor:pointer}th.sortable:hover{background:#eceef1}
th.sortable::after{content:" \2195";color:#b0b4b9;font-weight:400}
th[aria-sort=ascending]::after{content:" \25B2";color:var(--ink)}
th[aria-sort=descending]::after{content:" \25BC";color:var(--ink)}
tbody tr:nth-child(even){background:#fbfbfc}
tbody tr:target{background:#fff6d6}
td.nw{white-space:nowrap}td.wrap{overflow-wrap:break-word}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.mono{overflow-wrap:break-word;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;color:#fff;font-weight:600;font-size:11px;white-space:nowrap}
.problem{color:var(--red);font-size:12px;margin-top:3px;max-width:380px}
a{color:#1a56db;text-decoration:none}a:hover{text-decoration:underline}
ul.uses{margin:0;padding-left:16px}
ul.notes{color:var(--muted);font-size:12.5px}
.users td:first-child{width:45%}
"#;

/// The page's only script, inline: sorting and filtering of the certificate table and the
/// timeline's range toggle. State also comes from the query string (`?q=etcd&status=expired
/// &group=kubeconfigs&sort=left&dir=desc&range=full`), so a link (and a headless test) can open
/// the page in any state. Loads nothing.
const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('certs');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var q = document.getElementById('q');
  var status = document.getElementById('status');
  var group = document.getElementById('group');
  var count = document.getElementById('count');
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function value(row, i) {
    var c = row.cells[i];
    return c.hasAttribute('data-v') ? c.getAttribute('data-v') : c.textContent.trim().toLowerCase();
  }
  function sortBy(key, dir) {
    var i = heads.findIndex(function (h) { return h.dataset.key === key; });
    if (i < 0) { return; }
    var num = heads[i].dataset.type === 'num';
    var sign = dir === 'desc' ? -1 : 1;
    var order = rows.map(function (r, n) { return [r, n]; });
    order.sort(function (a, b) {
      var x = value(a[0], i), y = value(b[0], i);
      var c = num ? Number(x) - Number(y) : x.localeCompare(y);
      return c !== 0 ? sign * c : a[1] - b[1];
    });
    order.forEach(function (p) { body.appendChild(p[0]); });
    heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
    heads[i].setAttribute('aria-sort', dir === 'desc' ? 'descending' : 'ascending');
  }
  function filter() {
    var text = q.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (r) {
      var st = r.dataset.status;
      var okStatus = status.value === '' || st === status.value ||
        (status.value === 'failing' && st !== 'ok');
      var okGroup = group.value === '' || r.dataset.group === group.value;
      var okText = text === '' || r.textContent.toLowerCase().indexOf(text) >= 0;
      var on = okStatus && okGroup && okText;
      r.classList.toggle('hidden', !on);
      if (on) { shown += 1; }
    });
    count.textContent = 'showing ' + shown + ' of ' + rows.length;
  }
  heads.forEach(function (h) {
    if (!h.dataset.key) { return; }
    h.classList.add('sortable');
    h.addEventListener('click', function () {
      var dir = h.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
      sortBy(h.dataset.key, dir);
    });
  });
  [q, status, group].forEach(function (e) { e.addEventListener('input', filter); });
  var full = document.getElementById('full-range');
  function range() {
    document.getElementById('tl-focus').classList.toggle('hidden', full.checked);
    document.getElementById('tl-full').classList.toggle('hidden', !full.checked);
  }
  full.addEventListener('change', range);
  var params = new URLSearchParams(window.location.search);
  if (params.has('q')) { q.value = params.get('q'); }
  if (params.has('status')) { status.value = params.get('status'); }
  if (params.has('group')) { group.value = params.get('group'); }
  if (params.get('range') === 'full') { full.checked = true; }
  if (params.has('sort')) { sortBy(params.get('sort'), params.get('dir') || 'asc'); }
  range();
  filter();
  document.documentElement.setAttribute('data-ready', '1');
})();
"#;

/// Any script error lands on the root element, where a test reading the DOM finds it.
const ERROR_HOOK: &str = "window.addEventListener('error',function(e){document.documentElement.setAttribute('data-js-error',String(e.message));});";

/// One self-contained HTML page: summary cards; a timeline of the next 13 months (with a
/// toggle for the full range); the renewal threshold as a labelled line; a sortable,
/// filterable certificate table; kubeadm's view of the control-plane PKI; and every object
/// that uses a certificate, linked both ways. Inline CSS, SVG and script; nothing is fetched.
pub fn to_html(inv: &Inventory, now: i64, days: i64) -> String {
    let rows = rows(inv, now, days);
    let s = Summary::of(&rows);
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<title>tlsgate audit</title><script>");
    h.push_str(ERROR_HOOK);
    h.push_str("</script><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body><main>\n");
    h.push_str(&format!(
        "<h1>tlsgate audit</h1><p class=\"sub\">{} certificates as of {} · renewal threshold {days} days (renew before {})</p>\n",
        s.certificates,
        esc(&rfc3339(now)),
        esc(&day(now + days * 86_400))
    ));
    h.push_str(&format!(
        "<div class=\"cards\"><div class=\"card expired\"><b>{}</b>expired</div><div class=\"card soon\"><b>{}</b>expire within {days} days</div><div class=\"card nyv\"><b>{}</b>not yet valid</div><div class=\"card ok\"><b>{}</b>fine</div><div class=\"card\"><b>{}</b>with problems</div></div>\n",
        s.expired, s.expiring_soon, s.not_yet_valid, s.ok, s.with_problems
    ));
    h.push_str("<h2>Timeline</h2>\n");
    if rows.is_empty() {
        h.push_str("<p>No certificates found.</p>\n");
    } else {
        h.push_str(&format!(
            "<div class=\"tl-head\"><span>The next 13 months; certificates outside them are marked at the edges.</span><label><input type=\"checkbox\" id=\"full-range\"> show the full range</label><span class=\"legend\"><span><i style=\"background:{}\"></i>expired</span><span><i style=\"background:{}\"></i>within {days} days</span><span><i style=\"background:{}\"></i>not yet valid</span><span><i style=\"background:{}\"></i>fine</span></span></div>\n",
            colour(Status::Expired),
            colour(Status::ExpiringSoon),
            colour(Status::NotYetValid),
            colour(Status::Ok)
        ));
        let focus = (now - 31 * 86_400, now + 365 * 86_400);
        h.push_str(&timeline(&rows, now, days, focus, "tl-focus", false));
        let lo = rows
            .iter()
            .map(|r| r.cert.cert.not_before.min(r.cert.cert.not_after))
            .min()
            .unwrap_or(now)
            .min(focus.0);
        let hi = rows
            .iter()
            .map(|r| r.cert.cert.not_after)
            .max()
            .unwrap_or(now)
            .max(focus.1);
        let pad = (hi - lo) / 40;
        h.push_str(&timeline(
            &rows,
            now,
            days,
            (lo - pad, hi + pad),
            "tl-full",
            true,
        ));
    }
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
    // Who uses what: one entry per user, in order of first appearance.
    let mut users: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for u in &r.cert.used_by {
            match users.iter_mut().find(|(name, _)| name == u) {
                Some((_, certs)) => certs.push(i),
                None => users.push((u, vec![i])),
            }
        }
    }
    let user_id = |u: &str| users.iter().position(|(name, _)| *name == u);
    h.push_str("<h2>Certificates</h2>\n<div class=\"controls\"><input id=\"q\" type=\"search\" placeholder=\"Filter: name, namespace, subject, user, problem…\" aria-label=\"filter\"><select id=\"status\" aria-label=\"status\"><option value=\"\">every status</option><option value=\"failing\">needs action</option><option value=\"expired\">expired</option><option value=\"expiring-soon\">expiring soon</option><option value=\"not-yet-valid\">not yet valid</option><option value=\"ok\">ok</option></select><select id=\"group\" aria-label=\"kind\"><option value=\"\">every kind</option>");
    for g in Group::ALL {
        if rows.iter().any(|r| r.cert.group == g) {
            h.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                group_slug(g),
                esc(g.title())
            ));
        }
    }
    h.push_str("</select><span id=\"count\"></span></div>\n");
    h.push_str("<table id=\"certs\"><thead><tr><th data-key=\"status\" data-type=\"num\">STATUS</th><th data-key=\"left\" data-type=\"num\">LEFT</th><th data-key=\"expires\" data-type=\"num\">EXPIRES</th><th data-key=\"namespace\">NAMESPACE</th><th data-key=\"name\">NAME</th><th data-key=\"key\">KEY</th><th data-key=\"subject\">SUBJECT</th><th data-key=\"issuer\">ISSUER</th><th>USED BY</th></tr></thead><tbody>\n");
    for (i, r) in rows.iter().enumerate() {
        let problems: String = r
            .cert
            .problems
            .iter()
            .map(|p| {
                format!(
                    "<div class=\"problem\">{}: {}</div>",
                    esc(p.code.as_str()),
                    esc(&p.message)
                )
            })
            .collect();
        let used: String = if r.cert.used_by.is_empty() {
            "-".into()
        } else {
            let items: String = r
                .cert
                .used_by
                .iter()
                .map(|u| {
                    format!(
                        "<li><a href=\"#use-{}\">{}</a></li>",
                        user_id(u).unwrap_or_default(),
                        esc(u)
                    )
                })
                .collect();
            format!("<ul class=\"uses\">{items}</ul>")
        };
        h.push_str(&format!(
            "<tr class=\"cert\" id=\"cert-{i}\" data-status=\"{}\" data-group=\"{}\"><td class=\"nw\" data-v=\"{}\"><span class=\"pill\" style=\"background:{}\">{}</span></td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"nw\" data-v=\"{}\">{}</td><td class=\"nw\">{}</td><td class=\"wrap\">{}{problems}</td><td class=\"mono\">{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{used}</td></tr>\n",
            r.status.as_str(),
            group_slug(r.cert.group),
            rank(r.status),
            colour(r.status),
            r.status.as_str(),
            r.residual_seconds,
            esc(&days_left(r.residual_seconds)),
            r.cert.cert.not_after,
            esc(&day(r.cert.cert.not_after)),
            esc(r.cert.namespace.as_deref().unwrap_or("-")),
            esc_wbr(&name_label(r)),
            esc_wbr(&key_label(r)),
            esc_wbr(&r.cert.cert.display_name()),
            esc_wbr(&issuer_label(&r.cert.cert)),
        ));
    }
    h.push_str("</tbody></table>\n");
    h.push_str(&kubeadm_html(&rows));
    if !users.is_empty() {
        h.push_str("<h2>Used by</h2>\n<table class=\"users\"><thead><tr><th>OBJECT</th><th>CERTIFICATES IT DEPENDS ON</th></tr></thead><tbody>\n");
        for (j, (u, certs)) in users.iter().enumerate() {
            let links: Vec<String> = certs
                .iter()
                .map(|&i| {
                    let r = &rows[i];
                    format!(
                        "<a href=\"#cert-{i}\"><span class=\"pill\" style=\"background:{}\">{}</span> {} {}</a>",
                        colour(r.status),
                        esc(&days_left(r.residual_seconds)),
                        esc(&where_label(r)),
                        esc(&r.cert.cert.display_name())
                    )
                })
                .collect();
            h.push_str(&format!(
                "<tr id=\"use-{j}\"><td class=\"wrap\">{}</td><td>{}</td></tr>\n",
                esc(u),
                links.join("<br>")
            ));
        }
        h.push_str("</tbody></table>\n");
    }
    if !inv.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul class=\"notes\">");
        for n in &inv.notes {
            h.push_str(&format!("<li>{}</li>", esc(n)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</main><script>");
    h.push_str(SCRIPT);
    h.push_str("</script></body></html>\n");
    h
}

/// kubeadm's `certs check-expiration` view of the control-plane PKI, each name linked to its
/// row in the certificate table. Empty without a PKI directory.
fn kubeadm_html(rows: &[Row<'_>]) -> String {
    let mut pki: Vec<(usize, &Row<'_>, &super::PkiFacts)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.cert.pki.as_ref().map(|p| (i, r, p)))
        .collect();
    if pki.is_empty() {
        return String::new();
    }
    // CAs after leaves, each by name, like kubeadm's two tables.
    pki.sort_by_key(|(_, _, p)| (p.certificate_authority.is_none(), p.certificate.clone()));
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let check = |b: Option<bool>| match b {
        Some(true) => "yes".to_string(),
        Some(false) => "<b class=\"problem\">no</b>".to_string(),
        None => "-".to_string(),
    };
    let mut h = String::from("<h2>Control-plane PKI (kubeadm)</h2>\n<table class=\"kubeadm\"><thead><tr><th>CERTIFICATE</th><th>STATUS</th><th>EXPIRES</th><th>RESIDUAL TIME</th><th>CERTIFICATE AUTHORITY</th><th>EXTERNALLY MANAGED</th><th>SIGNED BY CA</th><th>KEY MATCHES</th></tr></thead><tbody>\n");
    for (i, r, p) in pki {
        h.push_str(&format!(
            "<tr class=\"pki\"><td><a href=\"#cert-{i}\">{}</a></td><td><span class=\"pill\" style=\"background:{}\">{}</span></td><td class=\"nw\">{}</td><td class=\"nw\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&p.certificate),
            colour(r.status),
            r.status.as_str(),
            esc(&kubeadm_time(r.cert.cert.not_after)),
            esc(&kubeadm_residual(r.residual_seconds)),
            esc(p.certificate_authority.as_deref().unwrap_or("-")),
            yes_no(p.externally_managed),
            check(p.signed_by_ca),
            check(p.key_matches),
        ));
    }
    h.push_str("</tbody></table>\n");
    h
}

/// The SVG timeline over `(lo, hi)`: one bar per certificate from notBefore to notAfter and a
/// dot at notAfter, rows grouped by [`Group`] and sorted by expiry inside, a dashed line at
/// `now` and a solid, labelled line at the renewal threshold. A certificate that ends before
/// `lo` or starts after `hi` gets an arrow at that edge with its date; each row links to the
/// certificate's row in the table. `full` picks year ticks over month ticks.
fn timeline(
    rows: &[Row<'_>],
    now: i64,
    days: i64,
    (lo, hi): (i64, i64),
    id: &str,
    full: bool,
) -> String {
    const W: i64 = 1340;
    const LABEL: i64 = 330;
    const RIGHT: i64 = 120;
    const ROW: i64 = 19;
    const HEAD: i64 = 26;
    const TOP: i64 = 42;
    let threshold = now + days * 86_400;
    let span = (hi - lo).max(1) as f64;
    let x0 = LABEL as f64;
    let x1 = (W - RIGHT) as f64;
    let x = |t: i64| x0 + (t.clamp(lo, hi) - lo) as f64 / span * (x1 - x0);
    let index = |r: &Row<'_>| rows.iter().position(|o| std::ptr::eq(o.cert, r.cert));
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
        + 30;
    let bottom = height - 24;
    let class = if full { "timeline hidden" } else { "timeline" };
    let mut s = format!(
        "<svg id=\"{id}\" class=\"{class}\" role=\"img\" aria-label=\"certificates by expiry date\" viewBox=\"0 0 {W} {height}\">\n<rect x=\"{x0}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#fafbfc\"/>\n",
        TOP - 8,
        x1 - x0,
        bottom - TOP + 8
    );
    // Ticks: the first of each month (the focused view) or of each year (the full range).
    let ticks: Vec<(i64, String)> = {
        let mut out = Vec::new();
        let start = time::OffsetDateTime::from_unix_timestamp(lo).ok();
        let end = time::OffsetDateTime::from_unix_timestamp(hi).ok();
        if let (Some(start), Some(end)) = (start, end) {
            if full {
                let step = ((end.year() - start.year()) / 14 + 1).max(1);
                let mut y = start.year() + 1;
                while y <= end.year() {
                    if let Ok(d) = time::Date::from_calendar_date(y, time::Month::January, 1) {
                        out.push((d.midnight().assume_utc().unix_timestamp(), y.to_string()));
                    }
                    y += step;
                }
            } else {
                let (mut y, mut m) = (start.year(), start.month());
                loop {
                    m = m.next();
                    if m == time::Month::January {
                        y += 1;
                    }
                    let Ok(d) = time::Date::from_calendar_date(y, m, 1) else {
                        break;
                    };
                    let t = d.midnight().assume_utc().unix_timestamp();
                    if t > hi {
                        break;
                    }
                    let label = if m == time::Month::January {
                        format!("Jan {y}")
                    } else {
                        format!("{m:?}").chars().take(3).collect()
                    };
                    out.push((t, label));
                }
            }
        }
        out
    };
    for (t, label) in &ticks {
        let tx = x(*t);
        s.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{bottom}\" stroke=\"#e6e8eb\"/><text x=\"{tx:.1}\" y=\"{}\" font-size=\"11\" fill=\"#5f6368\" text-anchor=\"middle\">{}</text>\n",
            TOP - 8,
            bottom + 15,
            esc(label)
        ));
    }
    let nx = x(now);
    let tx = x(threshold);
    // The renewal window: from now to the threshold, lightly shaded.
    s.push_str(&format!(
        "<rect x=\"{nx:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#e07b00\" fill-opacity=\"0.08\"/>\n",
        TOP - 8,
        (tx - nx).max(1.0),
        bottom - TOP + 8
    ));
    // Now and the threshold, under the bars: date labels carry a white halo over them.
    s.push_str(&format!(
        "<line x1=\"{nx:.1}\" y1=\"{}\" x2=\"{nx:.1}\" y2=\"{bottom}\" stroke=\"#1a237e\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/><text x=\"{nx:.1}\" y=\"{}\" font-size=\"11\" font-weight=\"600\" fill=\"#1a237e\" text-anchor=\"end\">now {} </text>\n",
        TOP - 22,
        TOP - 24,
        esc(&day(now))
    ));
    s.push_str(&format!(
        "<line class=\"threshold\" x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{bottom}\" stroke=\"#e07b00\" stroke-width=\"2.5\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"11\" font-weight=\"600\" fill=\"#b35f00\">renewal threshold: {days} days ({})</text>\n",
        TOP - 22,
        tx + 5.0,
        TOP - 24,
        esc(&day(threshold))
    ));
    let mut cy = TOP;
    for (g, members) in &groups {
        s.push_str(&format!(
            "<text class=\"group\" x=\"4\" y=\"{}\" font-size=\"12.5\" font-weight=\"700\" fill=\"#1d1d1f\">{} ({})</text>\n<line x1=\"0\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#d5d8dc\"/>\n",
            cy + 16,
            esc(g.title()),
            members.len(),
            cy + HEAD - 4,
            cy + HEAD - 4
        ));
        cy += HEAD;
        for r in members {
            let c = &r.cert.cert;
            let label = match &r.cert.namespace {
                Some(ns) => format!("{ns}/{} {}", name_label(r), short_key(r)),
                None => where_label(r),
            };
            let col = colour(r.status);
            let start = c.not_before.min(c.not_after);
            let mid = cy + 9;
            let mut mark = String::new();
            if c.not_after < lo {
                // Ended before the window: an arrow at the left edge with the date.
                mark.push_str(&format!(
                    "<path d=\"M{:.1} {mid} l8 -5 v10 z\" fill=\"{col}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10.5\" class=\"d\" fill=\"{col}\">{} {}</text>",
                    x0 + 2.0,
                    x0 + 14.0,
                    mid + 4,
                    if r.status == Status::Expired { "expired" } else { "ended" },
                    esc(&day(c.not_after))
                ));
            } else if start > hi {
                mark.push_str(&format!(
                    "<path d=\"M{:.1} {mid} l-8 -5 v10 z\" fill=\"{col}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10.5\" class=\"d\" fill=\"{col}\">from {}</text>",
                    x1 - 2.0,
                    x1 + 4.0,
                    mid + 4,
                    esc(&day(start))
                ));
            } else {
                let bx1 = x(start);
                let bx2 = x(c.not_after);
                mark.push_str(&format!(
                    "<rect x=\"{bx1:.1}\" y=\"{}\" width=\"{:.1}\" height=\"8\" rx=\"4\" fill=\"{col}\" fill-opacity=\"0.28\"/>",
                    mid - 4,
                    (bx2 - bx1).max(2.0)
                ));
                if c.not_after > hi {
                    // Runs past the window: an arrow at the right edge, the date beside it.
                    mark.push_str(&format!(
                        "<path d=\"M{:.1} {mid} l-8 -5 v10 z\" fill=\"{col}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10.5\" class=\"d\" fill=\"{col}\">{}</text>",
                        x1 + 1.0,
                        x1 + 5.0,
                        mid + 4,
                        esc(&day(c.not_after))
                    ));
                } else {
                    // The right margin has room for a date after the last dot.
                    mark.push_str(&format!(
                        "<circle cx=\"{bx2:.1}\" cy=\"{mid}\" r=\"5\" fill=\"{col}\" stroke=\"#fff\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10.5\" class=\"d\" fill=\"{col}\">{}</text>",
                        bx2 + 9.0,
                        mid + 4,
                        esc(&day(c.not_after))
                    ));
                }
            }
            s.push_str(&format!(
                "<a href=\"#cert-{}\"><g class=\"{}\" data-status=\"{}\"><title>{} — {} — notAfter {} ({})</title><text class=\"lbl\" x=\"12\" y=\"{}\" font-size=\"11\" fill=\"#333\">{}</text>{mark}</g></a>\n",
                index(r).unwrap_or_default(),
                if full { "bar-full" } else { "bar" },
                r.status.as_str(),
                esc(&label),
                esc(&c.display_name()),
                esc(&rfc3339(c.not_after)),
                esc(&residual(r.residual_seconds)),
                mid + 4,
                esc(&short(&label, 50)),
            ));
            cy += ROW;
        }
    }
    s.push_str("</svg>\n");
    s
}
