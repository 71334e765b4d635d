//! Downloading an RD Web Access feed (MS-TSWP) and the files it names, with
//! the Windows sign-in RD Web Access asks for.
//!
//! # The login dance
//!
//! A request for the feed carries `Accept: application/x-msts-radc+xml;
//! radc_schema_version=2.0` (MS-TSWP 2.2.5). Without a valid `.ASPXAUTH`
//! cookie RD Web Access answers `302` to a login URL on the same origin; the
//! login URL asks for Windows authentication (`WWW-Authenticate: Negotiate`
//! and/or `NTLM`, RFC 4559). [`FeedClient`] signs in there on **one**
//! HTTP/1.1 connection opened for that purpose (NTLM authenticates the
//! connection, not the requests, so a connection pool cannot be trusted with
//! it): first with Kerberos (SPNEGO through the system's GSSAPI, the user's
//! ticket) when `Negotiate` is offered, then with the password through
//! Negotiate (SPNEGO wrapping NTLM) or NTLM from the `sspi` crate. The order
//! and the messages are decided in [`crate::sign_in`]. The login answer's body (`application/x-msts-webfeed-login`,
//! MS-TSWP 2.2.3) is the token; it is then sent as the `.ASPXAUTH` cookie on
//! every request to the feed's origin, and the feed is asked for again.
//!
//! Also handled: a feed URL that asks for Windows authentication itself
//! (`401` instead of `302`), Basic authentication (over HTTPS only), and a
//! cookie that expires while the client lives (the server answers `302` to
//! the login URL again): the client signs in once more with the credentials
//! it was given and repeats the request.
//!
//! Over https every Kerberos and NTLM sign-in carries channel bindings
//! (RFC 5929 `tls-server-end-point`, [`crate::channel_binding`]) made from
//! the certificate the server showed on that connection, so a server with
//! Extended Protection accepts it and a relayed sign-in fails.
//!
//! # What goes where
//!
//! The session (cookie and credentials) belongs to the origin (scheme, host,
//! port) of the last URL given to [`FeedClient::fetch_feed`]. Neither is ever
//! sent to another origin:
//! - a redirect from the feed's origin to another origin is refused
//!   ([`HttpError::CrossOriginRedirect`]);
//! - [`FeedClient::fetch_file`] on another origin (icons on a CDN, say)
//!   downloads without cookie and without credentials; if that origin asks
//!   for authentication, the download fails with
//!   [`HttpError::AuthenticationElsewhere`].
//!
//! # Where files may come from
//!
//! A file named by the feed is fetched only within the feed's
//! [`Scope`](radc_feed::scope::Scope): its own origin, or a host name of
//! the same site whose addresses are no more local than the feed's own
//! (checked on every address the name resolves to, so a name cannot lead
//! to loopback or the intranet on a public feed's behalf). Every redirect
//! hop is held to the same rule. Anything else fails with
//! [`HttpError::OutsideWorkspace`] before a connection is made.
//!
//! Plain `http` URLs are refused unless [`FeedClientOptions::allow_http`] is
//! set; Basic authentication is refused over plain http even then. HTTPS
//! certificates are checked against the system's trusted roots plus, if
//! given, the CA certificates of [`FeedClientOptions::extra_ca_pem`].
//! Environment proxies are not used.
//!
//! Every body is read in chunks against a limit and the download stops as
//! soon as the limit is passed; every exchange is bounded by
//! [`FeedClientOptions::timeout`].

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use radc_feed::scope::{AddressKind, Scope, address_allowed};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Origin, Url};
use zeroize::Zeroizing;

use crate::channel_binding;
use crate::kerberos::KerberosContext;
use crate::sign_in::{self, KerberosFailure, Mechanism, PlanError};
use crate::store::Validators;

/// The `Accept` header of feed requests: schema 2.0 (which also admits 2.1),
/// MS-TSWP 2.2.5.
pub const FEED_ACCEPT: &str = "application/x-msts-radc+xml; radc_schema_version=2.0";
/// The `User-Agent` header, in the form Windows' client uses.
pub const USER_AGENT: &str = concat!("TSWorkspace/2.0 (radc/", env!("CARGO_PKG_VERSION"), ")");
/// Content type of the login answer that carries the `.ASPXAUTH` token.
pub const LOGIN_CONTENT_TYPE: &str = "application/x-msts-webfeed-login";
/// Name of the cookie the token travels in.
pub const COOKIE_NAME: &str = ".ASPXAUTH";

const MAX_REDIRECTS: usize = 10;
/// Bodies of answers read during a sign-in (401s, the token).
const MAX_LOGIN_BODY: usize = 1024 * 1024;
/// Rounds of a Negotiate/NTLM exchange before giving up.
const MAX_AUTH_ROUNDS: usize = 4;

/// What went wrong, in words a user can act on. No variant ever holds a
/// password or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    #[error(
        "{url} is plain http: the password and the sign-in cookie would travel unencrypted; use an https URL, or pass --allow-http for a test server"
    )]
    PlainHttpRefused { url: Url },
    #[error("{url}: only https (and, when allowed, http) URLs can be fetched")]
    UnsupportedScheme { url: Url },
    #[error(
        "{url} contains a user name or password; give credentials separately, never inside the URL"
    )]
    CredentialsInUrl { url: Url },
    #[error("invalid CA file: {0}; give a PEM file with at least one CERTIFICATE block")]
    CaFile(String),
    #[error("invalid user name {0:?}: use DOMAIN\\user, user@domain or user")]
    InvalidUserName(String),
    #[error("not found (HTTP 404): {url}; check the feed URL")]
    NotFound { url: Url },
    #[error("{url} asks for a sign-in: give a user name and password")]
    CredentialsRequired { url: Url },
    #[error(
        "{url} asks for a sign-in: {detail}; give a user name and password, or get a Kerberos ticket"
    )]
    KerberosFailed { url: Url, detail: String },
    #[error(
        "the server at {url} rejected the user name \"{user}\" or its password{}",
        kerberos_note(.kerberos.as_deref())
    )]
    WrongPassword {
        url: Url,
        user: Box<str>,
        /// Why Kerberos, tried first, did not sign in.
        kerberos: Option<Box<KerberosFailure>>,
    },
    #[error(
        "{url} asks for a sign-in, but radc sends credentials only to the feed's own server; this file cannot be downloaded"
    )]
    AuthenticationElsewhere { url: Url },
    #[error(
        "the server at {url} offers Basic authentication over plain http; refusing to send the password unencrypted (use https)"
    )]
    BasicOverHttp { url: Url },
    #[error(
        "the server at {url} offers no sign-in method radc supports (offered: {offered}); radc supports Negotiate, NTLM and Basic over https"
    )]
    UnsupportedAuth { url: Url, offered: String },
    #[error("signing in at {url} failed: {detail}")]
    Auth { url: Url, detail: String },
    #[error(
        "the login page {url} answered without a sign-in token (content type {content_type:?}, expected {LOGIN_CONTENT_TYPE}); is this an RD Web Access feed URL?"
    )]
    NoLoginToken { url: Url, content_type: String },
    #[error(
        "the server keeps sending us back to its login page at {url} even after signing in; the sign-in token is not accepted"
    )]
    LoginLoop { url: Url },
    #[error(
        "{url} redirects to another server ({target}); radc does not follow it with your sign-in"
    )]
    CrossOriginRedirect { url: Url, target: String },
    #[error("{url} answered a redirect without a usable Location header")]
    BadRedirect { url: Url },
    #[error("too many redirects, starting at {url}")]
    TooManyRedirects { url: Url },
    #[error("the server answered HTTP {status} for {url}")]
    Status { url: Url, status: u16 },
    #[error(
        "TLS failure with {url}: {detail}; if the server's certificate comes from a private CA, pass that CA's certificate with --ca-file"
    )]
    Tls { url: Url, detail: String },
    #[error(
        "no answer from {url} within {} s (timeout); check your network connection or VPN, and that the server is not overloaded",
        .timeout.as_secs_f32()
    )]
    Timeout { url: Url, timeout: Duration },
    #[error("the answer from {url} is larger than the limit of {limit} bytes; download stopped")]
    BodyTooLarge { url: Url, limit: usize },
    #[error(
        "cannot find the server {host}: its name does not resolve; check the address, and your network connection or VPN"
    )]
    UnknownHost { url: Url, host: String },
    #[error(
        "nothing answers at {host}:{port} (connection refused); check the address and port, and that the server is running"
    )]
    ConnectionRefused { url: Url, host: String, port: u16 },
    #[error("cannot reach {url}: {detail}; check your network connection or VPN")]
    Connect { url: Url, detail: String },
    #[error("the download from {url} broke off: {detail}")]
    Transfer { url: Url, detail: String },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("not fetched: {reason}; a feed's files must come from its own server or domain")]
    OutsideWorkspace { url: Url, reason: String },
}

