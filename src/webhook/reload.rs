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

/// A serving certificate or key file larger than a whole Secret (1 MiB) is not one.
pub const MAX_PAIR_FILE_BYTES: u64 = 1024 * 1024;

impl FilePair {
    /// Reads both files. Only regular files are read, opened non-blocking: a FIFO, socket or
    /// device in place of `tls.crt` is an error at once, never a read that waits forever.
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let cert = read_regular(&self.cert, "--tls-cert-file")?;
        let key = read_regular(&self.key, "--tls-key-file")?;
        Ok((cert, key))
    }
}

fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn read_regular(path: &std::path::Path, flag: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let not_regular = |t: std::fs::FileType| {
        format!(
            "{flag} {shown} is {}, not a regular file; point it at the PEM file",
            file_kind(t)
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {flag} {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Swapped for a FIFO between the check and the open: do not wait for a writer.
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open
        .open(path)
        .map_err(|e| format!("cannot read {flag} {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {flag} {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    if meta.len() > MAX_PAIR_FILE_BYTES {
        return Err(format!(
            "{flag} {shown} is {} bytes, over the {MAX_PAIR_FILE_BYTES}-byte limit for a PEM file",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PAIR_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {flag} {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_PAIR_FILE_BYTES {
        return Err(format!(
            "{flag} {shown} grew past the {MAX_PAIR_FILE_BYTES}-byte limit while being read"
        ));
    }
    Ok(bytes)
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

/// How often the expiry is logged: daily while it approaches, hourly once it has passed.
const APPROACHING_EVERY: i64 = 86_400;
const EXPIRED_EVERY: i64 = 3_600;

/// When to log the serving certificate's expiry, and what.
#[derive(Debug, Default)]
pub struct ExpiryLog {
    last: Option<i64>,
}

impl ExpiryLog {
    /// Forget what was logged (a new certificate was loaded).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// The line due at `now` for a certificate valid until `not_after`, if any.
    pub fn due(&mut self, not_after: i64, now: i64) -> Option<(tracing::Level, String)> {
        let level = expiry_level(not_after, now)?;
        let expired = crate::analysis::validity::is_expired_at(not_after, now);
        let every = if expired {
            EXPIRED_EVERY
        } else {
            APPROACHING_EVERY
        };
        if self.last.is_some_and(|t| now - t < every) {
            return None;
        }
        self.last = Some(now);
        let at = rfc3339(not_after);
        let message = if expired {
            format!(
                "serving certificate expired {} ago (notAfter {at}): the API server refuses tlsgate's TLS handshakes, so every webhook call fails; renew it now",
                human_duration(now - not_after)
            )
        } else if level == tracing::Level::ERROR {
            format!(
                "serving certificate expires in {} (notAfter {at}): the API server will refuse tlsgate after that; renew it now",
                human_duration(not_after - now)
            )
        } else {
            format!(
                "serving certificate expires in {} (notAfter {at})",
                human_duration(not_after - now)
            )
        };
        Some((level, message))
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
    /// The host the API server reaches tlsgate by (`<service>.<namespace>.svc`): a new pair
    /// that does not name it is served, with a warning.
    pub host: String,
}

/// A read of the pair still running on the blocking pool.
type PendingRead = Option<tokio::task::JoinHandle<Result<(Vec<u8>, Vec<u8>), String>>>;

/// A read of the pair that does not finish within this counts as failed (a hung volume); the
/// next one starts only after it returns.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// While the pair stays unreadable, say so this often.
const UNREADABLE_EVERY: Duration = Duration::from_secs(3_600);

impl Reloader {
    /// Runs until the task is dropped.
    pub async fn run(self, initial_cert: Vec<u8>, initial_key: Vec<u8>) {
        // Directory events make a swap visible at once; the interval check stays as the
        // fallback (events can be missed, and some volume types send none).
        let wake = Arc::new(tokio::sync::Notify::new());
        let _watcher = watch_dirs(&self.files, wake.clone());
        let mut seen = digest(&initial_cert, &initial_key);
        let mut expiry = ExpiryLog::default();
        let mut unreadable = super::ratelimit::Every::new(UNREADABLE_EVERY);
        let mut last_reason: Option<String> = None;
        let mut pending: PendingRead = None;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = wake.notified() => {}
            }
            let now = (self.clock)();
            if let Some((level, message)) = expiry.due(self.store.not_after(), now) {
                if level == tracing::Level::ERROR {
                    tracing::error!(cert = %self.files.cert.display(), "{message}");
                } else {
                    tracing::warn!(cert = %self.files.cert.display(), "{message}");
                }
            }
            let read = match self.read_off_reactor(&mut pending).await {
                Ok(pair) => pair,
                Err(e) => {
                    self.metrics.serving_cert_read_errors.inc();
                    // A new reason is news; the same one is repeated hourly.
                    if last_reason.as_deref() != Some(e.as_str()) {
                        unreadable = super::ratelimit::Every::new(UNREADABLE_EVERY);
                        last_reason = Some(e.clone());
                    }
                    if let Some(suppressed) = unreadable.due(std::time::Instant::now()) {
                        tracing::error!(reason = %e, suppressed, "cannot read the serving pair; still serving the last good one");
                    }
                    continue;
                }
            };
            if last_reason.take().is_some() {
                unreadable = super::ratelimit::Every::new(UNREADABLE_EVERY);
                tracing::info!(cert = %self.files.cert.display(), "the serving pair is readable again");
            }
            let (cert, key) = read;
            let d = digest(&cert, &key);
            if d == seen {
                continue;
            }
            let (result, used) = match load_pair(&cert, &key, now, &self.analyzer) {
                Ok(ok) => (Ok(ok), d),
                Err(first_error) => {
                    // Possibly a half-swapped pair: read again once.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    match self.read_off_reactor(&mut pending).await {
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
                    for w in super::tls::serving_warnings(&loaded, &self.host) {
                        tracing::warn!(cert = %self.files.cert.display(), "{w}");
                    }
                    self.metrics.serving_cert_not_after.set(loaded.not_after);
                    self.metrics.serving_cert_reloads.inc();
                    self.store.set(loaded);
                    expiry.reset();
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

    /// Reads the pair on the blocking pool, within [`READ_TIMEOUT`]. A read still running from
    /// before (a hung volume) is waited for instead of starting another.
    async fn read_off_reactor(
        &self,
        pending: &mut PendingRead,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut task = match pending.take() {
            Some(t) => t,
            None => {
                let files = self.files.clone();
                tokio::task::spawn_blocking(move || files.read())
            }
        };
        match tokio::time::timeout(READ_TIMEOUT, &mut task).await {
            Ok(Ok(read)) => read,
            Ok(Err(_)) => Err("reading the serving pair failed".into()),
            Err(_) => {
                *pending = Some(task);
                Err(format!(
                    "reading --tls-cert-file {} or --tls-key-file did not finish within {} s",
                    self.files.cert.display(),
                    READ_TIMEOUT.as_secs()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};

    fn event(kind: EventKind) -> notify::Event {
        notify::Event::new(kind)
    }

    const NA: i64 = 1_800_000_000;

    #[test]
    fn an_expired_serving_certificate_is_an_error_every_hour() {
        let mut log = ExpiryLog::default();
        let (level, message) = log.due(NA, NA + 60).unwrap();
        assert_eq!(level, tracing::Level::ERROR);
        assert!(
            message.starts_with("serving certificate expired"),
            "{message}"
        );
        assert!(log.due(NA, NA + 60 + 1_800).is_none());
        assert!(log.due(NA, NA + 60 + 3_600).is_some());
    }

    #[test]
    fn an_expiring_serving_certificate_is_logged_daily() {
        let mut log = ExpiryLog::default();
        let now = NA - 3 * 86_400;
        assert_eq!(log.due(NA, now).unwrap().0, tracing::Level::ERROR);
        assert!(log.due(NA, now + 3_600).is_none());
        assert!(log.due(NA, now + 86_400).is_some());
    }

    #[test]
    fn a_certificate_far_from_expiry_is_not_logged() {
        assert!(ExpiryLog::default().due(NA, NA - 90 * 86_400).is_none());
    }

    fn pair_in(dir: &std::path::Path) -> FilePair {
        FilePair {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_the_certificate_is_an_error_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path());
        let made = std::process::Command::new("mkfifo")
            .arg(&files.cert)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            println!("skipped: mkfifo(1) is not available");
            return;
        }
        std::fs::write(&files.key, "key").unwrap();
        let started = std::time::Instant::now();
        let err = files.read().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(err.contains("--tls-cert-file"), "{err}");
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path());
        std::fs::write(&files.cert, "cert").unwrap();
        let err = files.read().unwrap_err();
        assert!(err.starts_with("cannot read --tls-key-file"), "{err}");
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
