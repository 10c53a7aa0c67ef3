//! Building blocks for tests of stores and verification (feature `test-util`): sealing
//! events on any head and writing the exact headers, so that a test can forge what a
//! foreign writer could store. Production code appends through
//! [`EventStore`](crate::EventStore).

use crate::error::Result;
use crate::event::Event;
use crate::head::Head;
use crate::header::EventHeader;
use crate::seal::SealedEvent;

pub use crate::seal::{NewEvent, prepare, seal};
pub use crate::wire_headers::*;

/// Prepares `events` for `aggregate_id` and seals them after `head` (`None`: as a new
/// aggregate) under `prefix`, without storing anything.
pub fn seal_after<E: Event>(
    prefix: &str,
    aggregate_id: &str,
    head: Option<&Head>,
    events: &[E],
    header: &EventHeader,
) -> Result<Vec<SealedEvent>> {
    let prepared = crate::seal::prepare(aggregate_id, events, header)?;
    let mut sealed = crate::seal::seal(prefix, aggregate_id, head, &prepared)?;
    for event in &mut sealed {
        event.traceparent.clone_from(&header.traceparent);
    }
    Ok(sealed)
}

/// The headers a store writes with `event`, owned, as a [`RawRecord`](crate::RawRecord)
/// holds them.
pub fn headers_of(event: &SealedEvent) -> Vec<(String, String)> {
    event
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}
