//! [`EventSelector`]: the stored events of some event types of some aggregate types, told
//! apart from other aggregates' events of the same name.

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
/// Selectors combine with [`or`](EventSelector::or): `BookEvent::selector()
/// .or(MemberEvent::selector_added())` selects every book event and the members' `Added`,
/// on one subscription or one projection runner. See
/// [`derive(Event)`](macro@crate::Event#one-subject-prefix-per-bounded-context) for the subject
/// layout that keeps that filtering on the server.
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
    /// Sorted by aggregate type, one group per aggregate type, never empty.
    groups: Vec<SelectorGroup>,
}

/// One aggregate type's part of an [`EventSelector`]: its event type names, or all of its
/// events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorGroup {
    aggregate_type: String,
    event_types: Vec<String>,
}

impl SelectorGroup {
    /// The aggregate type.
    pub fn aggregate_type(&self) -> &str {
        &self.aggregate_type
    }

    /// The event type names, sorted (empty: every event of the aggregate type).
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    fn matches(&self, event: &RecordedEvent) -> bool {
        event.block.aggregate_type == self.aggregate_type
            && (self.event_types.is_empty() || self.event_types.contains(&event.block.event_type))
    }

    /// This group and `other`, of the same aggregate type, as one.
    fn merge(&mut self, other: SelectorGroup) {
        if self.event_types.is_empty() || other.event_types.is_empty() {
            self.event_types.clear();
        } else {
            self.event_types.extend(other.event_types);
            self.event_types.sort();
            self.event_types.dedup();
        }
    }
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
            groups: vec![SelectorGroup {
                aggregate_type: aggregate_type.into(),
                event_types,
            }],
        }
    }

    /// The events this selector selects and those `other` selects. Groups of one
    /// aggregate type merge (their names, or every event if either selects every event),
    /// so the order of `or`s does not matter: `a.or(b) == b.or(a)`.
    ///
    /// ```
    /// # use cim_events::{Event, EventSelector, EventStore, MemoryEventStore, StartFrom};
    /// # use futures::StreamExt;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Event, Serialize, Deserialize)]
    /// #[event(aggregate = "Book")]
    /// enum BookEvent { Added { title: String }, Lent { member_id: String } }
    ///
    /// #[derive(Event, Serialize, Deserialize)]
    /// #[event(aggregate = "Member")]
    /// enum MemberEvent { Added { name: String }, Left { why: String } }
    ///
    /// let selector = BookEvent::selector().or(MemberEvent::selector_added());
    /// assert_eq!(selector.groups().len(), 2);
    /// // One filter per event type name: `Left` stays on the server.
    /// assert_eq!(selector.subject_filters("events"), ["events.*.Added", "events.*.Lent"]);
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryEventStore::new();
    /// store.append_event("m-1", MemberEvent::Added { name: "Ann".into() }, None).await?;
    /// store.append_event("b-1", BookEvent::Added { title: "Kim".into() }, None).await?;
    /// store.append_event("m-1", MemberEvent::Left { why: "moved".into() }, None).await?;
    /// store.append_event("b-1", BookEvent::Lent { member_id: "m-1".into() }, None).await?;
    ///
    /// let mut events = store.subscribe_selected(&selector, StartFrom::Beginning).await?;
    /// let mut seen = Vec::new();
    /// for _ in 0..3 {
    ///     let event = events.next().await.expect("an event")?;
    ///     seen.push((event.aggregate_id().to_owned(), event.event_type().to_owned()));
    /// }
    /// let seen: Vec<(&str, &str)> = seen.iter().map(|(a, e)| (a.as_str(), e.as_str())).collect();
    /// assert_eq!(seen, [("m-1", "Added"), ("b-1", "Added"), ("b-1", "Lent")]);
    /// # Ok::<(), cim_events::Error>(()) }).unwrap();
    /// ```
    pub fn or(mut self, other: EventSelector) -> EventSelector {
        for group in other.groups {
            match self
                .groups
                .binary_search_by(|g| g.aggregate_type.cmp(&group.aggregate_type))
            {
                Ok(i) => self.groups[i].merge(group),
                Err(i) => self.groups.insert(i, group),
            }
        }
        self
    }

    /// The groups, one per aggregate type, sorted by aggregate type.
    pub fn groups(&self) -> &[SelectorGroup] {
        &self.groups
    }

    /// Whether `event` is one of these: of a group's aggregate type and, unless that group
    /// selects every event of it, named one of the group's event types.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.groups.iter().any(|group| group.matches(event))
    }

    /// The subject filters that receive every selected event under `prefix`: one
    /// `{prefix}.*.{event_type}` per event type name of any group, sorted, each once; or
    /// `{prefix}.>` alone when a group selects every event of its aggregate type (subjects
    /// do not carry the aggregate type) or there are more names than one subscription
    /// takes ([`MAX_FILTERS`](crate::subject::MAX_FILTERS)). The check of the aggregate
    /// type then drops what the filters let through.
    pub fn subject_filters(&self, prefix: &str) -> Vec<String> {
        if self.groups.iter().any(|g| g.event_types.is_empty()) {
            return vec![format!("{prefix}.>")];
        }
        let mut names: Vec<&str> = self
            .groups
            .iter()
            .flat_map(|g| g.event_types.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.len() > crate::subject::MAX_FILTERS {
            return vec![format!("{prefix}.>")];
        }
        names
            .into_iter()
            .map(|name| format!("{prefix}.*.{name}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_merges_groups_of_one_aggregate_type() {
        let a = EventSelector::new("Book", ["Lent", "Added"]);
        let b = EventSelector::new("Member", ["Added"]);
        let c = EventSelector::new("Book", ["Returned", "Added"]);
        let all = a.clone().or(b.clone()).or(c.clone());
        assert_eq!(all, c.clone().or(a.clone()).or(b.clone()));
        let groups: Vec<(&str, &[String])> = all
            .groups()
            .iter()
            .map(|g| (g.aggregate_type(), g.event_types()))
            .collect();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "Book");
        assert_eq!(groups[0].1, ["Added", "Lent", "Returned"]);
        assert_eq!(groups[1].0, "Member");
        assert_eq!(
            all.subject_filters("p"),
            ["p.*.Added", "p.*.Lent", "p.*.Returned"]
        );
        let every_book = EventSelector::new("Book", Vec::<String>::new());
        let widened = a.or(every_book).or(b);
        assert!(widened.groups()[0].event_types().is_empty());
        assert_eq!(widened.subject_filters("p"), ["p.>"]);
    }

    #[test]
    fn too_many_names_fall_back_to_every_subject() {
        let names: Vec<String> = (0..=crate::subject::MAX_FILTERS)
            .map(|n| format!("T{n}"))
            .collect();
        let many = EventSelector::new("A", names);
        assert_eq!(many.subject_filters("p"), ["p.>"]);
    }
}
