//! Subscribe, refresh and unsubscribe: discovery, download, parse and store
//! put together. Nothing is stored until a feed has been fetched, parsed and
//! all its `.rdp` files downloaded; a failed refresh keeps the last good
//! state and records the error.

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, stream};
use radc_feed::diff::{FeedDiff, diff, unchanged_files};
use radc_feed::discovery::{self, DiscoveryError, Target};
use radc_feed::identity::{self, IdentityError};
use radc_feed::{Feed, FeedError, IconKind};
use url::Url;

use crate::desktop::{self, Roots};
use crate::dns::{self, DnsError, Nameserver};
use crate::http::{Credentials, FeedClient, FeedClientOptions, FileAnswer, HttpError};
use crate::store::{
    Content, FeedSummary, FileKind, FileUpdate, Store, StoreError, WorkspaceRecord, digest_of,
};

/// Downloads in flight at once.
const PARALLEL_DOWNLOADS: usize = 8;

/// Most bytes stored for one workspace: its feed and every file it names.
/// Real workspaces of a few thousand resources need a few tens of MiB.
pub const MAX_WORKSPACE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the feed at {url} is not a valid RemoteApp feed: {source}")]
    Feed { url: String, source: Box<FeedError> },
    #[error("{count} resource file(s) could not be downloaded, e.g. {first}")]
    Downloads { count: usize, first: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(
        "the workspace's feed and files come to more than {limit} bytes, the most radc stores \
         for one workspace; nothing was changed"
    )]
    TooLarge { limit: usize },
    #[error("not fetched: {reason}; a feed's .rdp files must come from its own server or domain")]
    OutsideWorkspace { reason: String },
    #[error("no workspace {0:?} is subscribed; `radc workspaces` lists them")]
    NotSubscribed(String),
    #[error("no resource {resource:?} is in workspace {workspace:?}; `radc resources` lists them")]
    NoResource { workspace: String, resource: String },
    #[error("menu entries not updated: {0}")]
    Desktop(String),
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to reach feeds.
#[derive(Debug, Clone)]
pub struct Options {
    pub http: FeedClientOptions,
    /// A PEM file of extra CA certificates to trust; stored with the
    /// workspace so refreshes trust it too.
    pub ca_file: Option<PathBuf>,
    pub nameserver: Nameserver,
    /// Where to put the workspace's menu entries, icons and file types;
    /// `None` leaves the desktop alone.
    pub desktop: Option<Roots>,
    /// Most bytes stored for one workspace ([`MAX_WORKSPACE_BYTES`]).
    pub max_workspace_bytes: usize,
    /// Ask the server about every file, even those the feed says are
    /// unchanged (still conditionally, where it gave validators).
    pub revalidate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http: FeedClientOptions::default(),
            ca_file: None,
            nameserver: Nameserver::System,
            desktop: None,
            max_workspace_bytes: MAX_WORKSPACE_BYTES,
            revalidate: false,
        }
    }
}

impl Options {
    pub(crate) fn client(&self) -> Result<FeedClient, WorkspaceError> {
        let mut http = self.http.clone();
        if let Some(path) = &self.ca_file {
            http.extra_ca_pem =
                Some(
                    std::fs::read(path).map_err(|source| WorkspaceError::CaFile {
                        path: path.clone(),
                        source,
                    })?,
                );
        }
        Ok(FeedClient::new(http)?)
    }

    /// These options with what was stored at subscribe time filled in.
    pub(crate) fn for_record(&self, record: &WorkspaceRecord) -> Options {
        let mut options = self.clone();
        options.http.allow_http |= record.allow_http;
        if options.ca_file.is_none() {
            options.ca_file = record.ca_file.clone();
        }
        options
    }
}

/// Progress of the downloads of one subscribe or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// What a subscribe or refresh did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub record: WorkspaceRecord,
    /// How many resources the workspace has now.
    pub resources: usize,
    /// What changed since the last good feed (`None` on first subscribe).
    pub changes: Option<FeedDiff>,
    /// Icons that could not be downloaded (the resources still work).
    pub warnings: Vec<String>,
}

