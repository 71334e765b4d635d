//! Whom to trust with `.rdp` files: the user's trusted publishers, the
//! thumbprints a workspace was started with, and the policy for files that
//! no trusted publisher signed.
//!
//! A signature only says who wrote a file; this module decides whether that
//! is good enough to launch it. Verifying the signature itself is
//! `radc_rdp::signature`'s job.

use serde::{Deserialize, Serialize};

use crate::credentials::Thumbprint;
use crate::error::{Result, RuntimeError};
use crate::validate;

/// Most publishers in the user's list.
pub const MAX_PUBLISHERS: usize = 256;

/// What to do with a file that no trusted publisher signed (unsigned, or
/// signed by someone not in any trusted list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UntrustedPolicy {
    /// Launch it and warn in the log (what most RD Web deployments need:
    /// many never sign their files).
    #[default]
    Warn,
    /// Refuse to launch it.
    Refuse,
}

impl UntrustedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UntrustedPolicy::Warn => "warn",
            UntrustedPolicy::Refuse => "refuse",
        }
    }

    pub fn parse(text: &str) -> Result<UntrustedPolicy> {
        match text {
            "warn" => Ok(UntrustedPolicy::Warn),
            "refuse" => Ok(UntrustedPolicy::Refuse),
            other => Err(RuntimeError::invalid_args(format!(
                "unknown policy {:?}: use warn or refuse",
                validate::for_log(other)
            ))),
        }
    }
}

/// A publisher the user trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    /// Lower-case hexadecimal SHA-1 or SHA-256 of the certificate.
    pub thumbprint: String,
    /// The certificate's subject when it was added, for people to read.
    #[serde(default)]
    pub name: String,
}

/// The user's trust settings (`trust.json` in radc's config directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustSettings {
    #[serde(default)]
    pub untrusted: UntrustedPolicy,
    #[serde(default)]
    pub publishers: Vec<Publisher>,
}

/// What [`TrustSettings::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    /// Already trusted; it has the name given now.
    Renamed,
    /// Already trusted under that name.
    Already,
}

impl TrustSettings {
    pub fn from_json(text: &str) -> Result<TrustSettings> {
        let settings: TrustSettings = serde_json::from_str(text)
            .map_err(|e| RuntimeError::failed(format!("the trust settings are damaged: {e}")))?;
        for p in &settings.publishers {
            Thumbprint::parse(&p.thumbprint)?;
        }
        Ok(settings)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data") + "\n"
    }

    /// Adds a publisher, or gives one already trusted its new name.
    pub fn add(&mut self, thumbprint: &str, name: &str) -> Result<Added> {
        let thumbprint = Thumbprint::parse(thumbprint)?.to_string();
        validate::bounded("publisher name", name, validate::MAX_DISPLAY_NAME_LEN)?;
        let name = validate::for_log(name);
        if let Some(known) = self
            .publishers
            .iter_mut()
            .find(|p| p.thumbprint == thumbprint)
        {
            if name.is_empty() || known.name == name {
                return Ok(Added::Already);
            }
            known.name = name;
            return Ok(Added::Renamed);
        }
        if self.publishers.len() >= MAX_PUBLISHERS {
            return Err(RuntimeError::failed(format!(
                "you already trust {MAX_PUBLISHERS} publishers, the most allowed"
            )));
        }
        self.publishers.push(Publisher { thumbprint, name });
        Ok(Added::New)
    }

    /// Removes a publisher; true if it was there.
    pub fn remove(&mut self, thumbprint: &str) -> Result<bool> {
        let thumbprint = Thumbprint::parse(thumbprint)?.to_string();
        let before = self.publishers.len();
        self.publishers.retain(|p| p.thumbprint != thumbprint);
        Ok(self.publishers.len() != before)
    }

    fn trusts(&self, signer: &Signer<'_>) -> bool {
        self.publishers
            .iter()
            .any(|p| Thumbprint::parse(&p.thumbprint).is_ok_and(|t| signer.matches(&t)))
    }
}

/// Who signed a file, as far as the signature check could tell.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub publisher: &'a str,
    pub sha1: &'a [u8],
    pub sha256: &'a [u8],
}

impl Signer<'_> {
    fn matches(&self, thumbprint: &Thumbprint) -> bool {
        let t = thumbprint.as_bytes();
        t == self.sha1 || t == self.sha256
    }
}

/// Why a file may be launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Signed by a publisher the workspace (`StartWorkspace`) vouches for.
    TrustedByWorkspace { publisher: String },
    /// Signed by a publisher in the user's list.
    TrustedByUser { publisher: String },
    /// Signed by someone nobody vouched for; allowed by the policy.
    UntrustedSigner {
        publisher: String,
        thumbprint: String,
    },
    /// Not signed; allowed by the policy.
    Unsigned,
}

