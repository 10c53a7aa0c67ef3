//! Subscriptions: one ordered pull consumer per subscription, deleted when the
//! subscription is dropped (see [`ordered`](super::ordered)).
//!
//! An ordered consumer delivers the stream's messages matching its filters in stream order,
//! each once: it tracks the last stream sequence it handed out and, after any gap (a
//! dropped message, a reconnect, a restarted server), recreates itself from the next
//! one. History and live events come through the same consumer, so the switch from
//! catch-up to live has no gap and no duplicate. It pulls a new batch only when the
//! caller has read the previous one, so a slow reader holds the server back instead of
//! losing events.

use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;

use crate::error::Result;
use crate::record::RecordedEvent;
use crate::store::{EventStream, StartFrom};
use crate::subject::validate_subscriptions;

use super::ordered::OrderedConsumer;
use super::read::consumer_record;
use super::store::Inner;

/// Messages per pull request: small, so that a slow reader holds the server back rather
/// than buffering much.
const SUBSCRIPTION_BATCH: usize = 200;

impl Inner {
    /// Streams the events matching any of `filters` from `start`, then live, on one
    /// consumer (`filter_subjects` for several, see [`filters`](super::filters)).
    #[tracing::instrument(level = "debug", name = "cim_events.subscribe", skip_all, fields(store = "jetstream", filter = %filters.join(" "), start = ?start))]
    pub(crate) async fn subscribe(
        &self,
        filters: &[String],
        start: StartFrom,
    ) -> Result<EventStream> {
        let filters = validate_subscriptions(&self.prefix, filters)?;
        let deliver_policy = match start {
            StartFrom::Beginning | StartFrom::Version(_) => DeliverPolicy::All,
            StartFrom::Sequence(s) => DeliverPolicy::ByStartSequence {
                start_sequence: s.max(1),
            },
            StartFrom::Time(t) => DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from(t),
            },
            StartFrom::Now => DeliverPolicy::New,
        };
        let min_version = match start {
            StartFrom::Version(v) => v,
            _ => 0,
        };
        let consumer = OrderedConsumer::start(
            self.context.clone(),
            &self.stream_name,
            &filters,
            deliver_policy,
            SUBSCRIPTION_BATCH,
        )
        .await?;
        let messages = futures::stream::unfold(consumer, |mut consumer| async move {
            let message = consumer.next().await;
            Some((message, consumer))
        });
        let events = messages.filter_map(move |message| {
            let item = message
                .and_then(|message| consumer_record(&message))
                .and_then(RecordedEvent::from_raw);
            let keep = !matches!(&item, Ok(event) if event.version() < min_version);
            std::future::ready(keep.then_some(item))
        });
        Ok(Box::pin(events))
    }
}
