//! Atomic multi-event appends with the ADR-50 batch headers, built by hand because
//! async-nats 0.51 has no batch API.
//!
//! Every message carries `Nats-Batch-Id` and its 1-based `Nats-Batch-Sequence`; the first
//! also carries the expected-sequence headers, and the last `Nats-Batch-Commit: 1`. The
//! server stages the messages and, on the commit, checks them all and stores them
//! consecutively, or stores none. Staged messages are sent without a reply subject (no
//! per-message round trip); only the commit waits for its acknowledgement. A lost staged
//! message makes the commit fail as an incomplete batch, so nothing is stored.

use crate::seal::SealedEvent;

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
    /// Publishes `sealed` as one atomic batch; returns the sequence of its last message.
    pub(crate) async fn publish_batch(
        &self,
        aggregate_id: &str,
        sealed: &[SealedEvent],
        expected_sequence: u64,
    ) -> Result<u64, PublishFailure> {
        let batch_id = uuid::Uuid::now_v7().simple().to_string();
        let client = self.context.client();
        let count = sealed.len();
        for (index, event) in sealed.iter().enumerate() {
            let payload = event.bytes.clone();
            let mut headers = event_headers(event);
            headers.insert(BATCH_ID, batch_id.as_str());
            headers.insert(BATCH_SEQUENCE, (index + 1).to_string().as_str());
            if index == 0 {
                self.expect_headers(&mut headers, aggregate_id, expected_sequence);
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
