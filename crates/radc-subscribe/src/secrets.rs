//! Feed passwords in the Secret Service (GNOME Keyring, KWallet, KeePassXC…),
//! so a refresh needs no prompt. Nothing else ever holds them: not a file,
//! not a log, not a command line.
//!
//! A password belongs to a workspace's identity: its id *and* the origin
//! its feed was subscribed from (both are item attributes), so a password
//! is only ever found for the server it was given for, even if some other
//! feed came to use the same workspace id.

use std::collections::HashMap;

use oo7::dbus::{Collection, Service};
use zeroize::Zeroizing;

use crate::store::WorkspaceRecord;

const APPLICATION: &str = "radc";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no Secret Service is running (GNOME Keyring, KWallet or KeePassXC); \
         the password is used for this command only and not stored"
    )]
    Unavailable,
    #[error(
        "the default keyring is locked; unlock it (e.g. by logging in to the desktop) and try again"
    )]
    Locked,
    #[error("the Secret Service failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<oo7::dbus::Error> for SecretError {
    fn from(e: oo7::dbus::Error) -> Self {
        SecretError::Failed(e.to_string())
    }
}

/// The user's default keyring, through the Secret Service on the session
/// bus.
pub struct SecretStore {
    collection: Collection,
}

impl SecretStore {
    /// Connects to the Secret Service and opens the default keyring.
    pub async fn connect() -> Result<SecretStore, SecretError> {
        let service = Service::new().await.map_err(unavailable_or)?;
        let collection = service
            .with_alias(Service::DEFAULT_COLLECTION)
            .await
            .map_err(unavailable_or)?
            .ok_or_else(|| {
                SecretError::Failed("the Secret Service has no default keyring".into())
            })?;
        if collection.is_locked().await? {
            return Err(SecretError::Locked);
        }
        Ok(SecretStore { collection })
    }

    /// Stores (or replaces) the password of `user` for a workspace.
    pub async fn store(
        &self,
        workspace: &WorkspaceRecord,
        user: &str,
        password: &str,
    ) -> Result<(), SecretError> {
        let origin = workspace.origin()?;
        let label = format!("radc: {user} on {} ({origin})", workspace.id);
        self.collection
            .create_item(
                &label,
                &attributes(&workspace.id, Some((&origin, user))),
                oo7::Secret::text(password),
                true,
                None,
            )
            .await?;
        Ok(())
    }

    /// The stored password of `user` for a workspace, given for the origin
    /// it is subscribed from.
    pub async fn load(
        &self,
        workspace: &WorkspaceRecord,
        user: &str,
    ) -> Result<Option<Zeroizing<String>>, SecretError> {
        let origin = workspace.origin()?;
        let items = self
            .collection
            .search_items(&attributes(&workspace.id, Some((&origin, user))))
            .await?;
        if let Some(item) = items.first() {
            return Ok(Some(secret_text(item).await?));
        }
        self.adopt(workspace, user).await
    }

    /// A password stored by a version of radc that did not bind passwords
    /// to an origin: stored for this workspace id when only this
    /// subscription could hold it, so it is bound to the workspace's origin
    /// now, and the unbound item goes.
    async fn adopt(
        &self,
        workspace: &WorkspaceRecord,
        user: &str,
    ) -> Result<Option<Zeroizing<String>>, SecretError> {
        let mut unbound = attributes(&workspace.id, None);
        unbound.insert("user", user);
        for item in self.collection.search_items(&unbound).await? {
            if item.attributes().await?.contains_key("origin") {
                continue;
            }
            let password = secret_text(&item).await?;
            self.store(workspace, user, &password).await?;
            item.delete(None).await?;
            return Ok(Some(password));
        }
        Ok(None)
    }

    /// Deletes every password stored for a workspace; returns how many.
    pub async fn forget(&self, workspace_id: &str) -> Result<usize, SecretError> {
        let items = self
            .collection
            .search_items(&attributes(workspace_id, None))
            .await?;
        for item in &items {
            item.delete(None).await?;
        }
        Ok(items.len())
    }
}

async fn secret_text(item: &oo7::dbus::Item) -> Result<Zeroizing<String>, SecretError> {
    let secret = item.secret().await?;
    let text = std::str::from_utf8(secret.as_bytes())
        .map_err(|_| SecretError::Failed("the stored password is not UTF-8".into()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The attributes of a workspace's items; with an origin and a user, of
/// one password.
fn attributes<'a>(
    workspace_id: &'a str,
    origin_user: Option<(&'a str, &'a str)>,
) -> HashMap<&'a str, &'a str> {
    let mut map = HashMap::from([("application", APPLICATION), ("workspace", workspace_id)]);
    if let Some((origin, user)) = origin_user {
        map.insert("origin", origin);
        map.insert("user", user);
    }
    map
}

/// "Nobody provides org.freedesktop.secrets" and "there is no session bus"
/// both mean the same to the user: nothing can store the password.
fn unavailable_or(e: oo7::dbus::Error) -> SecretError {
    use oo7::dbus::{Error, ServiceError};
    let bus_error = match &e {
        Error::ZBus(bus) | Error::Service(ServiceError::ZBus(bus)) => Some(bus),
        _ => None,
    };
    match bus_error {
        Some(zbus::Error::MethodError(name, _, _))
            if matches!(
                name.as_str(),
                "org.freedesktop.DBus.Error.ServiceUnknown"
                    | "org.freedesktop.DBus.Error.NameHasNoOwner"
            ) =>
        {
            SecretError::Unavailable
        }
        Some(
            zbus::Error::Address(_) | zbus::Error::InputOutput(_) | zbus::Error::Connection(..),
        ) => SecretError::Unavailable,
        _ => e.into(),
    }
}
