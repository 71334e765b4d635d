//! Fair shares of the runtime's calls to clients.
//!
//! The runtime calls clients back (`GetResourceId`, `GetResourceDisplayName`,
//! `IssueDisconnect`) and keeps at most a pool of such calls in flight. A
//! client that never answers must not be able to take the whole pool, so
//! every bus connection (peer) gets a share:
//!
//! - a peer has at most `per_peer` calls in flight; more wait in that peer's
//!   own queue, in the order they were asked for;
//! - when the pool is full, freed slots go round-robin to the peers that
//!   wait and are under their share, so a newcomer is served after at most
//!   one call of every other waiting peer;
//! - the pool is never exceeded.
//!
//! A peer with thousands of hanging calls thus only ever blocks its own
//! share. [`CallSlots`] also keeps, per peer, the last sign of life (an
//! answer, or the moment it was first called after being idle), so the
//! runtime can tell a peer that answers slowly from one that answers
//! nothing: see [`CallSlots::silent_since`] and [`give_up_at`].
//!
//! No I/O and no clock: the caller passes `now` in and turns the tickets
//! this hands out into wake-ups.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A place in a peer's queue, unique for the life of a [`CallSlots`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

/// What [`CallSlots::request`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The call may go now; release the slot when it is done.
    Granted,
    /// The call waits; a later [`CallSlots::release`] hands out the ticket.
    Queued(Ticket),
}

#[derive(Debug)]
struct PeerSlots {
    in_flight: usize,
    waiting: VecDeque<Ticket>,
    /// The peer is in the round-robin ring.
    in_ring: bool,
    /// Its last answer, or when it got its first call after being idle.
    alive_at: Instant,
    /// Its latest finished call ended without an answer: a call granted
    /// next does not count as a fresh start.
    failing: bool,
}

/// The accountant: who holds how many slots, who waits, whose turn it is.
#[derive(Debug)]
pub struct CallSlots<P> {
    pool: usize,
    per_peer: usize,
    in_use: usize,
    peers: HashMap<P, PeerSlots>,
    /// Peers with waiters and room in their share, served front first.
    ring: VecDeque<P>,
    next_ticket: u64,
}

impl<P: Clone + Eq + Hash> CallSlots<P> {
    /// `pool` slots in all, at most `per_peer` for one peer (both at least 1).
    pub fn new(pool: usize, per_peer: usize) -> Self {
        CallSlots {
            pool: pool.max(1),
            per_peer: per_peer.clamp(1, pool.max(1)),
            in_use: 0,
            peers: HashMap::new(),
            ring: VecDeque::new(),
            next_ticket: 0,
        }
    }

    pub fn pool(&self) -> usize {
        self.pool
    }

    pub fn per_peer(&self) -> usize {
        self.per_peer
    }

