//! Property tests of the sans-IO core: random operation sequences are run
//! against the real types and against small explicit models, and the two are
//! compared after every step.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use zeroize::Zeroizing;

use radc_core::credentials::{
    CredentialCache, MAX_THUMBPRINTS, MAX_TIMEOUT_MINUTES, StartWorkspace,
    WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE, WKS_FLAG_CREDS_AUTHENTICATED,
    WKS_FLAG_PASSWORD_ENCRYPTED,
};
use radc_core::error::split_hresult;
use radc_core::error_events::{ErrorEvent, ErrorEventStore};
use radc_core::registry::{DisconnectTarget, Kind, Registry, State};
use radc_core::restype::{MAX_EXTENSION_LEN, ResTypeTable, validate_extension, validate_launcher};
use radc_core::{Cookie, ErrorKind, RegistryEvent, RemovalReason, RuntimeCore, RuntimeError};

const PEERS: [&str; 4] = [":1.1", ":1.2", ":1.3", ":1.4"];
const WORKSPACES: [&str; 3] = ["ws-a", "ws-b", "ws-c"];
const OBJECT_PATH: &str = "/client";

/// 256 cases per property, unless `PROPTEST_CASES` asks for another number
/// (e.g. `PROPTEST_CASES=20000` for a long hunt).
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

/// Every error the core hands out must be one of our kinds and render with
/// its HRESULT first, in a form `split_hresult` reads back.
fn check_error(err: &RuntimeError) -> Result<(), TestCaseError> {
    prop_assert!(
        ErrorKind::ALL.contains(&err.kind),
        "unknown kind {:?}",
        err.kind
    );
    let text = err.to_string();
    prop_assert!(text.starts_with("0x"), "{text:?}");
    let (code, rest) = split_hresult(&text).ok_or_else(|| TestCaseError::fail(text.clone()))?;
    prop_assert_eq!(code, err.kind.hresult());
    prop_assert_eq!(ErrorKind::from_hresult(code), Some(err.kind));
    prop_assert_eq!(rest, err.message.trim_start());
    Ok(())
}

fn check_result<T>(result: &radc_core::Result<T>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => check_error(e),
    }
}

/// Strings a hostile or broken peer might send: anything at all, control
/// characters, and very long text.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-z/.:\\-]{0,12}",
        2 => "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}a\\n ]{0,16}",
        1 => (any::<char>(), 0usize..20_000).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => (0usize..6).prop_map(|n| "x".repeat([0, 1, 256, 257, 4096, 4097][n])),
    ]
}

// ---------------------------------------------------------------------------
// 1. Registry state machine, driven through RuntimeCore.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum RegOp {
    Add {
        peer: usize,
        valid_path: bool,
    },
    CompleteProbe {
        idx: Index,
        ws: usize,
        valid: bool,
    },
    ProbeFailed {
        idx: Index,
    },
    Remove {
        peer: usize,
        idx: Index,
    },
    RemoveUnknown {
        peer: usize,
        offset: u32,
    },
    PeerVanished {
        peer: usize,
    },
    BeginDisconnect {
        ws: usize,
        valid: bool,
    },
    FinishDisconnect {
        idx: Index,
    },
    Timer {
        millis: u64,
    },
    /// Jump to the next deadline, one millisecond before it (-1), exactly on
    /// it (0) or just past it (1).
    TimerToDeadline {
        delta: i8,
    },
    StartCreds {
        ws: usize,
        clear_on_last: bool,
    },
}

