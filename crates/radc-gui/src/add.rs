//! The "Add Workspace" dialog: `Workspaces1.Subscribe` with the address,
//! user name and password the user types.

use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;

use crate::secret;
use crate::widgets::{dialog, error_label, label};
use crate::window::Ui;

/// Opens the dialog over the window.
pub fn open(ui: &Rc<Ui>) {
    let window = adw::Window::builder()
        .title("Add Workspace")
        .transient_for(&ui.window)
        .modal(true)
        .default_width(480)
        .default_height(640)
        .destroy_with_parent(true)
        .build();

    let error = error_label();
    let errors = adw::PreferencesGroup::builder().visible(false).build();
    errors.add(&error);

    let address = adw::EntryRow::builder()
        .title("_Address")
        .use_underline(true)
        .activates_default(true)
        .input_purpose(gtk::InputPurpose::Url)
        .build();
    let where_ = adw::PreferencesGroup::builder()
        .description(
            "The feed URL, server name or work e-mail address your organization \
             gave you, e.g. rdweb.example.com",
        )
        .build();
    where_.add(&address);

    let user = adw::EntryRow::builder()
        .title("_User Name")
        .use_underline(true)
        .activates_default(true)
        .build();
    let password = adw::PasswordEntryRow::builder()
        .title("_Password")
        .use_underline(true)
        .activates_default(true)
        .build();
    let sign_in = adw::PreferencesGroup::builder()
        .title("Sign In")
        .description(
            "As DOMAIN\\user or user@example.com, if the server asks for it. \
             The password is kept in your keyring.",
        )
        .build();
    sign_in.add(&user);
    sign_in.add(&password);

    let allow_http = gtk::Switch::builder().valign(gtk::Align::Center).build();
    let http_row = adw::ActionRow::builder()
        .title("Allow _unencrypted http")
        .use_underline(true)
        .subtitle("Only for test servers: the password would cross the network unprotected")
        .activatable_widget(&allow_http)
        .build();
    http_row.add_suffix(&allow_http);
    let advanced = adw::PreferencesGroup::builder().title("Advanced").build();
    advanced.add(&http_row);

    let page = adw::PreferencesPage::new();
    page.add(&errors);
    page.add(&where_);
    page.add(&sign_in);
    page.add(&advanced);
    let (header, add) = dialog(&window, "_Add", &page);
    add.set_sensitive(false);
    let spinner = gtk::Spinner::builder().visible(false).build();
    label(&spinner, "Adding the workspace");
    header.pack_end(&spinner);

    {
        let add = add.clone();
        address.connect_changed(move |address| {
            add.set_sensitive(!address.text().trim().is_empty());
        });
    }
    let fields: Vec<gtk::Widget> = vec![
        address.clone().upcast(),
        user.clone().upcast(),
        password.clone().upcast(),
        http_row.clone().upcast(),
    ];
    let busy = {
        let (add, spinner, fields) = (add.clone(), spinner.clone(), fields.clone());
        move |busy: bool| {
            add.set_sensitive(!busy);
            spinner.set_visible(busy);
            spinner.set_spinning(busy);
            for field in &fields {
                field.set_sensitive(!busy);
            }
        }
    };
    {
        let ui = ui.clone();
        let window = window.clone();
        let address = address.clone();
        add.connect_clicked(move |_| {
            let target = address.text().trim().to_owned();
            if target.is_empty() {
                return;
            }
            let username = user.text().trim().to_owned();
            let secret = secret::read(&password);
            let allow_http = allow_http.is_active();
            busy(true);
            errors.set_visible(false);
            let call = ui.backend().call(move |p| {
                let (target, username, secret) = (target.clone(), username.clone(), secret.clone());
                async move {
                    p.workspaces
                        .subscribe(&target, &username, &secret, allow_http)
                        .await
                }
            });
            let (window, busy) = (window.clone(), busy.clone());
            let (error, errors) = (error.clone(), errors.clone());
            let (address, password) = (address.clone(), password.clone());
            glib::spawn_future_local(async move {
                let result = call.await;
                busy(false);
                match result {
                    Ok(_) => {
                        // The window lists it as soon as the runtime
                        // announces it.
                        secret::clear(&password);
                        window.close();
                    }
                    Err(e) => {
                        error.set_label(&e);
                        errors.set_visible(true);
                        // Where the user most likely corrects it.
                        if e.contains("password") || e.contains("user name") {
                            password.grab_focus();
                        } else {
                            address.grab_focus();
                        }
                    }
                }
            });
        });
    }

    window.present();
    address.grab_focus();
}
