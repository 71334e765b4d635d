//! When each subscribed workspace is refreshed next.
//!
//! Every workspace is refreshed at least once per interval (24 hours by
//! default). A failed refresh is retried sooner, backing off from a few
//! minutes up to the interval, so a server that is down for a while is not
//! hammered and one that comes back is picked up quickly. Time is wall-clock
//! (`SystemTime`), passed in, because the last refresh is stored and must
//! mean something after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Default time between two refreshes of a workspace.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// First retry delay after a failure; doubled after each further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    due: SystemTime,
    failures: u32,
}

/// The refresh plan of every workspace, keyed by workspace id.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    entries: BTreeMap<String, Entry>,
}

impl Schedule {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::from_secs(1)),
            entries: BTreeMap::new(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Adds (or replaces) a workspace whose last successful refresh was at
    /// `last_success` (`None`: never; it is due at once). A last refresh in
    /// the future (a clock that was set back) counts as now.
    pub fn track(&mut self, workspace_id: &str, last_success: Option<SystemTime>, now: SystemTime) {
        let due = match last_success {
            Some(at) => at.min(now) + self.interval,
            None => now,
        };
        self.entries
            .insert(workspace_id.to_owned(), Entry { due, failures: 0 });
    }

    pub fn forget(&mut self, workspace_id: &str) {
        self.entries.remove(workspace_id);
    }

    /// Workspaces due at `now`, soonest first.
    pub fn due(&self, now: SystemTime) -> Vec<String> {
        let mut due: Vec<(&SystemTime, &String)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(id, e)| (&e.due, id))
            .collect();
        due.sort();
        due.into_iter().map(|(_, id)| id.clone()).collect()
    }

    /// The next moment a workspace falls due.
    pub fn next_due(&self) -> Option<SystemTime> {
        self.entries.values().map(|e| e.due).min()
    }

    /// A refresh succeeded: the next one is a full interval away.
    pub fn succeeded(&mut self, workspace_id: &str, now: SystemTime) {
        if let Some(entry) = self.entries.get_mut(workspace_id) {
            *entry = Entry {
                due: now + self.interval,
                failures: 0,
            };
        }
    }

    /// A refresh failed: retry after a delay that doubles with each failure
    /// in a row, never longer than the interval. Returns the retry time.
    pub fn failed(&mut self, workspace_id: &str, now: SystemTime) -> Option<SystemTime> {
        let interval = self.interval;
        let entry = self.entries.get_mut(workspace_id)?;
        let delay = FIRST_RETRY
            .checked_mul(1 << entry.failures.min(20))
            .unwrap_or(interval)
            .min(interval);
        entry.failures = entry.failures.saturating_add(1);
        entry.due = now + delay;
        Some(entry.due)
    }

    /// Ids of the workspaces on the schedule, sorted.
    pub fn tracked(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Failures in a row for a workspace.
    pub fn failures(&self, workspace_id: &str) -> u32 {
        self.entries.get(workspace_id).map_or(0, |e| e.failures)
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn new_workspaces_are_due_at_once_and_then_every_interval() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut s = Schedule::default();
        s.track("never", None, t0);
        s.track("fresh", Some(t0 - H), t0);
        assert_eq!(s.due(t0), vec!["never".to_string()]);
        assert_eq!(s.next_due(), Some(t0));
        s.succeeded("never", t0);
        assert_eq!(s.next_due(), Some(t0 + 23 * H));
        assert_eq!(s.due(t0 + 23 * H), vec!["fresh".to_string()]);
        assert_eq!(
            s.due(t0 + 24 * H),
            vec!["fresh".to_string(), "never".to_string()]
        );
    }

    #[test]
    fn failures_back_off_up_to_the_interval() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut s = Schedule::new(2 * H);
        s.track("ws", None, t0);
        let delays: Vec<Duration> = (0..6)
            .map(|_| s.failed("ws", t0).unwrap().duration_since(t0).unwrap())
            .collect();
        let min = Duration::from_secs(60);
        assert_eq!(
            delays,
            vec![5 * min, 10 * min, 20 * min, 40 * min, 80 * min, 120 * min]
        );
        assert_eq!(s.failures("ws"), 6);
        for _ in 0..100 {
            s.failed("ws", t0);
        }
        assert_eq!(s.next_due(), Some(t0 + 2 * H));
        s.succeeded("ws", t0);
        assert_eq!(s.failures("ws"), 0);
        assert_eq!(s.failed("unknown", t0), None);
    }

    #[test]
    fn a_clock_set_back_does_not_postpone_forever() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut s = Schedule::default();
        s.track("ws", Some(t0 + 1000 * H), t0);
        assert_eq!(s.next_due(), Some(t0 + 24 * H));
        assert_eq!(s.tracked(), vec!["ws".to_string()]);
        s.forget("ws");
        assert_eq!(s.next_due(), None);
        assert!(s.tracked().is_empty());
    }
}