fn kerberos_note(failure: Option<&KerberosFailure>) -> String {
    failure
        .map(|f| format!(" ({})", sign_in::also_failed(f)))
        .unwrap_or_default()
}

/// A Windows account: domain (or UPN suffix), user and password.
///
/// `Debug` never shows the password; nothing in this module logs it or puts
/// it in an error.
#[derive(Clone)]
pub struct Credentials {
    form: NameForm,
    user: String,
    password: Zeroizing<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NameForm {
    /// `DOMAIN\user`
    DownLevel(String),
    /// `user@domain`
    Upn(String),
    /// `user`
    Bare,
}

impl Credentials {
    /// Parses `DOMAIN\user`, `user@domain` (a user principal name) or a
    /// bare `user`.
    pub fn parse(login: &str, password: Zeroizing<String>) -> Result<Self, HttpError> {
        let bad = || HttpError::InvalidUserName(login.to_owned());
        let valid = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_control() || c == ':');
        let (form, user) = if let Some((domain, user)) = login.split_once('\\') {
            if !valid(domain) || !valid(user) || user.contains('\\') {
                return Err(bad());
            }
            (NameForm::DownLevel(domain.to_owned()), user)
        } else if let Some((user, suffix)) = login.rsplit_once('@') {
            if !valid(user) || !valid(suffix) {
                return Err(bad());
            }
            (NameForm::Upn(suffix.to_owned()), user)
        } else {
            if !valid(login) {
                return Err(bad());
            }
            (NameForm::Bare, login)
        };
        Ok(Credentials {
            form,
            user: user.to_owned(),
            password,
        })
    }

    /// The same as `parse(format!("{domain}\\{user}"))`, or a bare user when
    /// `domain` is empty.
    pub fn with_domain(
        domain: &str,
        user: &str,
        password: Zeroizing<String>,
    ) -> Result<Self, HttpError> {
        if domain.is_empty() {
            Self::parse(user, password)
        } else {
            Self::parse(&format!("{domain}\\{user}"), password)
        }
    }

    /// The NetBIOS domain (`DOMAIN\user`) or the UPN suffix (`user@domain`).
    pub fn domain(&self) -> Option<&str> {
        match &self.form {
            NameForm::DownLevel(d) | NameForm::Upn(d) => Some(d),
            NameForm::Bare => None,
        }
    }

    /// The account name without its domain.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, for handing to the Secret Service. Never log it.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The name as the user would type it.
    pub fn login_name(&self) -> String {
        match &self.form {
            NameForm::DownLevel(d) => format!("{d}\\{}", self.user),
            NameForm::Upn(s) => format!("{}@{s}", self.user),
            NameForm::Bare => self.user.clone(),
        }
    }

    fn sspi_identity(&self) -> Result<sspi::AuthIdentity, String> {
        let username = match &self.form {
            NameForm::DownLevel(d) => sspi::Username::new_down_level_logon_name(&self.user, d),
            NameForm::Upn(s) => sspi::Username::new_upn(&self.user, s),
            NameForm::Bare => sspi::Username::new(&self.user, None),
        }
        .map_err(|e| e.to_string())?;
        Ok(sspi::AuthIdentity {
            username,
            password: String::clone(&self.password).into(),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login_name())
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How a [`FeedClient`] talks to servers.
#[derive(Debug, Clone)]
pub struct FeedClientOptions {
    /// Allow plain `http` URLs (test servers). Basic authentication is still
    /// refused over http.
    pub allow_http: bool,
    /// PEM bytes of CA certificates to trust besides the system's (the
    /// `--ca-file` of the command line).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Bound on each request: connecting, the sign-in, and the whole body.
    pub timeout: Duration,
    /// Largest feed body accepted.
    pub max_feed_bytes: usize,
    /// Largest icon or `.rdp` file accepted.
    pub max_file_bytes: usize,
    /// Addresses to use for these host names instead of asking DNS (as
    /// curl's `--resolve`); for test servers under made-up names. The
    /// rules on where a feed's files may come from still apply.
    pub resolve: Vec<(String, IpAddr)>,
    /// Sends this as the channel binding's application data instead of
    /// the one computed from the server's certificate. Only for testing
    /// that servers check the binding; `None` everywhere else.
    #[doc(hidden)]
    pub channel_binding_override: Option<Vec<u8>>,
}

impl Default for FeedClientOptions {
    fn default() -> Self {
        FeedClientOptions {
            allow_http: false,
            extra_ca_pem: None,
            timeout: Duration::from_secs(30),
            max_feed_bytes: 32 * 1024 * 1024,
            max_file_bytes: 16 * 1024 * 1024,
            resolve: Vec::new(),
            channel_binding_override: None,
        }
    }
}

/// A downloaded feed.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// The `Content-Type` as sent: `application/x-msts-radc+xml` for schema
    /// 2.x, `text/xml` for 1.1.
    pub content_type: Option<String>,
    /// The URL that answered with the body.
    pub final_url: Url,
}

/// What a web service answered ([`FeedClient::post`]).
#[derive(Debug, Clone)]
pub struct Posted {
    /// 200, or 500 for a SOAP fault.
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// An HTTP client for one workspace's feed, keeping the sign-in cookie
/// between requests. Cheap to share behind `&`.
pub struct FeedClient {
    /// For the feed's own origin.
    http: reqwest::Client,
    /// For other hosts of the feed's scope: its resolver drops addresses
    /// the feed may not lead to.
    foreign: reqwest::Client,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    options: FeedClientOptions,
    session: Mutex<Session>,
}

impl fmt::Debug for FeedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = self.lock();
        f.debug_struct("FeedClient")
            .field("options", &self.options)
            .field(
                "origin",
                &session.origin.as_ref().map(Origin::ascii_serialization),
            )
            .field("signed_in", &session.cookie.is_some())
            .field("credentials", &session.credentials)
            .finish()
    }
}

#[derive(Default)]
struct Session {
    origin: Option<Origin>,
    /// Where the feed's files may come from.
    scope: Option<Scope>,
    cookie: Option<Zeroizing<String>>,
    credentials: Option<Credentials>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Feed,
    File,
}

/// What [`FeedClient::fetch_file_if_changed`] got.
#[derive(Debug, Clone)]
pub enum FileAnswer {
    Body {
        bytes: Vec<u8>,
        /// The answer's `ETag` and `Last-Modified`, to store with it.
        validators: Validators,
    },
    /// `304 Not Modified`: the stored file is current.
    NotModified,
}

enum Got {
    Body(Fetched, Validators),
    NotModified,
}

/// Longest validator kept; real ETags and HTTP dates are far shorter.
const MAX_VALIDATOR_BYTES: usize = 256;

/// A validator as sent by a server, if it is one radc keeps and sends
/// back: short, visible ASCII (an `ETag` may be weak, `W/"…"`).
fn validator_value(text: &str) -> Option<HeaderValue> {
    let usable = !text.is_empty()
        && text.len() <= MAX_VALIDATOR_BYTES
        && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    usable.then(|| HeaderValue::from_str(text).ok()).flatten()
}

/// The `ETag` and `Last-Modified` of an answer, where usable.
fn validators(headers: &HeaderMap) -> Validators {
    let get = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| validator_value(v).is_some())
            .map(str::to_owned)
    };
    Validators {
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
    }
}

