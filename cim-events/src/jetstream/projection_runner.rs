//! [`JetStreamProjectionRunner`]: a projection on a durable pull consumer with explicit
//! acknowledgements.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, ReplayPolicy, pull},
    stream::{ConsumerError, ConsumerErrorKind},
};
use futures::StreamExt;
use tokio::sync::watch;

use crate::block::cid_of;
use crate::error::{Error, Result};
use crate::projection::{
    Applier, Checkpoint, CheckpointStore, Progress, Projection, ProjectionError, RunningProjection,
    ShutdownHandle,
};
use crate::record::RecordedEvent;
use crate::store::EventStore;

use super::direct;
use super::errors::{CLUSTER_NOT_AVAILABLE, backend};
use super::read::consumer_record;
use super::store::JetStreamEventStore;
use crate::backoff;

/// Server error code: consumer not found.
const CONSUMER_NOT_FOUND: u64 = 10014;
/// How long a request of the runner's own (Direct Get) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times the proof of the checkpoint asks again when a replica is behind.
const PROOF_ATTEMPTS: u32 = 5;

/// Runs a [`Projection`] on a durable JetStream pull consumer named after it, with
/// explicit acknowledgements, keeping its checkpoint in a [`CheckpointStore`] (usually
/// [`JetStreamCheckpointStore`](super::JetStreamCheckpointStore)).
///
/// The rules for skipping, saving and stopping are those of the
/// [`projection` module](crate::projection). One runner per projection at a time.
///
/// # The consumer never runs ahead of the checkpoint
///
/// The checkpoint, not the consumer, is the source of truth for where the projection
/// stands; the consumer is a cursor the server keeps between runs (and shows operators:
/// `nats consumer info <stream> <projection>` gives its lag). So:
///
/// - **At start**, the checkpoint is proved against the stream (a Direct Get of the first
///   matching message at its sequence must have its CID). The existing consumer is kept
///   only if it delivered exactly up to the checkpoint: messages it delivered that the
///   projection never applied would come back only after their ack wait, *after* later
///   ones. Otherwise it is recreated to start right after the checkpoint.
/// - **While running**, every delivery's consumer sequence must follow the previous one.
///   A gap means deliveries were lost in transit (a reconnect, a restarted server); they
///   too would come back late and out of order, so the runner drops what it buffered and
///   recreates the consumer at the checkpoint. Pull errors, missed heartbeats and a
///   deleted consumer are handled the same way, with backoff, up to
///   [`max_recoveries`](Self::max_recoveries) times in a row.
/// - Acknowledgements are sent without waiting for the server's confirmation: the
///   checkpoint is already saved, so a lost one costs one redelivery, which is skipped.
///
/// ```no_run
/// use cim_events::jetstream::{JetStreamEventStore, JetStreamProjectionRunner, JetStreamCheckpointStore, async_nats};
/// use cim_events::projection::{Checkpoint, Projection};
/// use cim_events::{EventStore, RecordedEvent};
///
/// /// Counts events per type.
/// #[derive(Default)]
/// struct Counts(std::collections::BTreeMap<String, u64>);
///
/// #[cim_events::projection::async_trait]
/// impl Projection for Counts {
///     type Error = std::convert::Infallible;
///     fn name(&self) -> &str { "counts" }
///     async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
///         *self.0.entry(event.event_type().to_owned()).or_default() += 1;
///         Ok(())
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let jetstream = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
/// let store = JetStreamEventStore::new(jetstream.clone(), "ORDERS").await?;
/// let checkpoints = JetStreamCheckpointStore::new(jetstream, "projections").await?;
/// let mut running = JetStreamProjectionRunner::new(&store, Counts::default(), checkpoints)
///     .filter("events.*.OrderCreated")
///     .verify_chain(false)
///     .spawn();
/// // Wait until it caught up with the stream; a runner that fails meanwhile returns its error.
/// running.wait_until_sequence(store.last_sequence().await?).await?;
/// // … later:
/// running.shutdown_handle().shutdown();
/// let (result, runner) = running.join_runner().await;
/// let progress = result?;
/// if let Some(runner) = runner {
///     println!("{} applied, counts {:?}", progress.applied, runner.projection().0);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JetStreamProjectionRunner<P, C> {
    source: Source,
    max_recoveries: u32,
    applier: Applier<P, C>,
}

