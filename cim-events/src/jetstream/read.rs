//! Reads: the tail of an aggregate (its head and last message), and the list of
//! aggregates. Reading an aggregate's messages is [`reader`](super::reader).
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
//! (the index finds the first event); reads that resume after a known head
//! ([`read_raw_after`](crate::EventStore::read_raw_after), a snapshot, the repository's
//! cache) start at that head's sequence instead of the first event.

use std::sync::Arc;

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use cid::Cid;
use futures::StreamExt;

use crate::block::{EventBlock, cid_of};
use crate::chain::{Follower, Step, claimed_cid, header_faults};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::record::RawRecord;
use crate::subject::{TokenKind, aggregate_filter, validate_token};
use crate::tail::Tail;

use super::direct::{self, stored_headers};
use super::errors::{api_code, backend, is_stream_not_found};
use super::store::Inner;

impl Inner {
    /// The aggregate's tail. Without `fresh`, the one this handle cached when it last
    /// wrote or read the aggregate, if any. Otherwise its last message, from the leader
    /// with `fresh` on a replicated stream: when that message is an event of the
    /// aggregate whose headers agree with its block, it is the head; anything else (a
    /// foreign writer's message) makes the tail come from following the whole chain.
    #[tracing::instrument(level = "debug", name = "cim_events.jetstream.tail", skip_all, fields(aggregate_id = aggregate_id, fresh = fresh))]
    pub(crate) async fn tail(self: &Arc<Self>, aggregate_id: &str, fresh: bool) -> Result<Tail> {
        if !fresh {
            if let Some(tail) = self.cached_tail(aggregate_id) {
                return Ok(tail);
            }
        }
        let tail = match self.last_record(aggregate_id, fresh).await? {
            None => Tail::default(),
            Some(last) => match head_of(&self.prefix, aggregate_id, &last) {
                Some(tail) => tail,
                None => self.follow(aggregate_id).await?,
            },
        };
        self.remember(aggregate_id, &tail);
        Ok(tail)
    }

    /// The tail by the chain rule, reading every message of the aggregate.
    async fn follow(self: &Arc<Self>, aggregate_id: &str) -> Result<Tail> {
        let mut messages = self.read_messages(aggregate_id, 0).await?;
        let mut chain = Follower::new(aggregate_id, None);
        while let Some(message) = messages.next().await {
            if let Step::Stepped(fault) = chain.step(message?) {
                tracing::warn!(aggregate_id, %fault, "message stepped over: not part of the chain");
            }
        }
        Ok(chain.tail().map_err(Error::BrokenChain)?.clone())
    }

    /// The stream sequence of the aggregate's last message, from the leader.
    pub(crate) async fn last_message_sequence(&self, aggregate_id: &str) -> Result<Option<u64>> {
        Ok(self
            .last_record(aggregate_id, true)
            .await?
            .map(|record| record.sequence))
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

/// The tail that `last` makes when it is an event of `aggregate_id` that hashes to the
/// CID its headers claim and whose headers agree with its block; `None` otherwise.
fn head_of(prefix: &str, aggregate_id: &str, last: &RawRecord) -> Option<Tail> {
    let block = EventBlock::decode(&last.data).ok()?;
    let actual = cid_of(&last.data);
    if block.aggregate_id != aggregate_id
        || claimed_cid(last).and_then(|c| c.parse::<Cid>().ok()) != Some(actual)
        || !header_faults(prefix, last, &block, actual).is_empty()
    {
        return None;
    }
    let head = Head {
        version: block.seq,
        cid: actual,
        sequence: last.sequence,
    };
    Some(Tail::at(head, block.aggregate_type))
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
