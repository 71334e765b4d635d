//! Icons are rendered once per source: what a sync rendered is remembered,
//! keyed by the hash of the source's bytes and of everything else the
//! rendering depends on ([`source_key`]), so a resync never decodes an
//! icon that did not change.
//!
//! The [`RenderCache`] maps a source key to the PNGs rendered from it, each
//! by size and hash of its bytes, and lives in the desktop manifest
//! ([`crate::sync::Manifest::icons`]). A remembered icon becomes files of
//! [`Contents::Rendered`], known only by their hash, which stand for files
//! the manifest records with exactly that hash: an icon whose files went
//! missing, were left of unknown contents by a killed sync, or are wanted
//! under a new name is rendered again ([`icons_for_sync`] does both passes).
//!
//! The cache is read back from disk, so it is checked: its entries carry a
//! digest of themselves, and a cache that is damaged in any way (does not
//! parse, fails the digest, names an impossible size or a malformed hash)
//! is dropped whole and every icon is rendered again. Never a panic, never
//! a file from a damaged entry.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::icons::Limits;
use crate::layout::Rendered;
use crate::sync::{Contents, GeneratedFile, Manifest, unvouched};

/// Names the rendering code: change it whenever [`crate::icons`] renders
/// the same source into other bytes, so old entries stop matching.
pub const RENDERER: &str = "radc-icons/2";

/// The PNGs rendered from one source: `(size, hash of the PNG's bytes)`,
/// by increasing size. Empty for a source that renders nothing (an icon
/// that does not decode), which is remembered too.
pub type Renders = Vec<(u32, String)>;

/// The key of an icon source: a hash of its files' bytes (in order: an
/// `.ico` and a PNG render together), the candidate sizes (of which
/// [`crate::icons::wanted_sizes`] picks), the decoding limits and
/// [`RENDERER`].
pub fn source_key(files: &[&[u8]], sizes: &[u32], limits: &Limits) -> String {
    let digests: Vec<[u8; 32]> = files.iter().map(|f| Sha256::digest(f).into()).collect();
    source_key_of_digests(&digests, sizes, limits)
}

/// [`source_key`] from the SHA-256 of each file's bytes, for a caller that
/// keeps those hashes and so need not read the files to know the key.
pub fn source_key_of_digests(digests: &[[u8; 32]], sizes: &[u32], limits: &Limits) -> String {
    let mut h = Sha256::new();
    h.update(RENDERER.as_bytes());
    h.update([0]);
    h.update((sizes.len() as u64).to_le_bytes());
    for size in sizes {
        h.update(size.to_le_bytes());
    }
    for n in [
        limits.max_input_bytes as u64,
        u64::from(limits.max_dimension),
        limits.max_frames as u64,
        limits.max_total_pixels,
    ] {
        h.update(n.to_le_bytes());
    }
    h.update((digests.len() as u64).to_le_bytes());
    for digest in digests {
        h.update(digest);
    }
    hex(&h.finalize())
}

/// What a sync rendered, by source key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderCache {
    renders: BTreeMap<String, Renders>,
}

impl RenderCache {
    pub fn is_empty(&self) -> bool {
        self.renders.is_empty()
    }

    pub fn len(&self) -> usize {
        self.renders.len()
    }

    /// The icon rendered from `key` before, as files known by their hash.
    pub fn get(&self, key: &str) -> Option<Rendered> {
        self.renders.get(key).map(|renders| {
            renders
                .iter()
                .map(|(size, hash)| {
                    let contents = Contents::Rendered {
                        source: key.to_owned(),
                        hash: hash.clone(),
                    };
                    (*size, contents)
                })
                .collect()
        })
    }

    /// What to remember of `rendered`: every source with its PNGs' sizes
    /// and hashes.
    pub fn record(rendered: &BTreeMap<String, Rendered>) -> RenderCache {
        let renders = rendered
            .iter()
            .map(|(key, pngs)| {
                let entry = pngs.iter().map(|(size, c)| (*size, c.hash())).collect();
                (key.clone(), entry)
            })
            .collect();
        RenderCache { renders }
    }

    /// A digest of the entries, stored with them to detect damage.
    fn digest(renders: &BTreeMap<String, Renders>) -> String {
        let mut h = Sha256::new();
        for (key, entry) in renders {
            h.update(key.as_bytes());
            h.update(b":");
            for (size, hash) in entry {
                h.update(format!("{size}={hash},").as_bytes());
            }
            h.update(b"\n");
        }
        hex(&h.finalize())
    }