/// Where the events come from and how the consumer is set up: kept apart from the
/// projection so that the futures borrowing it need no `Sync` projection.
#[derive(Debug)]
struct Source {
    context: jetstream::Context,
    /// What decrypts the events' `Pii` values (`None`: not decrypted).
    encryption: Option<crate::crypto::Crypto>,
    stream_name: String,
    /// The store's subject prefix, when the runner was made from the store.
    prefix: Option<String>,
    /// At least one, sorted; several go in `filter_subjects` (see
    /// [`filters`](super::filters)).
    filters: Vec<String>,
    ack_wait: Duration,
    max_ack_pending: i64,
    batch: usize,
}

/// Why consuming stopped without an error of the projection's.
enum Ended {
    /// The shutdown handle asked for it.
    Shutdown,
    /// Deliveries may have been lost: consume again from the checkpoint.
    Lost(String),
}

impl<P: Projection, C: CheckpointStore> JetStreamProjectionRunner<P, C> {
    /// A runner feeding `projection` every event of `store` (filter `{prefix}.>`), on the
    /// store's connection and stream.
    pub fn new(store: &JetStreamEventStore, projection: P, checkpoints: C) -> Self {
        let mut runner = Self::on_stream(
            store.context().clone(),
            store.stream_name(),
            &format!("{}.>", store.subject_prefix()),
            projection,
            checkpoints,
        );
        runner.source.encryption = store.encryption().cloned();
        runner.source.prefix = Some(store.subject_prefix().to_owned());
        runner
    }

    /// A runner on stream `stream_name` through `context`, feeding `projection` the
    /// messages matching `filter`. Needs no stream-level permissions (see
    /// `docs/security.md`), only the consumer's own API subjects.
    pub fn on_stream(
        context: jetstream::Context,
        stream_name: &str,
        filter: &str,
        projection: P,
        checkpoints: C,
    ) -> Self {
        JetStreamProjectionRunner {
            source: Source {
                context,
                encryption: None,
                stream_name: stream_name.to_owned(),
                prefix: None,
                filters: vec![filter.to_owned()],
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 1000,
                batch: 200,
            },
            max_recoveries: 20,
            applier: Applier::new(projection, checkpoints),
        }
    }

    /// Decrypts the events' `Pii` values with `crypto` before the projection sees them
    /// (set from the store by [`new`](Self::new); for [`on_stream`](Self::on_stream)).
    pub fn encryption(mut self, crypto: crate::crypto::Crypto) -> Self {
        self.source.encryption = Some(crypto);
        self
    }