    /// Slots held now, all peers together.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Slots `peer` holds now.
    pub fn in_flight<Q>(&self, peer: &Q) -> usize
    where
        P: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peers.get(peer).map_or(0, |p| p.in_flight)
    }

    /// Calls of `peer` waiting for a slot.
    pub fn waiting<Q>(&self, peer: &Q) -> usize
    where
        P: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peers.get(peer).map_or(0, |p| p.waiting.len())
    }

    /// Peers the accountant knows (holding or waiting); idle peers are
    /// forgotten.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Asks for a slot for a call to `peer`. A peer's calls are served in
    /// the order asked: a new call never overtakes one already waiting.
    pub fn request(&mut self, peer: &P, now: Instant) -> Request {
        let pool_free = self.in_use < self.pool;
        let per_peer = self.per_peer;
        let entry = self.peers.entry(peer.clone()).or_insert(PeerSlots {
            in_flight: 0,
            waiting: VecDeque::new(),
            in_ring: false,
            alive_at: now,
            failing: false,
        });
        if entry.waiting.is_empty() && entry.in_flight < per_peer && pool_free {
            if entry.in_flight == 0 && !entry.failing {
                entry.alive_at = now;
            }
            entry.in_flight += 1;
            self.in_use += 1;
            return Request::Granted;
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        entry.waiting.push_back(ticket);
        if entry.in_flight < per_peer && !entry.in_ring {
            entry.in_ring = true;
            self.ring.push_back(peer.clone());
        }
        Request::Queued(ticket)
    }

    /// A call to `peer` is done (`answered`: the peer replied, with a
    /// result or an error). Returns the waiting calls that now hold a slot,
    /// in the order they were granted.
    pub fn release(&mut self, peer: &P, answered: bool, now: Instant) -> Vec<(P, Ticket)> {
        let Some(entry) = self.peers.get_mut(peer) else {
            debug_assert!(false, "release without a slot");
            return Vec::new();
        };
        debug_assert!(entry.in_flight > 0, "release without a slot");
        if entry.in_flight == 0 {
            return Vec::new();
        }
        entry.in_flight -= 1;
        self.in_use -= 1;
        if answered {
            entry.alive_at = entry.alive_at.max(now);
        }
        entry.failing = !answered;
        if !entry.waiting.is_empty() && !entry.in_ring {
            entry.in_ring = true;
            self.ring.push_back(peer.clone());
        }
        self.forget_if_idle(peer);
        self.hand_out(now)
    }

    /// `peer` answered one of several calls made under one slot: a sign of
    /// life before the slot is released.
    pub fn answered<Q>(&mut self, peer: &Q, now: Instant)
    where
        P: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.alive_at = entry.alive_at.max(now);
            entry.failing = false;
        }
    }

    /// A waiting call gave up. Returns `false` if `ticket` was not waiting
    /// (it was granted already, so its slot must be released).
    pub fn cancel(&mut self, peer: &P, ticket: Ticket) -> bool {
        let Some(entry) = self.peers.get_mut(peer) else {
            return false;
        };
        let Some(at) = entry.waiting.iter().position(|t| *t == ticket) else {
            return false;
        };
        entry.waiting.remove(at);
        // A peer left in the ring with nobody waiting is skipped there.
        self.forget_if_idle(peer);
        true
    }

    /// When `peer` has calls in flight: since when it has given no sign of
    /// life (its last answer, or its first call after being idle or after
    /// an answered call; a call granted right after one that went
    /// unanswered inherits that silence). `None`
    /// when nothing of it is in flight: whatever its calls wait for then,
    /// it is not the peer.
    pub fn silent_since<Q>(&self, peer: &Q) -> Option<Instant>
    where
        P: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peers
            .get(peer)
            .filter(|p| p.in_flight > 0)
            .map(|p| p.alive_at)
    }

    fn forget_if_idle(&mut self, peer: &P) {
        if let Some(entry) = self.peers.get(peer)
            && entry.in_flight == 0
            && entry.waiting.is_empty()
            && !entry.in_ring
        {
            self.peers.remove(peer);
        }
    }

    /// Fills free slots from the ring, one call per peer per turn.
    fn hand_out(&mut self, now: Instant) -> Vec<(P, Ticket)> {
        let mut granted = Vec::new();
        while self.in_use < self.pool {
            let Some(peer) = self.ring.pop_front() else {
                break;
            };
            let Some(entry) = self.peers.get_mut(&peer) else {
                continue;
            };
            entry.in_ring = false;
            if entry.in_flight < self.per_peer
                && let Some(ticket) = entry.waiting.pop_front()
            {
                if entry.in_flight == 0 && !entry.failing {
                    entry.alive_at = now;
                }
                entry.in_flight += 1;
                self.in_use += 1;
                granted.push((peer.clone(), ticket));
                if !entry.waiting.is_empty() && entry.in_flight < self.per_peer {
                    entry.in_ring = true;
                    self.ring.push_back(peer);
                    continue;
                }
            }
            self.forget_if_idle(&peer);
        }
        granted
    }

    /// Checks the accountant's own bookkeeping; for tests.
    pub fn check(&self) -> Result<(), String> {
        let held: usize = self.peers.values().map(|p| p.in_flight).sum();
        if held != self.in_use {
            return Err(format!("{held} held but {} counted", self.in_use));
        }
        if self.in_use > self.pool {
            return Err(format!("{} in use, pool of {}", self.in_use, self.pool));
        }
        for p in self.peers.values() {
            if p.in_flight > self.per_peer {
                return Err(format!("a peer holds {} of {}", p.in_flight, self.per_peer));
            }
            let eligible = !p.waiting.is_empty() && p.in_flight < self.per_peer;
            if eligible && !p.in_ring {
                return Err("a peer that may be served is not in the ring".into());
            }
            if eligible && self.in_use < self.pool {
                return Err("a call waits while the pool has room".into());
            }
        }
        let ringed = self.peers.values().filter(|p| p.in_ring).count();
        if ringed != self.ring.len() {
            return Err(format!(
                "{ringed} peers marked, ring of {}",
                self.ring.len()
            ));
        }
        Ok(())
    }
}

