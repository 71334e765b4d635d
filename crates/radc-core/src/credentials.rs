//! The per-workspace credential cache behind `StartWorkspace` and friends.
//!
//! Credentials live only in memory. Every secret is held in a
//! [`Zeroizing`] buffer, so it is overwritten when the entry is cleared,
//! replaced, expires or the cache is dropped.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{Result, RuntimeError};
use crate::registry::deadline_after;
use crate::validate;

/// Delete the credentials as soon as the workspace's last resource closes.
pub const WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE: u32 = 0x1;
/// The password is encrypted (Windows DPAPI). There is no Linux counterpart,
/// so radc refuses the flag rather than store an undecryptable blob.
pub const WKS_FLAG_PASSWORD_ENCRYPTED: u32 = 0x2;
/// The credentials were already verified; without it, `OnAuthenticated` must
/// be called before they count as authenticated.
pub const WKS_FLAG_CREDS_AUTHENTICATED: u32 = 0x4;
const KNOWN_FLAGS: u32 = WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE
    | WKS_FLAG_PASSWORD_ENCRYPTED
    | WKS_FLAG_CREDS_AUTHENTICATED;

/// Longest credential lifetime accepted: one year, in minutes.
pub const MAX_TIMEOUT_MINUTES: i32 = 525_600;
/// Most workspaces with cached credentials at once.
pub const MAX_WORKSPACES: usize = 1024;
/// Most thumbprints in one `workspace_params` string.
pub const MAX_THUMBPRINTS: usize = 64;

/// The hash of a trusted `.rdp` signing certificate: SHA-1 (20 bytes) or
/// SHA-256 (32 bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Thumbprint(Vec<u8>);

impl Thumbprint {
    /// Parses hexadecimal text; spaces and colons between digits are ignored,
    /// as certificate viewers print them.
    pub fn parse(text: &str) -> Result<Thumbprint> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !matches!(b, b' ' | b':' | b'\t'))
            .collect();
        let bad = || {
            RuntimeError::invalid_args(format!(
                "{:?} is not a SHA-1 or SHA-256 thumbprint (40 or 64 hexadecimal digits)",
                validate::for_log(text)
            ))
        };
        if digits.len() != 40 && digits.len() != 64 {
            return Err(bad());
        }
        let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        digits
            .chunks(2)
            .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(Thumbprint)
            .ok_or_else(bad)
    }

    /// Parses a `;`-separated list; empty items are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<Thumbprint>> {
        validate::bounded("workspace params", text, 64 * MAX_THUMBPRINTS + 64 * 4)?;
        let list = text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Thumbprint::parse)
            .collect::<Result<Vec<_>>>()?;
        if list.len() > MAX_THUMBPRINTS {
            return Err(RuntimeError::invalid_args(format!(
                "workspace params name {} thumbprints; the limit is {MAX_THUMBPRINTS}",
                list.len()
            )));
        }
        Ok(list)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({self})")
    }
}

/// What `StartWorkspace` was given for one workspace.
pub struct Credential {
    pub user: Zeroizing<String>,
    pub password: Zeroizing<String>,
    pub thumbprints: Vec<Thumbprint>,
    pub flags: u32,
    pub authenticated: bool,
    /// How long the credential lives after it was stored or last
    /// authenticated; `None` for "until cleared".
    pub lifetime: Option<Duration>,
    pub expires_at: Option<Instant>,
    /// The bus peer that gave it (`StartWorkspace`'s caller).
    pub given_by: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &*self.user)
            .field("password", &"<redacted>")
            .field("thumbprints", &self.thumbprints)
            .field("flags", &self.flags)
            .field("authenticated", &self.authenticated)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The arguments of `StartWorkspace`.
pub struct StartWorkspace<'a> {
    pub workspace_id: &'a str,
    pub user: &'a str,
    pub password: Zeroizing<String>,
    pub workspace_params: &'a str,
    pub timeout_minutes: i32,
    pub flags: u32,
    /// The caller's unique bus name.
    pub given_by: &'a str,
}

#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: HashMap<String, Credential>,
}

