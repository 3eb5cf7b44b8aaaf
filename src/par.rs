//! What the bulk paths (start-up, `lint`) share about running on every core: how many threads,
//! how many listed Secrets a batch holds, and handing the allocator's garbage back afterwards.
//! The work itself is spread by `load::parse_text` (workers for a file) and the cluster watch
//! (tokio's blocking pool), each handing results on in input order.

/// Installed once by the binary (src/main.rs: mimalloc's `mi_collect`), so the library keeps no
/// `unsafe`; unset (tests, other allocators) [`release_freed`] does nothing.
static RELEASE_FREED: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what [`release_freed`] runs; the first call wins.
pub fn set_release_freed(f: fn()) {
    let _ = RELEASE_FREED.set(f);
}

/// After a bulk load: hands back to the OS the parse garbage the allocator keeps. Start-up
/// parses YAML and X.509 on every core, and glibc keeps the freed pages in its per-thread
/// arenas, between the summaries that stay (100,000 Secrets: RSS after ready 321 → 271 MiB).
pub fn release_freed() {
    if let Some(f) = RELEASE_FREED.get() {
        f()
    }
}

/// Listed Secrets analysed at once, in parallel, before they are applied in list order.
pub const BATCH: usize = 512;

/// Threads used: the CPUs available (cgroup quota included), at least 1.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    #[test]
    fn release_freed_runs_what_the_binary_installed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        super::set_release_freed(|| {
            CALLS.fetch_add(1, Ordering::Relaxed);
        });
        super::release_freed();
        // Other tests reaching a synced view may run it too.
        assert!(CALLS.load(Ordering::Relaxed) >= 1);
    }
}
