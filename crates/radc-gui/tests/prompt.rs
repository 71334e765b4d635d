//! `radc-gui prompt` on a real X display, driven by keyboard (xdotool) and
//! through the accessibility tree: exactly the contract the runtime reads
//! on its standard output.

mod desktop;

use std::process::Stdio;
use std::time::Duration;

use desktop::common::TestBus;
use desktop::{Desktop, Gui};

const EXIT: Duration = Duration::from_secs(10);

async fn desktop() -> Desktop {
    Desktop::start(TestBus::bus_only()).await
}

fn prompt(desktop: &Desktop, user: &str, reason: Option<&str>) -> Gui {
    let mut cmd = desktop.gui(&["prompt", "--workspace", "Contoso", "--user", user]);
    if let Some(reason) = reason {
        cmd.args(["--reason", reason]);
    }
    cmd.stdout(Stdio::piped());
    Gui::spawn(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_user_remember_and_password() {
    let mut desktop = desktop().await;
    let mut gui = prompt(
        &desktop,
        "CORP\\alice",
        Some("The stored password was refused"),
    );
    let driver = desktop.driver();
    driver.wait("frame", "Sign in to Contoso");
    // The user name is given, so the password field has the focus.
    driver.wait_states("password text", "Password", &["focused"], &[]);
    driver.wait("label", "The stored password was refused");
    desktop.type_text("S3cret pass\\word!");
    // Alt+R: "_Remember in the keyring".
    desktop.key("alt+r");
    let driver = desktop.driver();
    driver.wait_states("check box", "Remember in the keyring", &["checked"], &[]);
    desktop.screenshot("prompt");
    desktop.key("Return");

    let (status, out) = gui.finish(EXIT);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"user\":\"CORP\\\\alice\",\"remember\":true}\nS3cret pass\\word!\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_escape_and_closing_answer_nothing() {
    let mut desktop = desktop().await;

    // Escape, with a password typed.
    let mut gui = prompt(&desktop, "bob", None);
    desktop
        .driver()
        .wait_states("password text", "Password", &["focused"], &[]);
    desktop.type_text("typed");
    desktop.key("Escape");
    let (status, out) = gui.finish(EXIT);
    assert_eq!((status.code(), out.as_slice()), (Some(1), &b""[..]));

    // The Cancel button.
    let mut gui = prompt(&desktop, "bob", None);
    desktop.driver().wait("push button", "Cancel");
    desktop.driver().click("Cancel");
    let (status, out) = gui.finish(EXIT);
    assert_eq!((status.code(), out.as_slice()), (Some(1), &b""[..]));

    // Closing the window (its close action, as the title bar's button or
    // the window manager would).
    let mut gui = prompt(&desktop, "bob", None);
    desktop.driver().wait("frame", "Sign in to Contoso");
    desktop
        .driver()
        .act("frame", "Sign in to Contoso", "window.close");
    let (status, out) = gui.finish(EXIT);
    assert_eq!((status.code(), out.as_slice()), (Some(1), &b""[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_name_is_required_and_a_line_break_refused() {
    let mut desktop = desktop().await;
    let mut gui = prompt(&desktop, "", None);
    let driver = desktop.driver();
    // No user name: Sign In cannot be pressed, and Enter does nothing.
    driver.wait_states("text", "User name", &["focused"], &[]);
    driver.wait_states("push button", "Sign In", &[], &["sensitive"]);
    desktop.key("Return");
    assert!(gui.still_running_after(Duration::from_millis(500)));
    desktop.screenshot("prompt-no-user");

    // A user name makes it sensitive.
    desktop.type_text("carol");
    let driver = desktop.driver();
    driver.wait_states("push button", "Sign In", &["sensitive"], &[]);

    // A password with a line break (pasted, say) is refused in the window.
    driver.set_text("password text", "Password", "two\nlines");
    driver.click("Sign In");
    driver.wait_states(
        "alert",
        "The password cannot contain a line break.",
        &["visible"],
        &[],
    );
    assert!(gui.still_running_after(Duration::from_millis(300)));
    desktop.screenshot("prompt-line-break");

    // Corrected, it goes through; the user name is as typed.
    let driver = desktop.driver();
    driver.set_text("password text", "Password", "one line");
    driver.click("Sign In");
    let (status, out) = gui.finish(EXIT);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"user\":\"carol\",\"remember\":false}\none line\n"
    );
}
