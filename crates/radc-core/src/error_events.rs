//! Remembers which error events the user has already been told about, so the
//! same failure (say, a refresh that keeps failing) is reported once.

use std::collections::{HashSet, VecDeque};

use crate::error::Result;
use crate::validate;

/// Most events remembered; the oldest is forgotten first.
pub const MAX_EVENTS: usize = 4096;

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
}

#[derive(Debug)]
pub struct ErrorEventStore {
    seen: HashSet<ErrorEvent>,
    order: VecDeque<ErrorEvent>,
    capacity: usize,
}

impl Default for ErrorEventStore {
    fn default() -> Self {
        Self::with_capacity(MAX_EVENTS)
    }
}

impl ErrorEventStore {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `event`; true if it is new (the user should be told).
    pub fn register(&mut self, event: ErrorEvent) -> bool {
        if self.seen.contains(&event) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(event.clone());
        self.order.push_back(event);
        true
    }

    pub fn is_registered(&self, event: &ErrorEvent) -> bool {
        self.seen.contains(event)
    }

    /// Forgets a workspace's events, e.g. after it recovered or was removed.
    pub fn forget_workspace(&mut self, workspace_id: &str) {
        self.order.retain(|e| e.workspace_id != workspace_id);
        self.seen.retain(|e| e.workspace_id != workspace_id);
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
    fn validates() {
        assert!(ErrorEvent::new("", 0, "", 0).is_err());
        assert!(ErrorEvent::new("ws", 0, &"x".repeat(5000), 0).is_err());
    }
}