impl Decision {
    /// Whether the file's publisher is trusted (not merely allowed).
    pub fn is_trusted(&self) -> bool {
        matches!(
            self,
            Decision::TrustedByWorkspace { .. } | Decision::TrustedByUser { .. }
        )
    }
}

/// Decides whether a file signed by `signer` (or unsigned: `None`) may be
/// launched. `workspace` holds the thumbprints the workspace was started
/// with. A refusal says what the user can do about it.
pub fn decide(
    signer: Option<Signer<'_>>,
    workspace: &[Thumbprint],
    settings: &TrustSettings,
) -> Result<Decision> {
    let Some(signer) = signer else {
        return match settings.untrusted {
            UntrustedPolicy::Warn => Ok(Decision::Unsigned),
            UntrustedPolicy::Refuse => Err(RuntimeError::access_denied(
                "the .rdp file is not signed and your policy refuses unsigned files \
                 (`radc trust policy warn` allows them)",
            )),
        };
    };
    let publisher = validate::for_log(signer.publisher);
    if workspace.iter().any(|t| signer.matches(t)) {
        return Ok(Decision::TrustedByWorkspace { publisher });
    }
    if settings.trusts(&signer) {
        return Ok(Decision::TrustedByUser { publisher });
    }
    let thumbprint: String = signer.sha1.iter().map(|b| format!("{b:02x}")).collect();
    match settings.untrusted {
        UntrustedPolicy::Warn => Ok(Decision::UntrustedSigner {
            publisher,
            thumbprint,
        }),
        UntrustedPolicy::Refuse => Err(RuntimeError::access_denied(format!(
            "the .rdp file is signed by {publisher:?}, a publisher you have not trusted \
             (`radc trust add {thumbprint}` trusts it)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const SHA1: [u8; 20] = [0xab; 20];
    const SHA256: [u8; 32] = [0xcd; 32];

    fn signer() -> Signer<'static> {
        Signer {
            publisher: "CN=RD Web",
            sha1: &SHA1,
            sha256: &SHA256,
        }
    }

    #[test]
    fn workspace_thumbprints_come_first_then_the_users_list() {
        let mut settings = TrustSettings::default();
        let by_workspace = [Thumbprint::parse(&"cd".repeat(32)).unwrap()];
        assert!(matches!(
            decide(Some(signer()), &by_workspace, &settings).unwrap(),
            Decision::TrustedByWorkspace { .. }
        ));
        assert_eq!(
            settings.add(&"AB".repeat(20), "RD Web").unwrap(),
            Added::New
        );
        assert_eq!(settings.add(&"ab:".repeat(20), "").unwrap(), Added::Already);
        assert_eq!(
            settings.add(&"ab:".repeat(20), "RD Web").unwrap(),
            Added::Already
        );
        assert_eq!(
            settings.add(&"ab:".repeat(20), "Contoso").unwrap(),
            Added::Renamed
        );
        assert_eq!(settings.publishers[0].name, "Contoso");
        let d = decide(Some(signer()), &[], &settings).unwrap();
        assert!(d.is_trusted(), "{d:?}");
        assert!(settings.remove(&"ab".repeat(20)).unwrap());
        let d = decide(Some(signer()), &[], &settings).unwrap();
        assert_eq!(
            d,
            Decision::UntrustedSigner {
                publisher: "CN=RD Web".into(),
                thumbprint: "ab".repeat(20)
            }
        );
    }

    #[test]
    fn the_policy_decides_for_unsigned_and_untrusted_files() {
        let mut settings = TrustSettings::default();
        assert_eq!(decide(None, &[], &settings).unwrap(), Decision::Unsigned);
        settings.untrusted = UntrustedPolicy::Refuse;
        let e = decide(None, &[], &settings).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        assert!(e.message.contains("radc trust policy warn"), "{e}");
        let e = decide(Some(signer()), &[], &settings).unwrap_err();
        assert!(
            e.message
                .contains(&format!("radc trust add {}", "ab".repeat(20))),
            "{e}"
        );
    }

    #[test]
    fn settings_round_trip_and_damage_is_reported() {
        let mut settings = TrustSettings {
            untrusted: UntrustedPolicy::Refuse,
            ..Default::default()
        };
        settings.add(&"01".repeat(32), "Contoso").unwrap();
        let back = TrustSettings::from_json(&settings.to_json()).unwrap();
        assert_eq!(back, settings);
        assert_eq!(
            TrustSettings::from_json("{}").unwrap(),
            TrustSettings::default()
        );
        assert!(TrustSettings::from_json("{\"publishers\":[{\"thumbprint\":\"zz\"}]}").is_err());
        assert!(TrustSettings::from_json("not json").is_err());
        assert!(settings.add("12", "short").is_err());
    }
}
