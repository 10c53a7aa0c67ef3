//! Appends: check the expectation against the head, seal after it, publish with the
//! server-side expected-sequence check, and resolve every failure into "stored exactly
//! once" or a typed error.
//!
//! - The head read before sealing is what the server checks: its stream sequence goes out
//!   as `Nats-Expected-Last-Subject-Sequence` (0 for a new aggregate) scoped to
//!   `{prefix}.{id}.*`, so a writer that lost a race is refused (10071, or 10164 on
//!   clustered streams) and nothing of its append is stored.
//! - `ExpectedVersion::Any` re-reads the head and re-seals after a lost race, a bounded
//!   number of times with jittered backoff; the other expectations report the conflict
//!   with the head the leader holds.
//! - A timeout or a lost connection leaves the outcome unknown. `Nats-Msg-Id` is the
//!   CID, so a resend is deduplicated, but the store first reads the chain: if the first
//!   sealed event is at its version, the append landed (and returns its metadata);
//!   otherwise nothing was stored and it is tried again, sealed on the head that read
//!   showed, so that a first attempt landing late is deduplicated, not stored twice.

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;

use crate::error::{ConflictError, Error, Result};
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::seal::{NewEvent, SealedEvent, check_append, check_sizes, seal};
use crate::subject::aggregate_filter;

use super::backoff;
use super::errors::{PublishFailure, backend, classify_publish};
use super::store::Inner;

/// Header: the stream sequence of the last message on the subject filter below.
pub(crate) const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// Header: the subject filter the expected sequence applies to (server ≥ 2.11).
pub(crate) const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str =
    "Nats-Expected-Last-Subject-Sequence-Subject";
/// Header: the stream that must store the message.
pub(crate) const EXPECTED_STREAM: &str = "Nats-Expected-Stream";

/// Backoff between attempts of `Any` after a lost race.
const CONFLICT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(50));
/// Backoff between attempts after a transient failure (covers a leader election).
const TRANSIENT_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

impl Inner {
    /// Appends `events` to `aggregate_id` atomically if its head satisfies `expected`.
    pub(crate) async fn append(
        &self,
        aggregate_id: &str,
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    ) -> Result<Vec<EventMetadata>> {
        check_append(aggregate_id, &events)?;
        let mut attempt = Attempts::default();
        let mut head = self
            .head_retrying(aggregate_id, false, &mut attempt)
            .await?;
        loop {
            if !expected.matches(head.as_ref()) && self.settings.replicas > 1 {
                // Direct Get may have come from a replica behind the leader.
                head = self.head_retrying(aggregate_id, true, &mut attempt).await?;
            }
            if !expected.matches(head.as_ref()) {
                return Err(conflict(aggregate_id, expected, head));
            }
            let mut sealed = seal(&self.prefix, aggregate_id, head.as_ref(), &events)?;
            check_sizes(&sealed, self.settings.max_event_size)?;
            // The bodies move into the messages instead of being copied; what stays in
            // `sealed` (blocks, CIDs, subjects) is what the metadata and the check after
            // an unknown outcome need. Each attempt seals afresh.
            let bodies: Vec<Bytes> = sealed
                .iter_mut()
                .map(|event| Bytes::from(std::mem::take(&mut event.bytes)))
                .collect();
            let expected_sequence = head.as_ref().map_or(0, |h| h.sequence);
            let published = if let ([event], [body]) = (&sealed[..], &bodies[..]) {
                self.publish_one(aggregate_id, event, body.clone(), expected_sequence)
                    .await
            } else {
                self.publish_batch(aggregate_id, &sealed, bodies, expected_sequence)
                    .await
            };
            match published {
                Ok(last_sequence) => return metadata(&sealed, last_sequence),
                Err(PublishFailure::Conflict) => {
                    let actual = self.head_retrying(aggregate_id, true, &mut attempt).await?;
                    if expected != ExpectedVersion::Any
                        || attempt.conflicts >= self.settings.any_retries
                    {
                        return Err(conflict(aggregate_id, expected, actual));
                    }
                    attempt.conflicts += 1;
                    backoff::sleep(attempt.conflicts, CONFLICT_BACKOFF.0, CONFLICT_BACKOFF.1).await;
                    head = actual;
                }
                Err(PublishFailure::Unknown(error)) => {
                    match self
                        .resolve_unknown(aggregate_id, &sealed, error, &mut attempt)
                        .await?
                    {
                        Landed::Stored(stored) => return Ok(stored),
                        // Sealed again on the head that showed the append missing, the
                        // events get the same CIDs: should the first attempt still land
                        // (a late write on a replicated stream), the resend is then
                        // deduplicated instead of appended a second time after it, or
                        // refused as a conflict although it was stored.
                        Landed::Missing(now) => head = now,
                    }
                }
                Err(PublishFailure::Retry(error)) => {
                    let error = self.explain(error).await;
                    if !error.is_transient() {
                        return Err(error);
                    }
                    self.transient_pause(error, &mut attempt).await?;
                    head = self.head_retrying(aggregate_id, true, &mut attempt).await?;
                }
                Err(PublishFailure::Fatal(error)) => return Err(error),
            }
        }
    }