/// An answer read whole (bounded).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn content_type(&self) -> Option<String> {
        content_type(&self.headers)
    }
}

enum LoginOutcome {
    Token(Zeroizing<String>),
    /// The redirect target was not a login page but the content itself.
    Content(Answer),
}

impl FeedClient {
    /// Builds a client; fails only on a bad CA file.
    pub fn new(options: FeedClientOptions) -> Result<Self, HttpError> {
        let tls = Arc::new(tls_config(options.extra_ca_pem.as_deref())?);
        let resolver = Resolver::new(&options.resolve);
        let build = |resolver: Resolver| {
            reqwest::Client::builder()
                .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(options.timeout)
                .connect_timeout(options.timeout)
                .no_proxy()
                .user_agent(USER_AGENT)
                .dns_resolver(Arc::new(resolver))
                .build()
                .map_err(|e| HttpError::Setup(root_cause(&e)))
        };
        let http = build(resolver.clone())?;
        let foreign = build(resolver.filtering())?;
        Ok(FeedClient {
            http,
            foreign,
            resolver,
            tls,
            options,
            session: Mutex::new(Session::default()),
        })
    }

    /// Downloads the feed at `url`, signing in with `credentials` if the
    /// server asks. The credentials are kept (in memory only) to sign in
    /// again when the cookie expires. A feed on another origin than the
    /// previous one starts a new session.
    pub async fn fetch_feed(
        &self,
        url: &Url,
        credentials: Option<&Credentials>,
    ) -> Result<Fetched, HttpError> {
        self.check_url(url)?;
        {
            let mut session = self.lock();
            let origin = url.origin();
            if session.origin.as_ref() != Some(&origin) {
                *session = Session {
                    origin: Some(origin),
                    scope: Some(Scope::new(url)),
                    ..Session::default()
                };
                self.resolver.forget_feed();
            }
            if let Some(c) = credentials {
                session.credentials = Some(c.clone());
            }
        }
        self.get(url, Kind::Feed).await
    }

    /// Downloads an icon or resource file named by the feed. On the feed's
    /// origin it carries the session's cookie (signing in again if needed);
    /// on any other origin it goes without cookie or credentials.
    pub async fn fetch_file(&self, url: &Url) -> Result<Vec<u8>, HttpError> {
        self.check_url(url)?;
        Ok(self.get(url, Kind::File).await?.body)
    }

    /// [`FeedClient::fetch_file`], conditional on `known`: the validators
    /// stored with the file of exactly this URL. They go with the request
    /// to `url` only (as `If-None-Match` and `If-Modified-Since`), never
    /// to where it redirects; a `304` to them is [`FileAnswer::NotModified`].
    pub async fn fetch_file_if_changed(
        &self,
        url: &Url,
        known: Option<&Validators>,
    ) -> Result<FileAnswer, HttpError> {
        self.check_url(url)?;
        let known = known.filter(|v| !v.is_empty());
        Ok(match self.get_with(url, Kind::File, known).await? {
            Got::Body(fetched, validators) => FileAnswer::Body {
                bytes: fetched.body,
                validators,
            },
            Got::NotModified => FileAnswer::NotModified,
        })
    }

