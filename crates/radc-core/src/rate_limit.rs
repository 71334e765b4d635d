//! How many report messages (`RegisterErrorLogMessage`,
//! `RegisterErrorEvent`) each bus peer may send: a token bucket per peer,
//! keyed by its unique name, so one client flooding the runtime cannot fill
//! its log or its told-once store, nor crowd out the others.
//!
//! Sans-IO: the caller passes the time, and learns from [`ReportLimiter::check`]
//! whether to act on a message and when to log a summary of what was
//! dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Messages a peer may send at once, after being quiet.
pub const BURST: u32 = 100;
/// Messages per second a peer may keep sending.
pub const PER_SECOND: u32 = 20;
/// Peers tracked one by one. Past this, new peers share one bucket: the
/// bus allows a user far more connections, and each costs the runtime a
/// little memory here.
pub const MAX_PEERS: usize = 1024;
/// Least time between two summaries of dropped messages in the log.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the peer's rate: log it, store it.
    Allow,
    /// Over the rate: answer, but do nothing with it.
    Drop,
}

/// Messages dropped since the last summary, to be logged as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropSummary {
    /// Messages dropped in all.
    pub dropped: u64,
    /// The peer that had most of them dropped, and how many.
    pub worst: (String, u64),
    /// Peers that had any dropped.
    pub peers: usize,
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens, in thousandths of a message, so slow refills are not lost to
    /// rounding.
    milli_tokens: u64,
    refilled: Instant,
    /// Dropped since the last summary.
    dropped: u64,
}

#[derive(Debug)]
pub struct ReportLimiter {
    burst: u32,
    per_second: u32,
    max_peers: usize,
    peers: HashMap<Box<str>, Bucket>,
    /// Shared by peers that arrive while `max_peers` are tracked.
    overflow: Option<Bucket>,
    last_summary: Option<Instant>,
    /// Drops counted for peers that left before their summary.
    gone_dropped: u64,
    gone_worst: (String, u64),
    gone_peers: usize,
}

impl Default for ReportLimiter {
    fn default() -> Self {
        Self::new(BURST, PER_SECOND, MAX_PEERS)
    }
}

impl ReportLimiter {
    pub fn new(burst: u32, per_second: u32, max_peers: usize) -> Self {
        Self {
            burst: burst.max(1),
            per_second,
            max_peers: max_peers.max(1),
            peers: HashMap::new(),
            overflow: None,
            last_summary: None,
            gone_dropped: 0,
            gone_worst: (String::new(), 0),
            gone_peers: 0,
        }
    }

    fn full(&self, now: Instant) -> Bucket {
        Bucket {
            milli_tokens: u64::from(self.burst) * 1000,
            refilled: now,
            dropped: 0,
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.refilled);
        let earned = elapsed
            .as_millis()
            .saturating_mul(u128::from(self.per_second));
        let cap = u64::from(self.burst) * 1000;
        bucket.milli_tokens = u64::try_from(earned)
            .unwrap_or(u64::MAX)
            .saturating_add(bucket.milli_tokens)
            .min(cap);
        bucket.refilled = now;
    }

    /// Whether a bucket, refilled to `now`, is as good as a fresh one.
    fn is_fresh(&self, bucket: &Bucket, now: Instant) -> bool {
        let mut b = bucket.clone();
        self.refill(&mut b, now);
        b.milli_tokens == u64::from(self.burst) * 1000 && b.dropped == 0
    }

