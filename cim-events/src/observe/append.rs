//! Observing the shared append pipeline ([`crate::append`]): its span and metrics.

use std::time::Instant;

use metrics::{counter, histogram};
use tracing::Instrument;
use tracing::field::{Empty, display};

use crate::error::{Error, Result};
use crate::expected::ExpectedVersion;
use crate::metadata::EventMetadata;
use crate::prepared::PreparedAppend;
use crate::store::EventStore;

use super::names::{
    APPEND_DURATION, APPEND_REFUSALS, APPEND_RETRIES, APPEND_UNKNOWN_OUTCOMES, APPENDED_EVENTS,
    APPENDS,
};

/// Runs the append pipeline in a `cim_events.append` span and records its metrics.
pub(crate) async fn append<S: EventStore + ?Sized>(
    store: &S,
    prepared: &PreparedAppend,
    expected: ExpectedVersion,
) -> Result<Vec<EventMetadata>> {
    let kind = store.store_kind();
    let span = tracing::debug_span!(
        "cim_events.append",
        store = kind,
        aggregate_type = prepared.aggregate_type(),
        aggregate_id = prepared.aggregate_id(),
        events = prepared.len(),
        expected = %expected,
        attempts = 1_u32,
        version = Empty,
        cid = Empty,
        outcome = Empty,
    );
    let started = Instant::now();
    let result = crate::append::append(store, prepared, expected)
        .instrument(span.clone())
        .await;
    let outcome = outcome(&result);
    span.record("outcome", outcome);
    let aggregate_type = prepared.aggregate_type().to_owned();
    if let Ok(stored) = &result {
        if let Some(last) = stored.last() {
            span.record("version", last.version);
            span.record("cid", display(last.cid));
        }
        let events = u64::try_from(stored.len()).unwrap_or(u64::MAX);
        counter!(APPENDED_EVENTS, "store" => kind, "aggregate_type" => aggregate_type.clone())
            .increment(events);
    }
    counter!(APPENDS, "store" => kind, "aggregate_type" => aggregate_type, "outcome" => outcome)
        .increment(1);
    histogram!(APPEND_DURATION, "store" => kind, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    result
}

/// How an append ended, as the `outcome` label says it.
fn outcome<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "stored",
        Err(Error::Conflict(_)) => "conflict",
        Err(e) if e.is_transient() => "unknown",
        Err(_) => "error",
    }
}

/// The store refused a publish: something was stored after its tail.
pub(crate) fn refused(store: &'static str) {
    counter!(APPEND_REFUSALS, "store" => store).increment(1);
}

/// The pipeline seals and publishes again, for `reason` (`conflict` or `transient`);
/// `retries` so far, this one included.
pub(crate) fn retry(store: &'static str, reason: &'static str, retries: u32) {
    counter!(APPEND_RETRIES, "store" => store, "reason" => reason).increment(1);
    tracing::Span::current().record("attempts", retries.saturating_add(1));
    tracing::debug!(reason, retries, "append retried");
}

/// A publish failed after the request went out: the outcome is unknown until the tail
/// is read.
pub(crate) fn unknown_outcome(store: &'static str, error: &Error) {
    counter!(APPEND_UNKNOWN_OUTCOMES, "store" => store).increment(1);
    tracing::debug!(%error, "append outcome unknown; reading the tail to find out");
}