    /// POSTs `body` to a web service beside the feed (MS-RDWR's
    /// `RDWebService.asmx`), with `headers`. Only on the feed's own
    /// origin, where the session is: fetch the feed first. The request
    /// carries the session's cookie; when the server sends it to its login
    /// page (first use, or the cookie expired) the client signs in there as
    /// for the feed and posts again. Returns the status, content type and
    /// body (at most `limit` bytes) of a 200 or a 500 (how SOAP services
    /// answer a fault); anything else is an error.
    pub async fn post(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
        limit: usize,
    ) -> Result<Posted, HttpError> {
        self.check_url(url)?;
        if self.lock().origin.as_ref() != Some(&url.origin()) {
            return Err(HttpError::OutsideWorkspace {
                url: url.clone(),
                reason: format!("{url} is not on the server of the feed this client signed in to"),
            });
        }
        let mut logins = 0;
        loop {
            let cookie = self.lock().cookie.clone();
            let mut request = self.http.post(url.clone()).body(body.to_vec());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(token) = &cookie {
                let mut value = HeaderValue::from_str(&format!("{COOKIE_NAME}={}", token.as_str()))
                    .map_err(|_| HttpError::Setup("unusable cookie".into()))?;
                value.set_sensitive(true);
                request = request.header(header::COOKIE, value);
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.reqwest_error(e, url))?;
            let status = response.status().as_u16();
            tracing::debug!(%url, status, sent_cookie = cookie.is_some(), "web service request");
            match status {
                200 | 500 => {
                    let content_type = content_type(response.headers());
                    let body = read_limited(response, url, limit, self.options.timeout).await?;
                    return Ok(Posted {
                        status,
                        content_type,
                        body,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    let target = location(response.headers(), url)?;
                    if target.origin() != url.origin() {
                        return Err(HttpError::CrossOriginRedirect {
                            url: url.clone(),
                            target: target.origin().ascii_serialization(),
                        });
                    }
                    logins += 1;
                    if logins > 2 {
                        return Err(HttpError::LoginLoop { url: target });
                    }
                    self.lock().cookie = None;
                    match self.login(&target, Kind::Feed).await? {
                        LoginOutcome::Token(token) => self.lock().cookie = Some(token),
                        LoginOutcome::Content(answer) => {
                            return Err(HttpError::NoLoginToken {
                                url: target,
                                content_type: answer.content_type().unwrap_or_default(),
                            });
                        }
                    }
                }
                _ => return Err(status_error(url, status)),
            }
        }
    }

    /// Whether the client holds a sign-in cookie.
    pub fn is_signed_in(&self) -> bool {
        self.lock().cookie.is_some()
    }

    /// Forgets the cookie and the credentials.
    pub fn sign_out(&self) {
        *self.lock() = Session::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_url(&self, url: &Url) -> Result<(), HttpError> {
        if !url.username().is_empty() || url.password().is_some() {
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(HttpError::CredentialsInUrl { url: shown });
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.options.allow_http => Ok(()),
            "http" => Err(HttpError::PlainHttpRefused { url: url.clone() }),
            _ => Err(HttpError::UnsupportedScheme { url: url.clone() }),
        }
    }

    fn limit(&self, kind: Kind) -> usize {
        match kind {
            Kind::Feed => self.options.max_feed_bytes,
            Kind::File => self.options.max_file_bytes,
        }
    }

    async fn get(&self, start: &Url, kind: Kind) -> Result<Fetched, HttpError> {
        match self.get_with(start, kind, None).await? {
            Got::Body(fetched, _) => Ok(fetched),
            // Not asked for: without conditions a 304 is no answer.
            Got::NotModified => Err(status_error(start, 304)),
        }
    }

    async fn get_with(
        &self,
        start: &Url,
        kind: Kind,
        known: Option<&Validators>,
    ) -> Result<Got, HttpError> {
        let mut url = start.clone();
        let mut redirects = 0;
        let mut logins = 0;
        loop {
            self.check_url(&url)?;
            let (same_origin, cookie, scope) = {
                let session = self.lock();
                let same = session.origin.as_ref() == Some(&url.origin());
                let cookie = if same { session.cookie.clone() } else { None };
                (same, cookie, session.scope.clone())
            };
            if !same_origin {
                self.check_scope(scope.as_ref(), &url).await?;
            }
            let sent_cookie = cookie.is_some();
            // Only for the very URL the validators were stored with.
            let conditions = known.filter(|_| url == *start);
            let response = self
                .send(
                    &url,
                    kind,
                    cookie.as_ref().map(|c| c.as_str()),
                    same_origin,
                    conditions,
                )
                .await?;
            let status = response.status().as_u16();
            tracing::debug!(%url, status, sent_cookie, "feed request");
            match status {
                200 => {
                    let content_type = content_type(response.headers());
                    let validators = validators(response.headers());
                    let body = read_limited(response, &url, self.limit(kind), self.options.timeout)
                        .await?;
                    return Ok(Got::Body(
                        Fetched {
                            body,
                            content_type,
                            final_url: url,
                        },
                        validators,
                    ));
                }
                304 if conditions.is_some() => return Ok(Got::NotModified),
                301 | 302 | 303 | 307 | 308 => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(HttpError::TooManyRedirects { url: start.clone() });
                    }
                    let target = location(response.headers(), &url)?;
                    if !same_origin {
                        // Not the feed's server: nothing of ours goes along,
                        // and nothing of ours can be lost; follow it plainly.
                        url = target;
                        continue;
                    }
                    if target.origin() != url.origin() {
                        return Err(HttpError::CrossOriginRedirect {
                            url,
                            target: target.origin().ascii_serialization(),
                        });
                    }
                    // On the feed's server a redirect is (most likely) to
                    // the login page: first sign-in, or the cookie expired.
                    logins += 1;
                    if logins > 2 {
                        return Err(HttpError::LoginLoop { url: target });
                    }
                    if sent_cookie {
                        tracing::info!(%url, "sign-in cookie no longer accepted; signing in again");
                        self.lock().cookie = None;
                    }
                    match self.login(&target, kind).await? {
                        LoginOutcome::Token(token) => {
                            self.lock().cookie = Some(token);
                            // Ask for the same URL again, now with the cookie.
                        }
                        LoginOutcome::Content(answer) => {
                            // A plain redirect to the content.
                            return Ok(Got::Body(
                                Fetched {
                                    content_type: answer.content_type(),
                                    body: answer.body,
                                    final_url: target,
                                },
                                Validators::default(),
                            ));
                        }
                    }
                }
                401 => {
                    if !same_origin {
                        return Err(HttpError::AuthenticationElsewhere { url });
                    }
                    drop(response);
                    let credentials = self.lock().credentials.clone();
                    let answer = self
                        .windows_get(
                            &url,
                            kind,
                            credentials.as_ref(),
                            cookie.as_ref().map(|c| c.as_str()),
                        )
                        .await?;
                    return match answer.status {
                        200 => Ok(Got::Body(
                            Fetched {
                                content_type: answer.content_type(),
                                body: answer.body,
                                final_url: url,
                            },
                            validators(&answer.headers),
                        )),
                        _ => Err(status_error(&url, answer.status)),
                    };
                }
                _ => return Err(status_error(&url, status)),
            }
        }
    }

    /// A URL off the feed's origin must be in its scope, and the feed's own
    /// kind of address must be known before the filtering resolver runs.
    async fn check_scope(&self, scope: Option<&Scope>, url: &Url) -> Result<(), HttpError> {
        let outside = |reason: String| HttpError::OutsideWorkspace {
            url: url.clone(),
            reason,
        };
        let scope = scope.ok_or_else(|| outside(format!("{url} is not on a feed's server")))?;
        scope.check(url).map_err(|e| outside(e.to_string()))?;
        self.resolver.learn_feed(scope.feed_url()).await
    }

    async fn send(
        &self,
        url: &Url,
        kind: Kind,
        cookie: Option<&str>,
        same_origin: bool,
        conditions: Option<&Validators>,
    ) -> Result<reqwest::Response, HttpError> {
        let client = if same_origin {
            &self.http
        } else {
            &self.foreign
        };
        let mut request = client.get(url.clone()).header(header::ACCEPT, accept(kind));
        if let Some(known) = conditions {
            for (name, value) in [
                (header::IF_NONE_MATCH, &known.etag),
                (header::IF_MODIFIED_SINCE, &known.last_modified),
            ] {
                if let Some(value) = value.as_deref().and_then(validator_value) {
                    request = request.header(name, value);
                }
            }
        }
        if let Some(token) = cookie {
            let mut value = HeaderValue::from_str(&format!("{COOKIE_NAME}={token}"))
                .map_err(|_| HttpError::Setup("unusable cookie".into()))?;
            value.set_sensitive(true);
            request = request.header(header::COOKIE, value);
        }
        request.send().await.map_err(|e| self.reqwest_error(e, url))
    }

    fn reqwest_error(&self, e: reqwest::Error, url: &Url) -> HttpError {
        if e.is_timeout() {
            return HttpError::Timeout {
                url: url.clone(),
                timeout: self.options.timeout,
            };
        }
        classify_error(&e, url, e.is_connect())
    }

    /// Follows the redirect to what should be the login page and signs in
    /// there; returns the token.
    async fn login(&self, target: &Url, kind: Kind) -> Result<LoginOutcome, HttpError> {
        self.check_url(target)?;
        let credentials = self.lock().credentials.clone();
        let answer = self
            .windows_get(target, kind, credentials.as_ref(), None)
            .await?;
        if answer.status != 200 {
            return Err(status_error(target, answer.status));
        }
        let content_type = answer.content_type().unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == LOGIN_CONTENT_TYPE {
            let token = Zeroizing::new(String::from_utf8_lossy(&answer.body).trim().to_owned());
            let usable = !token.is_empty()
                && token.len() <= 16 * 1024
                && token
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'"');
            if !usable {
                return Err(HttpError::NoLoginToken {
                    url: target.clone(),
                    content_type,
                });
            }
            tracing::info!(url = %target, "signed in");
            return Ok(LoginOutcome::Token(token));
        }
        let is_content = match kind {
            Kind::Feed => essence == "application/x-msts-radc+xml" || essence == "text/xml",
            Kind::File => true,
        };
        if is_content {
            return Ok(LoginOutcome::Content(answer));
        }
        Err(HttpError::NoLoginToken {
            url: target.clone(),
            content_type,
        })
    }