    /// Feeds only the events whose subjects match `filter`, e.g. `events.*.OrderCreated`.
    /// The checkpointed event must still match it on the next run.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.source.filters = vec![filter.into()];
        self
    }

    /// Feeds only the events `selector` selects: its event types of its aggregate types
    /// (see [`EventSelector`](crate::EventSelector)); others are skipped and acknowledged.
    /// A runner made by [`new`](Self::new) also narrows its consumer to the selector's
    /// [`subject_filters`](crate::EventSelector::subject_filters) (`filter_subjects` when
    /// there are several, which needs `$JS.API.CONSUMER.CREATE.<stream>.<name>` rather than
    /// `….<name>.>`, see `docs/security.md`); one made by [`on_stream`](Self::on_stream)
    /// keeps the filter it was given.
    ///
    /// # A changed selection
    ///
    /// The durable consumer keeps the filters it was created with. When a run's filters
    /// differ from the consumer's, the runner proves its checkpoint against the new
    /// filters and, if the checkpointed event is still among them, replaces the consumer
    /// with one on the new filters starting right after the checkpoint: events a widened
    /// selection adds before the checkpoint are not replayed (reset the checkpoint for
    /// that). If the checkpointed event is no longer selected, the run fails with
    /// [`ProjectionError::CheckpointMismatch`] and the consumer is left as it was.
    pub fn select(mut self, selector: crate::EventSelector) -> Self {
        if let Some(prefix) = &self.source.prefix {
            self.source.filters = selector.subject_filters(prefix);
        }
        self.applier.select(selector);
        self
    }

    /// Verifies the chain of the events the runner applies: see
    /// [`ProjectionRunner::verify_chain`](crate::projection::ProjectionRunner::verify_chain).
    pub fn verify_chain(mut self, on: bool) -> Self {
        self.applier.verify_chain(on);
        self
    }

    /// How long the server waits for an acknowledgement before delivering a message again
    /// (default 30 s). Longer than the slowest [`Projection::apply`].
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.source.ack_wait = ack_wait;
        self
    }

    /// How many delivered messages may await acknowledgement (default 1000).
    pub fn max_ack_pending(mut self, max: i64) -> Self {
        self.source.max_ack_pending = max;
        self
    }

    /// How many messages one pull request asks for (default 200).
    pub fn batch(mut self, batch: usize) -> Self {
        self.source.batch = batch.max(1);
        self
    }

    /// How many times in a row the runner recovers (recreates its consumer after lost
    /// deliveries or a failed request, with backoff) before it stops with
    /// [`ProjectionError::Store`] (default 20). Any event applied resets the count.
    pub fn max_recoveries(mut self, max: u32) -> Self {
        self.max_recoveries = max;
        self
    }

    /// The durable consumer's name: the projection's name.
    pub fn durable_name(&self) -> &str {
        self.applier.name()
    }

    /// A handle that stops the runner after the event it is applying.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.applier.control().shutdown_handle()
    }

    /// The runner's progress, updated after every event.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.applier.control().progress()
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        self.applier.projection()
    }

    /// The projection, mutably (between runs).
    pub fn projection_mut(&mut self) -> &mut P {
        self.applier.projection_mut()
    }

    /// The projection, giving up the runner.
    pub fn into_projection(self) -> P {
        self.applier.into_projection()
    }

    /// Runs the runner on its own tokio task. The returned handle waits for progress and
    /// reports the error that stopped the runner, if one does.
    pub fn spawn(self) -> RunningProjection<Self, P::Error>
    where
        P: 'static,
        C: 'static,
    {
        let name = self.applier.name().to_owned();
        let (shutdown, progress) = (self.shutdown_handle(), self.progress());
        let mut runner = self;
        RunningProjection::spawn(name, shutdown, progress, async move {
            let result = runner.run().await;
            (runner, result)
        })
    }

    /// Runs until the [`ShutdownHandle`] asks it to stop (`Ok` with the progress) or
    /// something fails (`Err`, after which running again resumes from the checkpoint).
    pub async fn run(&mut self) -> Result<Progress, ProjectionError<P::Error>> {
        let checkpoint = self.applier.resume().await?;
        if let Some(checkpoint) = checkpoint {
            match self.source.prove(checkpoint).await {
                Ok(None) => {}
                Ok(Some(found)) => return Err(self.applier.mismatch(checkpoint, found)),
                Err(e) => return Err(self.applier.store_error(e)),
            }
        }
        let name = self.applier.name().to_owned();
        let mut failures = 0;
        let mut reposition = false;
        loop {
            let control = self.applier.control();
            let opened = self
                .source
                .open(&name, self.applier.checkpoint(), reposition);
            let Some(opened) = control.or_shutdown(opened).await else {
                return Ok(control.current());
            };
            let ended = match opened {
                Ok(messages) => {
                    self.applier.resumed();
                    self.consume(messages, &mut failures).await?
                }
                Err(e) if !e.is_transient() => return Err(self.applier.store_error(e)),
                Err(e) => Ended::Lost(e.to_string()),
            };
            let reason = match ended {
                Ended::Shutdown => {
                    // Send the last acknowledgements before handing back control (a lost
                    // one only costs a skipped redelivery, so do not wait long).
                    let client = self.source.context.client();
                    match tokio::time::timeout(REQUEST_TIMEOUT, client.flush()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::debug!(projection = %name, error = %e, "acknowledgements not flushed")
                        }
                        Err(_) => {
                            tracing::debug!(projection = %name, "acknowledgements not flushed in time")
                        }
                    }
                    return Ok(self.applier.control().current());
                }
                Ended::Lost(reason) => reason,
            };
            failures += 1;
            if failures > self.max_recoveries {
                return Err(self.applier.store_error(backend(
                    "consume",
                    format!(
                        "gave up after {failures} recoveries in a row, the last after: {reason}"
                    ),
                    true,
                )));
            }
            tracing::warn!(
                projection = self.applier.name(),
                failures,
                %reason,
                "projection consumer recovering from its checkpoint"
            );
            reposition = true;
            let control = self.applier.control();
            let pause = backoff::sleep(
                failures - 1,
                Duration::from_millis(50),
                Duration::from_secs(5),
            );
            if control.or_shutdown(pause).await.is_none() {
                return Ok(control.current());
            }
        }
    }

    /// Applies delivered messages until a stop, an error, or a sign of lost deliveries.
    async fn consume(
        &mut self,
        mut messages: pull::Stream,
        failures: &mut u32,
    ) -> Result<Ended, ProjectionError<P::Error>> {
        let mut last_delivery: Option<u64> = None;
        loop {
            let control = self.applier.control();
            let Some(next) = control.or_shutdown(messages.next()).await else {
                return Ok(Ended::Shutdown);
            };
            let message = match next {
                None => return Ok(Ended::Lost("the message stream ended".to_owned())),
                Some(Err(e)) => return Ok(Ended::Lost(format!("pulling failed: {e}"))),
                Some(Ok(message)) => message,
            };
            let (delivery, pending) = match message.info() {
                Ok(info) => (info.consumer_sequence, info.pending),
                Err(e) => return Ok(Ended::Lost(format!("a delivery without metadata: {e}"))),
            };
            if let Some(last) = last_delivery {
                if delivery != last + 1 {
                    return Ok(Ended::Lost(format!(
                        "delivery {delivery} followed delivery {last}: deliveries were lost in transit"
                    )));
                }
            }
            last_delivery = Some(delivery);
            let mut item = consumer_record(&message).and_then(RecordedEvent::from_raw);
            if let Ok(event) = &mut item {
                if let Err(e) = crate::crypto::open(self.source.encryption.as_ref(), event).await {
                    item = Err(e);
                }
            }
            // Published with the checkpoint that `offer` sets next.
            self.applier.control().update(|p| p.pending = Some(pending));
            self.applier.offer(item).await?;
            crate::observe::projection::lag(self.applier.name(), pending);
            // The checkpoint is saved: a lost acknowledgement only means one redelivery,
            // which the checkpoint skips.
            if let Err(e) = message.ack().await {
                tracing::debug!(projection = self.applier.name(), error = %e, "acknowledgement not sent");
            }
            *failures = 0;
        }
    }
}

