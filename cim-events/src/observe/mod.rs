//! Observability: `tracing` spans, metrics through the [`metrics`] facade, and the W3C
//! `traceparent` that follows a command into its events. Nothing here needs setting up:
//! install a `tracing` subscriber and a `metrics` recorder (any exporter) and they
//! receive what the store records; with none installed, recording costs next to nothing.
//!
//! # Spans
//!
//! Per-event detail is at `debug` or `trace`; nothing hot is at `info`.
//!
//! | span | level | fields |
//! |---|---|---|
//! | `cim_events.command` | debug | `aggregate_type`, `aggregate_id`, `cache` (`hit`/`miss`, with a cache), `attempts`, `version`, `cid`, `outcome` |
//! | `cim_events.repository.load` | debug | `aggregate_type`, `aggregate_id`, `version`, `cid`, `replayed`, `snapshot` (`absent`/`used`/`ignored`) |
//! | `cim_events.append` | debug | `store`, `aggregate_type`, `aggregate_id`, `events`, `expected`, `attempts`, `version`, `cid`, `outcome` |
//! | `cim_events.load` | debug | `store`, `aggregate_id`, `from_version`, `events`, `stepped`, `version`, `cid` |
//! | `cim_events.verify_chain` | debug | `store`, `aggregate_id`, `events`, `faults`, `cid` |
//! | `cim_events.subscribe` | debug | `store`, `filter`, `start` |
//! | `cim_events.projection.apply` | debug | `projection`, `sequence`, `cid`, `outcome` (`applied`/`skipped`) |
//! | `cim_events.jetstream.publish` | debug | `aggregate_id`, `events`, `after_sequence` |
//! | `cim_events.jetstream.tail` | debug | `aggregate_id`, `fresh` |
//! | `cim_events.jetstream.read` | debug | `aggregate_id`, `after` |
//! | `cim_events.jetstream.read_chunk` | trace | `filter`, `next` |
//!
//! `version` and `cid` are the aggregate's head after the operation; `attempts` counts the
//! first attempt too.
//!
//! # Metrics
//!
//! Labels are low-cardinality only: the store kind ([`EventStore::store_kind`](crate::EventStore::store_kind):
//! `memory`, `jetstream`), the aggregate type, the projection name, an outcome — never an
//! aggregate id. Call [`describe`] once to give an exporter the units and descriptions.
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | [`cim_events_appends_total`](APPENDS) | counter | appends | `store`, `aggregate_type`, `outcome` |
//! | [`cim_events_appended_events_total`](APPENDED_EVENTS) | counter | events | `store`, `aggregate_type` |
//! | [`cim_events_append_duration_seconds`](APPEND_DURATION) | histogram | seconds | `store`, `outcome` |
//! | [`cim_events_append_refusals_total`](APPEND_REFUSALS) | counter | publishes | `store` |
//! | [`cim_events_append_retries_total`](APPEND_RETRIES) | counter | retries | `store`, `reason` |
//! | [`cim_events_append_unknown_outcomes_total`](APPEND_UNKNOWN_OUTCOMES) | counter | publishes | `store` |
//! | [`cim_events_read_events`](READ_EVENTS) | histogram | events | `store`, `operation` |
//! | [`cim_events_read_duration_seconds`](READ_DURATION) | histogram | seconds | `store`, `operation` |
//! | [`cim_events_stepped_over_total`](STEPPED_OVER) | counter | messages | `operation` |
//! | [`cim_events_chain_faults_total`](CHAIN_FAULTS) | counter | faults | `store` |
//! | [`cim_events_commands_total`](COMMANDS) | counter | commands | `aggregate_type`, `outcome` |
//! | [`cim_events_command_duration_seconds`](COMMAND_DURATION) | histogram | seconds | `aggregate_type`, `outcome` |
//! | [`cim_events_command_retries_total`](COMMAND_RETRIES) | counter | retries | `aggregate_type` |
//! | [`cim_events_cache_lookups_total`](CACHE_LOOKUPS) | counter | lookups | `aggregate_type`, `result` |
//! | [`cim_events_repository_loads_total`](REPOSITORY_LOADS) | counter | loads | `aggregate_type`, `source` |
//! | [`cim_events_replayed_events`](REPLAYED_EVENTS) | histogram | events | `aggregate_type` |
//! | [`cim_events_nats_connects_total`](NATS_CONNECTS) | counter (absolute) | connections | — |
//! | [`cim_events_projection_events_total`](PROJECTION_EVENTS) | counter | events | `projection`, `outcome` |
//! | [`cim_events_projection_lag`](PROJECTION_LAG) | gauge | messages | `projection` |
//!
//! # Trace context
//!
//! [`EventHeader::with_traceparent`](crate::EventHeader::with_traceparent) sets a W3C
//! `traceparent` (validated: [`TraceparentError`](crate::TraceparentError)); every event
//! of the append carries it as the `traceparent` message header — not in the block, so a
//! retry with another trace context stores the same CIDs. [`Repository::execute_with`](crate::Repository::execute_with)
//! passes the command header's trace context to its events, and
//! [`RecordedEvent::traceparent`](crate::RecordedEvent::traceparent) reads it back from
//! loads and subscriptions; [`EventHeader::caused_by`](crate::EventHeader::caused_by)
//! continues it in reactions.
//!
//! ```
//! use cim_events::{Event, EventHeader, EventStore, MemoryEventStore};
//! # #[derive(serde::Serialize, serde::Deserialize)]
//! # struct Noted { id: String }
//! # impl Event for Noted {
//! #     fn event_type(&self) -> &str { "Noted" }
//! #     fn aggregate_id(&self) -> &str { &self.id }
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let header = EventHeader::default().with_traceparent(trace)?;
//! store.append_event_with_header("nb-1", Noted { id: "nb-1".into() }, header, None).await?;
//! assert_eq!(store.load("nb-1").await?[0].traceparent(), Some(trace));
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

