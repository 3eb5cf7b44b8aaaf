//! The process entry shared by the `tlsgate` and `kubectl-tlsgate` binaries: parse flags, log to
//! stderr, dispatch, print the whole error chain. Both binaries behave identically; the plugin
//! only names itself `kubectl tlsgate` in usage and help, because that is what the user typed.
//!
//! Exit codes: what the subcommand returns (`lint`: 0 clean, 1 something would be denied),
//! 2 for a usage or I/O error (clap also exits 2 on a bad flag).

//!
//! Nothing from a private key reaches stderr: kube-client events that can carry an API response
//! body are withheld ([`WithholdBodies`]), every log line passes through [`redact::scrub`], and
//! the error chain through [`redact::scrub`] (parse errors were already rewritten by
//! [`redact::serde_error`] where they were made).

use super::{run, Cli, LogFormat};
use crate::redact;
use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

pub fn main_entry() -> ExitCode {
    let cli = parse();
    // A one-shot command reports a failed request in its error; kube-client's own ERROR line
    // for it would say the same thing a second time. The server keeps it: it has no caller.
    let default = match cli.command {
        super::Command::Serve(_) => "info",
        _ => "info,kube_client::client::builder=off",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr);
    match cli.log_format {
        LogFormat::Json => builder.json().finish().with(WithholdBodies).init(),
        LogFormat::Text => builder.finish().with(WithholdBodies).init(),
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Parse errors were rewritten where they were made (serde_error); here only what
            // looks like key material is withheld, so commands and names in `backticks` stay.
            eprintln!("tlsgate: {}", redact::scrub(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// kube-client events known to carry no response body, by how their message starts. Every
/// other kube-client event is dropped at every level: `Client::request` logs the whole body of
/// a response it cannot decode at WARN (`"{text}, {e:?}"`, kube-client 5 `client/mod.rs`), a
/// SecretList with every `tls.key`; `"Status from {text}"` (trace) and `"Unsuccessful …"`
/// (debug) carry error bodies, `"headers: …"` (trace) the response headers.
const KUBE_CLIENT_SAFE: &[&str] = &[
    "requesting",
    "stream closed",
    "failed with status",
    "failed with error",
    "timeout in poll",
    "eof in poll",
    "impersonating",
    "overriding cluster URL",
    "failed to parse override cluster URL",
    "Listing group versions",
    "failed to reload CA bundle",
    "Server cert bypassed",
    "no local config found",
];

/// Drops kube-client events that can carry an API response body (see [`KUBE_CLIENT_SAFE`]).
/// hyper, h2 and rustls log no payloads (h2's `Data` Debug omits the bytes; rustls logs
/// handshake messages and certificates, never keys), so they pass, scrubbed like every line.
pub struct WithholdBodies;

impl<S: Subscriber> Layer<S> for WithholdBodies {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if !event.metadata().target().starts_with("kube_client") {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        KUBE_CLIENT_SAFE.iter().any(|p| message.0.starts_with(p))
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// stderr, with each formatted log line passed through [`redact::scrub`].
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// kubectl runs the plugin `kubectl-tlsgate` for `kubectl tlsgate ...`.
fn parse() -> Cli {
    let mut cmd = Cli::command();
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "kubectl-tlsgate" {
        cmd = cmd.bin_name("kubectl tlsgate");
    }
    let matches = cmd.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Events that reach the formatter under [`WithholdBodies`], at trace level.
    fn logged(emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(sink.clone()))
            .finish()
            .with(WithholdBodies);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn kube_client_logging_a_list_body_is_withheld_at_every_level() {
        let body = r#"{"kind":"SecretList","items":[{"data":{"tls.key":"LS0tLS1CRUdJTi"}}]}"#;
        let text = logged(|| {
            // kube-client 5 `Client::request`: tracing::warn!("{}, {:?}", text, e)
            tracing::warn!(target: "kube_client::client", "{}, {:?}", body, "Error(..)");
            tracing::trace!(target: "kube_client::client", "Status from {}", body);
            tracing::debug!(target: "kube_client::client", "Unsuccessful data error parse: {body}");
        });
        assert_eq!(text, "");
    }

    #[test]
    fn kube_client_events_without_a_body_pass() {
        let text = logged(|| tracing::debug!(target: "kube_client::client::builder", "requesting"));
        assert!(text.contains("requesting"), "{text}");
    }
}