impl Source {
    /// Checks that the first message matching the filters at or after the checkpoint's
    /// sequence is the checkpointed event.
    /// `Ok(None)` if it is; otherwise `Ok(Some(found))`, the message found there if any.
    async fn prove(&self, checkpoint: Checkpoint) -> Result<Option<Option<Checkpoint>>> {
        let client = self.context.client();
        let mut found = None;
        for attempt in 0..PROOF_ATTEMPTS {
            // One Direct Get per filter (the API takes one): the first of their answers.
            found = None;
            for filter in &self.filters {
                let records = direct::next_batch(
                    &client,
                    &self.stream_name,
                    filter,
                    checkpoint.sequence.max(1),
                    1,
                    REQUEST_TIMEOUT,
                )
                .await?
                .records;
                if let Some(first) = records.first() {
                    if found.is_none_or(|f: Checkpoint| first.sequence < f.sequence) {
                        found = Some(Checkpoint {
                            sequence: first.sequence,
                            cid: cid_of(&first.data),
                        });
                    }
                }
            }
            match found {
                Some(found) if found.sequence == checkpoint.sequence => {
                    return Ok((found != checkpoint).then_some(Some(found)));
                }
                // With several filters the answers may come from different replicas: a
                // later message from one, nothing yet from another that is behind.
                Some(found) if self.filters.len() == 1 => return Ok(Some(Some(found))),
                _ => {}
            }
            // Nothing there, or a replica that has not caught up yet: ask again.
            backoff::sleep(
                attempt,
                Duration::from_millis(20),
                Duration::from_millis(500),
            )
            .await;
        }
        Ok(Some(found))
    }