    /// GET on one fresh HTTP/1.1 connection; if the answer is 401, signs in
    /// on that same connection and returns the answer after the sign-in.
    async fn windows_get(
        &self,
        url: &Url,
        kind: Kind,
        credentials: Option<&Credentials>,
        cookie: Option<&str>,
    ) -> Result<Answer, HttpError> {
        let timeout = self.options.timeout;
        match tokio::time::timeout(
            timeout,
            self.windows_get_inner(url, kind, credentials, cookie),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout {
                url: url.clone(),
                timeout,
            }),
        }
    }

    async fn windows_get_inner(
        &self,
        url: &Url,
        kind: Kind,
        credentials: Option<&Credentials>,
        cookie: Option<&str>,
    ) -> Result<Answer, HttpError> {
        let limit = self.limit(kind).max(MAX_LOGIN_BODY);
        let mut conn = Connection::open(url, &self.tls, &self.resolver).await?;
        let first = conn.get(url, kind, cookie, None, limit).await?;
        if first.status != 401 {
            return Ok(first);
        }
        let offered = offered_schemes(&first.headers);
        let steps = sign_in::plan(&offered, url.scheme() == "https", credentials.is_some())
            .map_err(|e| match e {
                PlanError::CredentialsRequired => {
                    HttpError::CredentialsRequired { url: url.clone() }
                }
                PlanError::BasicOverHttp => HttpError::BasicOverHttp { url: url.clone() },
                PlanError::Unsupported => HttpError::UnsupportedAuth {
                    url: url.clone(),
                    offered: if offered.is_empty() {
                        "nothing".into()
                    } else {
                        offered.join(", ")
                    },
                },
            })?;
        let binding = self.channel_binding(&conn);
        let mut kerberos_failure: Option<KerberosFailure> = None;
        for mechanism in steps {
            tracing::debug!(%url, ?mechanism, "signing in");
            let answer = match (mechanism, credentials) {
                (Mechanism::Kerberos, _) => {
                    match kerberos_sign_in(&mut conn, url, kind, cookie, limit, binding.clone())
                        .await
                    {
                        Ok(answer) => {
                            tracing::info!(%url, "signed in with Kerberos");
                            return Ok(answer);
                        }
                        Err(KerberosError::Http(e)) => return Err(e),
                        Err(KerberosError::Failed(failure, sent)) => {
                            tracing::debug!(%url, %failure, "no Kerberos sign-in");
                            if sent {
                                // The server may have given up on this
                                // connection; the password starts afresh.
                                conn = Connection::open(url, &self.tls, &self.resolver).await?;
                            }
                            kerberos_failure = Some(failure);
                            continue;
                        }
                    }
                }
                (_, None) => break,
                (mechanism, Some(credentials)) => {
                    self.password_sign_in(
                        &mut conn,
                        mechanism,
                        url,
                        kind,
                        credentials,
                        cookie,
                        limit,
                        binding.as_deref(),
                        kerberos_failure.as_ref(),
                    )
                    .await?
                }
            };
            if let Some(failure) = &kerberos_failure {
                tracing::warn!(%url, "{}", sign_in::fell_back(failure));
            }
            return Ok(answer);
        }
        Err(match kerberos_failure {
            Some(failure) => HttpError::KerberosFailed {
                url: url.clone(),
                detail: sign_in::no_fallback(&failure),
            },
            None => HttpError::CredentialsRequired { url: url.clone() },
        })
    }

    /// The channel binding for a sign-in on `conn`: from the certificate
    /// the server showed on it (https only).
    fn channel_binding(&self, conn: &Connection) -> Option<Vec<u8>> {
        let cert = conn.peer_certificate.as_deref()?;
        if let Some(data) = &self.options.channel_binding_override {
            return Some(data.clone());
        }
        match channel_binding::tls_server_end_point(cert) {
            Ok(data) => Some(data),
            Err(error) => {
                tracing::warn!(%error, "signing in without channel binding");
                None
            }
        }
    }

    /// NTLM (plain or inside SPNEGO) or Basic, with the password.
    #[allow(clippy::too_many_arguments)]
    async fn password_sign_in(
        &self,
        conn: &mut Connection,
        mechanism: Mechanism,
        url: &Url,
        kind: Kind,
        credentials: &Credentials,
        cookie: Option<&str>,
        limit: usize,
        binding: Option<&[u8]>,
        kerberos_failure: Option<&KerberosFailure>,
    ) -> Result<Answer, HttpError> {
        let wrong_password = || HttpError::WrongPassword {
            url: url.clone(),
            user: credentials.login_name().into(),
            kerberos: kerberos_failure.map(|f| Box::new(f.clone())),
        };
        let scheme = mechanism.scheme();
        if mechanism == Mechanism::Basic {
            let plain = Zeroizing::new(format!(
                "{}:{}",
                credentials.login_name(),
                credentials.password.as_str()
            ));
            let value = Zeroizing::new(format!("Basic {}", B64.encode(plain.as_bytes())));
            let answer = conn.get(url, kind, cookie, Some(&value), limit).await?;
            if answer.status == 401 {
                return Err(wrong_password());
            }
            return Ok(answer);
        }

        let auth_error = |detail: String| HttpError::Auth {
            url: url.clone(),
            detail,
        };
        let host = url.host_str().unwrap_or_default();
        let mut context =
            SecurityContext::new(scheme, credentials, host, binding).map_err(auth_error)?;
        let mut input: Option<Vec<u8>> = None;
        for _ in 0..MAX_AUTH_ROUNDS {
            let token = context.step(input.take()).map_err(auth_error)?;
            let value = Zeroizing::new(format!("{scheme} {}", B64.encode(&token)));
            let answer = conn.get(url, kind, cookie, Some(&value), limit).await?;
            let server_token = server_token(&answer.headers, scheme);
            if answer.status == 401 {
                match server_token {
                    Some(t) if !context.done => input = Some(t),
                    _ => return Err(wrong_password()),
                }
                continue;
            }
            if let Some(t) = server_token
                && !context.done
            {
                // The final SPNEGO token (mechListMIC); a failure here would
                // mean the server is not who signed us in.
                context.step(Some(t)).map_err(auth_error)?;
            }
            return Ok(answer);
        }
        Err(auth_error("the server did not finish the exchange".into()))
    }
}

/// How a Kerberos sign-in ended when it did not sign in.
enum KerberosError {
    /// Kerberos could not be used, or the server refused it; whether a
    /// token was sent on the connection.
    Failed(KerberosFailure, bool),
    /// The connection or the server failed: no other mechanism would fare
    /// better.
    Http(HttpError),
}

impl From<HttpError> for KerberosError {
    fn from(e: HttpError) -> Self {
        KerberosError::Http(e)
    }
}

