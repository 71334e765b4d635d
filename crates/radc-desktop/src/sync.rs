//! Which generated files to write and which to delete, from what radc wrote
//! last time (its manifest) and what it wants now. A refresh that changes
//! nothing writes nothing; a removed resource leaves nothing behind; files
//! radc did not write are never touched, because only manifest entries are
//! ever deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The XDG location a generated file lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Base {
    /// `$XDG_DATA_HOME/applications`
    Applications,
    /// `$XDG_DATA_HOME/icons`
    Icons,
    /// `$XDG_CONFIG_HOME/menus/applications-merged`
    Menus,
    /// `$XDG_DATA_HOME/desktop-directories`
    DesktopDirectories,
    /// `$XDG_DATA_HOME/mime/packages`
    MimePackages,
}

/// One file radc wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub base: Base,
    /// Relative to the base, `/`-separated, built from [`crate::names`].
    pub path: String,
    pub contents: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("generated path {0:?} is not a plain relative path")]
pub struct BadPath(pub String);

/// What radc wrote for one workspace: every file and a hash of its contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<Base, BTreeMap<String, String>>,
}

impl Manifest {
    pub fn is_empty(&self) -> bool {
        self.files.values().all(BTreeMap::is_empty)
    }

    pub fn len(&self) -> usize {
        self.files.values().map(BTreeMap::len).sum()
    }

    fn get(&self, base: Base, path: &str) -> Option<&String> {
        self.files.get(&base)?.get(path)
    }
}

/// The work of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// New or changed files.
    pub write: Vec<GeneratedFile>,
    /// Files radc wrote before that are no longer wanted.
    pub delete: Vec<(Base, String)>,
    /// The manifest to store once the plan is carried out.
    pub manifest: Manifest,
}

/// Compares what was written with what is wanted. Fails if a generated
/// path could escape its base (a bug in the caller, never feed input,
/// since names are derived through [`crate::names`]).
pub fn plan(previous: &Manifest, wanted: Vec<GeneratedFile>) -> Result<SyncPlan, BadPath> {
    let mut out = SyncPlan::default();
    for file in wanted {
        check_path(&file.path)?;
        let hash = hash(&file.contents);
        if previous.get(file.base, &file.path) != Some(&hash) {
            out.write.push(file.clone());
        }
        out.manifest
            .files
            .entry(file.base)
            .or_default()
            .insert(file.path, hash);
    }
    for (base, files) in &previous.files {
        for path in files.keys() {
            if out.manifest.get(*base, path).is_none() {
                out.delete.push((*base, path.clone()));
            }
        }
    }
    Ok(out)
}

fn check_path(path: &str) -> Result<(), BadPath> {
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if plain {
        Ok(())
    } else {
        Err(BadPath(path.to_owned()))
    }
}

fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn file(base: Base, path: &str, contents: &str) -> GeneratedFile {
        GeneratedFile {
            base,
            path: path.into(),
            contents: contents.as_bytes().to_vec(),
        }
    }

    #[test]
    fn unchanged_writes_nothing_and_removed_is_deleted() {
        let first = plan(
            &Manifest::default(),
            vec![
                file(Base::Applications, "radc-a.desktop", "A"),
                file(Base::Icons, "hicolor/32x32/apps/radc-a.png", "png"),
            ],
        )
        .unwrap();
        assert_eq!(first.write.len(), 2);
        assert!(first.delete.is_empty());

        let again = plan(
            &first.manifest,
            vec![
                file(Base::Applications, "radc-a.desktop", "A"),
                file(Base::Icons, "hicolor/32x32/apps/radc-a.png", "png"),
            ],
        )
        .unwrap();
        assert!(again.write.is_empty() && again.delete.is_empty());
        assert_eq!(again.manifest, first.manifest);

        let changed = plan(
            &first.manifest,
            vec![file(Base::Applications, "radc-a.desktop", "A renamed")],
        )
        .unwrap();
        assert_eq!(changed.write.len(), 1);
        assert_eq!(
            changed.delete,
            vec![(Base::Icons, "hicolor/32x32/apps/radc-a.png".to_string())]
        );
        let gone = plan(&changed.manifest, vec![]).unwrap();
        assert_eq!(gone.delete.len(), 1);
        assert!(gone.manifest.is_empty());
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\0b"] {
            assert!(
                plan(&Manifest::default(), vec![file(Base::Menus, bad, "x")]).is_err(),
                "{bad:?}"
            );
        }
    }

    fn arb_files() -> impl Strategy<Value = Vec<GeneratedFile>> {
        prop::collection::btree_map(("[a-c]{1,2}", 0u8..3), "[xy]{0,2}", 0..6).prop_map(|m| {
            m.into_iter()
                .map(|((name, base), contents)| GeneratedFile {
                    base: [Base::Applications, Base::Icons, Base::Menus][base as usize],
                    path: format!("radc-{name}"),
                    contents: contents.into_bytes(),
                })
                .collect()
        })
    }

    proptest! {
        /// Carrying out each plan on a simulated tree always leaves exactly
        /// the wanted files, and touches nothing it did not write.
        #[test]
        fn plans_converge(rounds in prop::collection::vec(arb_files(), 1..5)) {
            let foreign = (Base::Applications, "someone-else.desktop".to_string());
            let mut tree: HashMap<(Base, String), Vec<u8>> = HashMap::new();
            tree.insert(foreign.clone(), b"not ours".to_vec());
            let mut manifest = Manifest::default();
            for wanted in rounds {
                let p = plan(&manifest, wanted.clone()).unwrap();
                for f in &p.write {
                    tree.insert((f.base, f.path.clone()), f.contents.clone());
                }
                for key in &p.delete {
                    tree.remove(key);
                }
                manifest = p.manifest;
                let expected: HashMap<_, _> = wanted
                    .iter()
                    .map(|f| ((f.base, f.path.clone()), f.contents.clone()))
                    .chain([(foreign.clone(), b"not ours".to_vec())])
                    .collect();
                prop_assert_eq!(&tree, &expected);
                prop_assert_eq!(manifest.len(), wanted.len());
                let idle = plan(&manifest, wanted).unwrap();
                prop_assert!(idle.write.is_empty() && idle.delete.is_empty());
            }
        }
    }
}
