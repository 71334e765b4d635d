//! Remembers which error events the user has already been told about, so the
//! same failure (say, a refresh that keeps failing) is reported once.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::error::Result;
use crate::validate;

/// Most events remembered; the oldest is forgotten first.
pub const MAX_EVENTS: usize = 4096;
/// Most bytes the remembered events' text may take (see
/// [`ErrorEvent::cost`]); the oldest are forgotten first. Without it, 4096
/// events of the longest accepted message type would hold 17 MiB.
pub const MAX_BYTES: usize = 1024 * 1024;

/// One `RegisterErrorEvent` call's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorEvent {
    pub workspace_id: String,
    pub error_type: u32,
    pub error_message_type: String,
    pub error_code: u32,
}

impl ErrorEvent {
    pub fn new(
        workspace_id: &str,
        error_type: u32,
        error_message_type: &str,
        error_code: u32,
    ) -> Result<ErrorEvent> {
        validate::workspace_id(workspace_id)?;
        validate::bounded(
            "error message type",
            error_message_type,
            validate::MAX_MESSAGE_LEN,
        )?;
        Ok(ErrorEvent {
            workspace_id: workspace_id.to_owned(),
            error_type,
            error_message_type: error_message_type.to_owned(),
            error_code,
        })
    }

    /// What remembering the event costs, in bytes: its text and a fixed
    /// part for the entry around it.
    pub fn cost(&self) -> usize {
        const ENTRY: usize = 96;
        ENTRY + self.workspace_id.len() + self.error_message_type.len()
    }
}

/// Each event is kept once, shared by the set (for lookups) and the queue
/// (for age).
#[derive(Debug)]
pub struct ErrorEventStore {
    seen: HashSet<Arc<ErrorEvent>>,
    order: VecDeque<Arc<ErrorEvent>>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
}

impl Default for ErrorEventStore {
    fn default() -> Self {
        Self::with_limits(MAX_EVENTS, MAX_BYTES)
    }
}

impl ErrorEventStore {
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_limits(capacity, MAX_BYTES)
    }

    /// A store of at most `capacity` events costing at most `max_bytes`
    /// together (the newest is always kept, whatever it costs).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Remembers `event`; true if it is new (the user should be told).
    pub fn register(&mut self, event: ErrorEvent) -> bool {
        if self.seen.contains(&event) {
            return false;
        }
        let cost = event.cost();
        while !self.order.is_empty()
            && (self.order.len() >= self.capacity || self.bytes + cost > self.max_bytes)
        {
            if let Some(oldest) = self.order.pop_front() {
                self.bytes -= oldest.cost();
                self.seen.remove(&oldest);
            }
        }
        let event = Arc::new(event);
        self.bytes += cost;
        self.seen.insert(event.clone());
        self.order.push_back(event);
        if self.order.len() * 4 < self.order.capacity() && self.order.capacity() > 64 {
            self.order.shrink_to_fit();
            self.seen.shrink_to_fit();
        }
        true
    }

    /// What the remembered events cost together (see [`ErrorEvent::cost`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_registered(&self, event: &ErrorEvent) -> bool {
        self.seen.contains(event)
    }

    /// Forgets a workspace's events, e.g. after it recovered or was removed.
    pub fn forget_workspace(&mut self, workspace_id: &str) {
        self.order.retain(|e| e.workspace_id != workspace_id);
        self.seen.retain(|e| e.workspace_id != workspace_id);
        self.bytes = self.order.iter().map(|e| e.cost()).sum();
        self.order.shrink_to_fit();
        self.seen.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ws: &str, code: u32) -> ErrorEvent {
        ErrorEvent::new(ws, 1, "refresh", code).unwrap()
    }

    #[test]
    fn told_once() {
        let mut store = ErrorEventStore::default();
        assert!(!store.is_registered(&ev("ws", 5)));
        assert!(store.register(ev("ws", 5)));
        assert!(!store.register(ev("ws", 5)));
        assert!(store.is_registered(&ev("ws", 5)));
        assert!(!store.is_registered(&ev("ws", 6)));
        store.forget_workspace("ws");
        assert!(store.is_empty());
    }

    #[test]
    fn bounded_memory_forgets_the_oldest() {
        let mut store = ErrorEventStore::with_capacity(3);
        for code in 0..4 {
            store.register(ev("ws", code));
        }
        assert_eq!(store.len(), 3);
        assert!(!store.is_registered(&ev("ws", 0)));
        assert!(store.is_registered(&ev("ws", 3)));
    }

    #[test]
    fn bounded_in_bytes_too() {
        let long = "x".repeat(validate::MAX_MESSAGE_LEN);
        let mut store = ErrorEventStore::default();
        for code in 0..MAX_EVENTS as u32 {
            store.register(ErrorEvent::new("ws", 1, &long, code).unwrap());
            assert!(store.bytes() <= MAX_BYTES);
        }
        let one = ErrorEvent::new("ws", 1, &long, 0).unwrap().cost();
        assert_eq!(store.len(), MAX_BYTES / one);
        assert!(
            store.is_registered(&ErrorEvent::new("ws", 1, &long, MAX_EVENTS as u32 - 1).unwrap())
        );
        assert!(!store.is_registered(&ErrorEvent::new("ws", 1, &long, 0).unwrap()));
        // Short events fill it up to the count again.
        for code in 0..2 * MAX_EVENTS as u32 {
            store.register(ev("short", code));
        }
        assert_eq!(store.len(), MAX_EVENTS);
        store.forget_workspace("short");
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }

    #[test]
    fn validates() {
        assert!(ErrorEvent::new("", 0, "", 0).is_err());
        assert!(ErrorEvent::new("ws", 0, &"x".repeat(5000), 0).is_err());
    }
}
