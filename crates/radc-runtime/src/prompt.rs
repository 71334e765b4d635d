//! The sign-in prompt: `radc-gui prompt`, a small window that asks the
//! person for a workspace's password.
//!
//! Its contract: `radc-gui prompt --workspace NAME --user USER [--reason
//! TEXT]`, on the caller's display. On "Sign In" it writes two lines to its
//! standard output — a JSON object `{"user": …, "remember": …}` and the
//! password — and exits 0; on "Cancel" it writes nothing and exits 1. The
//! password travels on that pipe only: never a command line, a file or a
//! log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

/// The program that shows the prompt.
pub const PROGRAM: &str = "radc-gui";

/// How long the person has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(600);

/// Largest answer read from the prompt.
const MAX_ANSWER: u64 = 16 * 1024;

/// What the person said.
pub(crate) enum Answer {
    Password {
        user: String,
        password: Zeroizing<String>,
        remember: bool,
    },
    Cancelled,
    /// No prompt could be shown (no display, no `radc-gui`), or it failed.
    Unavailable(String),
}

#[derive(serde::Deserialize)]
struct Head {
    user: String,
    remember: bool,
}

/// `radc-gui` beside the running radc, else on `PATH`.
fn program() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(PROGRAM)))
        .filter(|p| crate::fsutil::is_executable_file(p));
    beside.or_else(|| crate::launcher::find_on_path(&[PROGRAM]))
}

/// Asks for the password of `user` at workspace `name` on the display of
/// `caller` (the launch's environment).
pub(crate) async fn ask(
    name: &str,
    user: &str,
    reason: Option<&str>,
    caller: &HashMap<String, String>,
) -> Answer {
    let Some(program) = program() else {
        return Answer::Unavailable(format!("{PROGRAM} is not installed"));
    };
    let environment = crate::launcher::launch_environment(|key| std::env::var_os(key), caller);
    if !environment
        .iter()
        .any(|(key, _)| *key == "DISPLAY" || *key == "WAYLAND_DISPLAY")
    {
        return Answer::Unavailable("no display to show it on".into());
    }
    let mut command = tokio::process::Command::new(&program);
    command
        .env_clear()
        .envs(environment)
        .args(["prompt", "--workspace", name, "--user", user])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(reason) = reason {
        command.args(["--reason", reason]);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Answer::Unavailable(format!("cannot start {}: {e}", program.display())),
    };
    let mut stdout = child.stdout.take().expect("piped");
    let answered = async {
        let mut bytes = Zeroizing::new(Vec::new());
        let read = (&mut stdout).take(MAX_ANSWER).read_to_end(&mut bytes).await;
        (read, bytes, child.wait().await)
    };
    let (read, bytes, status) = match tokio::time::timeout(ANSWER_WITHIN, answered).await {
        Ok(done) => done,
        Err(_) => {
            tracing::info!("the sign-in prompt was not answered in time");
            return Answer::Cancelled;
        }
    };
    match status {
        Ok(status) if status.success() => {}
        Ok(status) if status.code() == Some(1) => return Answer::Cancelled,
        Ok(status) => return Answer::Unavailable(format!("{PROGRAM} prompt failed ({status})")),
        Err(e) => return Answer::Unavailable(format!("{PROGRAM} prompt failed: {e}")),
    }
    if read.is_err() {
        return Answer::Unavailable(format!("{PROGRAM} prompt answered nothing readable"));
    }
    parse(&bytes).unwrap_or_else(|why| Answer::Unavailable(format!("{PROGRAM} prompt: {why}")))
}

/// The two lines of an answer.
fn parse(bytes: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the answer is not UTF-8".to_owned())?;
    let (head, rest) = text
        .split_once('\n')
        .ok_or_else(|| "the answer has no password line".to_owned())?;
    let head: Head =
        serde_json::from_str(head).map_err(|e| format!("the answer is not valid: {e}"))?;
    let password = rest.strip_suffix('\n').unwrap_or(rest);
    if password.contains(['\n', '\r']) {
        return Err("the password holds a line break".into());
    }
    Ok(Answer::Password {
        user: head.user,
        password: Zeroizing::new(password.to_owned()),
        remember: head.remember,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_two_lines() {
        let Ok(Answer::Password {
            user,
            password,
            remember,
        }) = parse(b"{\"user\": \"CORP\\\\alice\", \"remember\": true}\npa ss word\n")
        else {
            panic!("not a password");
        };
        assert_eq!(
            (user.as_str(), password.as_str(), remember),
            ("CORP\\alice", "pa ss word", true)
        );
        assert!(parse(b"{\"user\": \"a\", \"remember\": false}").is_err());
        assert!(parse(b"not json\npw\n").is_err());
        assert!(parse(b"{\"user\": \"a\", \"remember\": false}\npw\nmore\n").is_err());
        assert!(parse(&[0xff, b'\n']).is_err());
    }
}
