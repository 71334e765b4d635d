//! `radc-gui window`: the Workspaces window.
//!
//! One group per subscribed workspace: its feed and last update, the last
//! error, its apps and desktops (each with "Show in menu" and "Launch"),
//! and its open connections. Everything shown comes from the runtime's
//! D-Bus API and is read again when the runtime signals a change; the
//! window keeps no state of its own beyond what it shows.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use adw::prelude::*;
use gtk::{gio, glib};
use radc_client::proxy::{ConnectionRow, MenuResourceRow, WorkspaceRow};

use crate::backend::{Backend, Event};
use crate::text;
use crate::widgets::{decoration, icon_button, label, mnemonic_button};

/// The application id: one window per session, whoever starts it again.
pub const APP_ID: &str = "org.radc.Workspaces";
/// The window's title, also the application's name.
pub const TITLE: &str = "Remote Workspaces";
/// About what fits on a toast in a window of the default width.
const TOAST_CHARS: usize = 60;

pub fn run() -> ExitCode {
    // The X11 window class then names the desktop entry,
    // org.radc.Workspaces.desktop, as the application id does on Wayland.
    glib::set_prgname(Some(APP_ID));
    glib::set_application_name(TITLE);
    let app = adw::Application::builder().application_id(APP_ID).build();
    app.connect_activate(|app| {
        // A second `radc-gui window` ends up here, in the first one.
        if let Some(window) = app.active_window() {
            window.present();
            return;
        }
        Ui::new(app).window.present();
    });
    let quit = gio::SimpleAction::new("quit", None);
    {
        let app = app.clone();
        quit.connect_activate(move |_, _| app.quit());
    }
    app.add_action(&quit);
    app.set_accels_for_action("app.quit", &["<Control>q"]);
    app.set_accels_for_action("window.close", &["<Control>w"]);
    app.set_accels_for_action("win.add", &["<Control>n"]);
    app.set_accels_for_action("win.update-all", &["<Control>r", "F5"]);
    // GApplication must not read the arguments: clap did.
    if app.run_with_args::<&str>(&[]) == glib::ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The window and what it shows.
pub struct Ui {
    backend: Backend,
    pub window: adw::ApplicationWindow,
    toasts: adw::ToastOverlay,
    /// "loading", "empty", "list" or "unavailable".
    stack: gtk::Stack,
    loading: gtk::Spinner,
    unavailable: adw::StatusPage,
    page: adw::PreferencesPage,
    workspaces: RefCell<Vec<Rc<WorkspaceView>>>,
    /// Connections of workspaces nobody subscribed to here (custom clients
    /// name any workspace they like).
    others: adw::PreferencesGroup,
    other_views: RefCell<Vec<Rc<ConnectionsView>>>,
    /// The last `ListConnections`, applied again when workspaces come.
    connections: RefCell<Vec<ConnectionRow>>,
    /// Replies can overtake each other: each read has a number, and only a
    /// newer one replaces what a later-numbered one showed.
    seq: Cell<u64>,
    list_seq: Cell<u64>,
    connections_seq: Cell<u64>,
    /// Wakes the window when a "Updated N minutes ago" needs new words,
    /// and only then.
    clock: RefCell<Option<glib::SourceId>>,
    loaded: Cell<bool>,
}

impl Ui {
    fn new(app: &adw::Application) -> Rc<Ui> {
        let (backend, mut events) = Backend::start();

        let add = icon_button("list-add-symbolic", "Add Workspace… (Ctrl+N)");
        add.set_action_name(Some("win.add"));
        label(&add, "Add Workspace");
        let header = adw::HeaderBar::new();
        header.pack_start(&add);

        let loading = gtk::Spinner::builder()
            .spinning(true)
            .width_request(32)
            .height_request(32)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Center)
            .build();
        label(&loading, "Loading workspaces");
        let first = mnemonic_button("_Add Workspace…");
        first.set_halign(gtk::Align::Center);
        first.set_action_name(Some("win.add"));
        first.add_css_class("pill");
        first.add_css_class("suggested-action");
        let empty = adw::StatusPage::builder()
            .icon_name("network-workgroup-symbolic")
            .title("No Workspaces")
            .description(
                "Add the workspace your organization gave you, and its apps and \
                 desktops come to your application menu.",
            )
            .child(&first)
            .build();
        let retry = mnemonic_button("_Try Again");
        retry.set_halign(gtk::Align::Center);
        retry.add_css_class("pill");
        let unavailable = adw::StatusPage::builder()
            .icon_name("network-offline-symbolic")
            .title("radc Is Not Running")
            .child(&retry)
            .build();
        let page = adw::PreferencesPage::new();
        let others = adw::PreferencesGroup::builder()
            .title("Other Connections")
            .description("Connections that programs opened in workspaces not listed here")
            .visible(false)
            .build();
        page.add(&others);

        let stack = gtk::Stack::new();
        stack.add_named(&loading, Some("loading"));
        stack.add_named(&empty, Some("empty"));
        stack.add_named(&page, Some("list"));
        stack.add_named(&unavailable, Some("unavailable"));
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&stack));
        let body = gtk::Box::new(gtk::Orientation::Vertical, 0);
        body.append(&header);
        body.append(&toasts);
        toasts.set_vexpand(true);

        let window = adw::ApplicationWindow::builder()
            .application(app)
            .title(TITLE)
            .icon_name("network-workgroup")
            .default_width(640)
            .default_height(560)
            .content(&body)
            .build();

        let ui = Rc::new(Ui {
            backend,
            window,
            toasts,
            stack,
            loading,
            unavailable,
            page,
            workspaces: RefCell::default(),
            others,
            other_views: RefCell::default(),
            connections: RefCell::default(),
            seq: Cell::new(0),
            list_seq: Cell::new(0),
            connections_seq: Cell::new(0),
            clock: RefCell::default(),
            loaded: Cell::new(false),
        });

        let action = gio::SimpleAction::new("add", None);
        {
            let ui = ui.clone();
            action.connect_activate(move |_, _| crate::add::open(&ui));
        }
        ui.window.add_action(&action);
        let action = gio::SimpleAction::new("update-all", None);
        {
            let ui = ui.clone();
            action.connect_activate(move |_, _| ui.update(""));
        }
        ui.window.add_action(&action);
        {
            let ui = ui.clone();
            retry.connect_clicked(move |_| {
                ui.show("loading");
                if ui.backend.connected() {
                    ui.reload_all();
                } else {
                    ui.backend.connect();
                }
            });
        }

        let events_ui = ui.clone();
        glib::spawn_future_local(async move {
            while let Some(event) = events.recv().await {
                events_ui.on_event(event);
            }
        });
        ui
    }

    /// Shows one page: "loading", "empty", "list" or "unavailable".
    fn show(&self, page: &str) {
        self.stack.set_visible_child_name(page);
        // A spinner spins, and wakes the window every frame, even on a page
        // nobody sees.
        self.loading.set_spinning(page == "loading");
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Says something briefly at the bottom of the window.
    pub fn toast(&self, message: &str) {
        self.toasts
            .add_toast(adw::Toast::new(&glib::markup_escape_text(message)));
    }

    /// Tells that `what` failed and why. A toast holds one short line, so a
    /// longer reason waits behind its "Details" button.
    pub fn toast_error(&self, what: &str, why: &str) {
        let whole = format!("{what}: {why}");
        if whole.chars().count() <= TOAST_CHARS {
            return self.toast(&whole);
        }
        let toast = adw::Toast::new(&glib::markup_escape_text(what));
        toast.set_priority(adw::ToastPriority::High);
        toast.set_button_label(Some("_Details"));
        let (window, what, why) = (self.window.clone(), what.to_owned(), why.to_owned());
        toast.connect_button_clicked(move |_| {
            let dialog = adw::MessageDialog::new(Some(&window), Some(&what), Some(&why));
            dialog.add_response("close", "_Close");
            dialog.present();
        });
        self.toasts.add_toast(toast);
    }

    fn on_event(self: &Rc<Self>, event: Event) {
        match event {
            Event::Ready => self.reload_all(),
            Event::WorkspacesChanged(id) => self.reload_workspaces(id),
            Event::ConnectionsChanged => self.reload_connections(),
            Event::Unavailable(why) => {
                self.unavailable
                    .set_description(Some(&glib::markup_escape_text(&why)));
                self.show("unavailable");
            }
        }
    }

    fn reload_all(self: &Rc<Self>) {
        self.reload_workspaces(String::new());
        self.reload_connections();
    }

    fn next_seq(&self) -> u64 {
        self.seq.set(self.seq.get() + 1);
        self.seq.get()
    }

    /// Reads the workspaces again, and the resources of `scope` (a workspace
    /// id, or `""` for all).
    fn reload_workspaces(self: &Rc<Self>, scope: String) {
        let seq = self.next_seq();
        let asked = scope.clone();
        let call = self.backend.call(move |p| {
            let scope = asked.clone();
            async move {
                let list = p.workspaces.list_workspaces().await?;
                // One unsubscribed meanwhile has no resources to read.
                if !scope.is_empty() && !list.iter().any(|w| w.0 == scope) {
                    return Ok((list, Vec::new()));
                }
                match p.workspaces.list_resources(&scope).await {
                    Ok(resources) => Ok((list, resources)),
                    Err(zbus::Error::MethodError(name, _, _))
                        if name.as_str() == "org.radc.Error.NotFound" =>
                    {
                        Ok((list, Vec::new()))
                    }
                    Err(e) => Err(e),
                }
            }
        });
        let ui = self.clone();
        glib::spawn_future_local(async move {
            match call.await {
                Ok((list, resources)) => ui.apply_workspaces(seq, &scope, list, resources),
                Err(e) => ui.failed_to_read(&e),
            }
        });
    }

    fn reload_connections(self: &Rc<Self>) {
        let seq = self.next_seq();
        let call = self
            .backend
            .call(|p| async move { p.runtime.list_connections().await });
        let ui = self.clone();
        glib::spawn_future_local(async move {
            match call.await {
                Ok(rows) if seq > ui.connections_seq.get() => {
                    ui.connections_seq.set(seq);
                    *ui.connections.borrow_mut() = rows;
                    ui.apply_connections();
                }
                Ok(_) => {}
                Err(e) => ui.failed_to_read(&e),
            }
        });
    }

    fn failed_to_read(&self, e: &str) {
        if self.loaded.get() {
            self.toast_error("The workspaces could not be read", e);
        } else {
            self.unavailable
                .set_description(Some(&glib::markup_escape_text(e)));
            self.show("unavailable");
        }
    }

    fn apply_workspaces(
        self: &Rc<Self>,
        seq: u64,
        scope: &str,
        list: Vec<WorkspaceRow>,
        resources: Vec<MenuResourceRow>,
    ) {
        if seq > self.list_seq.get() {
            self.list_seq.set(seq);
            self.sync_workspaces(&list);
        }
        let views = self.workspaces.borrow().clone();
        for view in &views {
            if (scope.is_empty() || view.id == scope) && seq > view.resources_seq.get() {
                view.resources_seq.set(seq);
                let rows: Vec<&MenuResourceRow> =
                    resources.iter().filter(|r| r.0 == view.id).collect();
                view.set_resources(self, &rows);
            } else if view.resources_seq.get() == 0 && !scope.is_empty() {
                // Appeared in the list while another one was being read:
                // its own signal may still come, but do not count on it.
                self.reload_workspaces(view.id.clone());
            }
        }
        self.loaded.set(true);
        self.show_list_or_empty();
        self.wind_clock();
    }

    /// Makes one view per listed workspace, in the runtime's order, and
    /// updates their headings.
    fn sync_workspaces(self: &Rc<Self>, list: &[WorkspaceRow]) {
        let mut views = self.workspaces.borrow_mut();
        let (kept, gone): (Vec<_>, Vec<_>) = views
            .drain(..)
            .partition(|v| list.iter().any(|w| w.0 == v.id));
        for view in gone {
            self.page.remove(&view.group);
        }
        let mut added = false;
        for row in list {
            let view = match kept.iter().find(|v| v.id == row.0) {
                Some(view) => view.clone(),
                None => {
                    added = true;
                    let view = WorkspaceView::new(self, &row.0);
                    self.page.add(&view.group);
                    view
                }
            };
            view.set_heading(row);
            views.push(view);
        }
        if added {
            // "Other Connections" stays last.
            self.page.remove(&self.others);
            self.page.add(&self.others);
        }
        drop(views);
        self.apply_connections();
    }

    fn show_list_or_empty(&self) {
        if !self.loaded.get() {
            return;
        }
        let any = !self.workspaces.borrow().is_empty() || self.others.is_visible();
        self.show(if any { "list" } else { "empty" });
    }

    /// Shows the last `ListConnections` under each workspace.
    fn apply_connections(self: &Rc<Self>) {
        let rows = self.connections.borrow().clone();
        let mut by_workspace: HashMap<&str, Vec<&ConnectionRow>> = HashMap::new();
        for row in &rows {
            by_workspace.entry(row.1.as_str()).or_default().push(row);
        }
        for view in self.workspaces.borrow().iter() {
            let mine = by_workspace.remove(view.id.as_str()).unwrap_or_default();
            view.connections.set(self, &mine);
        }
        // The rest: workspaces that are not subscribed here.
        let mut others = self.other_views.borrow_mut();
        for view in others.drain(..) {
            self.others.remove(&view.expander);
        }
        let mut rest: Vec<_> = by_workspace.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(b.0));
        for (id, rows) in rest {
            let view = ConnectionsView::new(self, id, &rows[0].2, true);
            view.set(self, &rows);
            self.others.add(&view.expander);
            others.push(view);
        }
        self.others.set_visible(!others.is_empty());
        drop(others);
        self.show_list_or_empty();
    }

    /// Sets the "Updated … ago" words, and a timer for when they next
    /// change. Nothing else wakes the window while nothing happens.
    fn wind_clock(self: &Rc<Self>) {
        if let Some(source) = self.clock.borrow_mut().take() {
            source.remove();
        }
        let now = unix_now();
        let next = self
            .workspaces
            .borrow()
            .iter()
            .filter_map(|view| view.show_age(now))
            .min();
        if let Some(seconds) = next {
            let ui = self.clone();
            let source = glib::timeout_add_seconds_local_once(seconds as u32, move || {
                // This source is done; do not remove it again.
                ui.clock.borrow_mut().take();
                ui.wind_clock();
            });
            *self.clock.borrow_mut() = Some(source);
        }
    }

    /// `Workspaces1.Refresh` of one workspace (`""`: all), telling what
    /// failed.
    pub fn update(self: &Rc<Self>, workspace: &str) {
        let views: Vec<_> = self
            .workspaces
            .borrow()
            .iter()
            .filter(|v| workspace.is_empty() || v.id == workspace)
            .cloned()
            .collect();
        for view in &views {
            view.set_busy(true);
        }
        let asked = workspace.to_owned();
        let call = self.backend.call(move |p| {
            let asked = asked.clone();
            async move { p.workspaces.refresh(&asked).await }
        });
        let ui = self.clone();
        glib::spawn_future_local(async move {
            let result = call.await;
            for view in &views {
                view.set_busy(false);
            }
            match result {
                Ok(rows) => {
                    for (id, error) in rows.iter().filter(|r| !r.1.is_empty()) {
                        let error = text::for_people(error);
                        if let Some(view) = views.iter().find(|v| &v.id == id) {
                            view.show_error(&error);
                        }
                        let name = ui.workspace_name(id);
                        ui.toast_error(&format!("{name} could not be updated"), &error);
                    }
                }
                Err(e) => ui.toast_error("The update failed", &e),
            }
        });
    }

    fn workspace_name(&self, id: &str) -> String {
        self.workspaces
            .borrow()
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.name.borrow().clone())
            .unwrap_or_else(|| id.to_owned())
    }

    /// Asks, then unsubscribes.
    fn confirm_remove(self: &Rc<Self>, id: &str) {
        let name = self.workspace_name(id);
        let dialog = adw::MessageDialog::new(
            Some(&self.window),
            Some(&format!("Remove {name}?")),
            Some(
                "Its apps and desktops leave your application menu and its stored \
                 password is forgotten. Connections that are open stay open.",
            ),
        );
        dialog.add_responses(&[("cancel", "_Cancel"), ("remove", "_Remove")]);
        dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        let ui = self.clone();
        let id = id.to_owned();
        dialog.connect_response(None, move |_, response| {
            if response != "remove" {
                return;
            }
            let asked = id.clone();
            let call = ui.backend.call(move |p| {
                let asked = asked.clone();
                async move { p.workspaces.unsubscribe(&asked).await }
            });
            let ui = ui.clone();
            let name = name.clone();
            glib::spawn_future_local(async move {
                match call.await {
                    Ok(()) => ui.toast(&format!("{name} was removed")),
                    Err(e) => ui.toast_error(&format!("{name} could not be removed"), &e),
                }
            });
        });
        dialog.present();
    }
}

