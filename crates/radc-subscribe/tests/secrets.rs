//! Passwords in a real Secret Service (gnome-keyring-daemon) on a private
//! session bus, and a clear answer when no Secret Service runs.
//!
//! One test function: the Secret Service client finds the bus through the
//! process environment, which is changed between the scenarios.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use radc_subscribe::secrets::{SecretError, SecretStore};
use radc_subscribe::store::WorkspaceRecord;

struct Bus {
    daemon: Child,
    address: String,
}

/// A session-type bus with no activatable services.
fn bus(dir: &std::path::Path) -> Bus {
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.display()
        ),
    )
    .unwrap();
    let mut daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--nopidfile", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is installed (scripts/install-deps.sh)");
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    Bus {
        daemon,
        address: address.trim().to_owned(),
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn use_bus(address: &str) {
    // SAFETY: set before any runtime or thread that reads the environment
    // starts; this test binary runs this one test only.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", address) };
}

fn start_keyring(dir: &std::path::Path, bus: &Bus) -> Child {
    let home = dir.join("home");
    let runtime = dir.join("run");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon is installed (scripts/install-deps.sh)");
    // The password of the new login keyring, then end of input.
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"keyring-test-password")
        .unwrap();
    keyring
}

#[test]
fn passwords_round_trip_and_a_missing_service_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // No session bus at all.
    use_bus(&format!("unix:path={}/nothing-here", dir.path().display()));
    let err = rt.block_on(SecretStore::connect()).err().expect("no bus");
    assert!(matches!(err, SecretError::Unavailable), "{err:?}");
    assert!(err.to_string().contains("not stored"), "{err}");

    // A bus without a Secret Service.
    let empty_dir = dir.path().join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let empty = bus(&empty_dir);
    use_bus(&empty.address);
    let err = rt
        .block_on(SecretStore::connect())
        .err()
        .expect("no service");
    assert!(matches!(err, SecretError::Unavailable), "{err:?}");

    // A real one.
    let keyring_dir = dir.path().join("keyring");
    std::fs::create_dir_all(&keyring_dir).unwrap();
    let with_keyring = bus(&keyring_dir);
    let mut keyring = start_keyring(&keyring_dir, &with_keyring);
    use_bus(&with_keyring.address);
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(15);
        let store = loop {
            match SecretStore::connect().await {
                Ok(store) => break store,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("gnome-keyring-daemon did not come up: {e}"),
            }
        };
        let ws = WorkspaceRecord::new("ws", "W", "https://rdweb.corp.test/RDWeb/Feed", 1);
        let other = WorkspaceRecord::new("other", "O", "https://rdweb.corp.test/RDWeb/Feed", 1);
        // The same id subscribed from another server: another identity.
        let impostor = WorkspaceRecord::new("ws", "W", "https://feeds.hostile.test/feed", 1);
        assert!(store.load(&ws, "CORP\\alice").await.unwrap().is_none());
        store.store(&ws, "CORP\\alice", "first").await.unwrap();
        store.store(&ws, "CORP\\alice", "sécret 2").await.unwrap();
        store.store(&ws, "CORP\\bob", "bobs").await.unwrap();
        store
            .store(&other, "CORP\\alice", "elsewhere")
            .await
            .unwrap();
        assert_eq!(
            store
                .load(&ws, "CORP\\alice")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "sécret 2",
            "a second store replaces the first"
        );
        assert!(
            store
                .load(&impostor, "CORP\\alice")
                .await
                .unwrap()
                .is_none(),
            "a password is found only for the origin it was given for"
        );
        assert_eq!(store.forget("ws").await.unwrap(), 2);
        assert!(store.load(&ws, "CORP\\alice").await.unwrap().is_none());
        assert!(store.load(&ws, "CORP\\bob").await.unwrap().is_none());
        assert_eq!(
            store
                .load(&other, "CORP\\alice")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "elsewhere"
        );

        // A password stored before passwords were bound to an origin is
        // found, and bound to the workspace's origin from then on.
        let service = oo7::dbus::Service::new().await.unwrap();
        let collection = service
            .with_alias(oo7::dbus::Service::DEFAULT_COLLECTION)
            .await
            .unwrap()
            .unwrap();
        let legacy = std::collections::HashMap::from([
            ("application", "radc"),
            ("workspace", "legacy"),
            ("user", "CORP\\alice"),
        ]);
        collection
            .create_item(
                "old radc",
                &legacy,
                oo7::Secret::text("from before"),
                true,
                None,
            )
            .await
            .unwrap();
        let record = WorkspaceRecord::new("legacy", "L", "https://rdweb.corp.test/feed", 1);
        let found = store.load(&record, "CORP\\alice").await.unwrap().unwrap();
        assert_eq!(found.as_str(), "from before");
        let items = collection.search_items(&legacy).await.unwrap();
        assert_eq!(items.len(), 1, "one item, now with its origin");
        let attributes = items[0].attributes().await.unwrap();
        assert_eq!(attributes["origin"], "https://rdweb.corp.test");
        assert_eq!(
            store
                .load(&record, "CORP\\alice")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "from before"
        );
    });
    let _ = keyring.kill();
    let _ = keyring.wait();
}