pub(crate) mod append;
mod names;
pub(crate) mod projection;
pub(crate) mod read;
pub(crate) mod repository;

pub use names::*;
pub use projection::record_projection_lag;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Gives the installed `metrics` recorder the unit and description of every metric this
/// crate records. Optional; call it once after installing the recorder.
pub fn describe() {
    describe_counter!(APPENDS, Unit::Count, "appends, by outcome");
    describe_counter!(APPENDED_EVENTS, Unit::Count, "events stored by appends");
    describe_histogram!(APPEND_DURATION, Unit::Seconds, "append latency");
    describe_counter!(
        APPEND_REFUSALS,
        Unit::Count,
        "publishes refused by the store's check"
    );
    describe_counter!(
        APPEND_RETRIES,
        Unit::Count,
        "appends sealed and published again"
    );
    describe_counter!(
        APPEND_UNKNOWN_OUTCOMES,
        Unit::Count,
        "publishes with an unknown outcome"
    );
    describe_histogram!(READ_EVENTS, Unit::Count, "events per load or verification");
    describe_histogram!(
        READ_DURATION,
        Unit::Seconds,
        "load and verification latency"
    );
    describe_counter!(
        STEPPED_OVER,
        Unit::Count,
        "messages stepped over: not part of the chain"
    );
    describe_counter!(
        CHAIN_FAULTS,
        Unit::Count,
        "faults found by chain verification"
    );
    describe_counter!(COMMANDS, Unit::Count, "repository commands, by outcome");
    describe_histogram!(COMMAND_DURATION, Unit::Seconds, "command latency");
    describe_counter!(
        COMMAND_RETRIES,
        Unit::Count,
        "commands handled again after a conflict"
    );
    describe_counter!(
        CACHE_LOOKUPS,
        Unit::Count,
        "state-cache lookups, hit or miss"
    );
    describe_counter!(REPOSITORY_LOADS, Unit::Count, "repository loads, by source");
    describe_histogram!(
        REPLAYED_EVENTS,
        Unit::Count,
        "events replayed per repository load"
    );
    describe_counter!(
        NATS_CONNECTS,
        Unit::Count,
        "NATS connections made (reconnects above 1)"
    );
    describe_counter!(
        PROJECTION_EVENTS,
        Unit::Count,
        "events offered to projections"
    );
    describe_gauge!(
        PROJECTION_LAG,
        Unit::Count,
        "messages a projection is behind"
    );
}
