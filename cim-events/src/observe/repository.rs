//! Observing the repository: commands, state-cache lookups and loads.

use std::time::Instant;

use metrics::{counter, histogram};
use tracing::Span;
use tracing::field::{Empty, display};

use crate::aggregate::Aggregate;
use crate::repository::{CommandError, CommandOutcome, Loaded, SnapshotUse};

use super::names::{
    CACHE_LOOKUPS, COMMAND_DURATION, COMMAND_RETRIES, COMMANDS, REPLAYED_EVENTS, REPOSITORY_LOADS,
};

/// The span of one command.
pub(crate) fn command_span(aggregate_type: &'static str, aggregate_id: &str) -> Span {
    tracing::debug_span!(
        "cim_events.command",
        aggregate_type,
        aggregate_id,
        cache = Empty,
        attempts = Empty,
        version = Empty,
        cid = Empty,
        outcome = Empty,
    )
}

/// Records how a command that started at `started` ended, into `span` and the metrics.
pub(crate) fn commanded<A: Aggregate>(
    span: &Span,
    started: Instant,
    result: &Result<CommandOutcome<A>, CommandError<A::Error>>,
) {
    let outcome = match result {
        Ok(done) => {
            span.record("attempts", done.attempts);
            span.record("version", done.version);
            if let Some(head) = done.head {
                span.record("cid", display(head.cid));
            }
            "ok"
        }
        Err(CommandError::Rejected(_)) => "rejected",
        Err(CommandError::Conflict { attempts, .. }) => {
            span.record("attempts", *attempts);
            "conflict"
        }
        Err(_) => "error",
    };
    span.record("outcome", outcome);
    let aggregate_type = A::AGGREGATE_TYPE;
    counter!(COMMANDS, "aggregate_type" => aggregate_type, "outcome" => outcome).increment(1);
    histogram!(COMMAND_DURATION, "aggregate_type" => aggregate_type, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}

/// A repository with a state cache looked an aggregate up in it.
pub(crate) fn cache_lookup(aggregate_type: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    Span::current().record("cache", result);
    counter!(CACHE_LOOKUPS, "aggregate_type" => aggregate_type, "result" => result).increment(1);
}

/// A command lost a race and is handled again.
pub(crate) fn command_retry(aggregate_type: &'static str) {
    counter!(COMMAND_RETRIES, "aggregate_type" => aggregate_type).increment(1);
}

/// Records a repository load into its span (the current one) and the metrics, and
/// hands the loaded state on.
pub(crate) fn loaded<A: Aggregate>(loaded: Loaded<A>) -> Loaded<A> {
    let span = Span::current();
    span.record("version", loaded.version);
    span.record("replayed", loaded.replayed);
    if let Some(head) = loaded.head {
        span.record("cid", display(head.cid));
    }
    let (snapshot, source) = match loaded.snapshot {
        SnapshotUse::Used { .. } => ("used", "snapshot"),
        SnapshotUse::Ignored(_) => ("ignored", "replay"),
        SnapshotUse::Absent => ("absent", "replay"),
    };
    span.record("snapshot", snapshot);
    let aggregate_type = A::AGGREGATE_TYPE;
    counter!(REPOSITORY_LOADS, "aggregate_type" => aggregate_type, "source" => source).increment(1);
    // Precision loss only beyond 2^53 events.
    #[allow(clippy::cast_precision_loss)]
    histogram!(REPLAYED_EVENTS, "aggregate_type" => aggregate_type).record(loaded.replayed as f64);
    loaded
}
