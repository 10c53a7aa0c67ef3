//! Reading one aggregate's messages as a stream, with no separate head read on R1: batch
//! Direct Gets while the aggregate is short — each answer ends with the count of matches
//! still pending, so the read knows when it is done — and, for a long aggregate, one
//! consumer for the rest ([`OrderedConsumer`]), deleted as soon as the read ends or is
//! dropped (and expiring by itself a few seconds later should the delete be lost).
//!
//! On a replicated stream Direct Get may answer from a replica that is behind the leader,
//! so there the read first asks the leader for the aggregate's last message and reads up
//! to it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use futures::TryStreamExt;

use crate::error::Result;
use crate::record::RawRecord;
use crate::store::RawStream;
use crate::subject::aggregate_filter;

use super::direct;
use super::errors::backend;
use super::ordered::OrderedConsumer;
use super::read::consumer_record;
use super::store::Inner;

/// The most messages asked for in one batch Direct Get.
const DIRECT_BATCH: u64 = 1000;
/// How many times a read waits for a lagging replica before giving up.
const LAGGING_REPLICA_RETRIES: u32 = 50;
/// Messages a consumer read hands on at a time.
const CHUNK: usize = 256;
/// Messages a consumer read pulls per request: the read knows they are there.
const READ_BATCH: usize = 1000;

impl Inner {
    /// Every message on `aggregate_id`'s subjects after stream sequence `after`.
    #[tracing::instrument(level = "debug", name = "cim_events.jetstream.read", skip_all, fields(aggregate_id = aggregate_id, after = after))]
    pub(crate) async fn read_messages(
        self: &Arc<Self>,
        aggregate_id: &str,
        after: u64,
    ) -> Result<RawStream> {
        let up_to = if self.settings.replicas > 1 {
            match self.last_message_sequence(aggregate_id).await? {
                Some(last) if last > after => Some(last),
                _ => return Ok(Box::pin(futures::stream::empty())),
            }
        } else {
            None
        };
        let reader = Reader {
            inner: Arc::clone(self),
            filter: aggregate_filter(&self.prefix, aggregate_id),
            next: after + 1,
            up_to,
            phase: Phase::Direct { lagging: 0 },
        };
        let chunks = futures::stream::try_unfold(reader, |mut reader| async move {
            Ok::<_, crate::Error>(reader.next_chunk().await?.map(|chunk| (chunk, reader)))
        });
        Ok(Box::pin(
            chunks
                .map_ok(|chunk| futures::stream::iter(chunk.into_iter().map(Ok)))
                .try_flatten(),
        ))
    }
}

/// A read in progress.
struct Reader {
    inner: Arc<Inner>,
    filter: String,
    /// The next stream sequence to read from.
    next: u64,
    /// The last sequence to read (replicated streams), else until nothing is pending.
    up_to: Option<u64>,
    phase: Phase,
}

enum Phase {
    Direct {
        lagging: u32,
    },
    /// The rest of a long aggregate, through a consumer deleted when the read ends.
    Consumer(Box<OrderedConsumer>),
    Done,
}

impl Reader {
    /// The next messages, `None` when the read is complete.
    #[tracing::instrument(level = "trace", name = "cim_events.jetstream.read_chunk", skip_all, fields(filter = %self.filter, next = self.next))]
    async fn next_chunk(&mut self) -> Result<Option<Vec<RawRecord>>> {
        loop {
            match &mut self.phase {
                Phase::Done => return Ok(None),
                Phase::Direct { lagging } => {
                    let batch = direct::next_batch(
                        &self.inner.context.client(),
                        &self.inner.stream_name,
                        &self.filter,
                        // 1 is the first sequence: let the subject index find the first match.
                        if self.next > 1 { self.next } else { 0 },
                        DIRECT_BATCH.min(self.inner.settings.direct_read_limit.max(1)),
                        self.inner.settings.request_timeout,
                    )
                    .await;
                    let batch = match batch {
                        Ok(batch) => batch,
                        // No responders may mean a deleted stream: make that permanent.
                        Err(e) if e.is_transient() => return Err(self.inner.explain(e).await),
                        Err(e) => return Err(e),
                    };
                    let mut records = batch.records;
                    if let Some(up_to) = self.up_to {
                        records.retain(|r| r.sequence <= up_to);
                    }
                    if let Some(last) = records.last() {
                        self.next = last.sequence + 1;
                    }
                    let pending = batch.pending;
                    let done = match self.up_to {
                        Some(up_to) => self.next > up_to,
                        None => pending == Some(0) || records.is_empty(),
                    };
                    if done {
                        self.phase = Phase::Done;
                    } else if records.is_empty() {
                        // A replica behind the leader's last message: ask again.
                        *lagging += 1;
                        if *lagging > LAGGING_REPLICA_RETRIES {
                            return Err(backend(
                                "load",
                                format!("no replica served stream sequence {} in time", self.next),
                                true,
                            ));
                        }
                        tokio::time::sleep(Duration::from_millis(5 * u64::from(*lagging))).await;
                        continue;
                    } else if pending.is_some_and(|p| p > self.inner.settings.direct_read_limit) {
                        let consumer = OrderedConsumer::start(
                            self.inner.context.clone(),
                            &self.inner.stream_name,
                            std::slice::from_ref(&self.filter),
                            DeliverPolicy::ByStartSequence {
                                start_sequence: self.next,
                            },
                            READ_BATCH,
                        )
                        .await?;
                        self.phase = Phase::Consumer(Box::new(consumer));
                    }
                    if !records.is_empty() {
                        return Ok(Some(records));
                    }
                }
                Phase::Consumer(consumer) => {
                    let mut chunk = Vec::new();
                    while chunk.len() < CHUNK {
                        let message = tokio::time::timeout(
                            self.inner.settings.request_timeout,
                            consumer.next(),
                        )
                        .await
                        .map_err(|_| backend("load", "timed out waiting for events", true))??;
                        let pending = message
                            .info()
                            .map(|info| info.pending)
                            .map_err(|e| backend("load", e, false))?;
                        let record = consumer_record(&message)?;
                        self.next = record.sequence + 1;
                        let done = match self.up_to {
                            Some(up_to) => record.sequence >= up_to,
                            None => pending == 0,
                        };
                        chunk.push(record);
                        if done {
                            // Dropping the read deletes its consumer.
                            self.phase = Phase::Done;
                            break;
                        }
                    }
                    return Ok(Some(chunk));
                }
            }
        }
    }
}