/// SPNEGO with Kerberos on `conn`. GSSAPI runs off the async threads: it
/// may talk to the KDC.
async fn kerberos_sign_in(
    conn: &mut Connection,
    url: &Url,
    kind: Kind,
    cookie: Option<&str>,
    limit: usize,
    binding: Option<Vec<u8>>,
) -> Result<Answer, KerberosError> {
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, KerberosError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| KerberosError::Failed(KerberosFailure::Gssapi(e.to_string()), false))
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut context = blocking(move || KerberosContext::new(&host, binding))
        .await?
        .map_err(|f| KerberosError::Failed(f, false))?;
    let mut input: Option<Vec<u8>> = None;
    let mut sent = false;
    for _ in 0..MAX_AUTH_ROUNDS {
        let (back, token) = blocking(move || {
            let token = context.step(input.as_deref());
            (context, token)
        })
        .await?;
        context = back;
        let token = token
            .map_err(|f| KerberosError::Failed(f, sent))?
            .unwrap_or_default();
        let value = Zeroizing::new(format!("Negotiate {}", B64.encode(&token)));
        let answer = conn.get(url, kind, cookie, Some(&value), limit).await?;
        sent = true;
        let server_token = server_token(&answer.headers, "Negotiate");
        if answer.status == 401 {
            match server_token {
                Some(t) if !context.is_complete() => input = Some(t),
                _ => return Err(KerberosError::Failed(KerberosFailure::Rejected, sent)),
            }
            continue;
        }
        match server_token {
            Some(t) if !context.is_complete() => {
                // Mutual authentication: the server proves it holds the
                // service key. A failure means it is not who we asked for.
                let (_, done) = blocking(move || {
                    let done = context.step(Some(&t));
                    (context, done)
                })
                .await?;
                done.map_err(|f| HttpError::Auth {
                    url: url.clone(),
                    detail: format!("the server's Kerberos answer does not prove who it is: {f}"),
                })?;
            }
            _ if !context.is_complete() => {
                tracing::debug!(%url, "the server sent no mutual authentication token");
            }
            _ => {}
        }
        return Ok(answer);
    }
    Err(KerberosError::Http(HttpError::Auth {
        url: url.clone(),
        detail: "the server did not finish the Kerberos exchange".into(),
    }))
}

fn accept(kind: Kind) -> &'static str {
    match kind {
        Kind::Feed => FEED_ACCEPT,
        Kind::File => "*/*",
    }
}

fn status_error(url: &Url, status: u16) -> HttpError {
    match status {
        404 => HttpError::NotFound { url: url.clone() },
        _ => HttpError::Status {
            url: url.clone(),
            status,
        },
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn location(headers: &HeaderMap, base: &Url) -> Result<Url, HttpError> {
    headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| base.join(l).ok())
        .ok_or_else(|| HttpError::BadRedirect { url: base.clone() })
}

/// The schemes of all `WWW-Authenticate` headers, e.g. `["Negotiate", "NTLM"]`.
fn offered_schemes(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| {
            let word = part.split_whitespace().next()?;
            (!word.contains('=')).then(|| word.to_owned())
        })
        .collect()
}

/// The base64 token in `WWW-Authenticate: <scheme> <token>`, if any.
fn server_token(headers: &HeaderMap, scheme: &str) -> Option<Vec<u8>> {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (s, data) = v.trim().split_once(' ')?;
            if !s.eq_ignore_ascii_case(scheme) {
                return None;
            }
            B64.decode(data.trim()).ok()
        })
}

fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, HttpError> {
    // A bad CA file is an error now, not at the first https request.
    let mut extra = rustls::RootCertStore::empty();
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| HttpError::CaFile(e.to_string()))?;
            extra
                .add(cert)
                .map_err(|e| HttpError::CaFile(e.to_string()))?;
        }
        if extra.is_empty() {
            return Err(HttpError::CaFile("no certificate in it".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(SystemRootsVerifier {
        extra,
        provider: provider.clone(),
        verifier: std::sync::OnceLock::new(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls's own WebPKI verifier over the system's CA certificates and
/// the extra ones, built when the first server certificate is to be
/// checked: reading and parsing the system's certificates takes a few
/// milliseconds that a client which never speaks TLS (a refresh of a
/// plain http test feed) need not pay. Only the moment changes; every
/// check is the WebPKI verifier's.
#[derive(Debug)]
struct SystemRootsVerifier {
    /// The workspace's own CA certificates, checked when it was built.
    extra: rustls::RootCertStore,
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: std::sync::OnceLock<Result<Arc<rustls::client::WebPkiServerVerifier>, rustls::Error>>,
}

impl SystemRootsVerifier {
    fn verifier(&self) -> Result<&Arc<rustls::client::WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let mut roots = self.extra.clone();
                let native = rustls_native_certs::load_native_certs();
                for error in &native.errors {
                    tracing::debug!(%error, "a system CA certificate could not be loaded");
                }
                let (added, ignored) = roots.add_parsable_certificates(native.certs);
                tracing::debug!(added, ignored, "system CA certificates");
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| rustls::Error::General(format!("no CA certificates to trust: {e}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl rustls::client::danger::ServerCertVerifier for SystemRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS failure anywhere in an error's sources.
fn find_tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    find_in_chain::<rustls::Error>(e)
}

/// Walks an error's sources, and those of the errors wrapped in
/// `io::Error`s, for one of type `T`.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = find_in_chain::<T>(inner) {
                return Some(found);
            }
        }
        source = err.source();
    }
    None
}

/// Turns a transport error into one sentence that says what to check: a
/// name that does not resolve, a refused connection, a TLS failure, or the
/// root cause of anything else (never the whole chain of library errors).
fn classify_error(e: &(dyn std::error::Error + 'static), url: &Url, connect: bool) -> HttpError {
    if let Some(tls) = find_tls_error(e) {
        return HttpError::Tls {
            url: url.clone(),
            detail: tls.to_string(),
        };
    }
    if let Some(lookup) = find_in_chain::<LookupError>(e) {
        return HttpError::UnknownHost {
            url: url.clone(),
            host: lookup.host.clone(),
        };
    }
    if let Some(refusal) = find_in_chain::<AddressRefused>(e) {
        return HttpError::OutsideWorkspace {
            url: url.clone(),
            reason: refusal.0.clone(),
        };
    }
    if connect
        && find_in_chain::<std::io::Error>(e)
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    {
        return HttpError::ConnectionRefused {
            url: url.clone(),
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port_or_known_default().unwrap_or_default(),
        };
    }
    let detail = root_cause(e);
    if connect {
        HttpError::Connect {
            url: url.clone(),
            detail,
        }
    } else {
        HttpError::Transfer {
            url: url.clone(),
            detail,
        }
    }
}

/// The innermost error's message: what actually went wrong, without what
/// each library layer called it on the way up.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

/// A host name that does not resolve.
#[derive(Debug, thiserror::Error)]
#[error("the name {host} does not resolve: {source}")]
struct LookupError {
    host: String,
    source: std::io::Error,
}

/// A host whose addresses radc does not go to on a feed's behalf.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct AddressRefused(String);

async fn read_limited(
    mut response: reqwest::Response,
    url: &Url,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    let too_large = || HttpError::BodyTooLarge {
        url: url.clone(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(HttpError::Timeout {
                    url: url.clone(),
                    timeout,
                });
            }
            Err(e) => return Err(classify_error(&e, url, false)),
        }
    }
}

/// Name resolution for the feed's files: the `resolve` overrides, then the
/// system's resolver; in its filtering form, only addresses
/// [`address_allowed`] for the feed's own kind of address.
#[derive(Clone)]
struct Resolver {
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
    /// The kind of the feed's own addresses, learnt before the first
    /// request to another host; shared by the two forms.
    feed_kind: Arc<Mutex<Option<AddressKind>>>,
    filter: bool,
}

impl Resolver {
    fn new(overrides: &[(String, IpAddr)]) -> Resolver {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, addr) in overrides {
            map.entry(name.to_ascii_lowercase())
                .or_default()
                .push(*addr);
        }
        Resolver {
            overrides: Arc::new(map),
            feed_kind: Arc::default(),
            filter: false,
        }
    }

    fn filtering(&self) -> Resolver {
        Resolver {
            filter: true,
            ..self.clone()
        }
    }

    fn forget_feed(&self) {
        *self.feed_kind.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Finds out what kind of address the feed's host has, once.
    async fn learn_feed(&self, feed_url: &Url) -> Result<(), HttpError> {
        if self
            .feed_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let host = match feed_url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => String::new(),
        };
        let addrs = self
            .lookup(&host, 0)
            .await
            .map_err(|e| HttpError::UnknownHost {
                url: feed_url.clone(),
                host: e.host,
            })?;
        let kind = AddressKind::of_host(addrs.iter().map(SocketAddr::ip));
        *self.feed_kind.lock().unwrap_or_else(|e| e.into_inner()) = kind;
        Ok(())
    }

    /// Every address of `host` (a name or an IP literal).
    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, LookupError> {
        if let Some(addrs) = self.overrides.get(&host.to_ascii_lowercase()) {
            return Ok(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(source) => Err(LookupError {
                host: host.to_owned(),
                source,
            }),
        }
    }

    /// The addresses of `host` a request for a feed's file may go to.
    async fn resolve_allowed(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = self.lookup(host, 0).await?;
        if !self.filter {
            return Ok(addrs);
        }
        let feed = *self.feed_kind.lock().unwrap_or_else(|e| e.into_inner());
        let Some(feed) = feed else {
            return Err(Box::new(AddressRefused(format!(
                "{host}: the feed's own address is not known"
            ))));
        };
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
            .into_iter()
            .partition(|a| address_allowed(feed, a.ip()));
        if allowed.is_empty() && !refused.is_empty() {
            let shown: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(Box::new(AddressRefused(format!(
                "{host} resolves to {}, a more local network than the feed's own; \
                 radc does not go there on a feed's behalf",
                shown.join(", ")
            ))));
        }
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.resolve_allowed(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One HTTP/1.1 connection, kept for a whole sign-in.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host_header: String,
    /// The server's certificate (DER) on a TLS connection.
    peer_certificate: Option<Vec<u8>>,
}

impl Connection {
    async fn open(
        url: &Url,
        tls: &Arc<rustls::ClientConfig>,
        resolver: &Resolver,
    ) -> Result<Self, HttpError> {
        let connect_error = |detail: String| HttpError::Connect {
            url: url.clone(),
            detail,
        };
        let host = url
            .host()
            .ok_or_else(|| connect_error("no host in the URL".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| connect_error("no port".into()))?;
        let host_name = match &host {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let addrs = resolver
            .lookup(&host_name, port)
            .await
            .map_err(|e| classify_error(&e, url, true))?;
        let tcp = tokio::net::TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|e| classify_error(&e, url, true))?;
        let _ = tcp.set_nodelay(true);
        let mut peer_certificate = None;
        let stream: Box<dyn Io> = if url.scheme() == "https" {
            let server_name = ServerName::try_from(host_name.clone())
                .map_err(|e| connect_error(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(tls))
                .connect(server_name, tcp)
                .await
                .map_err(|e| classify_error(&e, url, true))?;
            peer_certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.to_vec());
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| classify_error(&e, url, true))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "sign-in connection ended");
            }
        });
        let host_header = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        Ok(Connection {
            sender,
            host_header,
            peer_certificate,
        })
    }

    async fn get(
        &mut self,
        url: &Url,
        kind: Kind,
        cookie: Option<&str>,
        authorization: Option<&str>,
        limit: usize,
    ) -> Result<Answer, HttpError> {
        let transfer = |e: &(dyn std::error::Error + 'static)| classify_error(e, url, false);
        self.sender.ready().await.map_err(|_| HttpError::Auth {
            url: url.clone(),
            detail: "the server closed the connection in the middle of the sign-in (NTLM needs one connection throughout)".into(),
        })?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = hyper::Request::get(path)
            .header(header::HOST, &self.host_header)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, accept(kind));
        if let Some(token) = cookie {
            let mut value = HeaderValue::from_str(&format!("{COOKIE_NAME}={token}"))
                .map_err(|_| HttpError::Setup("unusable cookie".into()))?;
            value.set_sensitive(true);
            request = request.header(header::COOKIE, value);
        }
        if let Some(auth) = authorization {
            let mut value = HeaderValue::from_str(auth)
                .map_err(|_| HttpError::Setup("unusable Authorization header".into()))?;
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| transfer(&e))?;
        let status = response.status().as_u16();
        let (parts, mut body) = response.into_parts();
        let limit = if status == 200 { limit } else { MAX_LOGIN_BODY };
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > limit as u64)
        {
            return Err(HttpError::BodyTooLarge {
                url: url.clone(),
                limit,
            });
        }
        let mut data = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transfer(&e))?;
            if let Ok(chunk) = frame.into_data() {
                if data.len() + chunk.len() > limit {
                    return Err(HttpError::BodyTooLarge {
                        url: url.clone(),
                        limit,
                    });
                }
                data.extend_from_slice(&chunk);
            }
        }
        Ok(Answer {
            status,
            headers: parts.headers,
            body: data,
        })
    }
}

/// A client-side NTLM or Negotiate (SPNEGO with NTLM inside) context.
struct SecurityContext {
    mech: Mech,
    target: String,
    done: bool,
    /// `SEC_CHANNEL_BINDINGS` for sspi, sent with the server's challenge.
    bindings: Option<Vec<u8>>,
}

enum Mech {
    Ntlm(Box<sspi::Ntlm>, Option<sspi::AuthIdentityBuffers>),
    Negotiate(Box<sspi::Negotiate>, Option<sspi::CredentialsBuffers>),
}

fn workstation() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .split('.')
                .next()
                .unwrap_or("")
                .to_ascii_uppercase()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "RADC".into())
}

macro_rules! sspi_step {
    ($ctx:expr, $handle:expr, $target:expr, $input:expr, $bindings:expr) => {{
        use sspi::{BufferType, ClientRequestFlags, DataRepresentation, SecurityBuffer};
        use sspi::{SecurityStatus, Sspi as _, SspiImpl as _};
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_buffers = $input
            .map(|t: Vec<u8>| vec![SecurityBuffer::new(t, BufferType::Token)])
            .unwrap_or_default();
        if let Some(bindings) = $bindings
            && !input_buffers.is_empty()
        {
            input_buffers.push(SecurityBuffer::new(
                bindings.clone(),
                BufferType::ChannelBindings,
            ));
        }
        let flags = ClientRequestFlags::MUTUAL_AUTH
            | ClientRequestFlags::INTEGRITY
            | ClientRequestFlags::ALLOCATE_MEMORY;
        let mut builder = $ctx
            .initialize_security_context()
            .with_credentials_handle($handle)
            .with_context_requirements(flags)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name($target)
            .with_output(&mut output);
        if !input_buffers.is_empty() {
            builder = builder.with_input(&mut input_buffers);
        }
        let result = $ctx
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut generator| generator.resolve_to_result())
            .map_err(|e| e.to_string())?;
        if matches!(
            result.status,
            SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue
        ) {
            $ctx.complete_auth_token(&mut output)
                .map_err(|e| e.to_string())?;
        }
        let done = !matches!(
            result.status,
            SecurityStatus::ContinueNeeded | SecurityStatus::CompleteAndContinue
        );
        (std::mem::take(&mut output[0].buffer), done)
    }};
}

