//! Publishing sealed events: one event is one publish, several are one ADR-50 atomic batch
//! ([`batch`](super::batch)). Every publish carries the server's concurrency check:
//! `Nats-Expected-Last-Subject-Sequence` (the stream sequence of the aggregate's last
//! message, 0 for a new aggregate) scoped to `{prefix}.{id}.*`, so of two racing writers
//! exactly one is stored and the other is refused (10071, or 10164 on clustered streams).
//!
//! Each failure is classified for the shared append pipeline ([`crate::EventStore::append_prepared`]):
//! refused, outcome unknown (a transient error: the pipeline reads the tail to find out),
//! or permanent. A successful publish caches the aggregate's new tail, so that the next
//! append to it costs one request; any failure forgets it.

use async_nats::HeaderMap;

use crate::atomic::AtomicPart;
use crate::error::Result;
use crate::head::Head;
use crate::seal::SealedEvent;
use crate::store::Published;
use crate::subject::aggregate_filter;
use crate::tail::Tail;

use super::errors::{PublishFailure, classify_publish};
use super::store::Inner;

/// Header: the stream sequence of the last message on the subject filter below.
pub(crate) const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// Header: the subject filter the expected sequence applies to (server ≥ 2.11).
pub(crate) const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str =
    "Nats-Expected-Last-Subject-Sequence-Subject";
/// Header: the stream that must store the message.
pub(crate) const EXPECTED_STREAM: &str = "Nats-Expected-Stream";

impl Inner {
    /// Stores every part's events after its tail, all or none, if nothing was stored on
    /// any part's aggregate subjects since its `after.last_sequence`.
    #[tracing::instrument(level = "debug", name = "cim_events.jetstream.publish", skip_all, fields(
        aggregate_id = %parts.iter().map(|p| p.aggregate_id).collect::<Vec<_>>().join(" "),
        events = parts.iter().map(|p| p.events.len()).sum::<usize>(),
        after_sequence = %parts.iter().map(|p| p.after.last_sequence.to_string()).collect::<Vec<_>>().join(" "),
    ))]
    pub(crate) async fn publish(&self, parts: &[AtomicPart<'_>]) -> Result<Published> {
        super::observe::connects(&self.context.client());
        if parts
            .iter()
            .any(|part| self.behind_known_head(part.aggregate_id, part.after))
        {
            return Ok(Published::Refused);
        }
        let published = match parts {
            [part] if part.events.len() == 1 => {
                self.publish_one(part.aggregate_id, &part.events[0], part.after.last_sequence)
                    .await
            }
            _ => self.publish_batch(parts).await,
        };
        match published {
            Ok(last_sequence) => {
                let count: usize = parts.iter().map(|part| part.events.len()).sum();
                let mut sequence = last_sequence.saturating_sub(count as u64);
                for part in parts {
                    sequence += part.events.len() as u64;
                    if let Some(last) = part.events.last() {
                        let head = Head {
                            version: last.block.seq,
                            cid: last.cid,
                            sequence,
                        };
                        self.remember(
                            part.aggregate_id,
                            &Tail::at(head, &last.block.aggregate_type),
                        );
                        if let Some(anchors) = &self.anchors {
                            anchors.enqueue(part.aggregate_id, head);
                        }
                    }
                }
                Ok(Published::Stored { last_sequence })
            }
            Err(failure) => {
                for part in parts {
                    self.forget(part.aggregate_id);
                }
                match failure {
                    PublishFailure::Conflict => Ok(Published::Refused),
                    PublishFailure::Unknown(error) | PublishFailure::Fatal(error) => Err(error),
                    // Nothing stored, but a transient-looking failure may be a deleted
                    // stream: make that permanent.
                    PublishFailure::Retry(error) => Err(self.explain(error).await),
                }
            }
        }
    }

    /// Publishes one event with the expected-sequence headers; returns its sequence.
    async fn publish_one(
        &self,
        aggregate_id: &str,
        event: &SealedEvent,
        expected_sequence: u64,
    ) -> std::result::Result<u64, PublishFailure> {
        let mut headers = event_headers(event);
        self.expect_headers(&mut headers, aggregate_id, expected_sequence);
        let ack = self
            .context
            .publish_with_headers(event.subject.clone(), headers, event.bytes.clone())
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
}

/// The headers of a sealed event, as a NATS header map.
pub(crate) fn event_headers(event: &SealedEvent) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in event.headers() {
        headers.insert(name, value.as_str());
    }
    headers
}
