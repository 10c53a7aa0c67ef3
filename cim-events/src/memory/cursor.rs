//! Subscriptions on the memory store: a cursor that reads the log itself.

use tokio::sync::watch;

use crate::error::Result;
use crate::record::RecordedEvent;
use crate::subject::subject_matches;

use super::MemoryEventStore;

/// A subscription's position in the log. It reads the log itself, so a slow consumer
/// never loses events and the switch from catch-up to live has no gap.
pub(super) struct Cursor {
    pub(super) store: MemoryEventStore,
    /// Normalised ([`validate_subscriptions`](crate::subject::validate_subscriptions)):
    /// a message matching any of them is delivered, once.
    pub(super) filters: Vec<String>,
    pub(super) next: u64,
    pub(super) min_version: u64,
    pub(super) last: watch::Receiver<u64>,
}

impl Cursor {
    pub(super) async fn next(mut self) -> Option<(Result<RecordedEvent>, Cursor)> {
        loop {
            let found = {
                let state = self.store.lock();
                // `next` may lie beyond the log (a subscription from a future sequence);
                // then nothing is found, and nothing before `next` may be delivered later.
                let from = usize::try_from(self.next - 1).unwrap_or(usize::MAX);
                let found = state.messages.get(from..).and_then(|rest| {
                    rest.iter()
                        .find(|r| self.filters.iter().any(|f| subject_matches(f, &r.subject)))
                        .cloned()
                });
                if found.is_none() {
                    self.next = self.next.max(state.next_sequence());
                }
                found
            };
            match found {
                Some(record) => {
                    self.next = record.sequence + 1;
                    let event = RecordedEvent::from_raw(record);
                    if matches!(&event, Ok(e) if e.version() < self.min_version) {
                        continue;
                    }
                    return Some((event, self));
                }
                // The sender lives as long as the store; if it is gone, so are the events.
                None => self.last.changed().await.ok()?,
            }
        }
    }
}