    /// One message from `peer` at `now`: whether to act on it, and a
    /// summary of dropped messages when one is due (at most once per
    /// [`SUMMARY_INTERVAL`]).
    pub fn check(&mut self, peer: &str, now: Instant) -> (Verdict, Option<DropSummary>) {
        if !self.peers.contains_key(peer) && self.peers.len() >= self.max_peers {
            // Peers that have been quiet long enough are as good as new.
            let stale: Vec<Box<str>> = self
                .peers
                .iter()
                .filter(|(_, b)| self.is_fresh(b, now))
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                self.peers.remove(&key);
            }
        }
        let tracked = self.peers.contains_key(peer) || self.peers.len() < self.max_peers;
        let mut bucket = if tracked {
            self.peers.remove(peer).unwrap_or_else(|| self.full(now))
        } else {
            self.overflow.take().unwrap_or_else(|| self.full(now))
        };
        self.refill(&mut bucket, now);
        let verdict = if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            Verdict::Allow
        } else {
            bucket.dropped += 1;
            Verdict::Drop
        };
        if tracked {
            self.peers.insert(peer.into(), bucket);
        } else {
            self.overflow = Some(bucket);
        }
        let summary = match verdict {
            Verdict::Drop => self.summary_if_due(now),
            Verdict::Allow => None,
        };
        (verdict, summary)
    }

    /// A summary of what was dropped, if anything was and the last one is
    /// at least [`SUMMARY_INTERVAL`] old. For a timer to flush what a
    /// flood that ended left uncounted.
    pub fn summary_if_due(&mut self, now: Instant) -> Option<DropSummary> {
        if self
            .last_summary
            .is_some_and(|last| now.saturating_duration_since(last) < SUMMARY_INTERVAL)
        {
            return None;
        }
        let summary = self.take_summary()?;
        self.last_summary = Some(now);
        Some(summary)
    }

    /// What was dropped and not yet summarised, whether or not the interval
    /// has passed: for when a flood has ended.
    pub fn flush_summary(&mut self, now: Instant) -> Option<DropSummary> {
        let summary = self.take_summary()?;
        self.last_summary = Some(now);
        Some(summary)
    }

    fn take_summary(&mut self) -> Option<DropSummary> {
        let mut dropped = self.gone_dropped;
        let mut worst = std::mem::take(&mut self.gone_worst);
        let mut peers = self.gone_peers;
        for (name, bucket) in self.peers.iter_mut() {
            if bucket.dropped > 0 {
                dropped += bucket.dropped;
                peers += 1;
                if bucket.dropped > worst.1 {
                    worst = (name.to_string(), bucket.dropped);
                }
                bucket.dropped = 0;
            }
        }
        if let Some(bucket) = self.overflow.as_mut().filter(|b| b.dropped > 0) {
            dropped += bucket.dropped;
            peers += 1;
            if bucket.dropped > worst.1 {
                worst = ("(peers past the tracked number)".to_owned(), bucket.dropped);
            }
            bucket.dropped = 0;
        }
        self.gone_dropped = 0;
        self.gone_peers = 0;
        (dropped > 0).then_some(DropSummary {
            dropped,
            worst,
            peers,
        })
    }

    /// `peer` left the bus: its bucket is forgotten (what it had dropped
    /// still goes into the next summary).
    pub fn peer_vanished(&mut self, peer: &str) {
        if let Some(bucket) = self.peers.remove(peer)
            && bucket.dropped > 0
        {
            self.gone_dropped += bucket.dropped;
            self.gone_peers += 1;
            if bucket.dropped > self.gone_worst.1 {
                self.gone_worst = (peer.to_owned(), bucket.dropped);
            }
        }
    }

    /// Peers tracked one by one now.
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(l: &mut ReportLimiter, peer: &str, now: Instant, n: u32) -> u32 {
        (0..n)
            .filter(|_| l.check(peer, now).0 == Verdict::Allow)
            .count() as u32
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut l = ReportLimiter::default();
        assert_eq!(allowed(&mut l, ":1.1", t0, 1000), BURST);
        // One second later: PER_SECOND more, no more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(allowed(&mut l, ":1.1", t1, 1000), PER_SECOND);
        // A fraction of a second earns its fraction.
        let t2 = t1 + Duration::from_millis(50);
        assert_eq!(allowed(&mut l, ":1.1", t2, 10), 1);
        // Quiet long enough: a full burst again, never more.
        let t3 = t2 + Duration::from_secs(3600);
        assert_eq!(allowed(&mut l, ":1.1", t3, 1000), BURST);
    }

    #[test]
    fn peers_are_limited_apart() {
        let t0 = Instant::now();
        let mut l = ReportLimiter::default();
        assert_eq!(allowed(&mut l, ":1.1", t0, 10_000), BURST);
        assert_eq!(allowed(&mut l, ":1.2", t0, 5), 5, "another peer is not hit");
    }

    #[test]
    fn drops_are_summarised_once_per_interval_and_survive_the_peer() {
        let t0 = Instant::now();
        let mut l = ReportLimiter::new(2, 1, 16);
        assert_eq!(l.check(":1.1", t0), (Verdict::Allow, None));
        assert_eq!(l.check(":1.1", t0), (Verdict::Allow, None));
        // The first drop is told at once ...
        let (v, s) = l.check(":1.1", t0);
        assert_eq!(v, Verdict::Drop);
        assert_eq!(
            s,
            Some(DropSummary {
                dropped: 1,
                worst: (":1.1".into(), 1),
                peers: 1
            })
        );
        // ... the next ones only after the interval.
        for _ in 0..5 {
            assert_eq!(l.check(":1.1", t0).1, None);
        }
        assert_eq!(l.check(":1.2", t0).0, Verdict::Allow);
        l.peer_vanished(":1.1");
        assert_eq!(l.tracked(), 1);
        assert_eq!(l.summary_if_due(t0 + Duration::from_secs(1)), None);
        let later = t0 + SUMMARY_INTERVAL;
        assert_eq!(
            l.summary_if_due(later),
            Some(DropSummary {
                dropped: 5,
                worst: (":1.1".into(), 5),
                peers: 1
            })
        );
        assert_eq!(l.summary_if_due(later + SUMMARY_INTERVAL), None);
        // A flood that ends is summarised when asked, interval or not.
        assert_eq!(l.check(":1.2", later), (Verdict::Allow, None));
        assert_eq!(l.check(":1.2", later), (Verdict::Allow, None));
        let (v, s) = l.check(":1.2", later);
        assert_eq!((v, s), (Verdict::Drop, None));
        assert_eq!(l.flush_summary(later).map(|s| s.dropped), Some(1));
        assert_eq!(l.flush_summary(later), None);
    }

    #[test]
    fn tracked_peers_are_bounded_and_quiet_ones_make_room() {
        let t0 = Instant::now();
        let mut l = ReportLimiter::new(3, 1, 4);
        for i in 0..4 {
            assert_eq!(allowed(&mut l, &format!(":1.{i}"), t0, 3), 3);
        }
        // Past the bound, newcomers share one bucket.
        assert_eq!(allowed(&mut l, ":1.100", t0, 2), 2);
        assert_eq!(allowed(&mut l, ":1.101", t0, 5), 1);
        assert_eq!(l.tracked(), 4);
        // Once the tracked ones have refilled, they are forgotten for a
        // newcomer, who gets its own bucket.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(allowed(&mut l, ":1.102", t1, 5), 3);
        assert_eq!(l.tracked(), 1);
    }
}
