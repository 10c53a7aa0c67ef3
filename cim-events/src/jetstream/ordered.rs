//! An ordered consumer the store manages itself, so that it is deleted when the
//! subscription is dropped.
//!
//! async-nats' ordered consumer is left on the server when its stream is dropped, until
//! its 30 s inactive threshold; nats-server allows 1000 consumers per stream by default,
//! after which every subscription and long load fails (error 10026). This one works the
//! same way — an ephemeral, unacknowledged, in-memory pull consumer, recreated after the
//! last delivered stream sequence whenever a delivery goes missing — but it knows the
//! name of its current consumer at all times: recreating deletes the previous consumer
//! first, and dropping the subscription deletes the current one (on a spawned task). A
//! short inactive threshold removes it anyway should that delete never arrive (no
//! runtime, a lost connection).

use std::time::Duration;

use async_nats::jetstream::{
    self, Message,
    consumer::{AckPolicy, DeliverPolicy, ReplayPolicy, pull},
};
use futures::StreamExt;

use crate::error::Result;

use super::errors::backend;
use crate::backoff;

/// How long the server keeps a consumer nobody pulls from: the backstop for a
/// subscription whose delete on drop never arrived. Pull requests are always waiting
/// while the reader keeps up, so a live subscription is never inactive; one whose
/// reader stops for longer is recreated where it stood when it reads again.
pub(crate) const INACTIVE_THRESHOLD: Duration = Duration::from_secs(5);
/// The server's idle heartbeat while a pull waits; two missed ones mean a lost consumer.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// The longest a consumer delete may take when recreating.
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// Deletes the named consumer when dropped.
#[derive(Debug)]
struct ConsumerGuard {
    context: jetstream::Context,
    stream_name: String,
    /// The consumer on the server now, if any.
    name: Option<String>,
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        // Without a runtime the inactive threshold removes it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let context = self.context.clone();
        let stream_name = std::mem::take(&mut self.stream_name);
        runtime.spawn(async move {
            if let Err(e) = context.delete_consumer_from_stream(&name, &stream_name).await {
                tracing::debug!(consumer = %name, error = %e, "subscription consumer not deleted; it expires on its own");
            }
        });
    }
}

/// A subscription's consumer: delivers the stream's messages matching any of its filters,
/// each once, in stream order, across recreations.
pub(crate) struct OrderedConsumer {
    /// Normalised, at least one (see [`filters`](super::filters)).
    filters: Vec<String>,
    /// Where the first consumer starts.
    initial: DeliverPolicy,
    /// The stream sequence a recreated consumer starts at, once known.
    next_sequence: Option<u64>,
    /// The consumer sequence of the last delivery from the current consumer.
    last_delivery: u64,
    messages: Option<pull::Stream>,
    /// Messages per pull request.
    batch: usize,
    /// Recreations in a row that failed, for backoff.
    failures: u32,
    guard: ConsumerGuard,
}

impl OrderedConsumer {
    /// Creates the first consumer, pulling `batch` messages per request; failing to is the
    /// caller's error.
    pub(crate) async fn start(
        context: jetstream::Context,
        stream_name: &str,
        filters: &[String],
        initial: DeliverPolicy,
        batch: usize,
    ) -> Result<Self> {
        let mut consumer = OrderedConsumer {
            filters: filters.to_vec(),
            initial,
            next_sequence: None,
            last_delivery: 0,
            messages: None,
            batch,
            failures: 0,
            guard: ConsumerGuard {
                context,
                stream_name: stream_name.to_owned(),
                name: None,
            },
        };
        consumer.open().await?;
        Ok(consumer)
    }

    /// Deletes the current consumer (if any) and creates the next one, starting after the
    /// last delivered message.
    async fn open(&mut self) -> Result<()> {
        self.messages = None;
        let context = self.guard.context.clone();
        let stream_name = self.guard.stream_name.clone();
        if let Some(old) = self.guard.name.take() {
            let delete = context.delete_consumer_from_stream(&old, &stream_name);
            // Not found or not answered: its inactive threshold removes it.
            let _ = tokio::time::timeout(DELETE_TIMEOUT, delete).await;
        }
        let deliver_policy = match self.next_sequence {
            Some(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
            None => self.initial,
        };
        // Unnamed, so that it needs no more permissions than async-nats' ordered consumer
        // (`$JS.API.CONSUMER.CREATE.<stream>`, see docs/security.md): the server names it.
        // A subscription dropped while its consumer is being created leaves that one to
        // the inactive threshold.
        let mut config = pull::Config {
            description: Some("cim-events".to_owned()),
            deliver_policy,
            ack_policy: AckPolicy::None,
            max_deliver: 1,
            replay_policy: ReplayPolicy::Instant,
            inactive_threshold: INACTIVE_THRESHOLD,
            num_replicas: 1,
            memory_storage: true,
            ..pull::Config::default()
        };
        super::filters::configure(&mut config, &self.filters);
        let consumer = context
            .create_consumer_on_stream(config, &stream_name)
            .await
            .map_err(|e| backend("subscribe", &e, true))?;
        self.guard.name = Some(consumer.cached_info().name.clone());
        // With `DeliverPolicy::New` the start is known only now.
        let start = consumer.cached_info().delivered.stream_sequence + 1;
        self.next_sequence.get_or_insert(start);
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
            .map_err(|e| backend("subscribe", &e, true))?;
        self.messages = Some(messages);
        self.last_delivery = 0;
        Ok(())
    }

    /// The next message, in stream order. Errors are items; the consumer goes on after
    /// them (recreating itself where needed). Never ends on its own.
    pub(crate) async fn next(&mut self) -> Result<Message> {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                if self.failures > 0 {
                    let pause = Duration::from_millis(50);
                    backoff::sleep(self.failures - 1, pause, Duration::from_secs(5)).await;
                }
                match self.open().await {
                    Ok(()) => continue,
                    Err(e) => {
                        self.failures += 1;
                        return Err(e);
                    }
                }
            };
            let reason = match messages.next().await {
                Some(Ok(message)) => match message.info() {
                    Ok(info) if info.consumer_sequence == self.last_delivery + 1 => {
                        self.last_delivery = info.consumer_sequence;
                        self.next_sequence = Some(info.stream_sequence + 1);
                        self.failures = 0;
                        return Ok(message);
                    }
                    Ok(info) => format!(
                        "delivery {} followed delivery {}",
                        info.consumer_sequence, self.last_delivery
                    ),
                    Err(e) => format!("a delivery without metadata: {e}"),
                },
                Some(Err(e)) => match e.kind() {
                    pull::MessagesErrorKind::MissingHeartbeat
                    | pull::MessagesErrorKind::ConsumerDeleted
                    | pull::MessagesErrorKind::NoResponders => e.to_string(),
                    _ => {
                        self.messages = None;
                        return Err(backend("subscription", &e, true));
                    }
                },
                None => "the consumer's message stream ended".to_owned(),
            };
            tracing::debug!(filters = ?self.filters, %reason, "recreating the subscription's consumer");
            self.messages = None;
        }
    }
}
