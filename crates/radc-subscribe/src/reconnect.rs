//! Asking a workspace's server for the user's disconnected sessions
//! (MS-RDWR `GetRDPFiles`). The messages are [`radc_feed::rdwr`]'s; this
//! module signs in and posts.
//!
//! The feed is fetched first, with the workspace's credentials: that opens
//! the signed-in session on the feed's origin (the `.ASPXAUTH` cookie the
//! web service also wants, MS-RDWR 1.5), checks that the server is still
//! the workspace ([`radc_feed::identity`]) and reads whether it still
//! offers reconnection. Then `RDWebService.asmx` beside the feed is asked,
//! on that same origin and session; nothing else receives the cookie or
//! the credentials.

use radc_feed::discovery;
use radc_feed::identity;
use radc_feed::rdwr::{self, Answer, RdwrError};
use radc_feed::scope::Scope;
use url::Url;

use crate::http::{Credentials, HttpError};
use crate::store::WorkspaceRecord;
use crate::workspace::{Options, WorkspaceError, fetch_first, parse};

#[derive(Debug, thiserror::Error)]
pub enum ReconnectError {
    /// The feed says the server does not offer reconnection
    /// (`SupportsReconnect="false"`).
    #[error("{workspace} does not offer reconnection (its feed says SupportsReconnect=\"false\")")]
    NotSupported { workspace: String },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("asking {url} for disconnected sessions failed: {source}")]
    Http { url: Url, source: HttpError },
    #[error("{url} gave an unusable answer: {source}")]
    Answer { url: Url, source: RdwrError },
}

/// Whether a workspace's feed lets radc ask for its sessions: only an
/// explicit `SupportsReconnect="false"` says no (older servers do not say).
pub fn offered(feed: &radc_feed::Feed) -> bool {
    feed.publisher.supports_reconnect != Some(false)
}

/// Asks the server of `record` for the `.rdp` files of the user's
/// disconnected sessions, signing in with `credentials` as a refresh does.
/// An empty [`Answer::sessions`] means none.
pub async fn disconnected_sessions(
    record: &WorkspaceRecord,
    credentials: Option<&Credentials>,
    options: &Options,
) -> Result<Answer, ReconnectError> {
    let options = options.for_record(record);
    let url = discovery::checked_url(&record.feed_url, options.http.allow_http)
        .map_err(WorkspaceError::from)?;
    let client = options.client()?;
    let (fetched_url, body) = fetch_first(&client, std::slice::from_ref(&url), credentials).await?;
    let feed = parse(&body, &fetched_url)?;
    identity::check_refresh(&record.id, &url, &fetched_url, &feed.publisher.id)
        .map_err(WorkspaceError::from)?;
    if !offered(&feed) {
        return Err(ReconnectError::NotSupported {
            workspace: record.name.clone(),
        });
    }
    let service = rdwr::service_url(&url);
    // Beside the feed, so on its origin; checked all the same, as every
    // URL a workspace makes radc visit.
    Scope::new(&url)
        .check(&service)
        .map_err(|e| ReconnectError::Http {
            url: service.clone(),
            source: HttpError::OutsideWorkspace {
                url: service.clone(),
                reason: e.to_string(),
            },
        })?;
    let posted = client
        .post(
            &service,
            &[
                ("SOAPAction", rdwr::SOAP_ACTION),
                ("Content-Type", rdwr::REQUEST_CONTENT_TYPE),
                ("Accept", "text/xml"),
            ],
            rdwr::REQUEST_BODY.as_bytes(),
            rdwr::limits::MAX_ANSWER_BYTES,
        )
        .await
        .map_err(|source| ReconnectError::Http {
            url: service.clone(),
            source,
        })?;
    let answer = rdwr::parse_response(posted.status, &posted.body).map_err(|source| {
        ReconnectError::Answer {
            url: service.clone(),
            source,
        }
    })?;
    for warning in &answer.warnings {
        tracing::warn!(workspace = %record.id.escape_debug(), "{warning}");
    }
    tracing::info!(
        workspace = %record.id.escape_debug(),
        sessions = answer.sessions.len(),
        "asked for disconnected sessions"
    );
    Ok(answer)
}
