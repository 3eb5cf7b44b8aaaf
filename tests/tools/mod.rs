//! External programs some tests drive (kubectl, curl, chromium, promtool). A fresh machine
//! without one still passes `cargo test`: the test that needs it prints one line naming what to
//! install and returns. CI sets `TLSGATE_REQUIRE_TOOLS=1` (and `TLSGATE_REQUIRE_BROWSER=1` for
//! chromium) in .ci/run, so there a missing tool fails instead of skipping: a green CI run
//! always means every test ran.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The variable that makes a missing command-line tool a failure.
pub const REQUIRE_TOOLS: &str = "TLSGATE_REQUIRE_TOOLS";
/// The variable that makes a missing browser a failure.
pub const REQUIRE_BROWSER: &str = "TLSGATE_REQUIRE_BROWSER";

/// The first of `names` on `PATH`.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// `name` on PATH; else, under `TLSGATE_REQUIRE_TOOLS=1`, a failure; else `None` after one
/// line on stderr (`install` says how to get it).
#[track_caller]
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    find(&[name], REQUIRE_TOOLS, install)
}

/// Headless Chromium under one of its usual names, required under `TLSGATE_REQUIRE_BROWSER=1`.
#[track_caller]
pub fn browser() -> Option<PathBuf> {
    find(
        &["chromium", "chromium-browser", "google-chrome"],
        REQUIRE_BROWSER,
        "apt-get install chromium",
    )
}

#[track_caller]
fn find(names: &[&str], required_by: &str, install: &str) -> Option<PathBuf> {
    if let Some(p) = on_path(names) {
        return Some(p);
    }
    let name = names[0];
    assert!(
        std::env::var_os(required_by).is_none_or(|v| v != "1"),
        "{name} is not on PATH and {required_by}=1 requires it ({install})"
    );
    // Once per test binary, and past libtest's capture (which only takes print!/eprint!), so
    // the line is seen in a passing run.
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if SAID.lock().is_ok_and(|mut s| s.insert(name.to_string())) {
        let line = format!(
            "skipping tests that need {name}: not on PATH ({install}; {required_by}=1 makes this a failure)\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    None
}
