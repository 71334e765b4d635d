//! Bubbles through the desktop's notification server
//! (`org.freedesktop.Notifications`).
//!
//! One task takes [`Notice`]s from the rest of the runtime and shows them:
//! a connection that failed (with a "Retry" action where the server has
//! actions), a refresh that failed, a workspace whose sign-in succeeded, a
//! resource the administrator removed while it was open. Failures that
//! come close together are coalesced into one bubble that grows (the
//! spec's `replaces_id`), so a storm of failed connections is one
//! notification. A session without a notification server loses the bubble
//! and nothing else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use radc_core::validate;
use tokio::sync::mpsc;
use zbus::Connection;
use zbus::zvariant::Value;

use crate::launcher::Launcher;

const SERVER: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// The application name and icon every notification carries.
pub const APP_NAME: &str = "Remote Workspaces";
const APP_ICON: &str = "network-workgroup";
/// The desktop entry of radc's window, for servers that group by it.
const DESKTOP_ENTRY: &str = "org.radc.Workspaces";

/// Failures this close to the last one join its bubble.
const COALESCE_WITHIN: Duration = Duration::from_secs(10);
/// Lines a coalesced bubble lists before "and N more".
const MAX_LINES: usize = 5;
/// How long a notification's "Retry" is remembered.
const RETRY_KEPT: Duration = Duration::from_secs(3600);

/// What to launch again when the user asks for it.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    pub workspace_id: String,
    pub resource_id: String,
    pub environment: HashMap<String, String>,
}

/// Something to tell the user.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    ConnectionFailed {
        resource: String,
        cause: String,
        retry: Option<Retry>,
    },
    RefreshFailed {
        workspace: String,
        error: String,
    },
    SignedIn {
        workspace: String,
        again: bool,
    },
    ResourceRemoved {
        workspace: String,
        resource: String,
    },
}

/// The sending end the runtime keeps.
pub(crate) type Sender = mpsc::UnboundedSender<Notice>;

/// A notification as the spec's `Notify` takes it.
#[derive(Debug, Clone, PartialEq)]
struct Bubble {
    summary: String,
    body: String,
    /// 0 low, 1 normal, 2 critical.
    urgency: u8,
    retry: bool,
}

/// Failures shown in the current coalesced bubble: how many, the last
/// [`MAX_LINES`] of them, and the last [`MAX_RETRIES`] launches "Retry"
/// starts again (a storm must not grow the runtime).
#[derive(Default)]
struct Recent {
    id: u32,
    at: Option<Instant>,
    count: usize,
    lines: std::collections::VecDeque<String>,
    retries: std::collections::VecDeque<Retry>,
}

/// Most launches one "Retry" starts again.
const MAX_RETRIES: usize = 10;

impl Recent {
    fn push(&mut self, line: String, retry: Option<Retry>, now: Instant) {
        self.count += 1;
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        if let Some(retry) = retry {
            if self.retries.len() == MAX_RETRIES {
                self.retries.pop_front();
            }
            self.retries.push_back(retry);
        }
        self.at = Some(now);
    }
}

/// What a notice looks like. Pure: strings from feeds are escaped when the
/// server reads markup.
fn bubble(notice: &Notice, markup: bool) -> Bubble {
    let text = |s: &str| {
        let s = validate::for_log(s);
        if markup { escape(&s) } else { s }
    };
    match notice {
        Notice::ConnectionFailed {
            resource, cause, ..
        } => Bubble {
            summary: format!("Cannot connect to {}", validate::for_log(resource)),
            body: text(&capitalized(cause)),
            urgency: 1,
            retry: true,
        },
        Notice::RefreshFailed { workspace, error } => Bubble {
            summary: format!("{} could not be updated", validate::for_log(workspace)),
            body: text(&capitalized(error)),
            urgency: 1,
            retry: false,
        },
        Notice::SignedIn { workspace, again } => Bubble {
            summary: if *again {
                format!("Connected to {} again", validate::for_log(workspace))
            } else {
                format!("Connected to {}", validate::for_log(workspace))
            },
            body: text("Its programs and desktops are in your application menu."),
            urgency: 0,
            retry: false,
        },
        Notice::ResourceRemoved {
            workspace,
            resource,
        } => Bubble {
            summary: format!("{} was removed", validate::for_log(resource)),
            body: text(&format!(
                "The administrator of {workspace} removed it while it was open; \
                 it stays open until you close it."
            )),
            urgency: 1,
            retry: false,
        },
    }
}