/// One subscribed workspace: a group with its heading, the last error, its
/// resources and its connections.
struct WorkspaceView {
    id: String,
    name: RefCell<String>,
    url: RefCell<String>,
    last_refresh: Cell<u64>,
    group: adw::PreferencesGroup,
    update: gtk::Button,
    remove: gtk::Button,
    spinner: gtk::Spinner,
    error: adw::ActionRow,
    nothing: adw::ActionRow,
    resources: RefCell<Vec<Rc<ResourceView>>>,
    resources_seq: Cell<u64>,
    connections: Rc<ConnectionsView>,
}

impl WorkspaceView {
    fn new(ui: &Rc<Ui>, id: &str) -> Rc<WorkspaceView> {
        let spinner = gtk::Spinner::builder().visible(false).build();
        label(&spinner, "Updating");
        let update = icon_button("view-refresh-symbolic", "Update Now");
        let remove = icon_button("user-trash-symbolic", "Remove Workspace…");
        let suffix = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        suffix.append(&spinner);
        suffix.append(&update);
        suffix.append(&remove);
        let group = adw::PreferencesGroup::new();
        group.set_header_suffix(Some(&suffix));

        let error = adw::ActionRow::builder()
            .title("The last update failed")
            .use_markup(false)
            .visible(false)
            .build();
        error.add_prefix(&decoration("dialog-warning-symbolic"));
        error.add_css_class("error");
        group.add(&error);
        let nothing = adw::ActionRow::builder()
            .title("This workspace has no apps or desktops for you")
            .use_markup(false)
            .visible(false)
            .build();
        group.add(&nothing);

        let connections = ConnectionsView::new(ui, id, id, false);
        group.add(&connections.expander);

        let view = Rc::new(WorkspaceView {
            id: id.to_owned(),
            name: RefCell::new(id.to_owned()),
            url: RefCell::default(),
            last_refresh: Cell::new(0),
            group,
            update,
            remove,
            spinner,
            error,
            nothing,
            resources: RefCell::default(),
            resources_seq: Cell::new(0),
            connections,
        });
        {
            let (ui, id) = (ui.clone(), id.to_owned());
            view.update.connect_clicked(move |_| ui.update(&id));
        }
        {
            let (ui, id) = (ui.clone(), id.to_owned());
            view.remove.connect_clicked(move |_| ui.confirm_remove(&id));
        }
        view
    }