    /// Publishes one event (`body`: its block's bytes) with the expected-sequence
    /// headers; returns its sequence.
    async fn publish_one(
        &self,
        aggregate_id: &str,
        event: &SealedEvent,
        body: Bytes,
        expected_sequence: u64,
    ) -> std::result::Result<u64, PublishFailure> {
        let mut headers = event_headers(event);
        self.expect_headers(&mut headers, aggregate_id, expected_sequence);
        let ack = self
            .context
            .publish_with_headers(event.subject.clone(), headers, body)
            .await
            .map_err(|e| classify_publish(&e))?
            .await
            .map_err(|e| classify_publish(&e))?;
        // A duplicate ack names the sequence of the copy already stored: same CID, so the
        // same event at the same place in the chain.
        Ok(ack.sequence)
    }

    /// Adds the expected-sequence and expected-stream headers.
    pub(crate) fn expect_headers(
        &self,
        headers: &mut HeaderMap,
        aggregate_id: &str,
        expected_sequence: u64,
    ) {
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected_sequence.to_string().as_str(),
        );
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT,
            aggregate_filter(&self.prefix, aggregate_id).as_str(),
        );
        headers.insert(EXPECTED_STREAM, self.stream_name.as_str());
    }

    /// After an unknown outcome, reads the chain until it is known whether `sealed`
    /// landed.
    async fn resolve_unknown(
        &self,
        aggregate_id: &str,
        sealed: &[SealedEvent],
        error: Error,
        attempt: &mut Attempts,
    ) -> Result<Landed> {
        let mut error = error;
        loop {
            self.transient_pause(error, attempt).await?;
            match self.landed(aggregate_id, sealed).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) if e.is_transient() => error = e,
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `sealed` is stored: its first event at its version in the chain.
    async fn landed(&self, aggregate_id: &str, sealed: &[SealedEvent]) -> Result<Landed> {
        let head = self.fresh_head(aggregate_id).await?;
        let (Some(first), Some(last), Some(current)) = (sealed.first(), sealed.last(), &head)
        else {
            return Ok(Landed::Missing(head));
        };
        if current.cid == last.cid {
            return metadata(sealed, current.sequence).map(Landed::Stored);
        }
        if current.version < first.block.seq {
            return Ok(Landed::Missing(head));
        }
        // Someone appended after us, or another event took our version: look.
        let records = self.read(aggregate_id, first.block.seq).await?;
        let sequence_of = |event: &SealedEvent| {
            let cid = event.cid.to_string();
            records
                .iter()
                .find(|r| r.header(crate::wire_headers::CIM_CID) == Some(cid.as_str()))
                .map(|r| r.sequence)
        };
        if sequence_of(first).is_none() {
            // Another append took the version: this one can no longer land.
            return Ok(Landed::Missing(head));
        }
        sealed
            .iter()
            .map(|event| {
                sequence_of(event)
                    .map(|sequence| event.metadata(sequence))
                    .ok_or_else(|| backend("append", "part of an atomic batch is missing", false))
            })
            .collect::<Result<Vec<_>>>()
            .map(Landed::Stored)
    }

    /// Reads the head (from the leader when `fresh`), retrying transient failures.
    async fn head_retrying(
        &self,
        aggregate_id: &str,
        fresh: bool,
        attempt: &mut Attempts,
    ) -> Result<Option<Head>> {
        loop {
            let head = if fresh {
                self.fresh_head(aggregate_id).await
            } else {
                self.quick_head(aggregate_id).await
            };
            match head {
                Err(e) if e.is_transient() => self.transient_pause(e, attempt).await?,
                other => return other,
            }
        }
    }

    /// Waits before the next attempt after a transient failure, or returns the failure
    /// once the retry budget is spent.
    async fn transient_pause(&self, error: Error, attempt: &mut Attempts) -> Result<()> {
        if attempt.transient >= self.settings.transient_retries {
            return Err(error);
        }
        attempt.transient += 1;
        backoff::sleep(attempt.transient, TRANSIENT_BACKOFF.0, TRANSIENT_BACKOFF.1).await;
        Ok(())
    }
}

