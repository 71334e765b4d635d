//! Passwords out of GTK fields without leaving copies behind.

use gtk::glib::translate::ToGlibPtr;
use gtk::prelude::*;
use zeroize::Zeroizing;

/// The text of a password field, copied straight from GTK's own buffer into
/// one that is zeroed when dropped. (`EditableExt::text` would first make a
/// `GString` copy that is freed without being cleared.)
pub fn read(field: &impl IsA<gtk::Editable>) -> Zeroizing<String> {
    let editable: &gtk::Editable = field.upcast_ref();
    // SAFETY: `gtk_editable_get_text` returns a NUL-terminated UTF-8 string
    // owned by the widget, valid until its text changes; it is copied
    // before anything else runs on this thread.
    let text = unsafe {
        std::ffi::CStr::from_ptr(gtk::ffi::gtk_editable_get_text(editable.to_glib_none().0))
    };
    let text = text.to_str().unwrap_or_default();
    let mut secret = Zeroizing::new(String::with_capacity(text.len()));
    secret.push_str(text);
    secret
}

/// Empties a password field. A `GtkPasswordEntry` keeps its text in
/// non-pageable memory that GTK clears when it is freed.
pub fn clear(field: &impl IsA<gtk::Editable>) {
    field.set_text("");
}