    fn set_heading(&self, row: &WorkspaceRow) {
        let (_, name, url, last_refresh, error) = row;
        *self.name.borrow_mut() = name.clone();
        *self.url.borrow_mut() = url.clone();
        self.last_refresh.set(*last_refresh);
        self.group.set_title(&glib::markup_escape_text(name));
        label(&self.update, &format!("Update {name} now"));
        label(&self.remove, &format!("Remove {name}"));
        self.connections.set_name(name);
        if error.is_empty() {
            self.error.set_visible(false);
        } else {
            self.show_error(&text::for_people(error));
        }
    }

    fn show_error(&self, error: &str) {
        self.error.set_subtitle(error);
        self.error.set_visible(true);
    }

    /// Writes the heading's description with the age of the last update;
    /// returns in how many seconds its words change.
    fn show_age(&self, now: u64) -> Option<u64> {
        let (age, next) = text::last_update(now, self.last_refresh.get());
        self.group.set_description(Some(&format!(
            "{}\n{age}",
            glib::markup_escape_text(&self.url.borrow())
        )));
        next
    }

    fn set_busy(&self, busy: bool) {
        self.spinner.set_visible(busy);
        self.spinner.set_spinning(busy);
        self.update.set_sensitive(!busy);
    }

    fn set_resources(&self, ui: &Rc<Ui>, rows: &[&MenuResourceRow]) {
        let same_ids = {
            let current = self.resources.borrow();
            current.len() == rows.len() && current.iter().zip(rows).all(|(v, r)| v.id == r.1)
        };
        if !same_ids {
            // The list itself changed: rows in the feed's order, then the
            // connections last.
            self.group.remove(&self.connections.expander);
            let mut current = self.resources.borrow_mut();
            for view in current.drain(..) {
                self.group.remove(&view.row);
            }
            for row in rows {
                let view = ResourceView::new(ui, &self.id, &row.1);
                self.group.add(&view.row);
                current.push(view);
            }
            self.group.add(&self.connections.expander);
        }
        for (view, row) in self.resources.borrow().iter().zip(rows) {
            view.set(row);
        }
        self.nothing.set_visible(rows.is_empty());
    }
}

