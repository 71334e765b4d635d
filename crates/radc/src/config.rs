//! The runtime's settings file: `/etc/radc/config.toml`, and
//! `$XDG_CONFIG_HOME/radc/config.toml` over it, key by key. Every option of
//! `radc daemon` can be set there, so a runtime the session bus or a
//! command starts is configured like one started by hand; flags given to
//! `radc daemon` win over both files.
//!
//! ```toml
//! disconnect-timeout = 5      # seconds each client has to answer IssueDisconnect
//! grace = 10                  # seconds a disconnected client has to go away
//! probe-timeout = 2           # seconds a new client has to name itself
//! refresh-interval = 86400    # seconds between refreshes of each workspace
//! freerdp = "/usr/bin/xfreerdp3"
//! machine-config-dir = "/etc/radc"
//! log-level = "info"          # error, warn, info, debug, trace (RADC_LOG wins)
//! reconnect-at-start = true   # reconnect to disconnected sessions when the runtime starts
//! ```
//!
//! An unknown key or a bad value stops the runtime with an error naming the
//! file, the key and what is wrong: a setting that is silently ignored is
//! worse than one that is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The system-wide file, beneath the user's.
pub const SYSTEM_FILE: &str = "/etc/radc/config.toml";

/// What one file says; every key optional.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub disconnect_timeout: Option<f64>,
    pub grace: Option<f64>,
    pub probe_timeout: Option<f64>,
    pub refresh_interval: Option<f64>,
    pub freerdp: Option<PathBuf>,
    pub machine_config_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub reconnect_at_start: Option<bool>,
}

/// The settings in force, each from a flag, the user's file, the system's
/// file or the default, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub disconnect_timeout: Duration,
    pub grace: Duration,
    pub probe_timeout: Duration,
    pub refresh_interval: Duration,
    pub freerdp: Option<PathBuf>,
    pub machine_config_dir: PathBuf,
    pub log_level: String,
    pub reconnect_at_start: bool,
}

