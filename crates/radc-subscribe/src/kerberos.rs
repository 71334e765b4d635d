//! Kerberos through the system's GSSAPI (MIT krb5, via `libgssapi`): the
//! user's ticket from the default credential cache (`KRB5CCNAME`, kinit,
//! SSSD), never a password.
//!
//! Only thin calls live here; which mechanism to try and what to tell the
//! user is decided in [`crate::sign_in`]. GSSAPI calls may talk to the KDC
//! and block: callers run them off the async threads.

use std::time::Duration;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, OidSet};

use crate::sign_in::KerberosFailure;

/// How long the ticket-granting ticket of the default credential cache is
/// still valid; the reason when there is none to use.
pub fn ticket_lifetime() -> Result<Duration, KerberosFailure> {
    let mut mechs = OidSet::new();
    mechs.add(GSS_MECH_KRB5).map_err(gss_failure)?;
    let cred = Cred::acquire(None, None, CredUsage::Initiate, Some(&mechs)).map_err(classify)?;
    match cred.lifetime() {
        Ok(d) if d > Duration::ZERO => Ok(d),
        Ok(_) => Err(KerberosFailure::Expired),
        Err(e) => Err(classify(e)),
    }
}

/// Whether a usable ticket-granting ticket is there (single sign-on).
pub fn has_ticket() -> bool {
    ticket_lifetime().is_ok()
}

/// A client-side SPNEGO context with Kerberos for `HTTP@<host>`.
pub struct KerberosContext {
    ctx: ClientCtx,
    bindings: Option<Vec<u8>>,
}

impl KerberosContext {
    /// Checks the ticket first, so that "no ticket" and "expired" are told
    /// as such rather than as a GSSAPI message. `bindings` is the channel
    /// binding's application data (initiator and acceptor addresses stay
    /// empty).
    pub fn new(host: &str, bindings: Option<Vec<u8>>) -> Result<Self, KerberosFailure> {
        ticket_lifetime()?;
        let target = Name::new(
            format!("HTTP@{host}").as_bytes(),
            Some(GSS_NT_HOSTBASED_SERVICE),
        )
        .map_err(gss_failure)?;
        let flags = CtxFlags::GSS_C_MUTUAL_FLAG
            | CtxFlags::GSS_C_SEQUENCE_FLAG
            | CtxFlags::GSS_C_REPLAY_FLAG;
        Ok(KerberosContext {
            ctx: ClientCtx::new(None, target, flags, Some(GSS_MECH_SPNEGO)),
            bindings,
        })
    }

    /// One step: the server's token in (none at first), ours out (none
    /// when the context is complete and nothing is left to send).
    pub fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>, KerberosFailure> {
        let out = self
            .ctx
            .step(input, self.bindings.as_deref())
            .map_err(classify)?;
        Ok(out.map(|b| b.to_vec()))
    }

    /// Whether the exchange is finished (mutual authentication included).
    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }
}

fn classify(e: GssError) -> KerberosFailure {
    // The routine error is a number in bits 16..24, not a set of flags.
    let routine = e.major.bits() & 0x00ff_0000;
    if routine == MajorFlags::GSS_S_CREDENTIALS_EXPIRED.bits() {
        KerberosFailure::Expired
    } else if routine == MajorFlags::GSS_S_NO_CRED.bits() {
        KerberosFailure::NoTicket
    } else {
        gss_failure(e)
    }
}

fn gss_failure(e: GssError) -> KerberosFailure {
    // GSSAPI's message names both the general and the mechanism's reason
    // ("Unspecified GSS failure. … Cannot contact any KDC for realm …").
    let text = e.to_string();
    KerberosFailure::Gssapi(text.split_whitespace().collect::<Vec<_>>().join(" "))
}
