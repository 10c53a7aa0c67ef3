//! [`EventSelector`]: the stored events of one event type, told apart from other
//! aggregates' events of the same name.

use crate::record::RecordedEvent;

/// Which stored events are of one event type: its event type names *and* its aggregate
/// type, so that two aggregates' `Added` events never mix.
///
/// Subjects are `{prefix}.{aggregate_id}.{event_type}`: the aggregate type is not in them,
/// so a subject filter such as `events.*.Added` matches the `Added` of every aggregate. An
/// [`EventSelector`] is that filter plus a check of the block's `aggregate_type`, which
/// every event block holds. `#[derive(Event)]` writes one for each event type
/// (`BookEvent::selector()`); subscriptions ([`EventStore::subscribe_selected`]) and
/// projection runners (`.select(…)`) take it. Names then need no aggregate prefix: a
/// `Book`'s `Added` and a `Member`'s `Added` are told apart by their blocks.
///
/// The server filters by subject, the client by aggregate type: a selector over an event
/// type name that several aggregates share receives their events and drops the others'.
///
/// [`EventStore::subscribe_selected`]: crate::EventStore::subscribe_selected
///
/// ```
/// # use cim_events::{Event, EventStore, MemoryEventStore, StartFrom};
/// # use futures::StreamExt;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Event, Serialize, Deserialize)]
/// #[event(aggregate = "Book")]
/// enum BookEvent { Added { title: String } }
///
/// #[derive(Event, Serialize, Deserialize)]
/// #[event(aggregate = "Member")]
/// enum MemberEvent { Added { name: String } }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cim_events::Result<()> {
/// let store = MemoryEventStore::new();
/// store.append_event("m-1", MemberEvent::Added { name: "Ann".into() }, None).await?;
/// store.append_event("b-1", BookEvent::Added { title: "Kim".into() }, None).await?;
///
/// let mut books = store.subscribe_selected(&BookEvent::selector(), StartFrom::Beginning).await?;
/// let first = books.next().await.expect("an event")?;
/// assert_eq!((first.aggregate_id(), first.event_type()), ("b-1", "Added"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSelector {
    aggregate_type: String,
    event_types: Vec<String>,
}

impl EventSelector {
    /// The events named one of `event_types` (none: every event) of `aggregate_type`.
    pub fn new<T: Into<String>>(
        aggregate_type: impl Into<String>,
        event_types: impl IntoIterator<Item = T>,
    ) -> EventSelector {
        let mut event_types: Vec<String> = event_types.into_iter().map(Into::into).collect();
        event_types.sort();
        event_types.dedup();
        EventSelector {
            aggregate_type: aggregate_type.into(),
            event_types,
        }
    }

    /// The aggregate type.
    pub fn aggregate_type(&self) -> &str {
        &self.aggregate_type
    }

    /// The event type names, sorted (empty: every event of the aggregate type).
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Whether `event` is one of these.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        event.block.aggregate_type == self.aggregate_type
            && (self.event_types.is_empty() || self.event_types.contains(&event.block.event_type))
    }

    /// The one subject filter that receives every selected event under `prefix`:
    /// `{prefix}.*.{event_type}` for a single event type, `{prefix}.>` otherwise (the
    /// aggregate type check then drops the rest).
    pub fn subject_filter(&self, prefix: &str) -> String {
        match self.event_types.as_slice() {
            [one] => format!("{prefix}.*.{one}"),
            _ => format!("{prefix}.>"),
        }
    }
}