/// One app or desktop: icon, title, kind, "Show in menu" and "Launch".
struct ResourceView {
    id: String,
    title: RefCell<String>,
    row: adw::ActionRow,
    icon: gtk::Image,
    switch: gtk::Switch,
    launch: gtk::Button,
    /// Set while the window itself moves the switch.
    quiet: Cell<bool>,
}

impl ResourceView {
    fn new(ui: &Rc<Ui>, workspace: &str, id: &str) -> Rc<ResourceView> {
        let icon = gtk::Image::builder()
            .pixel_size(32)
            .accessible_role(gtk::AccessibleRole::Presentation)
            .build();
        let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
        let in_menu = gtk::Label::new(Some("In menu"));
        in_menu.add_css_class("dim-label");
        in_menu.set_accessible_role(gtk::AccessibleRole::Presentation);
        let launch = gtk::Button::builder()
            .label("Launch")
            .valign(gtk::Align::Center)
            .build();
        let row = adw::ActionRow::builder().use_markup(false).build();
        row.add_prefix(&icon);
        row.add_suffix(&in_menu);
        row.add_suffix(&switch);
        row.add_suffix(&launch);
        let view = Rc::new(ResourceView {
            id: id.to_owned(),
            title: RefCell::default(),
            row,
            icon,
            switch,
            launch,
            quiet: Cell::new(false),
        });

        // "Show in menu": the switch moves at once; its state follows when
        // the runtime has done it, or the switch goes back.
        {
            let (ui, workspace, view2) = (ui.clone(), workspace.to_owned(), view.clone());
            view.switch.connect_state_set(move |switch, shown| {
                if view2.quiet.get() {
                    return glib::Propagation::Proceed;
                }
                let (asked_ws, asked_res) = (workspace.clone(), view2.id.clone());
                let call = ui.backend.call(move |p| {
                    let (ws, res) = (asked_ws.clone(), asked_res.clone());
                    async move { p.workspaces.set_shown(&ws, &res, shown).await }
                });
                let (ui, view, switch) = (ui.clone(), view2.clone(), switch.clone());
                glib::spawn_future_local(async move {
                    match call.await {
                        Ok(_) => switch.set_state(shown),
                        Err(e) => {
                            view.set_switch(!shown);
                            let title = view.title.borrow().clone();
                            ui.toast_error(
                                &format!("The menu entry of {title} could not be changed"),
                                &e,
                            );
                        }
                    }
                });
                glib::Propagation::Stop
            });
        }
        {
            let (ui, workspace, view2) = (ui.clone(), workspace.to_owned(), view.clone());
            view.launch.connect_clicked(move |button| {
                button.set_sensitive(false);
                let title = view2.title.borrow().clone();
                ui.toast(&format!("Opening {title}…"));
                let (asked_ws, asked_res) = (workspace.clone(), view2.id.clone());
                let call = ui.backend.call(move |p| {
                    let (ws, res) = (asked_ws.clone(), asked_res.clone());
                    async move {
                        let environment = radc_client::environment::from_process();
                        let environment =
                            environment.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        p.runtime.launch(&ws, &res, &[], environment).await
                    }
                });
                let (ui, button) = (ui.clone(), button.clone());
                glib::spawn_future_local(async move {
                    if let Err(e) = call.await {
                        ui.toast_error(&format!("{title} could not be opened"), &e);
                    }
                    button.set_sensitive(true);
                });
            });
        }
        view
    }

