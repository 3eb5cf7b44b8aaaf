//! The allocator of both binaries (`tlsgate` and the `kubectl-tlsgate` plugin), included by
//! each (`mod allocator`): the library stays `forbid(unsafe_code)`.

/// mimalloc (v3): per-thread free lists with cross-thread frees handed back to the owning page
/// without a lock. Under webhook load glibc's malloc took about a quarter of the server's CPU:
/// request buffers are allocated on one tokio worker and freed on another (README, Performance).
/// Start-up gains as much: it parses and analyses on every core, and glibc made those threads
/// wait on its arena locks (100,000 Secrets: 78,000 context switches, 3.3 s of CPU to ready).
/// Built without transparent huge pages (`no_thp`): the 2 MiB pages kept the RSS of a large
/// view up to twice the size of what it holds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (libmimalloc-sys 0.1.49 names only
/// the v2 numbering, where 15 is something else).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options and hands the library its release hook; call first in `main`.
pub fn install() {
    // Freed pages go back to the OS at once, not after mimalloc's default 1 s (10 s for arena memory): after 50
    // distinct 1 MiB Secret reviews RSS is 98 MiB instead of 126, under the Deployment's 128 MiB.
    // mimalloc's own `MIMALLOC_PURGE_DELAY` (milliseconds), when set, is left to rule.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, read by mimalloc each time it purges.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
    tlsgate::par::set_release_freed(release_freed);
}

/// After start-up's bulk load most of what was allocated is garbage: free its pages now,
/// instead of after mimalloc's purge delay.
fn release_freed() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