/// When to give up on a call to a peer that was `silent_since` (see
/// [`CallSlots::silent_since`]) and was sent (or queued) at `started`:
/// `limit` after the later of the two, so a call waits as long as its peer
/// keeps answering others, but never past `started + cap`. `None` for
/// `silent_since` means the peer has nothing in flight: only the cap holds.
pub fn give_up_at(
    started: Instant,
    silent_since: Option<Instant>,
    limit: Duration,
    cap: Duration,
) -> Instant {
    let latest = started + cap.max(limit);
    match silent_since {
        Some(since) => (since.max(started) + limit).min(latest),
        None => latest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(r: Request) -> bool {
        r == Request::Granted
    }

    #[test]
    fn a_peer_never_holds_more_than_its_share() {
        let now = Instant::now();
        let mut s = CallSlots::new(8, 2);
        assert!(granted(s.request(&"a", now)));
        assert!(granted(s.request(&"a", now)));
        let Request::Queued(t) = s.request(&"a", now) else {
            panic!("third call of a granted");
        };
        assert_eq!(s.in_flight("a"), 2);
        assert_eq!(s.waiting("a"), 1);
        // Another peer is not held up by a's queue.
        assert!(granted(s.request(&"b", now)));
        assert_eq!(s.release(&"a", true, now), vec![("a", t)]);
        s.check().unwrap();
    }

    #[test]
    fn a_full_pool_is_handed_out_round_robin() {
        let now = Instant::now();
        let mut s = CallSlots::new(2, 2);
        assert!(granted(s.request(&"hog", now)));
        assert!(granted(s.request(&"hog", now)));
        // hog queues many more, then a newcomer asks once.
        for _ in 0..100 {
            s.request(&"hog", now);
        }
        let Request::Queued(newcomer) = s.request(&"new", now) else {
            panic!("pool is full");
        };
        // hog's own queue waits for hog's own slots: the first slot freed
        // goes to the newcomer, not to hog's hundred.
        let first = s.release(&"hog", false, now);
        assert_eq!(first, vec![("new", newcomer)]);
        s.check().unwrap();
    }

    #[test]
    fn cancelled_waiters_leave_no_trace() {
        let now = Instant::now();
        let mut s = CallSlots::new(1, 1);
        assert!(granted(s.request(&"a", now)));
        let Request::Queued(t) = s.request(&"b", now) else {
            panic!()
        };
        assert!(s.cancel(&"b", t));
        assert!(!s.cancel(&"b", t), "twice");
        assert!(s.release(&"a", true, now).is_empty());
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.peers(), 0);
        s.check().unwrap();
    }

    #[test]
    fn silence_counts_only_while_calls_are_in_flight() {
        let t0 = Instant::now();
        let mut s = CallSlots::new(4, 2);
        assert_eq!(s.silent_since("a"), None);
        s.request(&"a", t0);
        let t1 = t0 + Duration::from_secs(1);
        s.request(&"a", t1);
        assert_eq!(s.silent_since("a"), Some(t0), "second call is not a sign");
        let t2 = t0 + Duration::from_secs(3);
        s.release(&"a", true, t2);
        assert_eq!(s.silent_since("a"), Some(t2), "an answer is");
        let t3 = t2 + Duration::from_secs(1);
        s.answered("a", t3);
        assert_eq!(
            s.silent_since("a"),
            Some(t3),
            "so is one of a slot's answers"
        );
        s.release(&"a", false, t2 + Duration::from_secs(9));
        assert_eq!(s.silent_since("a"), None);
    }

    #[test]
    fn a_call_after_an_unanswered_one_inherits_its_silence() {
        let t0 = Instant::now();
        let mut s = CallSlots::new(4, 1);
        s.request(&"a", t0);
        let Request::Queued(_) = s.request(&"a", t0) else {
            panic!("share of one")
        };
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(s.release(&"a", false, t2).len(), 1);
        assert_eq!(s.silent_since("a"), Some(t0), "not a fresh start");
        // An answer is.
        s.release(&"a", true, t2);
        s.request(&"a", t2);
        assert_eq!(s.silent_since("a"), Some(t2));
    }

    #[test]
    fn giving_up_follows_the_peer_not_the_queue() {
        let t0 = Instant::now();
        let limit = Duration::from_secs(2);
        let cap = Duration::from_secs(20);
        // Silent since before the call: the call still gets its full limit.
        assert_eq!(give_up_at(t0, Some(t0 - limit * 5), limit, cap), t0 + limit);
        // The peer answered others since: the call waits on.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(give_up_at(t0, Some(later), limit, cap), later + limit);
        // But never past the cap.
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(give_up_at(t0, Some(much_later), limit, cap), t0 + cap);
        assert_eq!(give_up_at(t0, None, limit, cap), t0 + cap);
    }
}
