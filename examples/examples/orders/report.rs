//! What the example prints: the process's steps, one row per stored event, and each
//! order's causal tree.

use cim_events::process::{StepReport, TIMER_META_KEY};
use cim_events::{COMMIT_META_KEY, EventSelector, RecordedEvent};

/// Prints what a step of a process did: recorded, sent (and how a refusal read), set and
/// cancelled.
pub fn step(step: &StepReport) {
    let recorded = step.recorded.iter().map(|e| e.event_type.clone());
    let sent = step
        .sent
        .iter()
        .map(|(command, delivered)| match delivered {
            Ok(_) => format!("sent {command:?}"),
            Err(refused) => format!("sent {command:?}, {refused}"),
        });
    let set = step.timers.iter().map(|t| format!("set {}", t.name));
    let cancelled = step
        .cancelled
        .iter()
        .map(|name| format!("cancelled {name}"));
    let did: Vec<String> = recorded.chain(sent).chain(set).chain(cancelled).collect();
    let instance = step.instance.as_deref().unwrap_or("-");
    println!("  {instance}: {}", did.join("; "));
}

/// Prints events as rows of a table whose columns fit them: stream sequence, aggregate,
/// version, type, CID, correlation and causation.
pub fn table(events: &[RecordedEvent]) {
    let width = |f: fn(&RecordedEvent) -> String| events.iter().map(|e| f(e).len()).max();
    let aggregate_width = width(aggregate).unwrap_or(0);
    let correlation_width = width(|e| e.correlation_id().to_owned()).unwrap_or(0);
    println!(
        "{:>3}  {:<aggregate_width$}  v  {:<15}  {:<7}  {:<correlation_width$}  caused by",
        "seq", "aggregate", "event", "cid", "correlation",
    );
    for event in events {
        let block = &event.block;
        println!(
            "{:>3}  {:<aggregate_width$}  {}  {:<15}  {:<7}  {:<correlation_width$}  {}",
            event.sequence,
            aggregate(event),
            block.seq,
            block.event_type,
            short(&event.cid.to_string()),
            block.correlation_id,
            block
                .causation_id
                .as_deref()
                .map_or_else(|| "-".into(), short),
        );
    }
}

/// Prints the causal tree of each event of `events` that `roots` selects and that hangs
/// under no other: every event under the one it hangs under (see [`parent`]).
pub fn causal_trees(events: &[RecordedEvent], roots: &EventSelector) {
    for root in events.iter().filter(|e| roots.matches(e)) {
        if parent(root, events).is_none() {
            println!("{}:", root.aggregate_id());
            println!("  {}", node(root));
            branches(root, "  ", events);
        }
    }
}

fn branches(parent_event: &RecordedEvent, indent: &str, events: &[RecordedEvent]) {
    let kids: Vec<_> = events
        .iter()
        .filter_map(|e| {
            parent(e, events)
                .filter(|(p, _)| p.cid == parent_event.cid)
                .map(|(_, how)| (e, how))
        })
        .collect();
    for (i, (kid, how)) in kids.iter().enumerate() {
        let (branch, next) = if i + 1 == kids.len() {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        println!("{indent}{branch}{how}{}", node(kid));
        branches(kid, &format!("{indent}{next}"), events);
    }
}

/// The event `event` hangs under, and how it came from it: the event its causation names
/// (for the step of a timer, the decision that waited for it; the timer's name is in the
/// event's `meta`); otherwise the first event of its atomic commit.
fn parent<'a>(
    event: &RecordedEvent,
    events: &'a [RecordedEvent],
) -> Option<(&'a RecordedEvent, String)> {
    let block = &event.block;
    if let Some(cause) = block.causation_id.as_deref() {
        let how = block
            .meta
            .get(TIMER_META_KEY)
            .map_or(String::new(), |timer| format!("timer {timer} → "));
        return events
            .iter()
            .find(|e| e.cid.to_string() == cause)
            .map(|e| (e, how));
    }
    let commit = block.meta.get(COMMIT_META_KEY)?;
    let first = events
        .iter()
        .find(|e| e.block.meta.get(COMMIT_META_KEY) == Some(commit))?;
    (first.cid != event.cid).then(|| (first, "same commit: ".to_owned()))
}

fn node(event: &RecordedEvent) -> String {
    let block = &event.block;
    let cid = short(&event.cid.to_string());
    format!(
        "{} v{} {} {cid}",
        aggregate(event),
        block.seq,
        block.event_type
    )
}

/// `Type/id`, e.g. `Order/order-1`.
fn aggregate(event: &RecordedEvent) -> String {
    format!(
        "{}/{}",
        event.block.aggregate_type, event.block.aggregate_id
    )
}

/// The last 6 characters of a CID, after `…`: CIDs of one codec and hash share their first
/// characters; their ends differ.
fn short(cid: &str) -> String {
    let tail = cid
        .char_indices()
        .rev()
        .nth(5)
        .map_or(cid, |(i, _)| &cid[i..]);
    format!("…{tail}")
}
