//! The runtime's calls to clients, each within its peer's fair share
//! ([`radc_core::slots`]), and the clock rule that tells a slow client from
//! a silent one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use radc_core::slots::{CallSlots, Request, Ticket, give_up_at};
use tokio::sync::oneshot;

/// Calls to clients the runtime keeps in flight at most, all peers
/// together. Far below the session bus's `max_replies_per_connection`
/// (50,000 on Debian).
pub(crate) const MAX_CLIENT_CALLS: usize = 1024;

/// Calls one bus connection may have in flight. A client that hangs holds
/// at most this many; the rest of the pool serves everybody else.
pub(crate) const CALLS_PER_PEER: usize = 16;

/// However much its connection keeps answering other calls, one call is
/// given up after this many times its own limit.
const PATIENCE: u32 = 4;

/// The tokio clock as a std `Instant` (so tests may pause time).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Inner {
    slots: CallSlots<String>,
    wake: HashMap<Ticket, oneshot::Sender<()>>,
}

/// The shares, and the wake-ups of calls waiting for one.
pub(crate) struct ClientCalls {
    inner: Mutex<Inner>,
}

/// A slot held for one call to `peer`; released on drop.
pub(crate) struct Slot<'a> {
    calls: &'a ClientCalls,
    peer: String,
    answered: bool,
}

/// Why a call did not produce an answer.
pub(crate) enum CallFailed<E> {
    /// The client answered with an error (or the bus did for it).
    Error(E),
    /// The call was sent, but the client answered nothing within the limit.
    NoAnswer,
    /// The call was never sent: the client's connection already had its
    /// share of calls in flight and answered none of them within the limit.
    NotSent,
}

