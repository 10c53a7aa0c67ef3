//! Subscriptions: one ordered pull consumer per subscription.
//!
//! An ordered consumer delivers the stream's messages matching a filter in stream order,
//! each once: it tracks the last stream sequence it handed out and, after any gap (a
//! dropped message, a reconnect, a restarted server), recreates itself from the next
//! one. History and live events come through the same consumer, so the switch from
//! catch-up to live has no gap and no duplicate. It pulls a new batch only when the
//! caller has read the previous one, so a slow reader holds the server back instead of
//! losing events.

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;

use crate::error::Result;
use crate::record::RecordedEvent;
use crate::store::{EventStream, StartFrom};
use crate::subject::validate_subscription;

use super::errors::backend;
use super::read::consumer_record;
use super::store::Inner;

impl Inner {
    /// Streams the events matching `filter` from `start`, then live.
    pub(crate) async fn subscribe(&self, filter: &str, start: StartFrom) -> Result<EventStream> {
        validate_subscription(&self.prefix, filter)?;
        let deliver_policy = match start {
            StartFrom::Beginning | StartFrom::Version(_) => DeliverPolicy::All,
            StartFrom::Sequence(s) => DeliverPolicy::ByStartSequence {
                start_sequence: s.max(1),
            },
            StartFrom::Now => DeliverPolicy::New,
        };
        let min_version = match start {
            StartFrom::Version(v) => v,
            _ => 0,
        };
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                filter_subject: filter.to_owned(),
                deliver_policy,
                ..OrderedConfig::default()
            })
            .await
            .map_err(|e| backend("subscribe", &e, true))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| backend("subscribe", &e, true))?;
        let events = messages.filter_map(move |message| {
            let item = match message {
                Ok(message) => consumer_record(&message).and_then(RecordedEvent::from_raw),
                Err(e) => Err(backend("subscription", &e, true)),
            };
            let keep = !matches!(&item, Ok(event) if event.version() < min_version);
            std::future::ready(keep.then_some(item))
        });
        Ok(Box::pin(events))
    }
}
