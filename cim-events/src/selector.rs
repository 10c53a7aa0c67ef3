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
    /// The selectors joined with [`or`](EventSelector::or), one per further aggregate
    /// type.
    more: Vec<EventSelector>,
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
            more: Vec::new(),
        }
    }

    /// The events this selector selects and those `other` selects: one subscription, or
    /// one process, over the events of several aggregate types. Selectors of one
    /// aggregate type merge (their names, or every event if either selects every event).
    ///
    /// ```
    /// # use cim_events::Event;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Event, Serialize, Deserialize)]
    /// #[event(aggregate = "Book")]
    /// enum BookEvent { Added { title: String }, Lent { member: String } }
    ///
    /// #[derive(Event, Serialize, Deserialize)]
    /// #[event(aggregate = "Member")]
    /// enum MemberEvent { Added { name: String } }
    ///
    /// let books = BookEvent::selector_added().or(BookEvent::selector_lent());
    /// assert_eq!(books, BookEvent::selector());
    /// let both = books.or(MemberEvent::selector());
    /// assert_eq!(both.subject_filter("events"), "events.>");
    /// ```
    pub fn or(mut self, mut other: EventSelector) -> EventSelector {
        let rest = std::mem::take(&mut other.more);
        for group in std::iter::once(other).chain(rest) {
            if self.aggregate_type == group.aggregate_type {
                self.widen(group.event_types);
            } else if let Some(same) = self
                .more
                .iter_mut()
                .find(|s| s.aggregate_type == group.aggregate_type)
            {
                same.widen(group.event_types);
            } else {
                self.more.push(group);
            }
        }
        self
    }

    /// Adds `names` to this group's event types; empty (every event) wins.
    fn widen(&mut self, names: Vec<String>) {
        if self.event_types.is_empty() || names.is_empty() {
            self.event_types.clear();
        } else {
            self.event_types.extend(names);
            self.event_types.sort();
            self.event_types.dedup();
        }
    }

    /// The groups: this selector's own, then one per aggregate type joined with
    /// [`or`](EventSelector::or).
    fn groups(&self) -> impl Iterator<Item = &EventSelector> {
        std::iter::once(self).chain(&self.more)
    }

    /// The aggregate type (of the first selector, when several are joined with
    /// [`or`](EventSelector::or)).
    pub fn aggregate_type(&self) -> &str {
        &self.aggregate_type
    }

    /// The event type names, sorted (empty: every event of the aggregate type); of the
    /// first selector, when several are joined with [`or`](EventSelector::or).
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Whether `event` is one of these.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.groups().any(|group| {
            event.block.aggregate_type == group.aggregate_type
                && (group.event_types.is_empty()
                    || group.event_types.contains(&event.block.event_type))
        })
    }

    /// The one subject filter that receives every selected event under `prefix`:
    /// `{prefix}.*.{event_type}` when every group selects that single event type name,
    /// `{prefix}.>` otherwise (the aggregate type check then drops the rest).
    pub fn subject_filter(&self, prefix: &str) -> String {
        match self.event_types.as_slice() {
            [one] if self.more.iter().all(|g| g.event_types == [one.as_str()]) => {
                format!("{prefix}.*.{one}")
            }
            _ => format!("{prefix}.>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventSelector;

    #[test]
    fn or_merges_one_aggregate_type_and_keeps_others_beside() {
        let books = EventSelector::new("Book", ["Lent"]).or(EventSelector::new("Book", ["Added"]));
        assert_eq!(books, EventSelector::new("Book", ["Added", "Lent"]));
        let both = books.or(EventSelector::new("Member", ["Added"]));
        assert_eq!(both.subject_filter("events"), "events.>");
        assert_eq!(both.more, [EventSelector::new("Member", ["Added"])]);
        // Every event of an aggregate type absorbs its names.
        let widened = both.or(EventSelector::new("Member", Vec::<String>::new()));
        assert!(widened.more[0].event_types().is_empty());
        // One name shared by every group: one filter still takes them all.
        let added =
            EventSelector::new("Book", ["Added"]).or(EventSelector::new("Member", ["Added"]));
        assert_eq!(added.subject_filter("events"), "events.*.Added");
    }
}
