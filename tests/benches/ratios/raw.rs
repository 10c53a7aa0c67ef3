//! The raw async-nats reference: what the store puts on the wire, done by hand with nothing
//! in between. Appends publish blocks sealed ahead of time (so no encoding or hashing is
//! timed) with the headers an append sends, one publish + ack per event; reads use an
//! ordered consumer or batch Direct Get and only count what comes back.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, stream::Stream};
use bytes::Bytes;
use cim_events::test_util::{prepare, seal};
use cim_events::{Event, EventHeader};
use futures::StreamExt;

/// Expected-sequence headers, as `cim-events/src/jetstream/append.rs` sends them.
const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
const EXPECTED_STREAM: &str = "Nats-Expected-Stream";

/// One event ready to publish: its subject, its block's bytes and the `Nats-Msg-Id` and
/// `Cim-*` headers of an append (the expected-sequence headers are added when it is sent).
pub struct Message {
    subject: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Message {
    /// The size of the body, in bytes.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

/// Seals `events` as the chain of aggregate `id` from its first event, exactly as the
/// store would (same blocks, CIDs and headers), ahead of the timed part.
pub fn sealed<E: Event>(prefix: &str, id: &str, events: &[E]) -> Vec<Message> {
    let prepared = prepare(id, events, &EventHeader::default()).expect("prepare");
    seal(prefix, id, None, &prepared)
        .expect("seal")
        .into_iter()
        .map(|event| {
            let mut headers = HeaderMap::new();
            for (name, value) in event.headers() {
                headers.insert(name, value.as_str());
            }
            Message {
                subject: event.subject,
                headers,
                body: event.bytes,
            }
        })
        .collect()
}

/// One writer of one aggregate: publishes each message expecting the stream sequence of
/// the previous ack (0 before the first), scoped to the aggregate's subjects, as the store
/// does — but without reading the head, because it knows it.
pub struct Writer {
    context: jetstream::Context,
    stream: String,
    filter: String,
    last: u64,
}

impl Writer {
    /// A writer of the new aggregate `id` under `prefix` in `stream`.
    pub fn new(context: &jetstream::Context, stream: &str, prefix: &str, id: &str) -> Self {
        Writer {
            context: context.clone(),
            stream: stream.to_owned(),
            filter: format!("{prefix}.{id}.*"),
            last: 0,
        }
    }

    /// Publishes `message` after the previous one and waits for the server's ack.
    pub async fn append(&mut self, message: Message) {
        let Message {
            subject,
            mut headers,
            body,
        } = message;
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE,
            self.last.to_string().as_str(),
        );
        headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, self.filter.as_str());
        headers.insert(EXPECTED_STREAM, self.stream.as_str());
        let ack = self
            .context
            .publish_with_headers(subject, headers, body)
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert!(!ack.duplicate, "every message has its own Nats-Msg-Id");
        self.last = ack.sequence;
    }
}

/// Reads the `count` messages matching `filter` with an ordered consumer (create, read,
/// delete), returning how many arrived.
pub async fn ordered(stream: &Stream, filter: &str, count: usize) -> usize {
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: filter.to_owned(),
            ..OrderedConfig::default()
        })
        .await
        .expect("create consumer");
    let name = consumer.cached_info().name.clone();
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = 0;
    while got < count {
        let message = messages.next().await.expect("more messages");
        message.expect("message");
        got += 1;
    }
    drop(messages);
    stream
        .delete_consumer(&name)
        .await
        .expect("delete consumer");
    got
}

/// Reads the `count` messages matching `filter` with batch Direct Gets of at most 1000
/// (ADR-31), each starting after the last message received, returning how many arrived.
pub async fn direct(
    context: &jetstream::Context,
    stream: &str,
    filter: &str,
    count: usize,
) -> usize {
    let client = context.client();
    let mut got = 0;
    let mut from = 0u64;
    while got < count {
        let inbox = client.new_inbox();
        let mut replies = client.subscribe(inbox.clone()).await.expect("subscribe");
        let request = format!(
            r#"{{"seq":{from},"next_by_subj":"{filter}","batch":{}}}"#,
            (count - got).min(1000)
        );
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{stream}"),
                inbox,
                Bytes::from(request),
            )
            .await
            .expect("direct get");
        let before = got;
        while let Some(reply) = replies.next().await {
            if reply
                .status
                .is_some_and(|s| s.as_u16() == 204 || s.as_u16() == 404)
            {
                break;
            }
            let sequence = reply
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Sequence"))
                .and_then(|v| v.as_str().parse::<u64>().ok())
                .expect("Nats-Sequence");
            from = sequence + 1;
            got += 1;
        }
        assert!(got > before, "a Direct Get page came back empty");
    }
    got
}