    fn set(&self, row: &MenuResourceRow) {
        let (_, _, title, kind, icon, shown, extensions, _) = row;
        *self.title.borrow_mut() = title.clone();
        self.row.set_title(title);
        self.row
            .set_subtitle(&text::resource_subtitle(kind, extensions));
        if !icon.is_empty() {
            self.icon.set_from_file(Some(icon));
        } else if self.icon.storage_type() != gtk::ImageType::Paintable {
            // The runtime renders icons only for resources in the menu (one
            // taken out keeps the picture already loaded).
            self.icon.set_icon_name(Some(if kind == "Desktop" {
                "computer-symbolic"
            } else {
                "application-x-executable-symbolic"
            }));
        }
        label(&self.switch, &format!("Show {title} in the menu"));
        label(&self.launch, &format!("Launch {title}"));
        self.set_switch(*shown);
    }

    fn set_switch(&self, shown: bool) {
        self.quiet.set(true);
        self.switch.set_active(shown);
        self.switch.set_state(shown);
        self.quiet.set(false);
    }
}

/// The open connections of one workspace, with "Disconnect" each and
/// "Disconnect All".
struct ConnectionsView {
    workspace: String,
    /// Titled with the workspace's name (under "Other Connections"), not
    /// "Connections" (in the workspace's own group).
    titled: bool,
    expander: adw::ExpanderRow,
    all: gtk::Button,
    rows: RefCell<Vec<adw::ActionRow>>,
}