impl SecurityContext {
    fn new(
        scheme: &str,
        credentials: &Credentials,
        host: &str,
        binding: Option<&[u8]>,
    ) -> Result<Self, String> {
        use sspi::{CredentialUse, Sspi as _};
        let identity = credentials.sspi_identity()?;
        let ntlm_config = sspi::ntlm::NtlmConfig::new(workstation());
        let mech = if scheme == "Negotiate" {
            let config = sspi::NegotiateConfig::new(
                Box::new(ntlm_config),
                Some("ntlm".to_owned()),
                workstation(),
            );
            let mut ctx = Box::new(sspi::Negotiate::new_client(config).map_err(|e| e.to_string())?);
            let auth = sspi::Credentials::AuthIdentity(identity);
            let handle = ctx
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Outbound)
                .with_auth_data(&auth)
                .execute(&mut *ctx)
                .map_err(|e| e.to_string())?
                .credentials_handle;
            Mech::Negotiate(ctx, handle)
        } else {
            let mut ctx = Box::new(sspi::Ntlm::with_config(ntlm_config));
            let handle = ctx
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Outbound)
                .with_auth_data(&identity)
                .execute(&mut *ctx)
                .map_err(|e| e.to_string())?
                .credentials_handle;
            Mech::Ntlm(ctx, handle)
        };
        Ok(SecurityContext {
            mech,
            target: format!("HTTP/{host}"),
            done: false,
            bindings: binding.map(channel_binding::sec_channel_bindings),
        })
    }

    /// One step: the server's last token in, our next token out.
    fn step(&mut self, input: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
        let target = self.target.clone();
        let bindings = self.bindings.as_ref();
        let (token, done) = match &mut self.mech {
            Mech::Ntlm(ctx, handle) => sspi_step!(ctx, handle, &target, input, bindings),
            Mech::Negotiate(ctx, handle) => sspi_step!(ctx, handle, &target, input, bindings),
        };
        self.done = done;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usable_validators_are_kept_and_sent_back() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("W/\"abc-1\""));
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_static("Tue, 24 Nov 2026 00:00:00 GMT"),
        );
        let kept = validators(&headers);
        assert_eq!(kept.etag.as_deref(), Some("W/\"abc-1\""));
        assert_eq!(
            kept.last_modified.as_deref(),
            Some("Tue, 24 Nov 2026 00:00:00 GMT")
        );

        // Too long, or not visible ASCII: dropped, not stored or sent.
        let long = "x".repeat(MAX_VALIDATOR_BYTES + 1);
        headers.insert(header::ETAG, HeaderValue::from_str(&long).unwrap());
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        assert!(validators(&headers).is_empty());
        assert!(validator_value("a\tb").is_none());
        assert!(validator_value("").is_none());
        assert!(validator_value("\"ok\"").is_some());
    }

    #[test]
    fn parses_the_three_name_forms() {
        let pw = || Zeroizing::new("pw".to_owned());
        let c = Credentials::parse("CONTOSO\\alice", pw()).unwrap();
        assert_eq!((c.domain(), c.user()), (Some("CONTOSO"), "alice"));
        assert_eq!(c.login_name(), "CONTOSO\\alice");
        let c = Credentials::parse("bob@contoso.com", pw()).unwrap();
        assert_eq!((c.domain(), c.user()), (Some("contoso.com"), "bob"));
        assert_eq!(c.login_name(), "bob@contoso.com");
        let c = Credentials::parse("carol", pw()).unwrap();
        assert_eq!((c.domain(), c.user()), (None, "carol"));
        for bad in [
            "",
            "\\alice",
            "CONTOSO\\",
            "@x",
            "bob@",
            "a\\b\\c",
            "al:ice",
        ] {
            assert!(Credentials::parse(bad, pw()).is_err(), "{bad:?}");
        }
        let c = Credentials::with_domain("D", "u", pw()).unwrap();
        assert_eq!(c.login_name(), "D\\u");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c =
            Credentials::parse("CONTOSO\\alice", Zeroizing::new("hunter2-secret".into())).unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("CONTOSO\\\\alice"), "{shown}");
    }

    #[test]
    fn reads_offered_schemes_and_tokens() {
        let mut h = HeaderMap::new();
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Negotiate"),
        );
        h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("NTLM"));
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        assert_eq!(offered_schemes(&h), ["Negotiate", "NTLM", "Basic"]);
        let mut h = HeaderMap::new();
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("NTLM AAEC"),
        );
        assert_eq!(server_token(&h, "NTLM"), Some(vec![0, 1, 2]));
        assert_eq!(server_token(&h, "Negotiate"), None);
    }

    /// A public feed's site may not lead to loopback, link-local or private
    /// addresses, whatever its DNS says; a loopback feed may.
    #[tokio::test]
    async fn names_of_the_site_are_held_to_the_feeds_kind_of_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let names = [
            ("rdweb.contoso.test", ip("93.184.216.34")),
            ("cdn.contoso.test", ip("93.184.216.35")),
            ("admin.contoso.test", ip("127.0.0.1")),
            ("metadata.contoso.test", ip("169.254.169.254")),
            ("intranet.contoso.test", ip("10.1.2.3")),
            ("mixed.contoso.test", ip("10.1.2.4")),
            ("mixed.contoso.test", ip("93.184.216.36")),
        ];
        let names: Vec<(String, IpAddr)> = names.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        let plain = Resolver::new(&names);
        let filtering = plain.filtering();
        let feed = Url::parse("https://rdweb.contoso.test/RDWeb/Feed/webfeed.aspx").unwrap();
        assert!(
            filtering.resolve_allowed("cdn.contoso.test").await.is_err(),
            "nothing is allowed before the feed's own address is known"
        );
        filtering.learn_feed(&feed).await.unwrap();
        let allowed = |host: &'static str| {
            let filtering = filtering.clone();
            async move { filtering.resolve_allowed(host).await }
        };
        assert_eq!(allowed("cdn.contoso.test").await.unwrap().len(), 1);
        for local in [
            "admin.contoso.test",
            "metadata.contoso.test",
            "intranet.contoso.test",
        ] {
            let err = allowed(local).await.unwrap_err();
            assert!(
                err.to_string().contains("more local network"),
                "{local}: {err}"
            );
        }
        let mixed = allowed("mixed.contoso.test").await.unwrap();
        assert_eq!(mixed, vec![SocketAddr::new(ip("93.184.216.36"), 0)]);
        // The unfiltering form (the feed's own origin) is not held back.
        assert_eq!(
            plain
                .resolve_allowed("admin.contoso.test")
                .await
                .unwrap()
                .len(),
            1
        );

        // A feed on loopback (a test server, a local gateway) may use any.
        let local = Resolver::new(&[
            ("rdweb.local.test".into(), ip("127.0.0.1")),
            ("intranet.local.test".into(), ip("10.1.2.3")),
        ])
        .filtering();
        local
            .learn_feed(&Url::parse("http://rdweb.local.test:8080/feed").unwrap())
            .await
            .unwrap();
        assert!(local.resolve_allowed("intranet.local.test").await.is_ok());
    }

    #[test]
    fn refuses_bad_ca_files() {
        assert!(matches!(
            tls_config(Some(b"not a pem")),
            Err(HttpError::CaFile(_))
        ));
    }
}