    /// The consumer's settings, starting right after `checkpoint`.
    fn config(&self, name: &str, checkpoint: Option<Checkpoint>) -> pull::Config {
        let name = name.to_owned();
        let mut config = pull::Config {
            description: Some(format!("cim-events projection `{name}`")),
            durable_name: Some(name),
            deliver_policy: checkpoint.map_or(DeliverPolicy::All, |c| {
                DeliverPolicy::ByStartSequence {
                    start_sequence: c.sequence + 1,
                }
            }),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            max_ack_pending: self.max_ack_pending,
            replay_policy: ReplayPolicy::Instant,
            ..pull::Config::default()
        };
        super::filters::configure(&mut config, &self.filters);
        config
    }

    /// Opens the durable consumer, keeping the existing one only if `reposition` is off,
    /// its settings are ours and it delivered exactly up to the checkpoint; then starts
    /// pulling.
    async fn open(
        &self,
        name: &str,
        checkpoint: Option<Checkpoint>,
        reposition: bool,
    ) -> Result<pull::Stream> {
        let wanted = self.config(name, checkpoint);
        let mut wanted_filters = self.filters.clone();
        wanted_filters.sort();
        let existing = match self
            .context
            .get_consumer_from_stream::<pull::Config, _, _>(name, &self.stream_name)
            .await
        {
            Ok(consumer) => Some(consumer),
            Err(e) if code(&e) == Some(CONSUMER_NOT_FOUND) => None,
            Err(e) => return Err(consumer_error("open consumer", &e)),
        };
        let reusable = existing.filter(|consumer| {
            let info = consumer.cached_info();
            let c = &info.config;
            !reposition
                && super::filters::configured(c) == wanted_filters
                && c.ack_policy == AckPolicy::Explicit
                && c.ack_wait == wanted.ack_wait
                && c.max_ack_pending == wanted.max_ack_pending
                && info.delivered.stream_sequence == checkpoint.map_or(0, |c| c.sequence)
        });
        let consumer: PullConsumer = match reusable {
            Some(consumer) => consumer,
            None => {
                match self
                    .context
                    .delete_consumer_from_stream(name, &self.stream_name)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some(CONSUMER_NOT_FOUND) => {}
                    Err(e) => return Err(consumer_error("delete consumer", &e)),
                }
                self.context
                    .create_consumer_on_stream(wanted, &self.stream_name)
                    .await
                    .map_err(|e| consumer_error("create consumer", &e))?
            }
        };
        consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| backend("pull", e, true))
    }
}

/// The JetStream API error code in a consumer error.
fn code(err: &ConsumerError) -> Option<u64> {
    match err.kind() {
        ConsumerErrorKind::JetStream(api) => Some(api.error_code().0),
        _ => None,
    }
}

/// A consumer API failure: transient unless the server said something permanent.
fn consumer_error(operation: &'static str, err: &ConsumerError) -> Error {
    let transient = match code(err) {
        Some(code) => code == CLUSTER_NOT_AVAILABLE,
        None => !matches!(
            err.kind(),
            ConsumerErrorKind::InvalidName | ConsumerErrorKind::InvalidConsumerType
        ),
    };
    backend(operation, err, transient)
}