impl ConnectionsView {
    fn new(ui: &Rc<Ui>, workspace: &str, name: &str, titled: bool) -> Rc<ConnectionsView> {
        let all = gtk::Button::builder()
            .label("Disconnect All")
            .valign(gtk::Align::Center)
            .build();
        let expander = adw::ExpanderRow::builder()
            .title("Connections")
            .expanded(true)
            .visible(false)
            .build();
        expander.add_action(&all);
        let view = Rc::new(ConnectionsView {
            workspace: workspace.to_owned(),
            titled,
            expander,
            all,
            rows: RefCell::default(),
        });
        view.set_name(name);
        {
            let (ui, view2) = (ui.clone(), view.clone());
            view.all.connect_clicked(move |button| {
                button.set_sensitive(false);
                let asked = view2.workspace.clone();
                let call = ui.backend.call(move |p| {
                    let asked = asked.clone();
                    async move { p.runtime.disconnect(&asked, 0).await }
                });
                let (ui, button) = (ui.clone(), button.clone());
                glib::spawn_future_local(async move {
                    match call.await {
                        Ok((_, rows)) => {
                            let failed = rows.iter().filter(|r| r.1 != "ok").count();
                            if failed > 0 {
                                ui.toast(&format!(
                                    "{failed} of {} connections did not close when asked",
                                    rows.len()
                                ));
                            }
                        }
                        Err(e) => ui.toast_error("The connections could not be ended", &e),
                    }
                    button.set_sensitive(true);
                });
            });
        }
        view
    }

