//! Reads: the head of an aggregate, its events from a version, and the list of
//! aggregates.
//!
//! Where a filtered read spends its time (nats-server 2.15 file store; figures in
//! BENCHMARKS.md): the server keeps a per-subject index (first and last block of each
//! subject) and per-block subject state, so a read filtered on `{prefix}.{id}.*` jumps
//! straight to the aggregate's first message and skips blocks that hold none of its
//! messages — the size of the stream does not matter (loading 10 events costs the same
//! 0.8 ms with 1k or 200k other events). Inside a block whose messages are loaded, though,
//! it finds the next match by walking the messages one by one from the previous match
//! (`firstMatching`), at about 0.2 µs per message walked. An aggregate whose events are
//! interleaved with others' therefore costs its own events plus the other messages that
//! lie between them in the same 8 MB block: bounded per event by one block, not by the
//! stream. No request shape avoids that walk (a start sequence only moves its start), so
//! a load asks for the whole aggregate in as few requests as possible, from sequence 0
//! (the index finds the first event), and stops at the head's sequence; reads that
//! resume after a known head ([`read_raw_after`](super::JetStreamEventStore::read_raw_after))
//! start at that head's sequence instead of the first event.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::head::Head;
use crate::record::RawRecord;
use crate::subject::{TokenKind, aggregate_filter, validate_token};

use super::direct::{self, stored_headers};
use super::errors::{api_code, backend, is_stream_not_found};
use super::store::Inner;

/// The most messages asked for in one batch Direct Get.
const DIRECT_BATCH: u64 = 1000;
/// How many times a read waits for a lagging replica before giving up.
const LAGGING_REPLICA_RETRIES: u32 = 50;