fn reg_op() -> impl Strategy<Value = RegOp> {
    prop_oneof![
        6 => (0..PEERS.len(), prop::bool::weighted(0.95))
            .prop_map(|(peer, valid_path)| RegOp::Add { peer, valid_path }),
        6 => (any::<Index>(), 0..WORKSPACES.len(), prop::bool::weighted(0.85))
            .prop_map(|(idx, ws, valid)| RegOp::CompleteProbe { idx, ws, valid }),
        1 => any::<Index>().prop_map(|idx| RegOp::ProbeFailed { idx }),
        3 => (0..PEERS.len(), any::<Index>()).prop_map(|(peer, idx)| RegOp::Remove { peer, idx }),
        1 => (0..PEERS.len(), 0u32..3)
            .prop_map(|(peer, offset)| RegOp::RemoveUnknown { peer, offset }),
        1 => (0..PEERS.len()).prop_map(|peer| RegOp::PeerVanished { peer }),
        2 => (0..WORKSPACES.len(), prop::bool::weighted(0.9))
            .prop_map(|(ws, valid)| RegOp::BeginDisconnect { ws, valid }),
        3 => any::<Index>().prop_map(|idx| RegOp::FinishDisconnect { idx }),
        3 => prop_oneof![0u64..2_000, 0u64..30_000].prop_map(|millis| RegOp::Timer { millis }),
        2 => (-1i8..=1).prop_map(|delta| RegOp::TimerToDeadline { delta }),
        1 => (0..WORKSPACES.len(), any::<bool>())
            .prop_map(|(ws, clear_on_last)| RegOp::StartCreds { ws, clear_on_last }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MState {
    Probing,
    Connected,
    Disconnecting(Option<Instant>),
}

#[derive(Debug, Clone)]
struct MReg {
    peer: usize,
    ws: Option<usize>,
    state: MState,
}

#[derive(Debug, Default)]
struct RegModel {
    regs: BTreeMap<Cookie, MReg>,
    /// Workspaces with cached credentials, and whether they carry
    /// `WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE`.
    creds: BTreeMap<usize, bool>,
    /// Every cookie `add` ever returned, in order.
    issued: Vec<Cookie>,
    added_events: HashSet<Cookie>,
    removed_events: HashSet<Cookie>,
    successful_adds: usize,
}

impl RegModel {
    fn pick(&self, idx: &Index) -> Option<Cookie> {
        (!self.issued.is_empty()).then(|| self.issued[idx.index(self.issued.len())])
    }

    fn removed(&self, cookie: Cookie, reason: RemovalReason) -> RegistryEvent {
        RegistryEvent::Removed {
            cookie,
            reason,
            workspace_id: self.regs[&cookie].ws.map(|w| WORKSPACES[w].to_owned()),
        }
    }

    fn has_listed_workspace(&self, ws: usize) -> bool {
        self.regs
            .values()
            .any(|r| r.state != MState::Probing && r.ws == Some(ws))
    }

    /// Applies removals and the "last resource closed" credential rule, the
    /// way `RuntimeCore` does after `remove_resource`, `peer_vanished` and
    /// `on_timer`.
    fn take_all(&mut self, cookies: &[Cookie], creds_rule: bool) {
        let mut touched = BTreeSet::new();
        for c in cookies {
            let reg = self.regs.remove(c).expect("model removes only what it has");
            touched.extend(reg.ws);
        }
        if creds_rule {
            for ws in touched {
                if !self.has_listed_workspace(ws) && self.creds.get(&ws) == Some(&true) {
                    self.creds.remove(&ws);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.regs
            .values()
            .filter_map(|r| match r.state {
                MState::Disconnecting(d) => d,
                _ => None,
            })
            .min()
    }
}

fn event_key(e: &RegistryEvent) -> (u32, u8) {
    match e {
        RegistryEvent::Added { cookie, .. } => (cookie.get(), 0),
        RegistryEvent::Removed { cookie, .. } => (cookie.get(), 1),
    }
}

fn sorted(mut events: Vec<RegistryEvent>) -> Vec<RegistryEvent> {
    events.sort_by_key(event_key);
    events
}

/// Event bookkeeping: each cookie is announced at most once, removed at most
/// once, and never announced after its removal.
fn record_events(model: &mut RegModel, events: &[RegistryEvent]) -> Result<(), TestCaseError> {
    for e in events {
        match e {
            RegistryEvent::Added { cookie, .. } => {
                prop_assert!(
                    !model.removed_events.contains(cookie),
                    "Added after Removed for {cookie}"
                );
                prop_assert!(
                    model.added_events.insert(*cookie),
                    "second Added for {cookie}"
                );
            }
            RegistryEvent::Removed { cookie, .. } => {
                prop_assert!(
                    model.removed_events.insert(*cookie),
                    "second Removed for {cookie}"
                );
            }
        }
    }
    Ok(())
}

fn snapshot(
    core: &RuntimeCore,
    model: &RegModel,
) -> Vec<Option<radc_core::registry::Registration>> {
    model
        .issued
        .iter()
        .map(|c| core.registry().get(*c).cloned())
        .collect()
}

fn check_registry(core: &RuntimeCore, model: &RegModel, now: Instant) -> Result<(), TestCaseError> {
    let reg = core.registry();
    prop_assert_eq!(reg.len(), model.regs.len());
    prop_assert_eq!(
        reg.len(),
        model.successful_adds - model.removed_events.len()
    );
    prop_assert_eq!(reg.is_empty(), model.regs.is_empty());

    for c in &model.issued {
        match (reg.get(*c), model.regs.get(c)) {
            (None, None) => {}
            (Some(r), Some(m)) => {
                prop_assert_eq!(r.cookie, *c);
                prop_assert_eq!(&*r.peer, PEERS[m.peer]);
                prop_assert_eq!(&*r.object_path, OBJECT_PATH);
                prop_assert_eq!(r.workspace_id.as_deref(), m.ws.map(|w| WORKSPACES[w]));
                let expected = match m.state {
                    MState::Probing => State::Probing,
                    MState::Connected => State::Connected,
                    MState::Disconnecting(deadline) => State::Disconnecting { deadline },
                };
                prop_assert_eq!(r.state, expected);
                if m.state == MState::Probing {
                    prop_assert!(r.display_name.is_none());
                } else {
                    prop_assert_eq!(r.display_name.as_deref(), Some("App"));
                }
            }
            (core_side, model_side) => {
                return Err(TestCaseError::fail(format!(
                    "cookie {c}: core has {core_side:?}, model has {model_side:?}"
                )));
            }
        }
    }

    let listed: Vec<Cookie> = reg.listed().map(|r| r.cookie).collect();
    prop_assert!(reg.listed().all(|r| r.state != State::Probing));
    let expected: Vec<Cookie> = model
        .regs
        .iter()
        .filter(|(_, r)| r.state != MState::Probing)
        .map(|(c, _)| *c)
        .collect();
    prop_assert_eq!(listed, expected);

    let ids: BTreeSet<&str> = reg.workspace_ids();
    let expected: BTreeSet<&str> = model
        .regs
        .values()
        .filter(|r| r.state != MState::Probing)
        .filter_map(|r| r.ws.map(|w| WORKSPACES[w]))
        .collect();
    prop_assert_eq!(ids, expected);
    for (w, name) in WORKSPACES.iter().enumerate() {
        prop_assert_eq!(reg.has_workspace(name), model.has_listed_workspace(w));
    }

    // Credentials in this test never expire, so only grace deadlines count.
    let armed = model.next_deadline();
    prop_assert_eq!(reg.next_deadline(), armed);
    prop_assert_eq!(core.next_deadline(), armed);
    if !model
        .regs
        .values()
        .any(|r| matches!(r.state, MState::Disconnecting(Some(_))))
    {
        prop_assert_eq!(core.next_deadline(), None);
    }

    for (w, name) in WORKSPACES.iter().enumerate() {
        prop_assert_eq!(
            core.credentials().is_specified(name, true, now),
            model.creds.contains_key(&w),
            "credentials of {}",
            name
        );
    }
    Ok(())
}

fn run_registry(grace: Duration, ops: Vec<RegOp>) -> Result<(), TestCaseError> {
    let base = Instant::now();
    let mut now = base;
    let mut core = RuntimeCore::new(grace);
    let mut model = RegModel::default();

    for op in ops {
        match op {
            RegOp::Add { peer, valid_path } => {
                let path = if valid_path { OBJECT_PATH } else { "relative" };
                let result = core.add_resource(PEERS[peer], path, now);
                check_result(&result)?;
                if !valid_path {
                    prop_assert_eq!(result.map_err(|e| e.kind), Err(ErrorKind::InvalidArgs));
                    continue;
                }
                let cookie = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(cookie.get() != 0);
                if let Some(last) = model.issued.last() {
                    prop_assert!(cookie > *last, "cookie {cookie} after {last}");
                }
                prop_assert!(!model.removed_events.contains(&cookie));
                model.issued.push(cookie);
                model.successful_adds += 1;
                model.regs.insert(
                    cookie,
                    MReg {
                        peer,
                        ws: None,
                        state: MState::Probing,
                    },
                );
            }
            RegOp::CompleteProbe { idx, ws, valid } => {
                let Some(cookie) = model.pick(&idx) else {
                    continue;
                };
                let id = if valid { WORKSPACES[ws] } else { "" };
                let got = core.complete_probe(cookie, id, "App", 7);
                let expected = match model.regs.get(&cookie).map(|r| r.state) {
                    Some(MState::Probing) if valid => {
                        let r = model.regs.get_mut(&cookie).expect("checked");
                        r.ws = Some(ws);
                        r.state = MState::Connected;
                        Some(RegistryEvent::Added {
                            cookie,
                            workspace_id: id.to_owned(),
                            display_name: "App".to_owned(),
                        })
                    }
                    Some(MState::Probing) => {
                        let e = model.removed(cookie, RemovalReason::InvalidClient);
                        model.take_all(&[cookie], false);
                        Some(e)
                    }
                    _ => None,
                };
                prop_assert_eq!(&got, &expected);
                record_events(&mut model, got.as_slice())?;
                if let Some(r) = core.registry().get(cookie).filter(|_| valid) {
                    prop_assert_eq!(r.pid, 7);
                }
            }
            RegOp::ProbeFailed { idx } => {
                let Some(cookie) = model.pick(&idx) else {
                    continue;
                };
                let got = core.probe_failed(cookie);
                let expected = match model.regs.get(&cookie).map(|r| r.state) {
                    Some(MState::Probing) => {
                        let e = model.removed(cookie, RemovalReason::InvalidClient);
                        model.take_all(&[cookie], false);
                        Some(e)
                    }
                    _ => None,
                };
                prop_assert_eq!(&got, &expected);
                record_events(&mut model, got.as_slice())?;
            }
            RegOp::Remove { peer, idx } => {
                let Some(cookie) = model.pick(&idx) else {
                    continue;
                };
                let before = snapshot(&core, &model);
                let creds_before = core.credentials().len();
                let got = core.remove_resource(PEERS[peer], cookie);
                check_result(&got)?;
                match model.regs.get(&cookie).map(|r| r.peer) {
                    None => {
                        prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::NotFound));
                        prop_assert_eq!(snapshot(&core, &model), before);
                    }
                    Some(owner) if owner != peer => {
                        prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::AccessDenied));
                        prop_assert_eq!(snapshot(&core, &model), before);
                        prop_assert_eq!(core.credentials().len(), creds_before);
                    }
                    Some(_) => {
                        let expected = model.removed(cookie, RemovalReason::Removed);
                        model.take_all(&[cookie], true);
                        let got = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(&got, &expected);
                        record_events(&mut model, &[got])?;
                    }
                }
            }
            RegOp::RemoveUnknown { peer, offset } => {
                // A cookie no `add` has returned yet.
                let next = model.issued.last().map_or(1, |c| c.get() + 1);
                let cookie = Cookie::new(next + offset).expect("non-zero");
                let before = snapshot(&core, &model);
                let got = core.remove_resource(PEERS[peer], cookie);
                check_result(&got)?;
                prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::NotFound));
                prop_assert_eq!(snapshot(&core, &model), before);
            }
            RegOp::PeerVanished { peer } => {
                let got = core.peer_vanished(PEERS[peer]);
                let gone: Vec<Cookie> = model
                    .regs
                    .iter()
                    .filter(|(_, r)| r.peer == peer)
                    .map(|(c, _)| *c)
                    .collect();
                let expected: Vec<RegistryEvent> = gone
                    .iter()
                    .map(|c| model.removed(*c, RemovalReason::ClientVanished))
                    .collect();
                model.take_all(&gone, true);
                prop_assert_eq!(sorted(got.clone()), expected);
                record_events(&mut model, &got)?;
                for c in &model.issued {
                    prop_assert!(
                        core.registry()
                            .get(*c)
                            .is_none_or(|r| &*r.peer != PEERS[peer]),
                        "{} still holds {}",
                        PEERS[peer],
                        c
                    );
                }
            }
            RegOp::BeginDisconnect { ws, valid } => {
                if !valid {
                    let before = snapshot(&core, &model);
                    let got = core.begin_disconnect("");
                    check_result(&got)?;
                    prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::InvalidArgs));
                    prop_assert_eq!(snapshot(&core, &model), before);
                    continue;
                }
                let got = core
                    .begin_disconnect(WORKSPACES[ws])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.creds.remove(&ws);
                let mut expected = Vec::new();
                for (c, r) in model.regs.iter_mut() {
                    if r.state != MState::Probing && r.ws == Some(ws) {
                        if r.state == MState::Connected {
                            r.state = MState::Disconnecting(None);
                        }
                        expected.push(DisconnectTarget {
                            cookie: *c,
                            kind: Kind::Client,
                            peer: PEERS[r.peer].to_owned(),
                            object_path: OBJECT_PATH.to_owned(),
                            pid: 7,
                        });
                    }
                }
                prop_assert_eq!(got, expected);
            }
            RegOp::FinishDisconnect { idx } => {
                let Some(cookie) = model.pick(&idx) else {
                    continue;
                };
                core.finish_disconnect(cookie, now);
                if let Some(r) = model.regs.get_mut(&cookie)
                    && let MState::Disconnecting(d) = &mut r.state
                {
                    let new = now + grace;
                    *d = Some(d.map_or(new, |old| old.min(new)));
                }
            }
            RegOp::Timer { .. } | RegOp::TimerToDeadline { .. } => {
                now = match op {
                    RegOp::Timer { millis } => now + Duration::from_millis(millis),
                    RegOp::TimerToDeadline { delta } => match core.next_deadline() {
                        Some(d) => {
                            let target = match delta {
                                -1 => d.checked_sub(Duration::from_millis(1)).unwrap_or(d),
                                0 => d,
                                _ => d + Duration::from_millis(1),
                            };
                            now.max(target)
                        }
                        None => now,
                    },
                    _ => unreachable!(),
                };
                let got = core.on_timer(now);
                let due: Vec<Cookie> = model
                    .regs
                    .iter()
                    .filter(|(_, r)| matches!(r.state, MState::Disconnecting(Some(d)) if d <= now))
                    .map(|(c, _)| *c)
                    .collect();
                let expected: Vec<RegistryEvent> = due
                    .iter()
                    .map(|c| model.removed(*c, RemovalReason::Disconnected))
                    .collect();
                model.take_all(&due, true);
                prop_assert_eq!(sorted(got.clone()), expected);
                record_events(&mut model, &got)?;
                if let Some(d) = core.next_deadline() {
                    prop_assert!(
                        d > now,
                        "deadline {:?} left behind at {:?}",
                        d - base,
                        now - base
                    );
                }
            }
            RegOp::StartCreds { ws, clear_on_last } => {
                let flags = if clear_on_last {
                    WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE
                } else {
                    0
                };
                let result = core.credentials_mut().start(
                    StartWorkspace {
                        workspace_id: WORKSPACES[ws],
                        user: "alice",
                        password: Zeroizing::new("pw".into()),
                        workspace_params: "",
                        timeout_minutes: 0,
                        flags,
                        given_by: ":1.test",
                    },
                    now,
                );
                prop_assert!(result.is_ok(), "{result:?}");
                model.creds.insert(ws, clear_on_last);
            }
        }
        check_registry(&core, &model, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn registry_matches_model(
        grace_ms in prop_oneof![Just(0u64), 1u64..20_000],
        ops in prop::collection::vec(reg_op(), 1..80),
    ) {
        run_registry(Duration::from_millis(grace_ms), ops)?;
    }

    /// Near the end of the cookie space, `add` hands out the last cookies in
    /// order and then fails: it never wraps to a used (or zero) cookie.
    #[test]
    fn cookies_never_wrap(back in 0u32..6, adds in 0usize..12) {
        let now = Instant::now();
        let first = NonZeroU32::new(u32::MAX - back).expect("non-zero");
        let mut reg = Registry::starting_at(first);
        let mut last: Option<Cookie> = None;
        for i in 0..adds {
            let result = reg.add(":1.1", "/c", now);
            if i <= back as usize {
                let c = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(c.get(), first.get() + i as u32);
                prop_assert!(last.is_none_or(|l| c > l));
                last = Some(c);
                // Removing it must not make the cookie available again.
                reg.remove(":1.1", c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            } else {
                let e = result.expect_err("cookie space is exhausted");
                check_error(&e)?;
                prop_assert_eq!(e.kind, ErrorKind::Failed);
            }
        }
        prop_assert!(reg.is_empty());
    }
}

/// The per-peer limit counts live registrations only: however a registration
/// goes away, its slot is freed for the same peer.
#[test]
fn per_peer_limit_counts_only_live_registrations() {
    use radc_core::registry::MAX_REGISTRATIONS_PER_PEER;
    let t0 = Instant::now();
    let mut core = RuntimeCore::new(Duration::from_secs(1));
    let peer = ":1.1";
    let mut cookies: Vec<Cookie> = (0..MAX_REGISTRATIONS_PER_PEER)
        .map(|_| core.add_resource(peer, "/c", t0).expect("below the limit"))
        .collect();
    assert_eq!(
        core.add_resource(peer, "/c", t0).unwrap_err().kind,
        ErrorKind::Failed
    );
    // Free one slot each way a registration can go, and use it again.
    type Removal<'a> = &'a dyn Fn(&mut RuntimeCore, Cookie);
    let ways: [Removal; 4] = [
        &|core, c| drop(core.remove_resource(peer, c).expect("owner removes")),
        &|core, c| drop(core.probe_failed(c).expect("probing")),
        &|core, c| {
            drop(
                core.complete_probe(c, "", "App", 0)
                    .expect("invalid id drops it"),
            )
        },
        &|core, c| {
            core.complete_probe(c, "ws-gone", "App", 0)
                .expect("probe completes");
            core.begin_disconnect("ws-gone").expect("valid id");
            core.finish_disconnect(c, t0);
            assert_eq!(core.on_timer(t0 + Duration::from_secs(1)).len(), 1);
        },
    ];
    for way in ways {
        let c = cookies.pop().expect("full");
        way(&mut core, c);
        let again = core.add_resource(peer, "/c", t0);
        assert!(again.is_ok(), "slot of {c} not freed: {again:?}");
        cookies.push(again.unwrap());
        assert_eq!(
            core.add_resource(peer, "/c", t0).unwrap_err().kind,
            ErrorKind::Failed
        );
    }
    assert_eq!(core.peer_vanished(peer).len(), MAX_REGISTRATIONS_PER_PEER);
    for _ in 0..MAX_REGISTRATIONS_PER_PEER {
        core.add_resource(peer, "/c", t0)
            .expect("all slots free after vanishing");
    }
}

// ---------------------------------------------------------------------------
// 2. Credential cache against a model.
// ---------------------------------------------------------------------------

const SHA1: &str = "0123456789abcdef0123456789ABCDEF01234567";

/// An argument together with whether the cache must accept it.
#[derive(Debug, Clone)]
struct Arg<T> {
    value: T,
    valid: bool,
}

fn arg<T: Clone + std::fmt::Debug + 'static>(valid: &[T], invalid: &[T]) -> BoxedStrategy<Arg<T>> {
    let v: Vec<Arg<T>> = valid
        .iter()
        .map(|value| Arg {
            value: value.clone(),
            valid: true,
        })
        .collect();
    let i: Vec<Arg<T>> = invalid
        .iter()
        .map(|value| Arg {
            value: value.clone(),
            valid: false,
        })
        .collect();
    prop_oneof![6 => prop::sample::select(v), 1 => prop::sample::select(i)].boxed()
}

