//! What a recording FreeRDP stand-in wrote down.

use std::path::Path;

/// `(argv, stdin)` of every connection a recording FreeRDP stand-in or
/// wrapper wrote under `dir/records` as `argv.PID` and `stdin.PID` (not the
/// `/version` probe, nor a file still being written as `argv.PID.tmp`).
pub fn recorded(dir: &Path) -> Vec<(Vec<String>, String)> {
    let records = dir.join("records");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&records).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(pid) = name.strip_prefix("argv.").filter(|p| !p.ends_with(".tmp")) else {
            continue;
        };
        let argv: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        // The probe; or a wrapper that has not written its arguments yet.
        if argv == ["/version"] || argv.is_empty() {
            continue;
        }
        let stdin =
            std::fs::read_to_string(records.join(format!("stdin.{pid}"))).unwrap_or_default();
        out.push((argv, stdin));
    }
    out
}
