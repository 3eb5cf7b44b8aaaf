//! What a process costs, from Linux's `/proc` (0 elsewhere): shared by the benchmarks and by
//! `tests/cluster_watch.rs` (`#[path]`-included).
#![allow(dead_code)]

/// Resident memory of process `pid` now (`VmRSS`), in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// User + system CPU seconds process `pid` has used (Linux `/proc/PID/stat`; 0 elsewhere).
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// User + system CPU seconds of this process's threads named `name` (Linux; 0 elsewhere).
pub fn threads_cpu_seconds(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| {
            stat_cpu_seconds(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default())
        })
        .sum()
}

/// utime + stime of a `stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> f64 {
    // After the command name (in parentheses, may hold spaces): utime and stime are the 12th
    // and 13th fields, in clock ticks (100 a second on Linux).
    let fields: Vec<f64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}