impl Inner {
    /// The aggregate's head from any replica: exact on R1, possibly a little behind on a
    /// replicated stream right after a write.
    pub(crate) async fn quick_head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        self.last_record(aggregate_id, false)
            .await?
            .map(|record| record.head_from_headers())
            .transpose()
    }

    /// The aggregate's head as the stream leader sees it: never behind a write that was
    /// acknowledged.
    pub(crate) async fn fresh_head(&self, aggregate_id: &str) -> Result<Option<Head>> {
        self.last_record(aggregate_id, true)
            .await?
            .map(|record| record.head_from_headers())
            .transpose()
    }

    /// The newest message on the aggregate's subjects, whatever it holds. With `fresh`
    /// on a replicated stream it comes from the leader; otherwise (and always on R1,
    /// where the one replica is the leader) from Direct Get.
    async fn last_record(&self, aggregate_id: &str, fresh: bool) -> Result<Option<RawRecord>> {
        let filter = aggregate_filter(&self.prefix, aggregate_id);
        let result = if fresh && self.settings.replicas > 1 {
            self.leader_last(&filter).await
        } else {
            let client = self.context.client();
            direct::last(
                &client,
                &self.stream_name,
                &filter,
                self.settings.request_timeout,
            )
            .await
        };
        match result {
            Err(e) if e.is_transient() => Err(self.explain(e).await),
            other => other,
        }
    }

    /// The newest message matching `filter`, from the stream leader.
    async fn leader_last(&self, filter: &str) -> Result<Option<RawRecord>> {
        match self
            .stream
            .raw_message_builder()
            .last_by_subject(filter)
            .send()
            .await
        {
            Ok(message) => Ok(Some(RawRecord {
                sequence: message.sequence,
                subject: message.subject.to_string(),
                headers: stored_headers(&message.headers, &[]),
                data: message.payload,
            })),
            Err(e) => match e.kind() {
                LastRawMessageErrorKind::NoMessageFound => Ok(None),
                LastRawMessageErrorKind::JetStream(api) => Err(backend(
                    "head",
                    &e,
                    !is_stream_not_found(Some(api.error_code().0)),
                )),
                _ => Err(backend("head", &e, api_code(&e).is_none())),
            },
        }
    }

    /// A transient-looking failure (no responders, timeout) may be a deleted stream:
    /// ask the server, and make it permanent if so.
    pub(crate) async fn explain(&self, error: Error) -> Error {
        match self.stream.get_info().await {
            Err(e) if is_stream_not_found(api_code(&e)) => backend(
                "open stream",
                format!("stream `{}` no longer exists", self.stream_name),
                false,
            ),
            _ => error,
        }
    }

    /// The aggregate's stored messages with version `from_version` or later.
    pub(crate) async fn read(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RawRecord>> {
        let Some(last) = self.last_record(aggregate_id, true).await? else {
            return Ok(Vec::new());
        };
        // The newest message may not be an event at all (a foreign writer): then its
        // version is unknown, the read goes up to it anyway, and decoding reports it.
        let version = last.head_from_headers().ok().map(|h| h.version);
        if version.is_some_and(|v| from_version > v) {
            return Ok(Vec::new());
        }
        let filter = aggregate_filter(&self.prefix, aggregate_id);
        let records = match version {
            Some(v) if v <= self.settings.direct_read_limit => {
                self.read_direct(&filter, 0, last.sequence).await?
            }
            _ => self.read_ordered(&filter, None, last.sequence).await?,
        };
        // A record whose headers do not parse is kept: decoding reports it by sequence.
        Ok(records
            .into_iter()
            .filter(|r| {
                r.head_from_headers()
                    .map_or(true, |h| h.version >= from_version)
            })
            .collect())
    }

    /// The aggregate's stored messages after `after`, read from its stream sequence on.
    pub(crate) async fn read_after(
        &self,
        aggregate_id: &str,
        after: &Head,
    ) -> Result<Vec<RawRecord>> {
        let Some(head) = self.fresh_head(aggregate_id).await? else {
            return Ok(Vec::new());
        };
        if head.sequence <= after.sequence {
            return Ok(Vec::new());
        }
        let filter = aggregate_filter(&self.prefix, aggregate_id);
        let from = after.sequence + 1;
        if head.version.saturating_sub(after.version) <= self.settings.direct_read_limit {
            self.read_direct(&filter, from, head.sequence).await
        } else {
            self.read_ordered(&filter, Some(from), head.sequence).await
        }
    }

    /// Batch Direct Gets from `from` (0: the first match) up to and including stream
    /// sequence `up_to`, which must be a stored message matching `filter`. A replica that
    /// has not yet applied `up_to` is asked again until it has.
    pub(crate) async fn read_direct(
        &self,
        filter: &str,
        from: u64,
        up_to: u64,
    ) -> Result<Vec<RawRecord>> {
        let client = self.context.client();
        let mut out = Vec::new();
        let mut next = from;
        let mut lagging = 0;
        loop {
            let records = direct::next_batch(
                &client,
                &self.stream_name,
                filter,
                next,
                DIRECT_BATCH,
                self.settings.request_timeout,
            )
            .await?;
            let progressed = !records.is_empty();
            for record in records {
                if record.sequence > up_to {
                    return Ok(out);
                }
                next = record.sequence + 1;
                out.push(record);
                if next > up_to {
                    return Ok(out);
                }
            }
            if !progressed {
                // The replica that answered is behind the head we read from the leader.
                lagging += 1;
                if lagging > LAGGING_REPLICA_RETRIES {
                    return Err(backend(
                        "load",
                        format!("no replica served stream sequence {up_to} in time"),
                        true,
                    ));
                }
                tokio::time::sleep(Duration::from_millis(5 * u64::from(lagging))).await;
            }
        }
    }

    /// An ordered consumer from `from` (`None`: the first match) up to and including
    /// stream sequence `up_to`.
    pub(crate) async fn read_ordered(
        &self,
        filter: &str,
        from: Option<u64>,
        up_to: u64,
    ) -> Result<Vec<RawRecord>> {
        let config = OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy: from.map_or(DeliverPolicy::All, |start_sequence| {
                DeliverPolicy::ByStartSequence { start_sequence }
            }),
            ..OrderedConfig::default()
        };
        let consumer = self
            .stream
            .create_consumer(config)
            .await
            .map_err(|e| backend("load", &e, true))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| backend("load", &e, true))?;
        let mut out = Vec::new();
        loop {
            let message = tokio::time::timeout(self.settings.request_timeout, messages.next())
                .await
                .map_err(|_| backend("load", "timed out waiting for events", true))?
                .ok_or_else(|| backend("load", "consumer closed", true))?
                .map_err(|e| backend("load", &e, true))?;
            let record = consumer_record(&message)?;
            let done = record.sequence >= up_to;
            out.push(record);
            if done {
                return Ok(out);
            }
        }
    }

    /// Every aggregate id with at least one message under the prefix.
    pub(crate) async fn aggregate_ids(&self) -> Result<Vec<String>> {
        let mut subjects = self
            .stream
            .info_with_subjects(format!("{}.>", self.prefix))
            .await
            .map_err(|e| backend("list aggregates", &e, true))?;
        let mut ids = Vec::new();
        while let Some(entry) = subjects.next().await {
            let (subject, _count) = entry.map_err(|e| backend("list aggregates", &e, true))?;
            let id = subject
                .strip_prefix(self.prefix.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.split_once('.'))
                .map(|(id, _)| id);
            if let Some(id) = id.filter(|id| validate_token(TokenKind::AggregateId, id).is_ok()) {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

/// A message delivered by a consumer, as stored.
pub(crate) fn consumer_record(message: &async_nats::jetstream::Message) -> Result<RawRecord> {
    let sequence = message
        .info()
        .map(|info| info.stream_sequence)
        .map_err(|e| backend("read", e, false))?;
    Ok(RawRecord {
        sequence,
        subject: message.subject.to_string(),
        headers: message
            .headers
            .as_ref()
            .map(|h| stored_headers(h, &[]))
            .unwrap_or_default(),
        data: message.payload.clone(),
    })
}