/// The bubble for `count` failures at once, of which `lines` are the
/// latest.
fn coalesced<'a>(count: usize, lines: impl Iterator<Item = &'a String>, markup: bool) -> Bubble {
    let shown: Vec<String> = lines
        .map(|l| if markup { escape(l) } else { l.clone() })
        .collect();
    let mut body = shown.join("\n");
    if count > shown.len() {
        body.push_str(&format!("\nand {} more", count - shown.len()));
    }
    Bubble {
        summary: format!("{count} connections failed"),
        body,
        urgency: 1,
        retry: true,
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// The markup the spec allows, escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The notification server, as found when a notice comes.
struct Server {
    owner: String,
    markup: bool,
    actions: bool,
}

async fn server(conn: &Connection) -> Option<Server> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await.ok()?;
    let owner = dbus
        .get_name_owner(SERVER.try_into().ok()?)
        .await
        .ok()?
        .to_string();
    let reply = conn
        .call_method(Some(SERVER), PATH, Some(SERVER), "GetCapabilities", &())
        .await
        .ok()?;
    let caps: Vec<String> = reply.body().deserialize().ok()?;
    Some(Server {
        owner,
        markup: caps.iter().any(|c| c == "body-markup"),
        actions: caps.iter().any(|c| c == "actions"),
    })
}

async fn show(conn: &Connection, server: &Server, replaces: u32, b: &Bubble) -> Option<u32> {
    let actions: Vec<&str> = if b.retry && server.actions {
        // "default" is what clicking the bubble does; servers that draw
        // buttons show it as "Retry".
        vec!["default", "Retry"]
    } else {
        Vec::new()
    };
    let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
    hints.insert("urgency", Value::U8(b.urgency));
    hints.insert("desktop-entry", Value::from(DESKTOP_ENTRY));
    let reply = conn
        .call_method(
            Some(SERVER),
            PATH,
            Some(SERVER),
            "Notify",
            &(
                APP_NAME,
                replaces,
                APP_ICON,
                b.summary.as_str(),
                b.body.as_str(),
                actions,
                hints,
                -1i32,
            ),
        )
        .await;
    match reply {
        Ok(reply) => reply.body().deserialize::<u32>().ok(),
        Err(e) => {
            tracing::debug!("the notification server refused a notification: {e}");
            None
        }
    }
}

/// Shows notices until the runtime stops; "Retry" launches the resource
/// again through `launcher`.
pub(crate) async fn run(
    conn: Connection,
    mut notices: mpsc::UnboundedReceiver<Notice>,
    launcher: Arc<Launcher>,
) {
    let mut retries: HashMap<u32, (Instant, Vec<Retry>)> = HashMap::new();
    let mut recent = Recent::default();
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(SERVER)
        .and_then(|r| r.member("ActionInvoked"))
        .map(|r| r.build());
    let mut invoked = match rule {
        Ok(rule) => zbus::MessageStream::for_match_rule(rule, &conn, None)
            .await
            .ok(),
        Err(_) => None,
    };
    loop {
        tokio::select! {
            notice = notices.recv() => {
                let Some(notice) = notice else { return };
                let Some(server) = server(&conn).await else {
                    tracing::debug!("no notification server: {notice:?} not shown");
                    continue;
                };
                let now = Instant::now();
                retries.retain(|_, (at, _)| now.duration_since(*at) < RETRY_KEPT);
                if let Notice::ConnectionFailed { resource, cause, retry } = &notice {
                    let joins = recent.at.is_some_and(|at| now.duration_since(at) < COALESCE_WITHIN);
                    if !joins {
                        recent = Recent::default();
                    }
                    recent.push(
                        format!("{}: {cause}", validate::for_log(resource)),
                        retry.clone(),
                        now,
                    );
                    let b = if recent.count == 1 {
                        bubble(&notice, server.markup)
                    } else {
                        coalesced(recent.count, recent.lines.iter(), server.markup)
                    };
                    let b = Bubble { retry: !recent.retries.is_empty(), ..b };
                    if let Some(id) = show(&conn, &server, recent.id, &b).await {
                        recent.id = id;
                        retries.insert(id, (now, recent.retries.iter().cloned().collect()));
                    }
                } else {
                    show(&conn, &server, 0, &bubble(&notice, server.markup)).await;
                }
            }
            Some(Ok(message)) = async {
                match invoked.as_mut() {
                    Some(stream) => stream.next().await,
                    None => std::future::pending().await,
                }
            } => {
                let Ok((id, key)) = message.body().deserialize::<(u32, String)>() else {
                    continue;
                };
                // Only the notification server may ask for a retry.
                let Some(server) = server(&conn).await else { continue };
                let from_server = message
                    .header()
                    .sender()
                    .is_some_and(|s| s.as_str() == server.owner);
                if !from_server || key != "default" {
                    continue;
                }
                let Some((_, asked)) = retries.remove(&id) else { continue };
                if recent.id == id {
                    recent = Recent::default();
                }
                for retry in asked {
                    tracing::info!(
                        workspace = %validate::for_log(&retry.workspace_id),
                        "launching {} again, as asked", validate::for_log(&retry.resource_id)
                    );
                    let launcher = launcher.clone();
                    tokio::spawn(async move {
                        if let Err(e) = launcher
                            .launch_resource(&retry.workspace_id, &retry.resource_id, Vec::new(), retry.environment)
                            .await
                        {
                            tracing::warn!("the retry could not start: {}", e.message);
                        }
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connection_says_why_and_offers_retry() {
        let n = Notice::ConnectionFailed {
            resource: "Full <Desktop>".into(),
            cause: "the server could not be reached".into(),
            retry: None,
        };
        let b = bubble(&n, true);
        assert_eq!(b.summary, "Cannot connect to Full <Desktop>");
        assert_eq!(b.body, "The server could not be reached.");
        assert!(b.retry);
        let b = bubble(
            &Notice::RefreshFailed {
                workspace: "Contoso".into(),
                error: "a <b>bold</b> & error".into(),
            },
            true,
        );
        assert_eq!(
            b.body, "A &lt;b&gt;bold&lt;/b&gt; &amp; error.",
            "markup escaped"
        );
        let b = bubble(
            &Notice::RefreshFailed {
                workspace: "Contoso".into(),
                error: "a <b>".into(),
            },
            false,
        );
        assert_eq!(b.body, "A <b>.", "plain text stays plain");
    }

    #[test]
    fn many_failures_make_one_growing_bubble_of_bounded_size() {
        let mut recent = Recent::default();
        let now = Instant::now();
        for i in 0..10_000 {
            let retry = Retry {
                workspace_id: "ws".into(),
                resource_id: format!("app{i}"),
                environment: HashMap::new(),
            };
            recent.push(format!("App {i}: unreachable"), Some(retry), now);
        }
        assert_eq!(recent.count, 10_000);
        assert_eq!(recent.lines.len(), MAX_LINES);
        assert_eq!(recent.retries.len(), MAX_RETRIES);
        assert_eq!(recent.retries.back().unwrap().resource_id, "app9999");
        let b = coalesced(recent.count, recent.lines.iter(), false);
        assert_eq!(b.summary, "10000 connections failed");
        assert_eq!(b.body.lines().count(), MAX_LINES + 1);
        assert!(b.body.ends_with("and 9995 more"), "{}", b.body);
        assert!(
            b.body.starts_with("App 9995"),
            "the latest are shown: {}",
            b.body
        );
    }
}
