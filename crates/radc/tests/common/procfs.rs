//! What `/proc` tells of a process: its resident memory, CPU time and
//! context switches (each wake-up of a thread is one), for the benchmarks.

/// The first number after `key` in `/proc/PID/FILE` (`status`,
/// `task/TID/status`), 0 if absent.
pub fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of all threads, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `read(tid)` for each of the process's threads, by thread id; threads
/// it tells nothing of are left out.
fn per_thread(
    pid: u32,
    read: impl Fn(&str) -> Option<u64>,
) -> std::collections::HashMap<String, u64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|task| {
            let tid = task.file_name().to_string_lossy().into_owned();
            let value = read(&tid)?;
            Some((tid, value))
        })
        .collect()
}

/// Time each of the process's threads has run, in nanoseconds, by thread
/// id (`/proc/PID/task/TID/schedstat`: the scheduler's own clock, not
/// ticks).
pub fn cpu_ns(pid: u32) -> std::collections::HashMap<String, u64> {
    per_thread(pid, |tid| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    })
}

/// Context switches of each of the process's threads, by thread id.
pub fn switches(pid: u32) -> std::collections::HashMap<String, u64> {
    per_thread(pid, |tid| {
        let file = format!("task/{tid}/status");
        Some(
            proc_field(pid, &file, "voluntary_ctxt_switches:")
                + proc_field(pid, &file, "nonvoluntary_ctxt_switches:"),
        )
    })
}

/// Switches (or nanoseconds, from [`cpu_ns`]) between two readings;
/// threads that came or went count with what they did while they were
/// seen.
pub fn switches_between(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}
