//! Live reload of `--tls-cert-file/--tls-key-file`. Kubelet updates a mounted Secret by
//! swapping a `..data` symlink, so file events on the paths themselves are unreliable: tlsgate
//! watches the directory for any change and, as a fallback, compares the content every
//! interval (reading two small files). Either way it decides on content. A pair read halfway
//! through a swap can be mismatched, so a failed validation is retried once before it counts.

use super::metrics::Metrics;
use super::tls::{load_pair, CertStore};
use crate::analysis::{human_duration, rfc3339, Analyzer};
use sha2::Digest;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct FilePair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl FilePair {
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let cert = std::fs::read(&self.cert)
            .map_err(|e| format!("cannot read --tls-cert-file {}: {e}", self.cert.display()))?;
        let key = std::fs::read(&self.key)
            .map_err(|e| format!("cannot read --tls-key-file {}: {e}", self.key.display()))?;
        Ok((cert, key))
    }
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(cert);
    h.update([0]);
    h.update(key);
    h.finalize().into()
}

/// Days before expiry at which tlsgate starts warning (daily) and erroring (daily).
pub const WARN_DAYS: i64 = 30;
pub const ERROR_DAYS: i64 = 7;

/// What to say about the serving certificate's remaining life, if anything.
pub fn expiry_level(not_after: i64, now: i64) -> Option<tracing::Level> {
    let left = not_after - now;
    if left <= ERROR_DAYS * 86_400 {
        Some(tracing::Level::ERROR)
    } else if left <= WARN_DAYS * 86_400 {
        Some(tracing::Level::WARN)
    } else {
        None
    }
}

/// Reading the pair is itself an event (IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE): waking on those
/// would have the reload loop wake itself forever. Only creations, writes, renames and removals
/// (kubelet's `..data` swap is a create plus a rename) count.
pub fn is_change(event: &notify::Event) -> bool {
    !event.kind.is_access() && !event.kind.is_other()
}

/// Watches the directories holding the pair (not the files: kubelet replaces the `..data`
/// symlink, so the file paths themselves never see a write). `None` when the platform's
/// watcher cannot be set up; polling then does the work alone.
fn watch_dirs(
    files: &FilePair,
    wake: Arc<tokio::sync::Notify>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| is_change(&e)) {
            wake.notify_one();
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot watch the certificate directory; polling only"))
    .ok()?;
    let mut dirs: Vec<&std::path::Path> = [&files.cert, &files.key]
        .iter()
        .filter_map(|p| p.parent())
        .collect();
    dirs.dedup();
    for dir in dirs {
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        if let Err(e) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the certificate directory; polling only");
        }
    }
    Some(watcher)
}

pub struct Reloader {
    pub files: FilePair,
    pub store: Arc<CertStore>,
    pub metrics: Arc<Metrics>,
    pub analyzer: Arc<Analyzer>,
    pub clock: fn() -> i64,
    pub interval: Duration,
}

impl Reloader {
    /// Runs until the task is dropped.
    pub async fn run(self, initial_cert: Vec<u8>, initial_key: Vec<u8>) {
        // Directory events make a swap visible at once; the interval check stays as the
        // fallback (events can be missed, and some volume types send none).
        let wake = Arc::new(tokio::sync::Notify::new());
        let _watcher = watch_dirs(&self.files, wake.clone());
        let mut seen = digest(&initial_cert, &initial_key);
        let mut last_expiry_log_day = i64::MIN;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = wake.notified() => {}
            }
            let now = (self.clock)();
            self.log_expiry(now, &mut last_expiry_log_day);
            let Ok((cert, key)) = self.files.read() else {
                continue;
            };
            let d = digest(&cert, &key);
            if d == seen {
                continue;
            }
            let (result, used) = match load_pair(&cert, &key, now, &self.analyzer) {
                Ok(ok) => (Ok(ok), d),
                Err(first_error) => {
                    // Possibly a half-swapped pair: read again once.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    match self.files.read() {
                        Ok((c, k)) => (load_pair(&c, &k, now, &self.analyzer), digest(&c, &k)),
                        Err(_) => (Err(first_error), d),
                    }
                }
            };
            seen = used;
            match result {
                Ok(loaded) => {
                    tracing::info!(
                        subject = %loaded.subject,
                        not_after = %rfc3339(loaded.not_after),
                        sha256 = %loaded.fingerprint,
                        "serving certificate reloaded"
                    );
                    self.metrics.serving_cert_not_after.set(loaded.not_after);
                    self.metrics.serving_cert_reloads.inc();
                    self.store.set(loaded);
                    last_expiry_log_day = i64::MIN;
                }
                Err(e) => {
                    tracing::error!(
                        cert = %self.files.cert.display(),
                        reason = %e,
                        "new serving certificate rejected; still serving the last good pair"
                    );
                    self.metrics.serving_cert_reload_errors.inc();
                }
            }
        }
    }

    fn log_expiry(&self, now: i64, last_day: &mut i64) {
        let not_after = self.store.not_after();
        let day = now / 86_400;
        if day == *last_day {
            return;
        }
        let left = human_duration(not_after - now);
        match expiry_level(not_after, now) {
            Some(tracing::Level::ERROR) => tracing::error!(
                not_after = %rfc3339(not_after),
                "serving certificate expires in {left}: the API server will refuse tlsgate after that; renew it now"
            ),
            Some(_) => {
                tracing::warn!(not_after = %rfc3339(not_after), "serving certificate expires in {left}")
            }
            None => return,
        }
        *last_day = day;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};

    fn event(kind: EventKind) -> notify::Event {
        notify::Event::new(kind)
    }

    #[test]
    fn reading_the_pair_is_not_a_change() {
        assert!(!is_change(&event(EventKind::Access(AccessKind::Open(
            AccessMode::Read
        )))));
        assert!(!is_change(&event(EventKind::Access(AccessKind::Close(
            AccessMode::Read
        )))));
    }

    #[test]
    fn kubelet_swap_events_are_changes() {
        assert!(is_change(&event(EventKind::Create(CreateKind::Any))));
        assert!(is_change(&event(EventKind::Modify(ModifyKind::Name(
            RenameMode::Any
        )))));
    }
}
