//! What the example prints: one row per stored event, and each order's causal tree.

use std::collections::HashMap;

use cim_events::{EventSelector, RecordedEvent};

/// Prints events as rows of a table.
pub struct Table {
    /// How wide the aggregate column is.
    width: usize,
}

impl Table {
    /// A table whose aggregate column fits these aggregate ids.
    pub fn fitting<'a>(ids: impl IntoIterator<Item = &'a String>) -> Table {
        let longest = ids.into_iter().map(String::len).max().unwrap_or(0);
        Table {
            width: "InventoryItem/".len() + longest,
        }
    }

    pub fn header(&self) {
        println!(
            "{:>3}  {:<w$}  {:>1}  {:<17}  {:<7}  {:<11}  caused by",
            "seq",
            "aggregate",
            "v",
            "event",
            "cid",
            "correlation",
            w = self.width
        );
    }

    /// The event's stream sequence, aggregate, version, type, CID, correlation and causation.
    pub fn row(&self, event: &RecordedEvent) {
        let block = &event.block;
        println!(
            "{:>3}  {:<w$}  {:>1}  {:<17}  {:<7}  {:<11}  {}",
            event.sequence,
            aggregate(event),
            block.seq,
            block.event_type,
            short(&event.cid.to_string()),
            short(&block.correlation_id),
            block
                .causation_id
                .as_deref()
                .map_or_else(|| "-".to_owned(), short),
            w = self.width
        );
    }
}

/// Prints the causal tree of each event of `events` that `roots` selects and no other of
/// them caused: every event under the event that caused it.
pub fn causal_trees(events: &[RecordedEvent], roots: &EventSelector) {
    let by_cid: HashMap<String, &RecordedEvent> =
        events.iter().map(|e| (e.cid.to_string(), e)).collect();
    let mut children: HashMap<&str, Vec<&RecordedEvent>> = HashMap::new();
    for event in events {
        if let Some(cause) = event.block.causation_id.as_deref() {
            children.entry(cause).or_default().push(event);
        }
    }
    for event in events.iter().filter(|e| roots.matches(e)) {
        // A root has no cause, or one outside these events.
        let caused = event.block.causation_id.as_deref();
        if caused.is_some_and(|c| by_cid.contains_key(c)) {
            continue;
        }
        println!(
            "{} (correlation {}):",
            event.aggregate_id(),
            short(&event.block.correlation_id)
        );
        println!("  {}", node(event));
        branches(event, "  ", &children);
    }
}

fn branches(parent: &RecordedEvent, indent: &str, children: &HashMap<&str, Vec<&RecordedEvent>>) {
    let Some(kids) = children.get(parent.cid.to_string().as_str()) else {
        return;
    };
    for (i, kid) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        println!("{indent}{branch}{}", node(kid));
        branches(kid, &format!("{indent}{next}"), children);
    }
}

fn node(event: &RecordedEvent) -> String {
    format!(
        "{} v{} {} {}",
        aggregate(event),
        event.block.seq,
        event.block.event_type,
        short(&event.cid.to_string())
    )
}

/// `Type/id`, e.g. `Order/order-1`.
pub fn aggregate(event: &RecordedEvent) -> String {
    format!(
        "{}/{}",
        event.block.aggregate_type, event.block.aggregate_id
    )
}

/// The last 6 characters of an id or CID, after `…`: CIDs of one codec and hash share
/// their first characters, UUIDv7 ids made in one millisecond too; their ends differ.
pub fn short(id: &str) -> String {
    let tail = id.char_indices().rev().nth(5).map_or(id, |(i, _)| &id[i..]);
    format!("…{tail}")
}