    fn set_name(&self, name: &str) {
        label(&self.all, &format!("Disconnect all of {name}"));
        if self.titled {
            self.expander.set_title(&glib::markup_escape_text(name));
        }
    }

    fn set(&self, ui: &Rc<Ui>, connections: &[&ConnectionRow]) {
        for row in self.rows.borrow_mut().drain(..) {
            self.expander.remove(&row);
        }
        self.expander.set_visible(!connections.is_empty());
        self.expander
            .set_subtitle(&text::connections(connections.len()));
        for connection in connections {
            let row = connection_row(ui, connection);
            self.expander.add_row(&row);
            self.rows.borrow_mut().push(row);
        }
    }
}

/// A row for one connection, with its "Disconnect" button.
fn connection_row(ui: &Rc<Ui>, connection: &ConnectionRow) -> adw::ActionRow {
    let (cookie, _, _, name, state, _, _, since_ms, kind) = connection;
    let since = glib::DateTime::from_unix_local((*since_ms / 1000) as i64)
        .and_then(|t| t.format("%H:%M"))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let how = if kind == "built-in" {
        "opened here"
    } else {
        "opened by another program"
    };
    let subtitle = if state == "disconnecting" {
        "Disconnecting…".to_owned()
    } else {
        format!("Connected since {since}, {how}")
    };
    let row = adw::ActionRow::builder()
        .title(name.as_str())
        .subtitle(subtitle)
        .use_markup(false)
        .build();
    let button = gtk::Button::builder()
        .label("Disconnect")
        .valign(gtk::Align::Center)
        .sensitive(state != "disconnecting")
        .build();
    label(&button, &format!("Disconnect {name}"));
    row.add_suffix(&button);
    let (ui, cookie, name) = (ui.clone(), *cookie, name.clone());
    button.connect_clicked(move |button| {
        button.set_sensitive(false);
        let call = ui
            .backend
            .call(move |p| async move { p.runtime.disconnect_connection(cookie, 0).await });
        let (ui, name) = (ui.clone(), name.clone());
        glib::spawn_future_local(async move {
            match call.await {
                Ok((outcome, _)) if outcome == "ok" => {}
                Ok((outcome, detail)) => ui.toast_error(
                    &format!("{name} did not close when asked"),
                    if detail.is_empty() { &outcome } else { &detail },
                ),
                Err(e) => ui.toast_error(&format!("{name} could not be ended"), &e),
            }
        });
    });
    row
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
