//! The `tlsgate` binary. Flag parsing, logging and dispatch live in the library
//! (`tlsgate::cli::main_entry`), shared with the `kubectl-tlsgate` plugin binary.

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tlsgate::par::set_release_freed(malloc_trim);
    tlsgate::cli::main_entry::main_entry()
}

/// glibc keeps freed memory in its arenas; after start-up's bulk load most of it is garbage.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_trim() {
    // SAFETY: malloc_trim takes no pointers and locks each arena itself; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}
