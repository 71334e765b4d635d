//! A real Secret Service (gnome-keyring) on a test's bus.

use std::process::{Command, Stdio};

use super::TestBus;

/// A real Secret Service on the test's bus, unlocked; killed when dropped.
pub struct Keyring(std::process::Child);

impl Keyring {
    pub async fn start(bus: &TestBus) -> Keyring {
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .envs(bus.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon is installed (scripts/install-deps.sh)");
        {
            use std::io::Write as _;
            let mut stdin = keyring.stdin.take().unwrap();
            stdin.write_all(b"keyring-test-password").unwrap();
        }
        bus.wait_for_name("org.freedesktop.secrets").await;
        Keyring(keyring)
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
