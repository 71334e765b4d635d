//! `radc launch` and `radc trust`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use radc_client::proxy::{RuntimeProxy, WorkspaceRegistrationProxy};
use radc_core::trust::{Added, TrustSettings, UntrustedPolicy};
use radc_rdp::RdpFile;
use radc_rdp::publisher::Publisher;
use radc_rdp::signature::{self, Verdict};
use serde::Serialize;

use crate::autostart;
use crate::commands::explain;

#[derive(Serialize)]
struct LaunchJson {
    cookie: u32,
    pid: u32,
    trust: String,
    /// `started` (with --detach), `up`, `connecting` (not up within the
    /// timeout) or `ended`.
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended: Option<String>,
}

/// How long `radc launch` waits.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// Until the runtime has started the connection (`--detach`).
    Started,
    /// Until it is up or has failed, at most this long.
    Up(Duration),
    /// Until it is up, then until it ends (`--wait`).
    Ended(Duration),
}

pub async fn launch(
    workspace: &str,
    resource: &str,
    files: &[PathBuf],
    until: Until,
    json: bool,
) -> Result<ExitCode> {
    let files: Vec<String> = files
        .iter()
        .map(|f| {
            let path =
                std::fs::canonicalize(f).with_context(|| format!("cannot open {}", f.display()))?;
            path.to_str()
                .map(str::to_owned)
                .with_context(|| format!("{} is not a UTF-8 path", path.display()))
        })
        .collect::<Result<_>>()?;
    let conn = autostart::connect(Duration::from_secs(60)).await?;
    let runtime = RuntimeProxy::new(&conn).await?;
    // Subscribe before launching, so a connection that ends at once is
    // still seen.
    let mut removed = if matches!(until, Until::Ended(_)) {
        let registration = WorkspaceRegistrationProxy::new(&conn).await?;
        Some(registration.receive_resource_removed().await?)
    } else {
        None
    };
    // The connection needs the caller's display; the runtime may have been
    // started from elsewhere.
    let environment = radc_client::environment::from_process();
    let environment: HashMap<&str, &str> =
        environment.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let file_refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let (cookie, pid, trust) = runtime
        .launch(workspace, resource, &file_refs, environment)
        .await
        .map_err(explain)?;
    let mut report = LaunchJson {
        cookie,
        pid,
        trust,
        state: "started".into(),
        ended: None,
    };
    let timeout = match until {
        Until::Started => None,
        Until::Up(t) | Until::Ended(t) => Some(t),
    };
    if let Some(timeout) = timeout {
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let (state, detail) = runtime
            .await_launch(cookie, millis)
            .await
            .map_err(explain)?;
        if state == "failed" {
            bail!("cannot connect to {resource}: {detail}");
        }
        if state == "ended" {
            report.ended = Some(detail);
        }
        report.state = state;
    }
    if !json {
        let what = match report.state.as_str() {
            "up" => "Connected to",
            "connecting" => "Still connecting to",
            _ => "Launched",
        };
        println!(
            "{what} {resource} (pid {pid}, connection {cookie}); its .rdp file is {}.",
            report.trust
        );
        if report.state == "connecting"
            && let Some(t) = timeout
        {
            eprintln!(
                "radc: {resource} did not come up within {} s; it goes on connecting (`radc status` shows it)",
                t.as_secs_f64()
            );
        }
    }
    let mut code = ExitCode::SUCCESS;
    if let Some(reason) = &report.ended {
        code = exit_code_of(reason);
        if !json {
            println!("The connection ended: {reason}.");
        }
    } else if let Some(stream) = removed.as_mut() {
        while let Some(signal) = stream.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.cookie != cookie {
                continue;
            }
            let reason = args.reason.to_string();
            code = exit_code_of(&reason);
            if !json {
                println!("The connection ended: {reason}.");
            }
            report.state = "ended".into();
            report.ended = Some(reason);
            break;
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(code)
}

/// `--wait` exits like a shell reports a child: its exit code, or 128 plus
/// the signal that ended it.
fn exit_code_of(reason: &str) -> ExitCode {
    let code = if let Some(code) = reason.strip_prefix("exited:") {
        code.parse::<i64>().map_or(1, |c| c.clamp(0, 255) as u8)
    } else if let Some(signal) = reason.strip_prefix("signal:") {
        signal.parse::<u8>().map_or(1, |s| 128u8.saturating_add(s))
    } else {
        0
    };
    ExitCode::from(code)
}

fn trust_file() -> Result<PathBuf> {
    let config = radc_runtime::xdg_config_home()
        .context("neither XDG_CONFIG_HOME nor HOME is set to an absolute path")?;
    Ok(radc_runtime::launcher::trust_path(&config.join("radc")))
}

fn load_trust(path: &Path) -> Result<TrustSettings> {
    match std::fs::read_to_string(path) {
        Ok(text) => TrustSettings::from_json(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustSettings::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_trust(path: &Path, settings: &TrustSettings) -> Result<()> {
    radc_runtime::write_private(path, settings.to_json().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads and verifies an `.rdp` file; a damaged signature is an error.
fn verify_file(path: &Path) -> Result<Verdict> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file =
        RdpFile::parse(&bytes).with_context(|| format!("{} is not valid", path.display()))?;
    signature::verify(&file).with_context(|| {
        format!(
            "{}: the signature does not hold; the file may have been tampered with",
            path.display()
        )
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct CheckJson {
    signed: bool,
    publisher: Option<String>,
    sha1_thumbprint: Option<String>,
    sha256_thumbprint: Option<String>,
    trusted: bool,
    /// Whether the signer's certificate chains to a trusted certificate
    /// authority, is valid now and may sign `.rdp` files.
    verified_publisher: bool,
    /// Why a signer is not a verified publisher (`null` when it is, or
    /// the file is unsigned).
    unknown_publisher_reason: Option<String>,
    signed_settings: Vec<String>,
}

pub fn trust(command: crate::TrustCommand) -> Result<ExitCode> {
    use crate::TrustCommand;
    let path = trust_file()?;
    let mut settings = load_trust(&path)?;
    match command {
        TrustCommand::List { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&settings)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "Files no trusted publisher signed: {}.",
                match settings.untrusted {
                    UntrustedPolicy::Warn => "launched, with a warning in the log",
                    UntrustedPolicy::Refuse => "refused",
                }
            );
            if settings.publishers.is_empty() {
                println!("You trust no publishers yet (workspaces may vouch for their own).");
            } else {
                println!("Trusted publishers:");
                for p in &settings.publishers {
                    println!("  {}  {}", p.thumbprint, p.name.escape_debug());
                }
            }
        }
        TrustCommand::Add {
            thumbprint,
            from,
            name,
            json,
        } => {
            let (thumbprint, name) = match (thumbprint, from) {
                (Some(t), None) => (t, name.unwrap_or_default()),
                (None, Some(file)) => match verify_file(&file)? {
                    Verdict::Unsigned => bail!("{} is not signed", file.display()),
                    Verdict::Signed(signed) => (
                        hex(&signed.sha1_thumbprint),
                        name.unwrap_or(signed.publisher.clone()),
                    ),
                },
                _ => bail!("give a thumbprint or --from FILE.rdp, not both"),
            };
            let added = settings
                .add(&thumbprint, &name)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            save_trust(&path, &settings)?;
            let named = if name.is_empty() {
                String::new()
            } else {
                format!(" ({})", name.escape_debug())
            };
            let (text, change) = match added {
                Added::New => (format!("Trusted {thumbprint}{named}."), "added"),
                Added::Renamed => (
                    format!("{thumbprint} was already trusted; now named{named}."),
                    "renamed",
                ),
                Added::Already => (
                    format!("{thumbprint} was already trusted{named}."),
                    "unchanged",
                ),
            };
            crate::commands::done(
                json,
                text,
                serde_json::json!({"thumbprint": thumbprint, "name": name, "change": change}),
            );
        }
        TrustCommand::Remove { thumbprint, json } => {
            let removed = settings
                .remove(&thumbprint)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            if !removed {
                return Err(crate::commands::not_found(format!(
                    "no trusted publisher has thumbprint {thumbprint}; `radc trust list` lists them"
                )));
            }
            save_trust(&path, &settings)?;
            crate::commands::done(
                json,
                format!("No longer trusting {thumbprint}."),
                serde_json::json!({"thumbprint": thumbprint, "removed": true}),
            );
        }
        TrustCommand::Policy { policy, json } => {
            let text = match policy {
                None => settings.untrusted.as_str().to_owned(),
                Some(policy) => {
                    settings.untrusted =
                        UntrustedPolicy::parse(&policy).map_err(|e| anyhow::anyhow!(e.message))?;
                    save_trust(&path, &settings)?;
                    format!(
                        "Files no trusted publisher signed will be {}.",
                        match settings.untrusted {
                            UntrustedPolicy::Warn => "launched with a warning",
                            UntrustedPolicy::Refuse => "refused",
                        }
                    )
                }
            };
            crate::commands::done(
                json,
                text,
                serde_json::json!({"policy": settings.untrusted.as_str()}),
            );
        }
        TrustCommand::Check {
            file,
            ca_file,
            json,
        } => {
            let verdict = verify_file(&file)?;
            // Read before anything is reported: a CA file given on purpose
            // that cannot be used is an error, not a quiet "unknown".
            let extra_roots = match &ca_file {
                Some(path) => {
                    radc_runtime::roots::ca_file_roots(path).map_err(|e| anyhow::anyhow!(e))?
                }
                None => Vec::new(),
            };
            let report = match &verdict {
                Verdict::Unsigned => CheckJson {
                    signed: false,
                    publisher: None,
                    sha1_thumbprint: None,
                    sha256_thumbprint: None,
                    trusted: false,
                    verified_publisher: false,
                    unknown_publisher_reason: None,
                    signed_settings: Vec::new(),
                },
                Verdict::Signed(s) => {
                    let signer = radc_core::trust::Signer {
                        publisher: &s.publisher,
                        sha1: &s.sha1_thumbprint,
                        sha256: &s.sha256_thumbprint,
                    };
                    let trusted = radc_core::trust::decide(
                        Some(signer),
                        &[],
                        &TrustSettings {
                            untrusted: UntrustedPolicy::Warn,
                            ..settings.clone()
                        },
                    )
                    .is_ok_and(|d| d.is_trusted());
                    let mut roots = radc_runtime::roots::system_roots();
                    roots.extend(extra_roots);
                    let publisher = radc_runtime::roots::check_publisher_against(s, &roots);
                    CheckJson {
                        signed: true,
                        publisher: Some(s.publisher.clone()),
                        sha1_thumbprint: Some(hex(&s.sha1_thumbprint)),
                        sha256_thumbprint: Some(hex(&s.sha256_thumbprint)),
                        trusted,
                        verified_publisher: publisher.is_verified(),
                        unknown_publisher_reason: match publisher {
                            Publisher::Verified => None,
                            Publisher::Unknown(why) => Some(why),
                        },
                        signed_settings: s.scope.clone(),
                    }
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !report.signed {
                println!("{}: not signed.", file.display());
            } else {
                println!(
                    "{}: signed by {} ({}), signature valid.",
                    file.display(),
                    report
                        .publisher
                        .as_deref()
                        .unwrap_or_default()
                        .escape_debug(),
                    if report.trusted {
                        "a publisher you trust"
                    } else {
                        "not a publisher you trust"
                    }
                );
                match &report.unknown_publisher_reason {
                    None => println!(
                        "  verified publisher: yes (its certificate chains to a trusted certificate authority)"
                    ),
                    Some(why) => println!("  verified publisher: no, {why}"),
                }
                println!(
                    "  SHA-1 thumbprint:   {}",
                    report.sha1_thumbprint.unwrap_or_default()
                );
                println!(
                    "  SHA-256 thumbprint: {}",
                    report.sha256_thumbprint.unwrap_or_default()
                );
                println!(
                    "  signed settings:    {}",
                    report.signed_settings.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_exit_codes_follow_the_shell() {
        assert_eq!(exit_code_of("exited:0"), ExitCode::from(0));
        assert_eq!(exit_code_of("exited:131"), ExitCode::from(131));
        assert_eq!(exit_code_of("signal:15"), ExitCode::from(143));
        assert_eq!(exit_code_of("disconnected"), ExitCode::from(0));
    }
}