#[derive(Debug, Clone)]
enum WsArg {
    Known(usize),
    Bad(String),
}

impl WsArg {
    fn text(&self) -> &str {
        match self {
            WsArg::Known(i) => WORKSPACES[*i],
            WsArg::Bad(s) => s,
        }
    }
}

fn ws_arg() -> impl Strategy<Value = WsArg> {
    prop_oneof![
        8 => (0..WORKSPACES.len()).prop_map(WsArg::Known),
        1 => prop::sample::select(vec![
            String::new(),
            "a\nb".to_owned(),
            "\u{0}".to_owned(),
            "x".repeat(257),
        ])
        .prop_map(WsArg::Bad),
    ]
}

fn user_arg() -> BoxedStrategy<Arg<String>> {
    arg(
        &[
            "alice".to_owned(),
            "CORP\\alice".to_owned(),
            "bob@corp".to_owned(),
        ],
        &[String::new(), "a\u{1b}b".to_owned(), "u".repeat(513)],
    )
}

fn params_arg() -> BoxedStrategy<Arg<String>> {
    let list = |n: usize| vec![SHA1; n].join(";");
    arg(
        &[
            String::new(),
            SHA1.to_owned(),
            format!(" {SHA1} ;;{}", "AB:".repeat(31) + "AB"),
            list(MAX_THUMBPRINTS),
        ],
        &[
            "not-hex".to_owned(),
            "abcd".to_owned(),
            list(MAX_THUMBPRINTS + 1),
        ],
    )
}

