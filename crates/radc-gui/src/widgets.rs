//! Small pieces the windows share, each made accessible once here.

use adw::prelude::*;

/// Gives a widget the name a screen reader says (buttons that show only an
/// icon, switches, spinners).
pub fn label(widget: &impl IsA<gtk::Accessible>, text: &str) {
    widget.update_property(&[gtk::accessible::Property::Label(text)]);
}

/// A button with a mnemonic (`"_Cancel"`: Alt+C).
pub fn mnemonic_button(text: &str) -> gtk::Button {
    let button = gtk::Button::with_mnemonic(text);
    name_mnemonic(&button, text);
    button
}

/// Names a widget that shows a mnemonic label: GTK 4.8 would join its label
/// with the label that names it ("_Cancel Cancel"); screen readers should
/// say "Cancel".
pub fn name_mnemonic(widget: &impl IsA<gtk::Accessible>, text: &str) {
    widget.reset_relation(gtk::AccessibleRelation::LabelledBy);
    label(widget, &text.replace('_', ""));
}

/// A flat button showing only an icon: `tooltip` says what it does, and
/// [`label`] must name it for screen readers.
pub fn icon_button(icon: &str, tooltip: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name(icon)
        .tooltip_text(tooltip)
        .valign(gtk::Align::Center)
        .build();
    button.add_css_class("flat");
    button
}

/// An icon that only decorates what a label next to it says.
pub fn decoration(icon: &str) -> gtk::Image {
    gtk::Image::builder()
        .icon_name(icon)
        .accessible_role(gtk::AccessibleRole::Presentation)
        .build()
}

/// Lays out a dialog: a header bar with "Cancel" at the start and the
/// `action` that completes it at the end (the default, which Enter in a
/// field activates), above `content`. Cancel and Escape close the window.
/// Returns the header bar and the action's button.
pub fn dialog(
    window: &adw::Window,
    action: &str,
    content: &impl IsA<gtk::Widget>,
) -> (adw::HeaderBar, gtk::Button) {
    let cancel = mnemonic_button("_Cancel");
    let action = mnemonic_button(action);
    action.add_css_class("suggested-action");
    let header = adw::HeaderBar::builder()
        .show_end_title_buttons(false)
        .show_start_title_buttons(false)
        .build();
    header.pack_start(&cancel);
    header.pack_end(&action);
    let body = gtk::Box::new(gtk::Orientation::Vertical, 0);
    body.append(&header);
    body.append(content);
    window.set_content(Some(&body));
    window.set_default_widget(Some(&action));
    let weak = window.downgrade();
    cancel.connect_clicked(move |_| {
        if let Some(window) = weak.upgrade() {
            window.close();
        }
    });
    let shortcuts = gtk::ShortcutController::new();
    shortcuts.add_shortcut(gtk::Shortcut::new(
        gtk::ShortcutTrigger::parse_string("Escape"),
        Some(gtk::NamedAction::new("window.close")),
    ));
    window.add_controller(shortcuts);
    (header, action)
}

/// A label for an error in a dialog; screen readers announce it when it
/// appears.
pub fn error_label() -> gtk::Label {
    let error = gtk::Label::builder()
        .wrap(true)
        .xalign(0.0)
        .accessible_role(gtk::AccessibleRole::Alert)
        .build();
    error.add_css_class("error");
    error
}
