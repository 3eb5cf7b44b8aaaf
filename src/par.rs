//! Ordered parallel map for the start-up and `lint` paths: decode and analyse a batch of
//! documents on every core the process may use, then hand the results back in input order so
//! the index and the report come out exactly as a sequential pass makes them.
//!
//! `std::thread::scope` over contiguous chunks, no pool: batches are a few hundred documents of
//! ~50 µs of work each, against ~20 µs to start a thread, and nothing else in these paths wants
//! a pool (the webhook's reviews run on tokio's blocking pool).

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

/// Documents (or listed Secrets) parsed and prepared at once, in parallel, before they are
/// handed on in order: a batch is all that is held at once.
pub const BATCH: usize = 512;

/// Threads used: the CPUs available (cgroup quota included), at least 1.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `items.map(f)` on up to [`threads`] threads, results in input order. Runs inline when there
/// is one thread or one item.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = threads().min(items.len());
    if n <= 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(n);
    let mut items = items.into_iter();
    let chunks: Vec<Vec<T>> = (0..n)
        .map(|_| items.by_ref().take(chunk).collect())
        .collect();
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| s.spawn(move || c.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_input_order() {
        let out = super::map((0..1000).collect(), |i: u32| i * 2);
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    }

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

    #[test]
    fn an_empty_batch_maps_to_nothing() {
        assert!(super::map(Vec::<u8>::new(), |i| i).is_empty());
    }
}
