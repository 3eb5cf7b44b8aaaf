//! `tlsgate audit` text output: the default table fits 120 columns, `-o wide` has every column,
//! STATUS is coloured on a terminal only. Inputs: the audit fixtures (tests/fixtures/audit/),
//! 28 certificates from a cluster dump, caBundles, a kubeadm PKI and two kubeconfigs, at a
//! fixed now. A terminal is a pseudo-terminal made by util-linux `script`.

mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW_ARG: &str = "2027-01-01T00:00:00Z";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

/// Every source the audit reads, as an operator would pass them.
const INVENTORY: [&str; 12] = [
    "-f",
    "cluster-dump.json",
    "-f",
    "cabundles.json",
    "--pki-dir",
    "pki",
    "--kubeconfig",
    "kubeconfigs/admin.conf",
    "--kubeconfig",
    "kubeconfigs/dev.conf",
    "--now",
    NOW_ARG,
];

#[track_caller]
fn audit(extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(dir())
        .arg("audit")
        .args(INVENTORY)
        .args(extra)
        .env_remove("NO_COLOR")
        .output()
        .expect("run tlsgate");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8")
}

/// The audit run on a pseudo-terminal (`script -qec`), with `env` set; `None` without
/// util-linux `script`.
fn on_terminal(extra: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = tools::tool("script", "apt-get install util-linux")?;
    let cmd = format!(
        "{} audit {} {extra}",
        env!("CARGO_BIN_EXE_tlsgate"),
        INVENTORY.join(" ")
    );
    let mut c = Command::new(script);
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir())
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run script");
    Some(String::from_utf8_lossy(&o.stdout).replace('\r', ""))
}

fn has_ansi(s: &str) -> bool {
    s.contains('\x1b')
}

#[test]
fn default_table_fits_120_columns() {
    let out = stdout(&audit(&[]));
    for line in out.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

#[test]
fn default_table_cuts_long_names_with_an_ellipsis() {
    let out = stdout(&audit(&[]));
    let row = out
        .lines()
        .find(|l| l.contains("mutatingwebhook/istio-sidecar-inj"))
        .expect("the sidecar injector's caBundle row");
    assert!(row.contains('…'), "{row}");
}

#[test]
fn default_table_has_the_columns_an_operator_acts_on() {
    let out = stdout(&audit(&[]));
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(
        header,
        ["STATUS", "LEFT", "EXPIRES", "WHERE", "USED BY", "PROBLEMS"]
    );
    let first = out.lines().nth(1).unwrap();
    assert!(
        first.starts_with("expired        -2597d  2019-11-22  default/istio-ca-root-cert"),
        "oldest first: {first}"
    );
}

#[test]
fn wide_table_has_every_column() {
    let out = stdout(&audit(&["-o", "wide"]));
    let header = out.lines().next().unwrap();
    for col in [
        "STATUS",
        "NAMESPACE",
        "NAME",
        "KEY",
        "SUBJECT",
        "ISSUER",
        "NOT BEFORE",
        "EXPIRES",
        "RESIDUAL TIME",
        "USED BY",
        "MANAGED BY",
        "PROBLEMS",
    ] {
        assert!(header.contains(col), "no {col}: {header}");
    }
}

#[test]
fn wide_table_cuts_nothing() {
    let out = stdout(&audit(&["-o", "wide"]));
    let table: String = out.split("\n\n").next().unwrap().to_string();
    assert!(!table.contains('…'), "{table}");
    assert!(
        table.contains(
            "context alice@dev (https://192.168.0.10:6443); context bob@dev (https://192.168.0.10:6443)"
        ),
        "every user of the dev cluster CA: {table}"
    );
}

#[test]
fn no_colour_when_stdout_is_not_a_terminal() {
    assert!(!has_ansi(&stdout(&audit(&[]))));
}

#[test]
fn colour_always_paints_status_even_into_a_pipe() {
    let out = stdout(&audit(&["--color", "always"]));
    let first = out.lines().nth(1).unwrap();
    assert!(first.starts_with("\x1b[31;1mexpired\x1b[0m"), "{first:?}");
}

#[test]
fn colour_does_not_shift_the_columns() {
    let painted = stdout(&audit(&["--color", "always"]));
    let plain = stdout(&audit(&["--color", "never"]));
    let stripped = painted
        .replace("\x1b[0m", "")
        .replace("\x1b[31;1m", "")
        .replace("\x1b[33;1m", "")
        .replace("\x1b[35;1m", "")
        .replace("\x1b[32m", "");
    assert_eq!(stripped, plain);
}

#[test]
fn colour_on_a_terminal_by_default() {
    let Some(out) = on_terminal("", &[]) else {
        return;
    };
    assert!(out.contains("\x1b[33;1mexpiring-soon\x1b[0m"), "{out}");
}

#[test]
fn no_colour_on_a_terminal_with_no_color_set() {
    let Some(out) = on_terminal("", &[("NO_COLOR", "1")]) else {
        return;
    };
    assert!(out.contains("expiring-soon"), "{out}");
    assert!(!has_ansi(&out), "{out}");
}

#[test]
fn no_colour_on_a_terminal_with_color_never() {
    let Some(out) = on_terminal("--color never", &[]) else {
        return;
    };
    assert!(out.contains("expiring-soon"), "{out}");
    assert!(!has_ansi(&out), "{out}");
}
