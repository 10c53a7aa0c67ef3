//! One pass over a stream's stored messages, exactly as stored: an ephemeral pull
//! consumer without acknowledgements, read until the consumer has nothing pending, so the
//! pass ends at the stream's end as it was when the pass began (and not after). A gap in
//! the consumer's deliveries (a reconnect lost some) is an error, never a silent hole.

use std::time::Duration;

use cim_events::RawRecord;
use cim_events::jetstream::async_nats::{HeaderMap, jetstream};
use futures::StreamExt;
use jetstream::consumer::{AckPolicy, DeliverPolicy, pull};

use crate::output::Failure;

/// Messages per pull request: large, since the reader keeps up and round trips cost.
const BATCH: usize = 2_000;

/// A pass over the messages matching a filter.
pub struct Scan {
    /// How many messages the pass will read.
    pub total: u64,
    messages: Option<pull::Stream>,
    consumer_sequence: u64,
}

impl Scan {
    /// Starts a pass over `stream`'s messages matching `filter`, from `deliver`.
    pub async fn start(
        stream: &jetstream::stream::Stream,
        filter: &str,
        deliver: DeliverPolicy,
    ) -> Result<Scan, Failure> {
        let consumer = stream
            .create_consumer(pull::Config {
                filter_subject: filter.to_owned(),
                deliver_policy: deliver,
                ack_policy: AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                memory_storage: true,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| Failure::msg(format!("cannot read the stream: {e}")))?;
        let mut consumer = consumer;
        let total = consumer.info().await?.num_pending;
        let messages = if total == 0 {
            None
        } else {
            Some(
                consumer
                    .stream()
                    .max_messages_per_batch(BATCH)
                    .messages()
                    .await?,
            )
        };
        Ok(Scan {
            total,
            messages,
            consumer_sequence: 0,
        })
    }

    /// The next message, `None` once the pass has read every message pending at its start.
    pub async fn next(&mut self) -> Option<Result<RawRecord, Failure>> {
        let messages = self.messages.as_mut()?;
        let message = match messages.next().await? {
            Ok(message) => message,
            Err(e) => return Some(Err(Failure::from(e))),
        };
        let info = match message.info() {
            Ok(info) => (info.stream_sequence, info.consumer_sequence, info.pending),
            Err(e) => return Some(Err(Failure::msg(format!("a message without info: {e}")))),
        };
        let (sequence, consumer_sequence, pending) = info;
        if consumer_sequence != self.consumer_sequence + 1 {
            self.messages = None;
            return Some(Err(Failure::msg(format!(
                "deliveries were lost in transit (consumer sequence {consumer_sequence} after {}); run again",
                self.consumer_sequence
            ))));
        }
        self.consumer_sequence = consumer_sequence;
        if pending == 0 {
            // Dropping the stream ends the consumer's pulls; it expires by itself.
            self.messages = None;
        }
        Some(Ok(RawRecord {
            sequence,
            subject: message.subject.to_string(),
            // Unsorted: the verifier looks headers up by name, and sorting costs per message.
            headers: message
                .headers
                .as_ref()
                .map(unsorted_headers)
                .unwrap_or_default(),
            data: message.payload.clone(),
        }))
    }
}

/// Header pairs as the store reads them: every value, sorted.
pub fn headers(map: &HeaderMap) -> Vec<(String, String)> {
    let mut out = unsorted_headers(map);
    out.sort();
    out
}

/// Header pairs, every value, in the map's order.
fn unsorted_headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect()
}

/// The stored message at `sequence`, as stored (for the CID of a located fault).
pub async fn message_at(
    stream: &jetstream::stream::Stream,
    sequence: u64,
) -> Result<RawRecord, Failure> {
    let message = stream.get_raw_message(sequence).await?;
    Ok(RawRecord {
        sequence: message.sequence,
        subject: message.subject.to_string(),
        headers: headers(&message.headers),
        data: message.payload,
    })
}

/// The aggregate id in a subject `{prefix}.{id}.{event type}`, if it is one.
pub fn aggregate_of<'a>(prefix: &str, subject: &'a str) -> Option<&'a str> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let (id, event_type) = rest.split_once('.')?;
    (!id.is_empty() && !event_type.is_empty() && !event_type.contains('.')).then_some(id)
}