impl ClientCalls {
    pub(crate) fn new(pool: usize, per_peer: usize) -> ClientCalls {
        ClientCalls {
            inner: Mutex::new(Inner {
                slots: CallSlots::new(pool, per_peer),
                wake: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot for a call to `peer`. With `limit`, gives up (and
    /// returns `None`) once the peer has had calls in flight and answered
    /// none of them for `limit`, however long this call has waited: calls
    /// queued behind a hung client fail with it instead of waiting their
    /// turn to time out. Waiting for the pool, which is not the peer's
    /// doing, is never given up on.
    pub(crate) async fn acquire(&self, peer: &str, limit: Option<Duration>) -> Option<Slot<'_>> {
        let queued_at = now();
        let (ticket, granted) = {
            let mut inner = self.lock();
            match inner.slots.request(&peer.to_owned(), queued_at) {
                Request::Granted => return Some(self.slot(peer)),
                Request::Queued(ticket) => {
                    let (tx, rx) = oneshot::channel();
                    inner.wake.insert(ticket, tx);
                    (ticket, rx)
                }
            }
        };
        let mut waiting = Waiting {
            calls: self,
            peer,
            ticket,
            armed: true,
        };
        let mut granted = std::pin::pin!(granted);
        loop {
            // When to look again whether the peer has gone silent.
            let check = limit.map(|limit| {
                let silent = self.silent_since(peer);
                silent.map_or(now() + limit, |s| s + limit)
            });
            let timer = async {
                match check {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut granted => {
                    waiting.armed = false;
                    return Some(self.slot(peer));
                }
                () = timer => {
                    let Some(limit) = limit else { continue };
                    let silent = self.silent_since(peer);
                    if silent.is_some_and(|s| s + limit <= now()) {
                        return None; // dropping `waiting` gives the place up
                    }
                }
            }
        }
    }

    fn slot(&self, peer: &str) -> Slot<'_> {
        Slot {
            calls: self,
            peer: peer.to_owned(),
            answered: false,
        }
    }

    fn release(&self, peer: &str, answered: bool) {
        let mut inner = self.lock();
        let mut freed = vec![(peer.to_owned(), answered)];
        while let Some((peer, answered)) = freed.pop() {
            for (next, ticket) in inner.slots.release(&peer, answered, now()) {
                let sent = inner.wake.remove(&ticket).map(|tx| tx.send(()).is_ok());
                if sent != Some(true) {
                    // Its waiter is gone: pass the slot on.
                    freed.push((next, false));
                }
            }
        }
    }

    /// Gives back the room a burst of waiting calls left in the wake-up
    /// table.
    pub(crate) fn shrink(&self) {
        self.lock().wake.shrink_to_fit();
    }

    /// `peer` answered one of several calls made under one slot.
    pub(crate) fn answered(&self, peer: &str) {
        self.lock().slots.answered(peer, now());
    }

    /// Since when `peer`, with calls in flight, has not answered any.
    fn silent_since(&self, peer: &str) -> Option<Instant> {
        self.lock().slots.silent_since(peer)
    }

    /// Runs `call` to `peer` within its share. The call waits in its
    /// peer's queue for as long as the peer keeps answering; once sent it
    /// has `limit` to answer, counted from when it was sent or from the
    /// peer's latest answer to another call, whichever is later (a client
    /// that works through a queue of our calls is slow, not hung), but at
    /// most [`PATIENCE`] times `limit`.
    ///
    /// `call` makes the call's future once a slot is granted, on the heap:
    /// a call waiting in its queue holds only its closure, however large
    /// the future (a burst of thousands of queued calls stays small).
    pub(crate) async fn call<T, E, F, C>(
        &self,
        peer: &str,
        limit: Duration,
        call: C,
    ) -> Result<T, CallFailed<E>>
    where
        C: FnOnce() -> F,
        F: Future<Output = Result<T, E>>,
    {
        let Some(mut slot) = self.acquire(peer, Some(limit)).await else {
            return Err(CallFailed::NotSent);
        };
        let sent = now();
        // Granted by a call of the same peer that just went unanswered.
        if self.silent_since(peer).is_some_and(|s| s + limit <= sent) {
            return Err(CallFailed::NotSent);
        }
        let cap = limit * PATIENCE;
        let mut call = Box::pin(call());
        loop {
            let at = give_up_at(sent, self.silent_since(peer), limit, cap);
            tokio::select! {
                result = &mut call => {
                    slot.answered = true;
                    return result.map_err(CallFailed::Error);
                }
                () = tokio::time::sleep_until(at.into()) => {
                    if give_up_at(sent, self.silent_since(peer), limit, cap) <= now() {
                        return Err(CallFailed::NoAnswer);
                    }
                }
            }
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.calls.release(&self.peer, self.answered);
    }
}

/// A place in a peer's queue; given up on drop unless granted.
struct Waiting<'a> {
    calls: &'a ClientCalls,
    peer: &'a str,
    ticket: Ticket,
    armed: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut inner = self.calls.lock();
        let still_waiting = inner.wake.remove(&self.ticket).is_some();
        let cancelled = inner.slots.cancel(&self.peer.to_owned(), self.ticket);
        debug_assert_eq!(still_waiting, cancelled);
        drop(inner);
        if !cancelled {
            // Granted as we gave up: hand the slot on.
            self.calls.release(self.peer, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hung_peer_blocks_only_its_own_share() {
        let calls = ClientCalls::new(4, 2);
        let limit = Duration::from_secs(2);
        // "hung" has two calls that never end and eight more queued.
        let hung =
            (0..10).map(|_| calls.call("hung", limit, std::future::pending::<Result<(), ()>>));
        let hung = futures_util::future::join_all(hung);
        let honest = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let t0 = now();
            let r = calls
                .call("honest", limit, || async { Ok::<_, ()>(7) })
                .await;
            (r.ok(), t0.elapsed())
        };
        let (results, (answer, waited)) = tokio::join!(hung, honest);
        assert_eq!(answer, Some(7));
        assert!(waited < Duration::from_millis(1), "{waited:?}");
        // The two sent time out at the limit; the queued ones are given up
        // together with them, unsent.
        let sent = results
            .iter()
            .filter(|r| matches!(r, Err(CallFailed::NoAnswer)))
            .count();
        let unsent = results
            .iter()
            .filter(|r| matches!(r, Err(CallFailed::NotSent)))
            .count();
        assert_eq!((sent, unsent), (2, 8));
        assert_eq!(calls.lock().slots.in_use(), 0);
        assert!(calls.lock().wake.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_peer_that_answers_keeps_its_calls() {
        let calls = ClientCalls::new(4, 2);
        let limit = Duration::from_secs(2);
        // Each call takes 1.5 s; twenty of them with two at a time take
        // 15 s, far past the limit, but each one is answered in time.
        let slow = (0..20).map(|_| {
            calls.call("slow", limit, || async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok::<_, ()>(())
            })
        });
        let results = futures_util::future::join_all(slow).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(calls.lock().slots.in_use(), 0);
    }
}
