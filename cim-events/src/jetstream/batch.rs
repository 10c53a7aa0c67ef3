//! Atomic multi-event appends with the ADR-50 batch headers, built by hand because
//! async-nats 0.51 has no batch API.
//!
//! Every message carries `Nats-Batch-Id` and its 1-based `Nats-Batch-Sequence`; the first
//! message of each aggregate also carries that aggregate's expected-sequence headers (a
//! batch may span aggregates: [`crate::AtomicAppend`]), and the last `Nats-Batch-Commit: 1`. The
//! server stages the messages and, on the commit, checks them all and stores them
//! consecutively, or stores none. Staged messages are sent without a reply subject (no
//! per-message round trip); only the commit waits for its acknowledgement. A lost staged
//! message makes the commit fail as an incomplete batch, so nothing is stored.

use crate::atomic::AtomicPart;

use super::append::event_headers;
use super::errors::{PublishFailure, backend, classify_publish};
use super::store::Inner;

/// Header: the batch id (at most 64 characters).
const BATCH_ID: &str = "Nats-Batch-Id";
/// Header: the message's 1-based position in the batch.
const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
/// Header: present on the last message, commits the batch.
const BATCH_COMMIT: &str = "Nats-Batch-Commit";

impl Inner {
    /// Publishes every part's events as one atomic batch, each part's first message
    /// carrying that aggregate's expected-sequence headers; returns the sequence of the
    /// last message.
    pub(crate) async fn publish_batch(
        &self,
        parts: &[AtomicPart<'_>],
    ) -> Result<u64, PublishFailure> {
        let batch_id = uuid::Uuid::now_v7().simple().to_string();
        let client = self.context.client();
        let count: usize = parts.iter().map(|part| part.events.len()).sum();
        // Each message with the part it belongs to, and whether it is that part's first.
        let mut messages = Vec::with_capacity(count);
        for part in parts {
            for (index, event) in part.events.iter().enumerate() {
                messages.push((part, index == 0, event));
            }
        }
        for (index, (part, first_of_part, event)) in messages.into_iter().enumerate() {
            let payload = event.bytes.clone();
            let mut headers = event_headers(event);
            headers.insert(BATCH_ID, batch_id.as_str());
            headers.insert(BATCH_SEQUENCE, (index + 1).to_string().as_str());
            if first_of_part {
                self.expect_headers(&mut headers, part.aggregate_id, part.after.last_sequence);
            }
            if index + 1 < count {
                // Not sent means not committed: nothing of the batch can be stored.
                client
                    .publish_with_headers(event.subject.clone(), headers, payload)
                    .await
                    .map_err(|e| PublishFailure::Retry(backend("append batch", e, true)))?;
                continue;
            }
            headers.insert(BATCH_COMMIT, "1");
            let ack = self
                .context
                .publish_with_headers(event.subject.clone(), headers, payload)
                .await
                .map_err(|e| classify_publish(&e))?
                .await
                .map_err(|e| classify_publish(&e))?;
            return Ok(ack.sequence);
        }
        Err(PublishFailure::Fatal(crate::Error::EmptyAppend))
    }
}