/// What the chain shows after an unknown outcome.
#[derive(Debug)]
enum Landed {
    /// The append is stored, at these positions.
    Stored(Vec<EventMetadata>),
    /// Nothing of it is stored; the head as it was read.
    Missing(Option<Head>),
}

/// Retries spent by one append.
#[derive(Debug, Default)]
struct Attempts {
    conflicts: u32,
    transient: u32,
}

/// The headers of a sealed event, as a NATS header map.
pub(crate) fn event_headers(event: &SealedEvent) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in event.headers() {
        headers.insert(name, value.as_str());
    }
    headers
}

/// Metadata of sealed events stored consecutively, the last at `last_sequence` (as the
/// server acknowledged it: a sequence too small to hold them all is an error, not an
/// overflow).
fn metadata(sealed: &[SealedEvent], last_sequence: u64) -> Result<Vec<EventMetadata>> {
    let before_last = u64::try_from(sealed.len().saturating_sub(1)).unwrap_or(u64::MAX);
    let first = last_sequence
        .checked_sub(before_last)
        .filter(|&first| first > 0)
        .ok_or_else(|| {
            backend(
                "append",
                format!(
                    "the server acknowledged {} events ending at stream sequence {last_sequence}",
                    sealed.len()
                ),
                false,
            )
        })?;
    Ok(sealed
        .iter()
        .zip(first..)
        .map(|(event, sequence)| event.metadata(sequence))
        .collect())
}

fn conflict(aggregate_id: &str, expected: ExpectedVersion, actual: Option<Head>) -> Error {
    ConflictError {
        aggregate_id: aggregate_id.to_owned(),
        expected,
        actual,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::NewEvent;

    fn sealed(count: usize) -> Vec<SealedEvent> {
        let event = NewEvent {
            aggregate_type: "Account".into(),
            event_type: "Noted".into(),
            schema: 1,
            id: "0190b2a4-0000-7000-8000-000000000000".into(),
            time: 1,
            correlation_id: "c".into(),
            causation_id: None,
            meta: Default::default(),
            payload: ipld_core::ipld::Ipld::Null,
        };
        seal("events", "acc-1", None, &vec![event; count]).expect("seal")
    }

    #[test]
    fn metadata_counts_back_from_the_acknowledged_sequence() {
        let sequences: Vec<u64> = metadata(&sealed(3), 7)
            .expect("fits")
            .iter()
            .map(|m| m.sequence)
            .collect();
        assert_eq!(sequences, [5, 6, 7]);
    }

    /// An acknowledgement naming a sequence that cannot end the batch (a broken or
    /// hostile server) is an error, not an arithmetic overflow.
    #[test]
    fn an_impossible_acknowledged_sequence_is_an_error() {
        for (count, sequence) in [(3, 1), (3, 2), (1, 0)] {
            assert!(
                matches!(
                    metadata(&sealed(count), sequence),
                    Err(Error::Backend {
                        transient: false,
                        ..
                    })
                ),
                "{count} events ending at {sequence}"
            );
        }
    }
}
