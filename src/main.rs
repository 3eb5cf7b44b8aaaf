//! The `tlsgate` binary. Flag parsing, logging and dispatch live in the library
//! (`tlsgate::cli::main_entry`), shared with the `kubectl-tlsgate` plugin binary.

/// jemalloc on Linux: start-up parses and analyses on every core, and glibc's malloc made the
/// threads wait on its arena locks (100,000 Secrets: 78,000 context switches, CPU to ready
/// 3.3 s where jemalloc takes 2.6 s), then kept the freed parse buffers between the summaries
/// that stay. The library itself is allocator-agnostic and keeps no `unsafe`.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    tlsgate::par::set_release_freed(purge);
    tlsgate::cli::main_entry::main_entry()
}

/// After start-up's bulk load: hands every arena's freed pages back to the OS now, not after
/// jemalloc's decay time.
#[cfg(target_os = "linux")]
fn purge() {
    // MALLCTL_ARENAS_ALL: every arena.
    const ALL_ARENAS_PURGE: &[u8] = b"arena.4096.purge\0";
    // SAFETY: the name is NUL-terminated; `arena.<i>.purge` reads and writes nothing, so no
    // old/new pointers are passed.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            ALL_ARENAS_PURGE.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
