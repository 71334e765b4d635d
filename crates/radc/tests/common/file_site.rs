//! A minimal RD Web Access site on loopback for measuring and killing
//! subscribes and refreshes: a feed of RemoteApps, each with an `.ico`, a
//! PNG and an `.rdp` file, served over HTTP/1.1 with keep-alive (so a
//! thousand downloads do not cost a thousand connections). Every file has
//! an `ETag` and a `Last-Modified` date and gets `304 Not Modified` to a
//! matching `If-None-Match`, as IIS answers.
//!
//! With it, what the tests and the bench that use it share: `radc` in a
//! home of its own, and what a run wrote there.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use radc_desktop::icons::{Frame, render_theme_pngs};

pub const FEED_PATH: &str = "/RDWeb/Feed/webfeed.aspx";
pub const WORKSPACE_ID: &str = "files.test";

/// A file as served: its bytes and validators.
struct Served {
    body: Arc<Vec<u8>>,
    etag: String,
}

#[derive(Default)]
struct Counters {
    ok: AtomicUsize,
    not_modified: AtomicUsize,
}

pub struct FileSite {
    pub port: u16,
    apps: usize,
    icon_px: u32,
    files: Arc<Mutex<HashMap<String, Served>>>,
    versions: Mutex<HashMap<String, usize>>,
    counters: Arc<Counters>,
}

impl FileSite {
    /// `apps` RemoteApps with icons of `icon_px`×`icon_px`.
    pub fn start(apps: usize, icon_px: u32) -> FileSite {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let site = FileSite {
            port: listener.local_addr().unwrap().port(),
            apps,
            icon_px,
            files: Arc::default(),
            versions: Mutex::default(),
            counters: Arc::default(),
        };
        for path in site.file_paths() {
            site.put(&path, site.contents(&path, 0));
        }
        site.put(FEED_PATH, site.feed().into_bytes());
        let files = site.files.clone();
        let counters = site.counters.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().filter_map(Result::ok) {
                let files = files.clone();
                let counters = counters.clone();
                std::thread::spawn(move || serve(stream, &files, &counters));
            }
        });
        site
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn feed_url(&self) -> String {
        self.url(FEED_PATH)
    }

    /// The paths of every `.rdp` file and icon, in feed order.
    pub fn file_paths(&self) -> Vec<String> {
        (0..self.apps)
            .flat_map(|i| ["rdp", "png", "ico"].map(|ext| format!("/RDWeb/Pages/app{i}.{ext}")))
            .collect()
    }

    /// Gives the file at `path` new bytes (and so a new `ETag`).
    pub fn change(&self, path: &str) {
        let version = {
            let mut versions = self.versions.lock().unwrap();
            let version = versions.entry(path.to_owned()).or_default();
            *version += 1;
            *version
        };
        self.put(path, self.contents(path, version));
        // As RD Web does, the feed says when the resource was published
        // again.
        self.put(FEED_PATH, self.feed().into_bytes());
    }

    /// The bytes served at `path` now.
    pub fn bytes(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        self.files.lock().unwrap().get(path).map(|s| s.body.clone())
    }

    /// Answers given since the last call: (200, 304).
    pub fn answers(&self) -> (usize, usize) {
        (
            self.counters.ok.swap(0, Ordering::SeqCst),
            self.counters.not_modified.swap(0, Ordering::SeqCst),
        )
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        let version = self.versions.lock().unwrap().get(path).copied();
        let served = Served {
            etag: format!("\"{:x}-{}-{:x}\"", body.len(), version.unwrap_or(0), {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                body.hash(&mut hasher);
                hasher.finish()
            }),
            body: Arc::new(body),
        };
        self.files.lock().unwrap().insert(path.to_owned(), served);
    }

    fn contents(&self, path: &str, version: usize) -> Vec<u8> {
        let (stem, ext) = path.rsplit_once('.').unwrap();
        let i: usize = stem.trim_start_matches("/RDWeb/Pages/app").parse().unwrap();
        match ext {
            "rdp" => format!(
                "full address:s:host{i}\nremoteapplicationprogram:s:||app{i}\n\
                 remoteapplicationname:s:Application {i} v{version}\n"
            )
            .into_bytes(),
            "png" => png(i, version, self.icon_px),
            _ => ico(&png(i, version + 1000, self.icon_px), self.icon_px),
        }
    }

    fn feed(&self) -> String {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2026-11-24T00:00:00Z" SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2026-11-24T00:00:00Z" Name="File Apps" ID="files.test" Description="">
    <Resources>
"#,
        );
        let px = self.icon_px;
        let versions = self.versions.lock().unwrap().clone();
        for i in 0..self.apps {
            let version: usize = ["rdp", "png", "ico"]
                .iter()
                .filter_map(|ext| versions.get(&format!("/RDWeb/Pages/app{i}.{ext}")))
                .sum();
            xml.push_str(&format!(
                r#"      <Resource ID="app{i}" Alias="app{i}" Title="Application {i}" LastUpdated="2026-11-24T00:00:00.{version:03}Z" Type="RemoteApp">
        <Icons>
          <IconRaw FileType="Ico" FileURL="/RDWeb/Pages/app{i}.ico"/>
          <Icon32 Dimensions="{px}x{px}" FileType="Png" FileURL="/RDWeb/Pages/app{i}.png"/>
        </Icons>
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/app{i}.rdp"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
"#
            ));
        }
        xml.push_str(
            r#"    </Resources>
    <TerminalServers><TerminalServer ID="host1" Name="host1" LastUpdated="2026-11-24T00:00:00Z"/></TerminalServers>
  </Publisher>
</ResourceCollection>
"#,
        );
        xml
    }
}