#[derive(Debug, Clone)]
struct StartArgs {
    ws: WsArg,
    user: Arg<String>,
    password: Arg<String>,
    params: Arg<String>,
    timeout: i32,
    flags: u32,
}

#[derive(Debug, Clone)]
enum CredOp {
    Start(Box<StartArgs>),
    OnAuthenticated { ws: WsArg, user: Arg<String> },
    Clear(usize),
    LastResourceClosed(usize),
    Expire,
    Advance(u64),
}

fn cred_op() -> impl Strategy<Value = CredOp> {
    let start = (
        ws_arg(),
        user_arg(),
        arg(
            &[String::new(), "s3cret".to_owned(), "p".repeat(4096)],
            &["p".repeat(4097)],
        ),
        params_arg(),
        prop_oneof![
            8 => 0i32..=5,
            1 => Just(MAX_TIMEOUT_MINUTES),
            1 => prop::sample::select(vec![-1, MAX_TIMEOUT_MINUTES + 1, i32::MIN, i32::MAX]),
        ],
        prop_oneof![8 => 0u32..8, 1 => any::<u32>()],
    )
        .prop_map(|(ws, user, password, params, timeout, flags)| {
            CredOp::Start(Box::new(StartArgs {
                ws,
                user,
                password,
                params,
                timeout,
                flags,
            }))
        });
    prop_oneof![
        4 => start,
        3 => (ws_arg(), user_arg()).prop_map(|(ws, user)| CredOp::OnAuthenticated { ws, user }),
        1 => (0..WORKSPACES.len()).prop_map(CredOp::Clear),
        1 => (0..WORKSPACES.len()).prop_map(CredOp::LastResourceClosed),
        1 => Just(CredOp::Expire),
        4 => prop_oneof![0u64..30, 0u64..400].prop_map(CredOp::Advance),
    ]
}