    /// Whether every entry could have been written by [`RenderCache::record`]
    /// from real renders: hex keys and hashes, distinct sizes in increasing
    /// order.
    fn well_formed(renders: &BTreeMap<String, Renders>) -> bool {
        renders.iter().all(|(key, entry)| {
            is_hash(key)
                && entry.windows(2).all(|w| w[0].0 < w[1].0)
                && entry.iter().all(|(size, hash)| *size > 0 && is_hash(hash))
        })
    }
}

fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, Deserialize)]
struct Stored {
    check: String,
    renders: BTreeMap<String, Renders>,
}

impl Serialize for RenderCache {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored {
            check: RenderCache::digest(&self.renders),
            renders: self.renders.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RenderCache {
    /// Never fails on a value that is JSON at all: a damaged cache is an
    /// empty one.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Lenient {
            Good(Stored),
            Damaged(serde::de::IgnoredAny),
        }
        Ok(match Lenient::deserialize(deserializer)? {
            Lenient::Good(stored)
                if stored.check == RenderCache::digest(&stored.renders)
                    && RenderCache::well_formed(&stored.renders) =>
            {
                RenderCache {
                    renders: stored.renders,
                }
            }
            _ => RenderCache::default(),
        })
    }
}

/// The files of one sync and the icons to remember, rendering only what
/// must be:
///
/// 1. a source the previous manifest's cache knows is taken from it, every
///    other one is rendered (`render` gets all those keys at once, so it
///    may spread the work; it answers each with `(size, PNG)`s, empty for
///    an icon that does not decode);
/// 2. `layout` turns the icons by source key into the wanted files;
/// 3. the sources of remembered files the manifest does not vouch for
///    ([`unvouched`]) are rendered after all, and `layout` runs again.
///
/// The files are then ready for [`crate::sync::plan`] with the returned
/// cache: every source used, and nothing else.
pub fn icons_for_sync<E>(
    previous: &Manifest,
    sources: &BTreeSet<String>,
    mut render: impl FnMut(&BTreeSet<String>) -> BTreeMap<String, Vec<(u32, Vec<u8>)>>,
    mut layout: impl FnMut(&BTreeMap<String, Rendered>) -> Result<Vec<GeneratedFile>, E>,
) -> Result<(Vec<GeneratedFile>, RenderCache), E> {
    let mut icons: BTreeMap<String, Rendered> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    for key in sources {
        match previous.icons.get(key) {
            Some(kept) => {
                icons.insert(key.clone(), kept);
            }
            None => {
                missing.insert(key.clone());
            }
        }
    }
    let mut render_into = |icons: &mut BTreeMap<String, Rendered>, keys: &BTreeSet<String>| {
        let mut rendered = render(keys);
        for key in keys {
            let pngs = rendered.remove(key).unwrap_or_default();
            let pngs = pngs.into_iter().map(|(s, png)| (s, png.into())).collect();
            icons.insert(key.clone(), pngs);
        }
    };
    if !missing.is_empty() {
        render_into(&mut icons, &missing);
    }
    let mut files = layout(&icons)?;
    let again = unvouched(previous, &files);
    if !again.is_empty() {
        render_into(&mut icons, &again);
        files = layout(&icons)?;
    }
    Ok((files, RenderCache::record(&icons)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Base, plan};
    use proptest::prelude::*;
    use std::cell::RefCell;

    const SIZES: [u32; 4] = [16, 24, 32, 48];

    /// A stand-in for decoding and rendering, deterministic like the real
    /// one: which sizes a source gives, and their bytes, follow from its
    /// bytes; a source starting with `!` "does not decode".
    fn fake_render(source: &[u8]) -> Vec<(u32, Vec<u8>)> {
        if source.first() == Some(&b'!') {
            return Vec::new();
        }
        let upto = 1 + source.len() % SIZES.len();
        SIZES[..upto]
            .iter()
            .map(|&size| {
                let mut png = format!("png{size}:").into_bytes();
                png.extend_from_slice(source);
                (size, png)
            })
            .collect()
    }

    /// Resources by name with their icon source; the files of a sync.
    type Resources = BTreeMap<String, Vec<u8>>;

    fn key_of(source: &[u8]) -> String {
        source_key(&[source], &SIZES, &Limits::default())
    }

    fn fake_layout(
        resources: &Resources,
        icons: &BTreeMap<String, Rendered>,
    ) -> Vec<GeneratedFile> {
        let mut files = Vec::new();
        for (name, source) in resources {
            let rendered = icons.get(&key_of(source)).expect("every source is given");
            for (size, contents) in rendered {
                files.push(GeneratedFile {
                    base: Base::Icons,
                    path: format!("{size}/{name}.png"),
                    contents: contents.clone(),
                });
            }
            let entry = format!("icon={}", !rendered.is_empty());
            files.push(GeneratedFile {
                base: Base::Applications,
                path: format!("{name}.desktop"),
                contents: entry.into_bytes().into(),
            });
        }
        files
    }

    /// One sync as `radc_subscribe::desktop` does it: the files, the
    /// keys rendered, and the plan.
    fn sync(
        previous: &Manifest,
        resources: &Resources,
    ) -> (Vec<GeneratedFile>, Vec<String>, crate::sync::SyncPlan) {
        let by_key: BTreeMap<String, Vec<u8>> =
            resources.values().map(|s| (key_of(s), s.clone())).collect();
        let sources: BTreeSet<String> = by_key.keys().cloned().collect();
        let rendered = RefCell::new(Vec::new());
        let (files, cache) = icons_for_sync(
            previous,
            &sources,
            |keys| {
                rendered.borrow_mut().extend(keys.iter().cloned());
                keys.iter()
                    .map(|k| (k.clone(), fake_render(&by_key[k])))
                    .collect()
            },
            |icons| Ok::<_, ()>(fake_layout(resources, icons)),
        )
        .unwrap();
        let p = plan(previous, files.clone(), cache).unwrap();
        (files, rendered.into_inner(), p)
    }

    /// The files a sync with nothing remembered wants, as bytes.
    fn fresh(resources: &Resources) -> BTreeMap<(Base, String), String> {
        let icons = resources
            .values()
            .map(|s| {
                let pngs = fake_render(s).into_iter().map(|(z, p)| (z, p.into()));
                (key_of(s), pngs.collect())
            })
            .collect();
        fake_layout(resources, &icons)
            .into_iter()
            .map(|f| ((f.base, f.path), f.contents.hash()))
            .collect()
    }

    fn resources(pairs: &[(&str, &str)]) -> Resources {
        pairs
            .iter()
            .map(|(n, s)| (n.to_string(), s.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn unchanged_icons_are_not_rendered_and_changed_ones_are() {
        let first = resources(&[("a", "red"), ("b", "blue"), ("c", "!bad")]);
        let (_, rendered, p) = sync(&Manifest::default(), &first);
        assert_eq!(rendered.len(), 3);
        assert_eq!(p.manifest.icons.len(), 3, "the undecodable one too");

        let (_, rendered, again) = sync(&p.manifest, &first);
        assert!(rendered.is_empty(), "{rendered:?}");
        assert!(again.write.is_empty() && !again.manifest_changed);

        let changed = resources(&[("a", "red"), ("b", "green"), ("c", "!bad")]);
        let (_, rendered, next) = sync(&p.manifest, &changed);
        assert_eq!(rendered, vec![key_of(b"green")]);
        let written: BTreeSet<&str> = next.write.iter().map(|f| f.path.as_str()).collect();
        assert!(written.iter().all(|p| p.ends_with("/b.png")), "{written:?}");
        assert!(!written.is_empty());
        assert!(next.manifest.icons.get(&key_of(b"blue")).is_none());
    }

    #[test]
    fn a_known_icon_under_a_new_name_is_rendered() {
        let first = resources(&[("a", "red")]);
        let (_, _, p) = sync(&Manifest::default(), &first);
        let more = resources(&[("a", "red"), ("b", "red")]);
        let (files, rendered, next) = sync(&p.manifest, &more);
        assert_eq!(rendered, vec![key_of(b"red")]);
        assert!(next.write.iter().all(|f| f.contents.bytes().is_some()));
        let got: BTreeMap<_, _> = files
            .into_iter()
            .map(|f| ((f.base, f.path), f.contents.hash()))
            .collect();
        assert_eq!(got, fresh(&more));
    }

    #[test]
    fn the_cache_survives_a_round_trip_and_old_manifests_have_none() {
        let (_, _, p) = sync(&Manifest::default(), &resources(&[("a", "red")]));
        let json = serde_json::to_string(&p.manifest).unwrap();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p.manifest);
        let old: Manifest = serde_json::from_str(r#"{"files":{}}"#).unwrap();
        assert!(old.icons.is_empty());
    }

    #[test]
    fn damaged_caches_are_dropped_whole() {
        let (_, _, p) = sync(
            &Manifest::default(),
            &resources(&[("a", "red"), ("b", "blue")]),
        );
        let cache = serde_json::to_value(&p.manifest.icons).unwrap();
        let damaged = [
            serde_json::json!(null),
            serde_json::json!("icons"),
            serde_json::json!({"renders": cache["renders"]}),
            serde_json::json!({"check": cache["check"], "renders": {}}),
            serde_json::json!({"check": cache["check"], "renders": [1, 2]}),
        ];
        for value in damaged {
            let back: RenderCache = serde_json::from_value(value.clone()).unwrap();
            assert!(back.is_empty(), "{value}");
        }
        // Well-formed, with a digest that matches, but impossible.
        let mut renders = BTreeMap::new();
        renders.insert(
            key_of(b"x"),
            vec![(32, "ab".repeat(32)), (16, "cd".repeat(32))],
        );
        let value = serde_json::json!({"check": RenderCache::digest(&renders), "renders": renders});
        let back: RenderCache = serde_json::from_value(value).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn keys_follow_bytes_and_parameters() {
        let limits = Limits::default();
        let k = source_key(&[b"ab"], &SIZES, &limits);
        assert_eq!(k, source_key(&[b"ab"], &SIZES, &limits));
        assert!(is_hash(&k));
        assert_ne!(k, source_key(&[b"a", b"b"], &SIZES, &limits));
        assert_ne!(k, source_key(&[b"ab"], &SIZES[..2], &limits));
        let smaller = Limits {
            max_dimension: 64,
            ..Limits::default()
        };
        assert_ne!(k, source_key(&[b"ab"], &SIZES, &smaller));
    }

    fn arb_resources() -> impl Strategy<Value = Resources> {
        prop::collection::btree_map("[a-d]", "!?[xyz]{1,3}", 0..5)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
    }

    proptest! {
        /// Whatever was remembered, and whatever became of the files since
        /// (lost, of unknown contents after a kill, or the manifest's
        /// record of them), a sync wants exactly the files a sync with
        /// nothing remembered wants; an unchanged resync renders nothing.
        #[test]
        fn syncs_want_what_a_fresh_render_wants(
            first in arb_resources(),
            second in arb_resources(),
            forget in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        ) {
            let (_, _, p) = sync(&Manifest::default(), &first);
            let mut previous = p.manifest.clone();
            // Files a killed sync left unknown.
            for index in forget {
                let all: Vec<(Base, String)> = previous
                    .files
                    .iter()
                    .flat_map(|(b, f)| f.keys().map(move |p| (*b, p.clone())))
                    .collect();
                if !all.is_empty() {
                    let (base, path) = index.get(&all).clone();
                    previous.files.get_mut(&base).unwrap().insert(path, None);
                }
            }
            let (files, _, next) = sync(&previous, &second);
            let got: BTreeMap<_, _> = files
                .into_iter()
                .map(|f| ((f.base, f.path), f.contents.hash()))
                .collect();
            prop_assert_eq!(&got, &fresh(&second));
            prop_assert!(next.write.iter().all(|f| f.contents.bytes().is_some()));
            let (_, rendered, idle) = sync(&next.manifest, &second);
            prop_assert!(rendered.is_empty());
            prop_assert!(idle.write.is_empty() && idle.delete.is_empty());
            prop_assert!(!idle.manifest_changed);
        }

        /// Any one byte of a stored cache changed gives the same cache or
        /// an empty one, never another.
        #[test]
        fn a_damaged_byte_never_yields_another_cache(
            first in arb_resources(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let (_, _, p) = sync(&Manifest::default(), &first);
            let mut json = serde_json::to_vec(&p.manifest.icons).unwrap();
            let i = at.index(json.len());
            json[i] = byte;
            if let Ok(back) = serde_json::from_slice::<RenderCache>(&json) {
                prop_assert!(back == p.manifest.icons || back.is_empty());
            }
        }
    }
}
