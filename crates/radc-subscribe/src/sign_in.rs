//! Which Windows sign-in to try, in what order, and what to tell the user
//! when Kerberos could not be used. No I/O: the offered schemes, whether a
//! password is at hand and how Kerberos failed come in as arguments.
//!
//! The rules:
//! - A server that offers `Negotiate` is first tried with Kerberos (the
//!   user's ticket; no password asked).
//! - With a password, NTLM follows: inside SPNEGO when `Negotiate` is
//!   offered, plain `NTLM` otherwise; Basic only when nothing else is
//!   offered, and only over https.
//! - When Kerberos was tried and failed, the user is told why in one line,
//!   and the password sign-in that followed (or the lack of a password) is
//!   named in the same line.

use std::fmt;

/// One way of signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// SPNEGO with Kerberos through the system's GSSAPI: the user's ticket.
    Kerberos,
    /// SPNEGO wrapping NTLM (`WWW-Authenticate: Negotiate`), with the password.
    NegotiateNtlm,
    /// Plain NTLM (`WWW-Authenticate: NTLM`), with the password.
    Ntlm,
    /// Basic, with the password, over https only.
    Basic,
}

impl Mechanism {
    /// The HTTP authentication scheme the mechanism's tokens travel in.
    pub fn scheme(self) -> &'static str {
        match self {
            Mechanism::Kerberos | Mechanism::NegotiateNtlm => "Negotiate",
            Mechanism::Ntlm => "NTLM",
            Mechanism::Basic => "Basic",
        }
    }

    pub fn needs_password(self) -> bool {
        self != Mechanism::Kerberos
    }
}

/// Why no sign-in can even be tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Only mechanisms that need a password are offered, and there is none.
    CredentialsRequired,
    /// Only Basic is offered, on plain http.
    BasicOverHttp,
    /// Nothing radc knows is offered.
    Unsupported,
}

/// The mechanisms to try, in order, for the schemes a `401` offered.
pub fn plan(
    offered: &[String],
    https: bool,
    have_password: bool,
) -> Result<Vec<Mechanism>, PlanError> {
    let has = |s: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(s));
    let (negotiate, ntlm, basic) = (has("Negotiate"), has("NTLM"), has("Basic"));
    let mut steps = Vec::new();
    if negotiate {
        steps.push(Mechanism::Kerberos);
    }
    if have_password {
        if negotiate {
            steps.push(Mechanism::NegotiateNtlm);
        } else if ntlm {
            steps.push(Mechanism::Ntlm);
        } else if basic && https {
            steps.push(Mechanism::Basic);
        }
    }
    if !steps.is_empty() {
        return Ok(steps);
    }
    if basic && !https && !ntlm {
        Err(PlanError::BasicOverHttp)
    } else if ntlm || basic {
        Err(PlanError::CredentialsRequired)
    } else {
        Err(PlanError::Unsupported)
    }
}

/// Why the Kerberos sign-in did not happen or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KerberosFailure {
    /// No ticket-granting ticket in the default credential cache.
    NoTicket,
    /// The ticket-granting ticket has expired.
    Expired,
    /// GSSAPI or the KDC failed (no service ticket, KDC unreachable, …):
    /// GSSAPI's own message.
    Gssapi(String),
    /// The server answered our Kerberos token with a refusal.
    Rejected,
}

impl fmt::Display for KerberosFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KerberosFailure::NoTicket => {
                f.write_str("no Kerberos ticket (run kinit or sign in to the domain)")
            }
            KerberosFailure::Expired => {
                f.write_str("the Kerberos ticket has expired (run kinit again)")
            }
            KerberosFailure::Gssapi(detail) => write!(f, "Kerberos failed: {detail}"),
            KerberosFailure::Rejected => {
                f.write_str("the server did not accept the Kerberos ticket")
            }
        }
    }
}

/// The one line logged when Kerberos failed and the password was used.
pub fn fell_back(failure: &KerberosFailure) -> String {
    format!("{failure}; used the password")
}

/// The detail of the error when Kerberos failed and no password is at hand.
pub fn no_fallback(failure: &KerberosFailure) -> String {
    format!("{failure}, and no password was given")
}

/// What is added to a password sign-in's error when Kerberos failed first.
pub fn also_failed(failure: &KerberosFailure) -> String {
    format!("Kerberos was tried first: {failure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mechanism::*;

    fn offered(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kerberos_comes_first_when_negotiate_is_offered() {
        let both = offered(&["Negotiate", "NTLM"]);
        assert_eq!(plan(&both, true, true), Ok(vec![Kerberos, NegotiateNtlm]));
        assert_eq!(plan(&both, true, false), Ok(vec![Kerberos]));
        assert_eq!(
            plan(&offered(&["negotiate"]), false, true),
            Ok(vec![Kerberos, NegotiateNtlm])
        );
    }

    #[test]
    fn without_negotiate_only_the_password_can_sign_in() {
        assert_eq!(plan(&offered(&["NTLM"]), true, true), Ok(vec![Ntlm]));
        assert_eq!(
            plan(&offered(&["NTLM"]), true, false),
            Err(PlanError::CredentialsRequired)
        );
        assert_eq!(plan(&offered(&["Basic"]), true, true), Ok(vec![Basic]));
        assert_eq!(
            plan(&offered(&["Basic"]), false, true),
            Err(PlanError::BasicOverHttp)
        );
        assert_eq!(
            plan(&offered(&["Basic"]), true, false),
            Err(PlanError::CredentialsRequired)
        );
        assert_eq!(
            plan(&offered(&["NTLM", "Basic"]), true, true),
            Ok(vec![Ntlm])
        );
        assert_eq!(
            plan(&offered(&["Digest"]), true, true),
            Err(PlanError::Unsupported)
        );
        assert_eq!(plan(&[], true, true), Err(PlanError::Unsupported));
    }

    #[test]
    fn every_plan_starts_with_kerberos_or_needs_the_password() {
        let names = ["Negotiate", "NTLM", "Basic", "Digest"];
        for mask in 0..16u32 {
            let list: Vec<String> = (0..4)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| names[i].to_owned())
                .collect();
            for https in [false, true] {
                for password in [false, true] {
                    if let Ok(steps) = plan(&list, https, password) {
                        assert!(!steps.is_empty());
                        assert!(steps.iter().all(|m| password || !m.needs_password()));
                        assert!(steps.iter().all(|m| https || *m != Basic));
                        assert!(steps.iter().skip(1).all(|m| *m != Kerberos));
                        for m in steps {
                            assert!(list.iter().any(|o| o == m.scheme()), "{list:?} {m:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn messages_say_what_happened_in_one_line() {
        assert_eq!(
            fell_back(&KerberosFailure::NoTicket),
            "no Kerberos ticket (run kinit or sign in to the domain); used the password"
        );
        assert_eq!(
            no_fallback(&KerberosFailure::Expired),
            "the Kerberos ticket has expired (run kinit again), and no password was given"
        );
        let gss = KerberosFailure::Gssapi("Cannot contact any KDC for realm 'X'".into());
        assert!(also_failed(&gss).contains("Cannot contact any KDC"));
        for f in [
            KerberosFailure::NoTicket,
            KerberosFailure::Expired,
            KerberosFailure::Rejected,
            gss,
        ] {
            assert!(!fell_back(&f).contains('\n'));
        }
    }
}
