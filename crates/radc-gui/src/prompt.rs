//! `radc-gui prompt`: the sign-in prompt the runtime starts when a launch or
//! a refresh needs a password it does not have.
//!
//! The contract (the runtime reads it, so it does not change):
//! - "Sign In" writes exactly two lines to standard output and exits 0:
//!   `{"user": "…", "remember": true|false}`, then the password.
//! - "Cancel", Escape or closing the window writes nothing and exits 1.
//! - The user name is required; a password with a line break is refused in
//!   the window, since it could not be told from the end of the answer.
//!
//! Nothing is logged or written anywhere else, and the password is held
//! only in buffers that are zeroed when dropped.

use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::gio;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::secret;
use crate::widgets::{decoration, dialog, error_label, name_mnemonic};

/// What the runtime asks for.
pub struct Request {
    pub workspace: String,
    pub user: String,
    pub reason: Option<String>,
}

/// What the user answered with "Sign In".
pub struct Answer {
    pub user: String,
    pub remember: bool,
    pub password: Zeroizing<String>,
}

/// The first line of the answer.
#[derive(Serialize)]
struct Header<'a> {
    user: &'a str,
    remember: bool,
}

/// Why a password cannot be sent, in words for the window.
pub fn refuse_password(password: &str) -> Option<&'static str> {
    password
        .contains(['\n', '\r'])
        .then_some("The password cannot contain a line break.")
}

impl Answer {
    /// The bytes written to standard output: the JSON line, then the
    /// password line.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let header = serde_json::to_string(&Header {
            user: &self.user,
            remember: self.remember,
        })
        .expect("strings and booleans serialize");
        let mut out = Zeroizing::new(Vec::with_capacity(header.len() + self.password.len() + 2));
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.password.as_bytes());
        out.push(b'\n');
        out
    }
}

pub fn run(request: Request) -> ExitCode {
    let app = adw::Application::builder()
        .flags(gio::ApplicationFlags::NON_UNIQUE)
        .build();
    let answer: Rc<RefCell<Option<Answer>>> = Rc::default();
    let request = Rc::new(request);
    {
        let answer = answer.clone();
        app.connect_activate(move |app| build(app, &request, answer.clone()));
    }
    // GApplication must not read the arguments: clap did.
    app.run_with_args::<&str>(&[]);
    let Some(answer) = answer.take() else {
        return ExitCode::from(1);
    };
    let bytes = answer.to_bytes();
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn build(app: &adw::Application, request: &Request, answer: Rc<RefCell<Option<Answer>>>) {
    let window = adw::Window::builder()
        .application(app)
        .title(format!("Sign in to {}", request.workspace))
        .default_width(420)
        .resizable(false)
        .modal(true)
        .build();

    let intro = gtk::Label::builder()
        .label(format!(
            "Enter your password to connect to the apps and desktops of {}.",
            request.workspace
        ))
        .wrap(true)
        // Wrapped text is measured at its narrowest otherwise, and the
        // window would be that tall.
        .width_chars(40)
        .max_width_chars(40)
        .xalign(0.0)
        .build();
    let content = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .margin_top(18)
        .margin_bottom(18)
        .margin_start(18)
        .margin_end(18)
        .build();
    content.append(&intro);
    if let Some(reason) = request.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        let icon = decoration("dialog-warning-symbolic");
        icon.set_valign(gtk::Align::Start);
        let label = gtk::Label::builder()
            .label(reason)
            .wrap(true)
            .width_chars(36)
            .max_width_chars(36)
            .xalign(0.0)
            .hexpand(true)
            .build();
        let row = gtk::Grid::builder().column_spacing(8).build();
        row.add_css_class("warning");
        row.attach(&icon, 0, 0, 1, 1);
        row.attach(&label, 1, 0, 1, 1);
        content.append(&row);
    }

    let user = gtk::Entry::builder()
        .text(&request.user)
        .activates_default(true)
        .hexpand(true)
        .build();
    let password = gtk::PasswordEntry::builder()
        .show_peek_icon(true)
        .activates_default(true)
        .hexpand(true)
        .build();
    let grid = gtk::Grid::builder()
        .row_spacing(8)
        .column_spacing(12)
        .build();
    for (row, (text, field)) in [
        ("_User name", user.upcast_ref::<gtk::Widget>()),
        ("_Password", password.upcast_ref()),
    ]
    .into_iter()
    .enumerate()
    {
        let label = gtk::Label::builder()
            .label(text)
            .use_underline(true)
            .mnemonic_widget(field)
            .xalign(1.0)
            .build();
        field.update_relation(&[gtk::accessible::Relation::LabelledBy(&[label.upcast_ref()])]);
        grid.attach(&label, 0, row as i32, 1, 1);
        grid.attach(field, 1, row as i32, 1, 1);
    }
    content.append(&grid);

    let error = error_label();
    error.set_visible(false);
    content.append(&error);

    let remember = gtk::CheckButton::with_mnemonic("_Remember in the keyring");
    name_mnemonic(&remember, "_Remember in the keyring");
    content.append(&remember);

    // Cancel, Escape and closing the window all answer nothing.
    let (_, sign_in) = dialog(&window, "_Sign In", &content);

    // The user name is required.
    let update = {
        let sign_in = sign_in.clone();
        move |user: &gtk::Entry| sign_in.set_sensitive(!user.text().trim().is_empty())
    };
    update(&user);
    user.connect_changed(update);

    {
        let window = window.clone();
        let (user, password, error) = (user.clone(), password.clone(), error.clone());
        sign_in.connect_clicked(move |_| {
            let name = user.text().trim().to_owned();
            if name.is_empty() {
                return;
            }
            let secret = secret::read(&password);
            if let Some(why) = refuse_password(&secret) {
                error.set_label(why);
                error.set_visible(true);
                password.grab_focus();
                return;
            }
            secret::clear(&password);
            *answer.borrow_mut() = Some(Answer {
                user: name,
                remember: remember.is_active(),
                password: secret,
            });
            window.close();
        });
    }

    if request.user.trim().is_empty() {
        user.grab_focus();
    } else {
        password.grab_focus();
    }
    window.present();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_two_lines() {
        let answer = Answer {
            user: "CORP\\alice".into(),
            remember: true,
            password: Zeroizing::new("pa ss\"wörd".into()),
        };
        assert_eq!(
            String::from_utf8(answer.to_bytes().to_vec()).unwrap(),
            "{\"user\":\"CORP\\\\alice\",\"remember\":true}\npa ss\"wörd\n"
        );
    }

    #[test]
    fn line_breaks_are_refused() {
        assert!(refuse_password("a\nb").is_some());
        assert!(refuse_password("a\rb").is_some());
        assert!(refuse_password("tab\tand spaces ok").is_none());
        assert!(refuse_password("").is_none());
    }
}