impl CredentialCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) a workspace's credentials.
    pub fn start(&mut self, args: StartWorkspace<'_>, now: Instant) -> Result<()> {
        validate::workspace_id(args.workspace_id)?;
        validate::identifier("user name", args.user, validate::MAX_USER_LEN)?;
        validate::bounded("password", &args.password, validate::MAX_PASSWORD_LEN)?;
        if args.flags & !KNOWN_FLAGS != 0 {
            return Err(RuntimeError::invalid_args(format!(
                "flags {:#x} include unknown bits {:#x}; known flags are 0x1, 0x2 and 0x4",
                args.flags,
                args.flags & !KNOWN_FLAGS
            )));
        }
        if args.flags & WKS_FLAG_PASSWORD_ENCRYPTED != 0 {
            return Err(RuntimeError::not_supported(
                "WKS_FLAG_PASSWORD_ENCRYPTED: Windows-encrypted passwords cannot be decrypted here; \
                 send the password in clear over the session bus, which only your user can reach",
            ));
        }
        if !(0..=MAX_TIMEOUT_MINUTES).contains(&args.timeout_minutes) {
            return Err(RuntimeError::invalid_args(format!(
                "timeout of {} minutes is out of range; use 0 (until cleared) to {MAX_TIMEOUT_MINUTES}",
                args.timeout_minutes
            )));
        }
        let thumbprints = Thumbprint::parse_list(args.workspace_params)?;
        if !self.entries.contains_key(args.workspace_id) && self.entries.len() >= MAX_WORKSPACES {
            return Err(RuntimeError::failed(format!(
                "credentials are cached for {MAX_WORKSPACES} workspaces already; clear some first"
            )));
        }
        let lifetime = (args.timeout_minutes > 0)
            .then(|| Duration::from_secs(args.timeout_minutes as u64 * 60));
        self.entries.insert(
            args.workspace_id.to_owned(),
            Credential {
                user: Zeroizing::new(args.user.to_owned()),
                password: args.password,
                thumbprints,
                flags: args.flags,
                authenticated: args.flags & WKS_FLAG_CREDS_AUTHENTICATED != 0,
                lifetime,
                expires_at: lifetime.map(|l| deadline_after(now, l)),
                given_by: args.given_by.to_owned(),
            },
        );
        Ok(())
    }

    /// `IsWorkspaceCredentialSpecified`.
    pub fn is_specified(
        &self,
        workspace_id: &str,
        count_unauthenticated: bool,
        now: Instant,
    ) -> bool {
        self.get(workspace_id, now)
            .is_some_and(|c| c.authenticated || count_unauthenticated)
    }

    /// The live credential of a workspace.
    /// The credential a connection of a workspace may sign in with. A file
    /// from the workspace's own feed (`brought_by` is `None`) may use the
    /// workspace's credential; an `.rdp` file a bus client brings
    /// (`StartRemoteApplication`) only the credential that same client
    /// gave, so no client can send credentials another gave to a server of
    /// its choosing.
    pub fn for_connection(
        &self,
        workspace_id: &str,
        brought_by: Option<&str>,
        now: Instant,
    ) -> Option<&Credential> {
        self.get(workspace_id, now)
            .filter(|c| brought_by.is_none_or(|peer| peer == c.given_by))
    }

    pub fn get(&self, workspace_id: &str, now: Instant) -> Option<&Credential> {
        self.entries
            .get(workspace_id)
            .filter(|c| c.expires_at.is_none_or(|t| now < t))
    }

    /// `OnAuthenticated`: marks the credential verified and restarts its
    /// lifetime.
    pub fn on_authenticated(&mut self, workspace_id: &str, user: &str, now: Instant) -> Result<()> {
        validate::workspace_id(workspace_id)?;
        validate::identifier("user name", user, validate::MAX_USER_LEN)?;
        self.expire(now);
        let cred = self.entries.get_mut(workspace_id).ok_or_else(|| {
            RuntimeError::not_found(format!(
                "no credentials are cached for workspace {:?}; call StartWorkspace first",
                validate::for_log(workspace_id)
            ))
        })?;
        if cred.user.as_str() != user {
            // The server may canonicalise the name (DOMAIN\user vs user@domain).
            cred.user = Zeroizing::new(user.to_owned());
        }
        cred.authenticated = true;
        cred.expires_at = cred.lifetime.map(|l| deadline_after(now, l));
        Ok(())
    }

    /// Whether credentials are cached for the workspace (live or not yet
    /// expired by the timer).
    pub fn contains(&self, workspace_id: &str) -> bool {
        self.entries.contains_key(workspace_id)
    }

    /// Removes a workspace's credentials; true if there were any.
    pub fn clear(&mut self, workspace_id: &str) -> bool {
        self.entries.remove(workspace_id).is_some()
    }

    /// The workspace's last resource went away.
    pub fn last_resource_closed(&mut self, workspace_id: &str) -> bool {
        let clear = self
            .entries
            .get(workspace_id)
            .is_some_and(|c| c.flags & WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE != 0);
        clear && self.clear(workspace_id)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(|c| c.expires_at).min()
    }

    /// Drops expired credentials; returns the workspaces they belonged to.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, c)| c.expires_at.is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.entries.remove(id);
        }
        expired
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const SHA1: &str = "0123456789abcdef0123456789ABCDEF01234567";

    fn args<'a>(ws: &'a str, timeout: i32, flags: u32) -> StartWorkspace<'a> {
        StartWorkspace {
            workspace_id: ws,
            user: "CORP\\alice",
            password: Zeroizing::new("s3cret".into()),
            workspace_params: "",
            timeout_minutes: timeout,
            flags,
            given_by: ":1.test",
        }
    }

    #[test]
    fn brought_files_get_only_their_bringers_credentials() {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("ws", 0, 0), now).unwrap();
        assert!(cache.for_connection("ws", None, now).is_some());
        assert!(cache.for_connection("ws", Some(":1.test"), now).is_some());
        assert!(cache.for_connection("ws", Some(":1.99"), now).is_none());
        assert!(cache.for_connection("other", None, now).is_none());
    }

    #[test]
    fn unauthenticated_credentials_count_only_when_asked() {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("ws", 10, 0), now).unwrap();
        assert!(cache.is_specified("ws", true, now));
        assert!(!cache.is_specified("ws", false, now));
        cache.on_authenticated("ws", "alice@corp", now).unwrap();
        assert!(cache.is_specified("ws", false, now));
        assert_eq!(cache.get("ws", now).unwrap().user.as_str(), "alice@corp");
        assert!(!cache.is_specified("other", true, now));
    }

    #[test]
    fn authenticated_flag_and_expiry() {
        let t0 = Instant::now();
        let mut cache = CredentialCache::new();
        cache
            .start(args("ws", 1, WKS_FLAG_CREDS_AUTHENTICATED), t0)
            .unwrap();
        assert!(cache.is_specified("ws", false, t0));
        assert_eq!(cache.next_deadline(), Some(t0 + Duration::from_secs(60)));
        let later = t0 + Duration::from_secs(60);
        assert!(!cache.is_specified("ws", true, later));
        assert_eq!(cache.expire(later), vec!["ws".to_string()]);
        assert!(cache.is_empty());
    }

    #[test]
    fn on_authenticated_restarts_the_lifetime() {
        let t0 = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("ws", 1, 0), t0).unwrap();
        let t1 = t0 + Duration::from_secs(50);
        cache.on_authenticated("ws", "CORP\\alice", t1).unwrap();
        assert!(cache.is_specified("ws", false, t0 + Duration::from_secs(100)));
        assert_eq!(
            cache.on_authenticated("nope", "u", t1).unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn zero_timeout_means_until_cleared() {
        let t0 = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("ws", 0, 0), t0).unwrap();
        assert_eq!(cache.next_deadline(), None);
        assert!(cache.is_specified("ws", true, t0 + Duration::from_secs(1 << 30)));
        assert!(cache.clear("ws"));
        assert!(!cache.clear("ws"));
    }

    #[test]
    fn clear_on_last_resource_only_with_the_flag() {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("keep", 0, 0), now).unwrap();
        cache
            .start(args("drop", 0, WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE), now)
            .unwrap();
        assert!(!cache.last_resource_closed("keep"));
        assert!(cache.last_resource_closed("drop"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn rejects_bad_arguments() {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        let kind = |cache: &mut CredentialCache, a| cache.start(a, now).unwrap_err().kind;
        assert_eq!(kind(&mut cache, args("", 1, 0)), ErrorKind::InvalidArgs);
        assert_eq!(kind(&mut cache, args("ws", -1, 0)), ErrorKind::InvalidArgs);
        assert_eq!(
            kind(&mut cache, args("ws", 1, 0x10)),
            ErrorKind::InvalidArgs
        );
        assert_eq!(
            kind(&mut cache, args("ws", 1, WKS_FLAG_PASSWORD_ENCRYPTED)),
            ErrorKind::NotSupported
        );
        let mut a = args("ws", 1, 0);
        a.workspace_params = "not-hex";
        assert_eq!(kind(&mut cache, a), ErrorKind::InvalidArgs);
        assert!(cache.is_empty());
    }

    #[test]
    fn thumbprints_parse() {
        let sha256 = "AB:".repeat(31) + "AB";
        let list = Thumbprint::parse_list(&format!(" {SHA1} ;;{sha256};")).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].to_string(), SHA1.to_lowercase());
        assert_eq!(list[1].as_bytes(), &[0xab; 32]);
        assert!(Thumbprint::parse(&"g".repeat(40)).is_err());
        assert!(Thumbprint::parse("abcd").is_err());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        cache.start(args("ws", 1, 0), now).unwrap();
        let text = format!("{:?}", cache.get("ws", now).unwrap());
        assert!(!text.contains("s3cret"), "{text}");
    }
}
