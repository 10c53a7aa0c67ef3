//! The metric names, one documented constant each. The table in the
//! [module documentation](super) gives their types, units and labels.

/// Counter, appends: every append through the shared pipeline, by how it ended.
/// Labels `store`, `aggregate_type`, `outcome` (`stored`, `conflict`, `unknown`, `error`).
pub const APPENDS: &str = "cim_events_appends_total";
/// Counter, events: events stored by successful appends. Labels `store`, `aggregate_type`.
pub const APPENDED_EVENTS: &str = "cim_events_appended_events_total";
/// Histogram, seconds: how long an append took, retries included. Labels `store`, `outcome`.
pub const APPEND_DURATION: &str = "cim_events_append_duration_seconds";
/// Counter, publishes: publishes the store refused because something was stored on the
/// aggregate after the tail they were sealed on (a lost race or a stale cached head).
/// Label `store`.
pub const APPEND_REFUSALS: &str = "cim_events_append_refusals_total";
/// Counter, retries: times an append sealed and published again. Labels `store`,
/// `reason` (`conflict`: after a refusal; `transient`: after an unknown outcome).
pub const APPEND_RETRIES: &str = "cim_events_append_retries_total";
/// Counter, publishes: publishes that failed with a transient error after the request
/// went out, so that the pipeline had to read the tail to learn whether they landed.
/// Label `store`.
pub const APPEND_UNKNOWN_OUTCOMES: &str = "cim_events_append_unknown_outcomes_total";
/// Histogram, events: events returned by one `load`/`load_from`, or messages examined by
/// one `verify_chain`. Labels `store`, `operation` (`load`, `verify`).
pub const READ_EVENTS: &str = "cim_events_read_events";
/// Histogram, seconds: how long one `load`/`load_from` or `verify_chain` took. Labels
/// `store`, `operation` (`load`, `verify`).
pub const READ_DURATION: &str = "cim_events_read_duration_seconds";
/// Counter, messages: messages on an aggregate's subjects stepped over because they are
/// not part of its chain (see [`ChainReport`](crate::ChainReport)). Label `operation`
/// (`load`, `replay`).
pub const STEPPED_OVER: &str = "cim_events_stepped_over_total";
/// Counter, faults: faults found by `verify_chain`. Label `store`.
pub const CHAIN_FAULTS: &str = "cim_events_chain_faults_total";
/// Counter, commands: commands run by a [`Repository`](crate::Repository), by how they
/// ended. Labels `aggregate_type`, `outcome` (`ok`, `rejected`, `conflict`, `error`).
pub const COMMANDS: &str = "cim_events_commands_total";
/// Histogram, seconds: how long a command took, load and retries included. Labels
/// `aggregate_type`, `outcome`.
pub const COMMAND_DURATION: &str = "cim_events_command_duration_seconds";
/// Counter, retries: commands handled again after losing a race. Label `aggregate_type`.
pub const COMMAND_RETRIES: &str = "cim_events_command_retries_total";
/// Counter, lookups: state-cache lookups of a repository that has a cache. Labels
/// `aggregate_type`, `result` (`hit`, `miss`).
pub const CACHE_LOOKUPS: &str = "cim_events_cache_lookups_total";
/// Counter, loads: repository loads, by where the state came from. Labels
/// `aggregate_type`, `source` (`snapshot`: a snapshot and the events after it;
/// `replay`: every event).
pub const REPOSITORY_LOADS: &str = "cim_events_repository_loads_total";
/// Histogram, events: events replayed by one repository load. Label `aggregate_type`.
pub const REPLAYED_EVENTS: &str = "cim_events_replayed_events";
/// Counter (absolute), connections: how many times the NATS client has connected, as
/// async-nats counts it (`Client::statistics().connects`); anything above 1 is a
/// reconnect. Set when the JetStream store publishes and when it checks its stream.
pub const NATS_CONNECTS: &str = "cim_events_nats_connects_total";
/// Counter, events: events offered to a projection runner. Labels `projection`,
/// `outcome` (`applied`, `skipped`: already covered by the checkpoint).
pub const PROJECTION_EVENTS: &str = "cim_events_projection_events_total";
/// Gauge, messages: how far a projection is behind the stream. Label `projection`.
/// `ProjectionRunner`: the store's last stream sequence (sampled at most once a second)
/// minus the checkpoint's sequence, messages of other subjects included;
/// `JetStreamProjectionRunner`: the consumer's pending count (matching messages not yet
/// delivered); [`record_projection_lag`](super::record_projection_lag): on demand.
pub const PROJECTION_LAG: &str = "cim_events_projection_lag";