impl Settings {
    /// Reads one file; a missing file is empty settings.
    pub fn read(path: &Path) -> anyhow::Result<Settings> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let settings: Settings = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        settings
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(settings)
    }

    /// The system's file with the user's over it.
    pub fn load(user_config_dir: &Path) -> anyhow::Result<Settings> {
        let system = Settings::read(Path::new(SYSTEM_FILE))?;
        let user = Settings::read(&user_config_dir.join("config.toml"))?;
        Ok(user.over(system))
    }

    /// `self`'s values where set, else `under`'s.
    pub fn over(self, under: Settings) -> Settings {
        Settings {
            disconnect_timeout: self.disconnect_timeout.or(under.disconnect_timeout),
            grace: self.grace.or(under.grace),
            probe_timeout: self.probe_timeout.or(under.probe_timeout),
            refresh_interval: self.refresh_interval.or(under.refresh_interval),
            freerdp: self.freerdp.or(under.freerdp),
            machine_config_dir: self.machine_config_dir.or(under.machine_config_dir),
            log_level: self.log_level.or(under.log_level),
            reconnect_at_start: self.reconnect_at_start.or(under.reconnect_at_start),
        }
    }

    fn check(&self) -> Result<(), String> {
        let durations = [
            ("disconnect-timeout", self.disconnect_timeout),
            ("grace", self.grace),
            ("probe-timeout", self.probe_timeout),
        ];
        for (key, value) in durations {
            if let Some(secs) = value {
                seconds(secs).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        if let Some(secs) = self.refresh_interval {
            interval(secs).map_err(|e| format!("refresh-interval: {e}"))?;
        }
        for (key, path) in [
            ("freerdp", &self.freerdp),
            ("machine-config-dir", &self.machine_config_dir),
        ] {
            if let Some(path) = path
                && !path.is_absolute()
            {
                return Err(format!("{key}: {} is not an absolute path", path.display()));
            }
        }
        if let Some(level) = &self.log_level
            && tracing_subscriber::EnvFilter::try_new(level).is_err()
        {
            return Err(format!(
                "log-level: {level:?} is not a level (error, warn, info, debug, trace) or a filter"
            ));
        }
        Ok(())
    }

    /// These settings with `flags` over them and defaults beneath.
    pub fn resolve(self, flags: Settings) -> Resolved {
        let s = flags.over(self);
        let secs = |v: Option<f64>, default: u64| {
            v.and_then(|v| seconds(v).ok())
                .unwrap_or(Duration::from_secs(default))
        };
        Resolved {
            disconnect_timeout: secs(s.disconnect_timeout, 5),
            grace: secs(s.grace, 10),
            probe_timeout: secs(s.probe_timeout, 2),
            refresh_interval: s
                .refresh_interval
                .and_then(|v| interval(v).ok())
                .unwrap_or(Duration::from_secs(86400)),
            freerdp: s.freerdp,
            machine_config_dir: s
                .machine_config_dir
                .unwrap_or_else(|| radc_runtime::Config::MACHINE_CONFIG_DIR.into()),
            log_level: s.log_level.unwrap_or_else(|| "info".into()),
            reconnect_at_start: s.reconnect_at_start.unwrap_or(false),
        }
    }
}

/// A number of seconds for a timeout: 0 to a day.
pub fn seconds(secs: f64) -> Result<Duration, String> {
    if !(0.0..=86400.0).contains(&secs) {
        return Err("give between 0 and 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A number of seconds between refreshes: a second to 30 days.
pub fn interval(secs: f64) -> Result<Duration, String> {
    if !(1.0..=30.0 * 86400.0).contains(&secs) {
        return Err("give between 1 second and 30 days (2592000)".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Settings::read(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_values_and_layers() {
        let system = parse("grace = 30\nrefresh-interval = 3600\nlog-level = \"warn\"\n").unwrap();
        let user = parse("grace = 2.5\nfreerdp = \"/opt/freerdp/bin/xfreerdp\"\n").unwrap();
        let flags = Settings {
            refresh_interval: Some(60.0),
            ..Settings::default()
        };
        let resolved = user.over(system).resolve(flags);
        assert_eq!(
            resolved.grace,
            Duration::from_millis(2500),
            "the user's file wins"
        );
        assert_eq!(
            resolved.refresh_interval,
            Duration::from_secs(60),
            "flags win"
        );
        assert_eq!(
            resolved.log_level, "warn",
            "the system's file where nothing else says"
        );
        assert_eq!(
            resolved.disconnect_timeout,
            Duration::from_secs(5),
            "default"
        );
        assert_eq!(
            resolved.freerdp.as_deref(),
            Some(Path::new("/opt/freerdp/bin/xfreerdp"))
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = parse("grace = 3\ngrase = 4\n").unwrap_err();
        assert!(
            err.contains("grase") && err.contains("config.toml"),
            "{err}"
        );
        let err = parse("grace = \"soon\"\n").unwrap_err();
        assert!(err.contains("grace"), "{err}");
        let err = parse("probe-timeout = -1\n").unwrap_err();
        assert!(
            err.contains("probe-timeout") && err.contains("86400"),
            "{err}"
        );
        let err = parse("refresh-interval = 0\n").unwrap_err();
        assert!(err.contains("refresh-interval"), "{err}");
        let err = parse("freerdp = \"xfreerdp\"\n").unwrap_err();
        assert!(err.contains("not an absolute path"), "{err}");
        let err = parse("log-level = \"loud[\"\n").unwrap_err();
        assert!(err.contains("log-level"), "{err}");
        assert_eq!(parse("").unwrap(), Settings::default());
        let err = parse("reconnect-at-start = \"yes\"\n").unwrap_err();
        assert!(err.contains("reconnect-at-start"), "{err}");
    }

    #[test]
    fn reconnect_at_start_is_off_unless_asked() {
        assert!(
            !Settings::default()
                .resolve(Settings::default())
                .reconnect_at_start
        );
        let system = parse("reconnect-at-start = true\n").unwrap();
        assert!(
            system
                .clone()
                .resolve(Settings::default())
                .reconnect_at_start
        );
        let user = parse("reconnect-at-start = false\n").unwrap();
        assert!(
            !user
                .over(system)
                .resolve(Settings::default())
                .reconnect_at_start
        );
    }
}