/// Subscribes to the workspace that `input` (feed URL, server or e-mail
/// address) names.
pub async fn subscribe(
    store: &Store,
    input: &str,
    credentials: Option<&Credentials>,
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, WorkspaceError> {
    let allow_http = options.http.allow_http;
    let candidates = match discovery::classify(input, allow_http)? {
        Target::Urls(urls) => urls,
        Target::Email { record, .. } => {
            dns::feed_urls(&record, options.nameserver, allow_http).await?
        }
    };
    let client = options.client()?;
    let (url, body) = fetch_first(&client, &candidates, credentials).await?;
    let feed = parse(&body, &url)?;
    let existing = store.record(&feed.publisher.id)?;
    if let Some(existing) = &existing {
        identity::check_subscribe(&url, &feed.publisher.id, Some(&existing.url()?))?;
    }
    let mut record = existing.clone().unwrap_or_else(|| {
        WorkspaceRecord::new(
            &feed.publisher.id,
            feed.publisher.display_name(),
            url.as_str(),
            now(),
        )
    });
    record.feed_url = url.to_string();
    record.username = credentials.map(Credentials::login_name);
    record.allow_http = options.http.allow_http;
    record.ca_file = options.ca_file.clone();
    finish(
        store,
        &client,
        record,
        existing.as_ref(),
        (feed, &body, &url),
        options,
        progress,
    )
    .await
}

/// Refreshes a subscribed workspace. On failure the stored state stays as
/// it was and the error is recorded in the workspace's record.
pub async fn refresh(
    store: &Store,
    workspace_id: &str,
    credentials: Option<&Credentials>,
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, WorkspaceError> {
    let record = store
        .record(workspace_id)?
        .ok_or_else(|| WorkspaceError::NotSubscribed(workspace_id.to_owned()))?;
    refresh_record(store, record, credentials, options, progress).await
}

/// [`refresh`] for a caller that has just read the workspace's record.
pub async fn refresh_record(
    store: &Store,
    record: WorkspaceRecord,
    credentials: Option<&Credentials>,
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, WorkspaceError> {
    let workspace_id = record.id.clone();
    let options = options.for_record(&record);
    let result = async move {
        let url = discovery::checked_url(&record.feed_url, options.http.allow_http)?;
        let client = options.client()?;
        let (fetched_url, body) =
            fetch_first(&client, std::slice::from_ref(&url), credentials).await?;
        if let Some(summary) = record.summary().filter(|summary| {
            summary.complete
                && !options.revalidate
                && summary.base == fetched_url.as_str()
                && summary.digest == digest_of(&body)
        }) {
            // The stored feed's publisher id is the record's.
            identity::check_refresh(&record.id, &url, &fetched_url, &record.id)?;
            if store.holds_its_files(&record) {
                let summary = summary.clone();
                // Parsed as it was when stored, should the menu need it.
                let feed = || {
                    let base = Url::parse(&summary.base).map_err(|e| e.to_string())?;
                    radc_feed::parse(&body, &base).map_err(|e| e.to_string())
                };
                return finish_unchanged(store, record, summary.clone(), &body, &options, feed);
            }
        }
        let feed = parse(&body, &fetched_url)?;
        identity::check_refresh(&record.id, &url, &fetched_url, &feed.publisher.id)?;
        finish(
            store,
            &client,
            record.clone(),
            Some(&record),
            (feed, &body, &fetched_url),
            &options,
            progress,
        )
        .await
    }
    .await;
    if let Err(e) = &result {
        store.record_error(&workspace_id, Some(&e.to_string()))?;
    }
    result
}

/// Puts a resource in the menu (`show`) or takes it out, remembering the
/// choice across refreshes. `resource` is an id or a title.
pub fn set_shown(
    store: &Store,
    workspace_id: &str,
    resource: &str,
    show: bool,
    options: &Options,
) -> Result<String, WorkspaceError> {
    let record = store
        .record(workspace_id)?
        .ok_or_else(|| WorkspaceError::NotSubscribed(workspace_id.to_owned()))?;
    let feed = stored_feed(store, &record)
        .ok_or_else(|| WorkspaceError::NotSubscribed(workspace_id.to_owned()))?;
    let found = find_resource(&feed, resource).ok_or_else(|| WorkspaceError::NoResource {
        workspace: workspace_id.to_owned(),
        resource: resource.to_owned(),
    })?;
    let id = found.id.clone();
    let record = store.modify(workspace_id, |r| {
        r.shown.remove(&id);
        r.hidden.remove(&id);
        if show {
            r.shown.insert(id.clone());
        } else {
            r.hidden.insert(id.clone());
        }
    })?;
    if let Some(roots) = &options.desktop {
        desktop::sync_workspace(roots, store, &record, &feed).map_err(WorkspaceError::Desktop)?;
    }
    Ok(id)
}

/// Makes a workspace's resources the default applications for their file
/// types, or stops doing so. Only ever on the user's request.
pub fn set_default_handlers(
    store: &Store,
    workspace_id: &str,
    on: bool,
    options: &Options,
) -> Result<(), WorkspaceError> {
    let record = store.modify(workspace_id, |r| r.default_handlers = on)?;
    if let Some(roots) = &options.desktop {
        let feed = stored_feed(store, &record)
            .ok_or_else(|| WorkspaceError::NotSubscribed(workspace_id.to_owned()))?;
        desktop::sync_workspace(roots, store, &record, &feed).map_err(WorkspaceError::Desktop)?;
    }
    Ok(())
}

/// Forgets a workspace's stored state and files, and takes it off the
/// desktop.
pub fn unsubscribe(
    store: &Store,
    workspace_id: &str,
    options: &Options,
) -> Result<(), WorkspaceError> {
    if let Some(roots) = &options.desktop
        && let Err(e) = desktop::remove_workspace(roots, workspace_id)
    {
        tracing::warn!("menu entries of {workspace_id:?} not removed: {e}");
    }
    if store.remove(workspace_id)? {
        Ok(())
    } else {
        Err(WorkspaceError::NotSubscribed(workspace_id.to_owned()))
    }
}

/// The feed of the first of `candidates` that has one: the URL it came
/// from in the end, and its bytes.
pub(crate) async fn fetch_first(
    client: &FeedClient,
    candidates: &[Url],
    credentials: Option<&Credentials>,
) -> Result<(Url, Vec<u8>), WorkspaceError> {
    let mut last_error = None;
    for url in candidates {
        match client.fetch_feed(url, credentials).await {
            Ok(fetched) => return Ok((fetched.final_url, fetched.body)),
            // Only a missing feed makes the next candidate worth a try.
            Err(e @ HttpError::NotFound { .. }) => last_error = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last_error
        .map(WorkspaceError::from)
        .unwrap_or_else(|| DiscoveryError::Empty.into()))
}

/// The feed in `body`, read at `url`.
pub(crate) fn parse(body: &[u8], url: &Url) -> Result<Feed, WorkspaceError> {
    radc_feed::parse(body, url).map_err(|source| WorkspaceError::Feed {
        url: url.to_string(),
        source: Box::new(source),
    })
}

/// Stores `record` as refreshed with the feed it has stored, which
/// `summary` sums up and `body` is, and every file of which its generation
/// holds: nothing else to ask for, compare or store. `feed` gives the feed
/// parsed, should the menu need it.
fn finish_unchanged<F: Borrow<Feed>>(
    store: &Store,
    mut record: WorkspaceRecord,
    summary: FeedSummary,
    body: &[u8],
    options: &Options,
    feed: impl FnOnce() -> Result<F, String>,
) -> Result<Outcome, WorkspaceError> {
    record.last_refresh = Some(now());
    record.last_error = None;
    record.feed_summary = Some(summary.clone());
    let record = store.commit_unchanged(record, body)?;
    let mut warnings = summary.warnings;
    sync_desktop(options, store, &record, feed, &mut warnings);
    Ok(Outcome {
        record,
        resources: summary.resources,
        changes: Some(FeedDiff::default()),
        warnings,
    })
}

/// Downloads every file the feed names and stores the new state as the
/// workspace of `record`, whose identity the caller has checked;
/// `previous` is the workspace's record as the caller read it.
#[allow(clippy::too_many_arguments)]
async fn finish(
    store: &Store,
    client: &FeedClient,
    mut record: WorkspaceRecord,
    previous: Option<&WorkspaceRecord>,
    (feed, body, base): (Feed, &[u8], &Url),
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, WorkspaceError> {
    debug_assert_eq!(record.id, feed.publisher.id);
    record.name = feed.publisher.display_name().to_owned();
    record.last_refresh = Some(now());
    record.last_error = None;
    let files = files_of(&feed);
    // A feed that vouches for all its files (see `unchanged_files`).
    let vouched = {
        let vouched = unchanged_files(&feed, &feed);
        files.iter().all(|(url, _)| vouched.contains(url.as_str()))
    };
    let mut summary = FeedSummary {
        digest: digest_of(body),
        base: base.to_string(),
        resources: feed.resources.len(),
        warnings: feed.warnings.clone(),
        complete: false,
    };
    // The very feed that is stored, with every file it names, and one that
    // vouches for all of them: nothing to ask for, nothing to compare,
    // nothing to store but the record.
    if let Some(previous) = previous
        && !options.revalidate
        && vouched
        && store.holds(
            previous,
            body,
            files.iter().map(|(url, kind)| (url.as_str(), *kind)),
        )
    {
        summary.complete = true;
        return finish_unchanged(store, record, summary, body, options, || Ok(&feed));
    }
    let file_count = files.len();
    let old_feed = previous.and_then(|previous| stored_feed(store, previous));
    // Files the feed says are unchanged and that are stored for exactly
    // the same URL are not asked for at all; the others already stored are
    // asked for only if they changed.
    let unchanged = match (&old_feed, options.revalidate) {
        (Some(old), false) => unchanged_files(old, &feed),
        _ => BTreeSet::new(),
    };
    let mut downloads = Vec::new();
    let mut stored_bytes = body.len();
    let mut wanted = Vec::new();
    for (url, kind) in files {
        let kept = previous
            .filter(|_| unchanged.contains(url.as_str()))
            .and_then(|p| store.stored_size(p, url.as_str(), kind));
        if let Some(size) = kept {
            stored_bytes = stored_bytes.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
            downloads.push(FileUpdate {
                url: url.to_string(),
                kind,
                content: Content::Kept,
                validators: Default::default(),
            });
            continue;
        }
        let known = previous
            .and_then(|p| store.validators_for(p, url.as_str(), kind))
            .map(|(v, size)| (v.clone(), size));
        wanted.push((url, kind, known));
    }
    if stored_bytes > options.max_workspace_bytes {
        return Err(WorkspaceError::TooLarge {
            limit: options.max_workspace_bytes,
        });
    }
    let total = wanted.len();
    progress(Progress { done: 0, total });
    let mut done = 0;
    let mut rdp_failures = Vec::new();
    let mut warnings = feed.warnings.clone();
    let mut results = stream::iter(wanted)
        .map(|(url, kind, known)| async move {
            let answer = client
                .fetch_file_if_changed(&url, known.as_ref().map(|(v, _)| v))
                .await;
            (answer, url, kind, known)
        })
        .buffer_unordered(PARALLEL_DOWNLOADS);
    while let Some((result, url, kind, known)) = results.next().await {
        done += 1;
        progress(Progress { done, total });
        let update = match (result, known) {
            (Ok(FileAnswer::Body { bytes, validators }), _) => {
                stored_bytes += bytes.len();
                Ok(FileUpdate {
                    url: url.to_string(),
                    kind,
                    content: Content::Bytes(bytes),
                    validators,
                })
            }
            // Only a conditional request gets this far with a 304.
            (Ok(FileAnswer::NotModified), Some((validators, size))) => {
                stored_bytes += usize::try_from(size).unwrap_or(usize::MAX);
                Ok(FileUpdate {
                    url: url.to_string(),
                    kind,
                    content: Content::NotModified,
                    validators,
                })
            }
            (Ok(FileAnswer::NotModified), None) => Err(HttpError::Status {
                url: url.clone(),
                status: 304,
            }),
            (Err(e), _) => Err(e),
        };
        if stored_bytes > options.max_workspace_bytes {
            return Err(WorkspaceError::TooLarge {
                limit: options.max_workspace_bytes,
            });
        }
        match (update, kind) {
            (Ok(update), _) => downloads.push(update),
            (Err(HttpError::OutsideWorkspace { reason, .. }), FileKind::Rdp) => {
                return Err(WorkspaceError::OutsideWorkspace { reason });
            }
            (Err(e), FileKind::Rdp) => rdp_failures.push(e.to_string()),
            (Err(e), _) => warnings.push(format!("icon not downloaded: {e}")),
        }
    }
    if let Some(first) = rdp_failures.first() {
        return Err(WorkspaceError::Downloads {
            count: rdp_failures.len(),
            first: first.clone(),
        });
    }
    summary.complete = vouched && downloads.len() == file_count;
    record.feed_summary = Some(summary);
    let record = store.commit_updates(record, body, &downloads)?;
    sync_desktop(options, store, &record, || Ok(&feed), &mut warnings);
    let changes = old_feed.map(|old| diff(&old, &feed));
    Ok(Outcome {
        record,
        resources: feed.resources.len(),
        changes,
        warnings,
    })
}

/// Brings the menu entries in line with the stored state, when the options
/// ask for it. The subscription stands either way; a failure only leaves
/// its menu entries as they were, which `warnings` says.
/// `feed` gives the stored feed parsed, and is called only if the sync has
/// work to do.
fn sync_desktop<F: Borrow<Feed>>(
    options: &Options,
    store: &Store,
    record: &WorkspaceRecord,
    feed: impl FnOnce() -> Result<F, String>,
    warnings: &mut Vec<String>,
) {
    let Some(roots) = &options.desktop else {
        return;
    };
    if let Err(e) = desktop::sync_workspace_with(roots, store, record, feed) {
        warnings.push(format!("menu entries not updated: {e}"));
    }
}

/// Every `.rdp` file and icon a feed names, each once.
fn files_of(feed: &Feed) -> Vec<(Url, FileKind)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut add = |url: &Url, kind: FileKind| {
        if seen.insert(url.as_str().to_owned()) {
            out.push((url.clone(), kind));
        }
    };
    for resource in &feed.resources {
        for host in &resource.hosting_terminal_servers {
            if let Some(url) = host.resource_file.as_ref().and_then(|f| f.url.as_ref()) {
                add(url, FileKind::Rdp);
            }
        }
        let extension_icons = resource.file_extensions.iter().flat_map(|e| &e.icons);
        for icon in resource.icons.iter().chain(extension_icons) {
            if let Some(url) = &icon.url {
                let kind = match icon.kind {
                    IconKind::Raw => FileKind::Ico,
                    _ => FileKind::Png,
                };
                add(url, kind);
            }
        }
    }
    out
}

/// A resource of a feed by id, or failing that by title (ignoring case).
pub fn find_resource<'a>(feed: &'a Feed, resource: &str) -> Option<&'a radc_feed::Resource> {
    feed.resources
        .iter()
        .find(|r| r.id == resource)
        .or_else(|| {
            feed.resources
                .iter()
                .find(|r| r.title.eq_ignore_ascii_case(resource))
        })
}

/// How many resources the last good feed of a workspace lists (none if it
/// cannot be read).
pub fn resource_count(store: &Store, record: &WorkspaceRecord) -> usize {
    match record.summary() {
        Some(summary) => summary.resources,
        None => stored_feed(store, record).map_or(0, |feed| feed.resources.len()),
    }
}

/// The last good feed of a workspace, parsed; `None` if it cannot be read.
pub fn stored_feed(store: &Store, record: &WorkspaceRecord) -> Option<Feed> {
    let bytes = store.feed(record).ok()?;
    let base = Url::parse(&record.feed_url).ok()?;
    radc_feed::parse(&bytes, &base).ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
