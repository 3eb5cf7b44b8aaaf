//! tlsgate: TLS credentials checked at `kubectl apply` time, not discovered at 2 a.m.
//!
//! One pure core, three front doors:
//!
//! ```text
//!  manifests ──load──┐                         ┌── lint   (text / JSON, exit code)
//!  AdmissionReview ──┼─> model::Object ─> check::check(obj, &dyn Lookup, &Policy, now)
//!  cluster dump ─────┘        │                 │           ──> Vec<Finding> ──> report
//!                        refs::credential_refs  └── serve  (allowed / status.message / warnings)
//!                             │                    audit  (expiry table)
//!                   lookup::Index (summaries + reverse index), fed by manifests or kube reflectors
//!                             │
//!                   analysis (PEM, X.509, keys, hosts): bytes in, facts out, no clock
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod audit;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod exempt;
pub mod finding;
pub mod kinds;
pub mod lint;
pub mod load;
pub mod lookup;
pub mod model;
pub mod par;
pub mod policy;
pub mod redact;
pub mod refs;
pub mod report;
pub mod selfcert;
pub mod webhook;
pub mod x509_metrics;

/// Parses `--now` values: RFC 3339 (`2027-01-01T00:00:00Z`).
///
/// ```
/// assert_eq!(tlsgate::parse_time("2027-01-01T00:00:00Z"), Ok(1_798_761_600));
/// assert!(tlsgate::parse_time("next tuesday").unwrap_err().contains("next tuesday"));
/// ```
pub fn parse_time(s: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time like 2027-01-01T00:00:00Z ({e})"))
}

/// The wall clock, read only at the edges (CLI and server), never inside `analysis`/`check`.
pub fn wall_clock() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