#[derive(Debug, Clone)]
struct MCred {
    user: String,
    authenticated: bool,
    lifetime: Option<Duration>,
    expires_at: Option<Instant>,
    clear_on_last: bool,
}

impl MCred {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

/// The error `start` must report, or `None` if it must succeed.
fn start_outcome(a: &StartArgs) -> Option<ErrorKind> {
    if !matches!(a.ws, WsArg::Known(_)) || !a.user.valid || !a.password.valid {
        return Some(ErrorKind::InvalidArgs);
    }
    let known = WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE
        | WKS_FLAG_PASSWORD_ENCRYPTED
        | WKS_FLAG_CREDS_AUTHENTICATED;
    if a.flags & !known != 0 {
        return Some(ErrorKind::InvalidArgs);
    }
    if a.flags & WKS_FLAG_PASSWORD_ENCRYPTED != 0 {
        return Some(ErrorKind::NotSupported);
    }
    if !(0..=MAX_TIMEOUT_MINUTES).contains(&a.timeout) || !a.params.valid {
        return Some(ErrorKind::InvalidArgs);
    }
    None
}

fn model_expire(model: &mut BTreeMap<usize, MCred>, now: Instant) -> BTreeSet<String> {
    let gone: Vec<usize> = model
        .iter()
        .filter(|(_, c)| c.expires_at.is_some_and(|t| t <= now))
        .map(|(w, _)| *w)
        .collect();
    gone.iter()
        .map(|w| {
            model.remove(w);
            WORKSPACES[*w].to_owned()
        })
        .collect()
}

fn check_creds(
    cache: &CredentialCache,
    model: &BTreeMap<usize, MCred>,
    now: Instant,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(cache.len(), model.len());
    prop_assert_eq!(cache.is_empty(), model.is_empty());
    prop_assert_eq!(
        cache.next_deadline(),
        model.values().filter_map(|c| c.expires_at).min()
    );
    for (w, name) in WORKSPACES.iter().enumerate() {
        let m = model.get(&w).filter(|c| c.live(now));
        prop_assert_eq!(
            cache.is_specified(name, false, now),
            m.is_some_and(|c| c.authenticated),
            "authenticated credentials of {}",
            name
        );
        prop_assert_eq!(cache.is_specified(name, true, now), m.is_some());
        let got = cache.get(name, now);
        prop_assert_eq!(got.map(|c| c.user.as_str()), m.map(|c| c.user.as_str()));
        if let (Some(g), Some(m)) = (got, m) {
            prop_assert_eq!(g.authenticated, m.authenticated);
            prop_assert_eq!(g.expires_at, m.expires_at);
            prop_assert_eq!(g.lifetime, m.lifetime);
            let text = format!("{g:?}");
            prop_assert!(!text.contains("s3cret"), "{text}");
        }
    }
    Ok(())
}

fn run_creds(ops: Vec<CredOp>) -> Result<(), TestCaseError> {
    let mut now = Instant::now();
    let mut cache = CredentialCache::new();
    let mut model: BTreeMap<usize, MCred> = BTreeMap::new();

    for op in ops {
        match op {
            CredOp::Start(a) => {
                let result = cache.start(
                    StartWorkspace {
                        workspace_id: a.ws.text(),
                        user: &a.user.value,
                        password: Zeroizing::new(a.password.value.clone()),
                        workspace_params: &a.params.value,
                        timeout_minutes: a.timeout,
                        flags: a.flags,
                        given_by: ":1.test",
                    },
                    now,
                );
                check_result(&result)?;
                let expected = start_outcome(&a);
                prop_assert_eq!(
                    result.as_ref().err().map(|e| e.kind),
                    expected,
                    "{:?}",
                    result
                );
                if let (None, WsArg::Known(w)) = (expected, &a.ws) {
                    let lifetime = (a.timeout > 0)
                        .then(|| Duration::from_secs(u64::try_from(a.timeout).unwrap() * 60));
                    model.insert(
                        *w,
                        MCred {
                            user: a.user.value.clone(),
                            authenticated: a.flags & WKS_FLAG_CREDS_AUTHENTICATED != 0,
                            lifetime,
                            expires_at: lifetime.map(|l| now + l),
                            clear_on_last: a.flags & WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE != 0,
                        },
                    );
                    if a.flags & WKS_FLAG_CREDS_AUTHENTICATED != 0 {
                        prop_assert!(cache.is_specified(a.ws.text(), false, now));
                    }
                }
            }
            CredOp::OnAuthenticated { ws, user } => {
                let result = cache.on_authenticated(ws.text(), &user.value, now);
                check_result(&result)?;
                let expected = match &ws {
                    WsArg::Known(w) if user.valid => {
                        model_expire(&mut model, now);
                        match model.get_mut(w) {
                            Some(c) => {
                                c.user = user.value.clone();
                                c.authenticated = true;
                                c.expires_at = c.lifetime.map(|l| now + l);
                                None
                            }
                            None => Some(ErrorKind::NotFound),
                        }
                    }
                    _ => Some(ErrorKind::InvalidArgs),
                };
                prop_assert_eq!(
                    result.as_ref().err().map(|e| e.kind),
                    expected,
                    "{:?}",
                    result
                );
                if expected.is_none() {
                    prop_assert!(cache.is_specified(ws.text(), false, now));
                }
            }
            CredOp::Clear(w) => {
                prop_assert_eq!(cache.clear(WORKSPACES[w]), model.remove(&w).is_some());
            }
            CredOp::LastResourceClosed(w) => {
                let clear = model.get(&w).is_some_and(|c| c.clear_on_last);
                if clear {
                    model.remove(&w);
                }
                prop_assert_eq!(cache.last_resource_closed(WORKSPACES[w]), clear);
            }
            CredOp::Expire => {
                let got: BTreeSet<String> = cache.expire(now).into_iter().collect();
                prop_assert_eq!(got, model_expire(&mut model, now));
            }
            CredOp::Advance(secs) => now += Duration::from_secs(secs),
        }
        check_creds(&cache, &model, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn credential_cache_matches_model(ops in prop::collection::vec(cred_op(), 1..60)) {
        run_creds(ops)?;
    }

    /// Whatever a caller sends, the cache neither panics nor reports an error
    /// outside our kinds.
    #[test]
    fn credential_cache_survives_hostile_input(
        ws in hostile_string(),
        user in hostile_string(),
        password in hostile_string(),
        params in hostile_string(),
        timeout in any::<i32>(),
        flags in any::<u32>(),
        advance in any::<u32>(),
    ) {
        let now = Instant::now();
        let mut cache = CredentialCache::new();
        let result = cache.start(
            StartWorkspace {
                workspace_id: &ws,
                user: &user,
                password: Zeroizing::new(password),
                workspace_params: &params,
                timeout_minutes: timeout,
                flags,
                given_by: ":1.test",
            },
            now,
        );
        check_result(&result)?;
        prop_assert_eq!(cache.len(), usize::from(result.is_ok()));
        let later = now + Duration::from_secs(u64::from(advance));
        if result.is_ok() {
            let authenticated = flags & WKS_FLAG_CREDS_AUTHENTICATED != 0;
            prop_assert_eq!(cache.is_specified(&ws, false, now), authenticated);
            prop_assert!(cache.is_specified(&ws, true, now));
            let expired = timeout > 0 && u64::from(advance) >= u64::try_from(timeout).unwrap() * 60;
            prop_assert_eq!(cache.is_specified(&ws, true, later), !expired);
        }
        check_result(&cache.on_authenticated(&ws, &user, now))?;
        check_result(&cache.on_authenticated(&user, &ws, later))?;
        let _ = cache.is_specified(&params, false, later);
        let _ = cache.next_deadline();
        let _ = cache.expire(later);
        let _ = cache.last_resource_closed(&ws);
        let _ = cache.clear(&ws);
        prop_assert!(cache.is_empty());
    }

    /// The rest of the public surface a peer can reach, fed hostile strings.
    #[test]
    fn runtime_core_survives_hostile_input(
        a in hostile_string(),
        b in hostile_string(),
        pid in any::<u32>(),
        code in any::<u32>(),
    ) {
        let now = Instant::now();
        let mut core = RuntimeCore::default();
        let added = core.add_resource(&a, &b, now);
        check_result(&added)?;
        let added_too = core.add_resource(&b, &a, now);
        check_result(&added_too)?;
        for (cookie, id, name) in [(&added, &a, &b), (&added_too, &b, &a)] {
            if let Ok(c) = cookie {
                let _ = core.complete_probe(*c, id, name, pid);
            }
        }
        check_result(&core.set_workspace_name(&a, &b))?;
        check_result(&core.resolve_friendly_name(&a))?;
        check_result(&core.resolve_friendly_name(&b))?;
        check_result(&core.resolve_workspace(&a))?;
        check_result(&core.resolve_workspace(&b))?;
        let _ = core.live_workspace_names();
        let _ = core.workspace_name(&a);
        let event = ErrorEvent::new(&a, code, &b, code);
        check_result(&event)?;
        if let Ok(event) = event {
            let store = core.error_events_mut();
            prop_assert!(store.register(event.clone()));
            prop_assert!(!store.register(event.clone()));
            prop_assert!(store.is_registered(&event));
            store.forget_workspace(&a);
            prop_assert!(store.is_empty());
        }
        let disconnect = core.begin_disconnect(&a);
        check_result(&disconnect)?;
        for target in disconnect.unwrap_or_default() {
            core.finish_disconnect(target.cookie, now);
        }
        let _ = core.on_timer(now + core.grace());
        for (peer, cookie) in [(&a, &added), (&b, &added_too)] {
            if let Ok(c) = cookie {
                check_result(&core.remove_resource(peer, *c))?;
            }
        }
        let _ = core.peer_vanished(&a);
        let _ = core.peer_vanished(&b);
        prop_assert!(core.registry().is_empty());
    }

    /// The error-event store remembers at most its capacity, forgets oldest
    /// first, and reports each event once while remembered.
    #[test]
    fn error_event_store_is_bounded(
        capacity in 0usize..6,
        codes in prop::collection::vec((0..WORKSPACES.len(), 0u32..8), 0..40),
    ) {
        let mut store = ErrorEventStore::with_capacity(capacity);
        let mut order: Vec<ErrorEvent> = Vec::new();
        for (w, code) in codes {
            let e = ErrorEvent::new(WORKSPACES[w], 1, "refresh", code)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let new = !order.contains(&e);
            prop_assert_eq!(store.register(e.clone()), new);
            if new {
                order.push(e);
                if order.len() > capacity.max(1) {
                    order.remove(0);
                }
            }
            prop_assert_eq!(store.len(), order.len());
            for o in &order {
                prop_assert!(store.is_registered(o));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Resource types.
// ---------------------------------------------------------------------------

fn extension_input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "\\.[a-zA-Z0-9_+\\-]{0,40}",
        2 => "[.a-zA-Z0-9_+\\-/ é\\n]{0,40}",
        1 => "\\.[\\u{80}-\\u{10ffff}]{0,4}",
        // A valid extension with one arbitrary character slipped in after the dot.
        3 => ("\\.[a-zA-Z0-9_+\\-]{1,30}", any::<Index>(), any::<char>()).prop_map(
            |(mut ext, at, c)| {
                ext.insert(1 + at.index(ext.len()), c);
                ext
            }
        ),
    ]
}

/// No launcher for `.rdp` (FreeRDP's) or for files that are programs.
fn registrable(ext: &str) -> bool {
    ext != ".rdp" && !radc_core::restype::is_program(ext)
}

fn spec_extension(input: &str) -> bool {
    input.len() >= 2
        && input.len() <= MAX_EXTENSION_LEN
        && input.starts_with('.')
        && input[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
}

fn launcher_input() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(/[a-zA-Z0-9_.\\-]{1,10}){1,4}",
        2 => "(/[^\\p{Cc}/]{1,8}){1,3}",
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum TableOp {
    Add(String, String),
    Modify(String, String),
    Delete(String),
}

fn table_op() -> impl Strategy<Value = TableOp> {
    // Now and then one no launcher may be registered for.
    let ext = prop_oneof![
        8 => "\\.[a-zA-Z0-9_+\\-]{1,6}".boxed(),
        1 => prop::sample::select(vec![".rdp", ".RDP", ".exe", ".Sh", ".desktop"])
            .prop_map(str::to_owned)
            .boxed(),
    ]
    .boxed();
    prop_oneof![
        5 => (ext.clone(), launcher_input()).prop_map(|(e, l)| TableOp::Add(e, l)),
        1 => (ext.clone(), launcher_input()).prop_map(|(e, l)| TableOp::Modify(e, l)),
        1 => ext.prop_map(TableOp::Delete),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(hostile_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Texts `from_json` may be handed: anything, anything JSON, and JSON shaped
/// like a table but with hostile contents.
fn table_text() -> impl Strategy<Value = String> {
    use serde_json::{Value, json};
    let shaped = (
        prop_oneof![Just(Value::from(1)), json_value()],
        prop::collection::btree_map(
            prop_oneof![extension_input(), hostile_string()],
            prop_oneof![launcher_input().prop_map(Value::String), json_value()],
            0..6,
        ),
    )
        .prop_map(|(version, types)| json!({ "version": version, "types": types }).to_string());
    prop_oneof![
        2 => any::<String>(),
        2 => json_value().prop_map(|v| v.to_string()),
        4 => shaped,
    ]
}

fn check_table(table: &ResTypeTable) -> Result<(), TestCaseError> {
    for (ext, launcher) in table.iter() {
        let normalised = validate_extension(ext).ok();
        prop_assert_eq!(normalised.as_deref(), Some(ext));
        prop_assert_eq!(validate_launcher(launcher).ok(), Some(launcher));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn extensions_are_normalised_or_refused(input in extension_input()) {
        let result = validate_extension(&input);
        check_result(&result)?;
        match &result {
            Ok(ext) => {
                prop_assert!(ext.starts_with('.'), "{ext:?}");
                prop_assert!(ext.len() >= 2 && ext.len() <= MAX_EXTENSION_LEN, "{ext:?}");
                prop_assert!(
                    ext[1..].bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'+' | b'-')),
                    "{ext:?}"
                );
                prop_assert_eq!(ext, &input.to_ascii_lowercase());
                // Normalising is idempotent.
                let again = validate_extension(ext).ok();
                prop_assert_eq!(again.as_ref(), Some(ext));
            }
            Err(e) => prop_assert_eq!(e.kind, ErrorKind::InvalidArgs),
        }
        prop_assert_eq!(result.is_ok(), spec_extension(&input), "{:?}", input);
    }

    #[test]
    fn launchers_never_panic(input in launcher_input()) {
        let result = validate_launcher(&input);
        check_result(&result)?;
        if let Ok(l) = result {
            prop_assert!(l.starts_with('/') && !l.ends_with('/'));
            prop_assert!(!l.split('/').any(|c| c == "." || c == ".."));
            prop_assert!(!l.chars().any(char::is_control));
        }
    }

    #[test]
    fn table_json_round_trips(ops in prop::collection::vec(table_op(), 0..30)) {
        let mut table = ResTypeTable::new();
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                TableOp::Add(e, l) => {
                    let result = table.add(&e, &l);
                    check_result(&result)?;
                    let key = e.to_ascii_lowercase();
                    let ok = validate_launcher(&l).is_ok()
                        && registrable(&key)
                        && !model.contains_key(&key);
                    prop_assert_eq!(result.is_ok(), ok, "{:?}", result);
                    if ok {
                        model.insert(key, l);
                    }
                }
                TableOp::Modify(e, l) => {
                    let result = table.modify(&e, &l);
                    check_result(&result)?;
                    let key = e.to_ascii_lowercase();
                    let ok = validate_launcher(&l).is_ok()
                        && registrable(&key)
                        && model.contains_key(&key);
                    prop_assert_eq!(result.is_ok(), ok, "{:?}", result);
                    if ok {
                        model.insert(key, l);
                    }
                }
                TableOp::Delete(e) => {
                    let result = table.delete(&e);
                    check_result(&result)?;
                    prop_assert_eq!(result.is_ok(), model.remove(&e.to_ascii_lowercase()).is_some());
                }
            }
        }
        let got: BTreeMap<String, String> =
            table.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(&got, &model);
        prop_assert_eq!(table.extensions(), model.keys().cloned().collect::<Vec<_>>());
        for (k, v) in &model {
            prop_assert_eq!(table.get(&k.to_ascii_uppercase()).ok(), Some(v.as_str()));
        }
        check_table(&table)?;
        let text = table.to_json();
        let back = ResTypeTable::from_json(&text);
        check_result(&back)?;
        prop_assert_eq!(back.as_ref().ok(), Some(&table), "{}", text);
    }

    #[test]
    fn from_json_never_panics(text in table_text()) {
        let result = ResTypeTable::from_json(&text);
        check_result(&result)?;
        if let Ok(table) = result {
            check_table(&table)?;
            prop_assert_eq!(ResTypeTable::from_json(&table.to_json()).ok(), Some(table));
        }
    }
}

// ---------------------------------------------------------------------------
// 4. HRESULTs survive the trip through an error message.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn split_hresult_recovers_the_kind(
        kind in prop::sample::select(ErrorKind::ALL.to_vec()),
        message in hostile_string(),
    ) {
        let err = RuntimeError::new(kind, message.clone());
        let text = err.to_string();
        prop_assert!(text.starts_with("0x"));
        prop_assert_eq!(split_hresult(&text), Some((kind.hresult(), message.trim_start())));
        check_error(&err)?;
    }

    #[test]
    fn split_hresult_never_panics(text in prop_oneof![
        any::<String>(),
        "0[xX][0-9a-fA-F+\\-é]{0,10}:? ?.{0,8}",
    ]) {
        if let Some((code, rest)) = split_hresult(&text) {
            prop_assert!(text.ends_with(rest));
            let _ = ErrorKind::from_hresult(code);
        }
    }
}

// ---------------------------------------------------------------------------
// Fair call slots

#[derive(Debug, Clone)]
enum SlotOp {
    /// Peer asks for a slot.
    Request(usize),
    /// A held slot (picked among all held) is released.
    Release(Index, bool),
    /// A waiting call (picked among all waiting) gives up.
    Cancel(Index),
}

fn slot_op() -> impl Strategy<Value = SlotOp> {
    prop_oneof![
        4 => (0..PEERS.len()).prop_map(SlotOp::Request),
        3 => (any::<Index>(), any::<bool>()).prop_map(|(i, a)| SlotOp::Release(i, a)),
        1 => any::<Index>().prop_map(SlotOp::Cancel),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Against a model of who holds and who waits: the pool and every
    /// share hold, a peer's calls go in the order asked, no slot is idle
    /// while someone under their share waits, and a waiting peer is passed
    /// over by at most one call of each other peer (no starvation).
    #[test]
    fn call_slots_are_fair(
        pool in 1usize..6,
        per_peer in 1usize..4,
        ops in proptest::collection::vec(slot_op(), 1..200),
    ) {
        use radc_core::slots::{CallSlots, Request, Ticket};
        let t0 = Instant::now();
        let mut slots = CallSlots::new(pool, per_peer);
        let per_peer = slots.per_peer();
        // Model: tickets held (by peer) and waiting (per peer, FIFO).
        let mut held: Vec<(usize, Option<Ticket>)> = Vec::new();
        let mut waiting: Vec<std::collections::VecDeque<Ticket>> = vec![Default::default(); PEERS.len()];
        // Grants others got while a peer could be served and waited.
        let mut passed_over = vec![0usize; PEERS.len()];
        for (step, op) in ops.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(step as u64);
            let granted: Vec<(&str, Ticket)> = match op {
                SlotOp::Request(p) => match slots.request(&PEERS[p], now) {
                    Request::Granted => {
                        prop_assert!(waiting[p].is_empty(), "overtook its own queue");
                        held.push((p, None));
                        Vec::new()
                    }
                    Request::Queued(t) => {
                        waiting[p].push_back(t);
                        Vec::new()
                    }
                },
                SlotOp::Release(i, answered) => {
                    if held.is_empty() {
                        continue;
                    }
                    let (p, _) = held.remove(i.index(held.len()));
                    slots.release(&PEERS[p], answered, now)
                }
                SlotOp::Cancel(i) => {
                    let all: Vec<(usize, Ticket)> = waiting
                        .iter()
                        .enumerate()
                        .flat_map(|(p, q)| q.iter().map(move |t| (p, *t)))
                        .collect();
                    if all.is_empty() {
                        continue;
                    }
                    let (p, t) = all[i.index(all.len())];
                    prop_assert!(slots.cancel(&PEERS[p], t));
                    waiting[p].retain(|w| *w != t);
                    Vec::new()
                }
            };
            prop_assert!(granted.len() <= 1, "one freed slot, {} grants", granted.len());
            for (peer, ticket) in granted {
                let p = PEERS.iter().position(|x| *x == peer).unwrap();
                prop_assert_eq!(waiting[p].pop_front(), Some(ticket), "out of order");
                held.push((p, Some(ticket)));
                passed_over[p] = 0;
                for (q, count) in passed_over.iter_mut().enumerate() {
                    if q != p {
                        *count += 1;
                    }
                }
            }
            slots.check().map_err(TestCaseError::fail)?;
            prop_assert!(held.len() <= pool);
            prop_assert_eq!(slots.in_use(), held.len());
            for (p, peer) in PEERS.iter().enumerate() {
                let holds = held.iter().filter(|h| h.0 == p).count();
                prop_assert!(holds <= per_peer);
                prop_assert_eq!(slots.in_flight(*peer), holds);
                prop_assert_eq!(slots.waiting(*peer), waiting[p].len());
                let could_go = !waiting[p].is_empty() && holds < per_peer;
                if could_go {
                    prop_assert!(held.len() == pool, "idle slot while {peer} waits");
                    prop_assert!(
                        passed_over[p] < PEERS.len(),
                        "{peer} passed over {} times", passed_over[p]
                    );
                } else {
                    passed_over[p] = 0;
                }
            }
        }
        // Draining: every waiting call is served in the end.
        while let Some((p, _)) = held.pop() {
            for (peer, ticket) in slots.release(&PEERS[p], true, t0) {
                let q = PEERS.iter().position(|x| *x == peer).unwrap();
                prop_assert_eq!(waiting[q].pop_front(), Some(ticket));
                held.insert(0, (q, Some(ticket)));
            }
        }
        prop_assert!(waiting.iter().all(|q| q.is_empty()));
        prop_assert_eq!(slots.in_use(), 0);
        prop_assert_eq!(slots.peers(), 0);
    }
}

// ---------------------------------------------------------------------------
// 5. The report-message limiter: no peer gets more than its burst plus its
//    rate over any stretch of time, tracked peers stay bounded, and every
//    dropped message is counted in some summary.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum LimiterOp {
    Message { peer: usize, after_ms: u64 },
    Vanish { peer: usize },
}

fn limiter_op() -> impl Strategy<Value = LimiterOp> {
    prop_oneof![
        8 => (0usize..12, prop_oneof![Just(0u64), 0u64..50, 0u64..3000])
            .prop_map(|(peer, after_ms)| LimiterOp::Message { peer, after_ms }),
        1 => (0usize..12).prop_map(|peer| LimiterOp::Vanish { peer }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn limiter_keeps_every_peer_within_burst_plus_rate(
        burst in 1u32..20,
        per_second in 0u32..50,
        max_peers in prop_oneof![1usize..6, Just(12usize)],
        ops in prop::collection::vec(limiter_op(), 1..400),
    ) {
        use radc_core::rate_limit::{ReportLimiter, Verdict};
        let t0 = Instant::now();
        let mut now = t0;
        let mut limiter = ReportLimiter::new(burst, per_second, max_peers);
        // Allowed messages per peer, with their times, since it last
        // vanished (a new connection is a new peer).
        let mut allowed: Vec<Vec<Instant>> = vec![Vec::new(); 12];
        let (mut drops, mut summarised) = (0u64, 0u64);
        for op in ops {
            match op {
                LimiterOp::Message { peer, after_ms } => {
                    now += Duration::from_millis(after_ms);
                    let (verdict, summary) = limiter.check(&format!(":1.{peer}"), now);
                    summarised += summary.map_or(0, |s| s.dropped);
                    match verdict {
                        Verdict::Allow => allowed[peer].push(now),
                        Verdict::Drop => drops += 1,
                    }
                }
                LimiterOp::Vanish { peer } => {
                    limiter.peer_vanished(&format!(":1.{peer}"));
                    allowed[peer].clear();
                }
            }
            prop_assert!(limiter.tracked() <= max_peers);
        }
        if max_peers >= 12 {
            // Every peer had its own bucket: check each window.
            for times in &allowed {
                for (i, start) in times.iter().enumerate() {
                    for (j, end) in times.iter().enumerate().skip(i) {
                        let span = end.duration_since(*start).as_millis() as u64;
                        let limit = u64::from(burst) + span * u64::from(per_second) / 1000;
                        prop_assert!((j - i + 1) as u64 <= limit);
                    }
                }
            }
        } else {
            // Shared overflow bucket: all peers together stay within what
            // every tracked slot plus the shared one could allow.
            let total: usize = allowed.iter().map(Vec::len).sum();
            let span = now.duration_since(t0).as_millis() as u64;
            let per_bucket = u64::from(burst) + span * u64::from(per_second) / 1000;
            prop_assert!(total as u64 <= per_bucket * 12 * 2);
        }
        summarised += limiter
            .summary_if_due(now + Duration::from_secs(3600))
            .map_or(0, |s| s.dropped);
        prop_assert_eq!(summarised, drops);
    }
}