fn serve(stream: TcpStream, files: &Mutex<HashMap<String, Served>>, counters: &Counters) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let _ = writer.set_nodelay(true);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut if_none_match = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("if-none-match")
            {
                if_none_match = Some(value.trim().to_owned());
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let served = files
            .lock()
            .unwrap()
            .get(path)
            .map(|s| (s.body.clone(), s.etag.clone()));
        let response = match served {
            Some((_, etag)) if if_none_match.as_deref() == Some(etag.as_str()) => {
                counters.not_modified.fetch_add(1, Ordering::Relaxed);
                format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n").into_bytes()
            }
            Some((body, etag)) => {
                counters.ok.fetch_add(1, Ordering::Relaxed);
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\n\
                     Last-Modified: Tue, 24 Nov 2026 00:00:00 GMT\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                out
            }
            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        // One write: a header and body sent apart wait for a delayed ACK.
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// A PNG of its own for every resource and version.
fn png(i: usize, version: usize, px: u32) -> Vec<u8> {
    let mut rgba = Vec::with_capacity((px * px * 4) as usize);
    for p in 0..px * px {
        rgba.extend_from_slice(&[i as u8, (i >> 8) as u8 ^ version as u8, (p * 3) as u8, 255]);
    }
    let frame = Frame::from_rgba(px, px, rgba).unwrap();
    render_theme_pngs(&[frame], &[px]).remove(0).1
}

/// An `.ico` holding one PNG image (as Windows Vista and later write them).
fn ico(image: &[u8], px: u32) -> Vec<u8> {
    let side = if px >= 256 { 0 } else { px as u8 };
    let mut out = vec![0, 0, 1, 0, 1, 0];
    out.extend_from_slice(&[side, side, 0, 0, 1, 0, 32, 0]);
    out.extend_from_slice(&(image.len() as u32).to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(image);
    out
}

/// `radc args` with its own XDG directories under `home` and no session
/// bus (so no Secret Service and no runtime).
pub fn radc(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_radc"));
    command
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("XDG_DATA_DIRS")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", home.display()),
        )
        .stdin(Stdio::null());
    command
}

/// A file's inode and mtime (seconds, nanoseconds).
pub type Stamp = (u64, i64, i64);

/// Every file under `dir` with its [`Stamp`].
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Stamp> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), (meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
        }
    }
    out
}

/// Files of `after` written since `before`: no file of `before` had their
/// inode and mtime (a hard link to a file that was there is no write).
pub fn written(
    before: &BTreeMap<PathBuf, Stamp>,
    after: &BTreeMap<PathBuf, Stamp>,
) -> Vec<PathBuf> {
    let old: BTreeSet<&Stamp> = before.values().collect();
    after
        .iter()
        .filter(|(_, stamp)| !old.contains(stamp))
        .map(|(path, _)| path.clone())
        .collect()
}
