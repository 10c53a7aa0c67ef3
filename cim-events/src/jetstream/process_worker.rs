//! [`ProcessWorker`]: a process manager driven by a durable JetStream consumer, so that it
//! resumes after a crash where it stopped, and several workers share its steps.

use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, ReplayPolicy, pull};
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::Error;
use crate::process::{Process, ProcessError, ProcessManager, StepReport};
use crate::record::RecordedEvent;
use crate::store::EventStore;
use crate::subject::validate_subscriptions;

use super::errors::backend;
use super::read::consumer_record;
use super::store::JetStreamEventStore;

/// How long a worker may take over a step before the server hands the trigger to
/// another worker, unless [`ack_wait`](ProcessWorker::ack_wait) says otherwise.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Drives a [`ProcessManager`] from a durable pull consumer named after the process
/// (explicit acknowledgements; the selector's subjects as `filter_subjects`).
///
/// - A trigger is acknowledged only after its step is carried out. A worker killed
///   mid-step leaves it unacknowledged: after [`ack_wait`](Self::ack_wait) the server
///   delivers it again (to this worker restarted, or to another), and the step is carried
///   out again with each effect once (see [`ProcessManager`]).
/// - Several workers (processes, machines) running the same process share the consumer:
///   each trigger goes to one of them. With the default of one trigger in flight at a
///   time, triggers are handled in stream order across all workers; more
///   ([`max_in_flight`](Self::max_in_flight)) handles several at once, and may reorder
///   them.
/// - A step that fails transiently is handed back at once (a negative acknowledgement
///   with a delay) and tried again; a permanent failure stops the worker with the error,
///   leaving the trigger unacknowledged.
pub struct ProcessWorker<P: Process> {
    manager: ProcessManager<P, JetStreamEventStore>,
    name: String,
    ack_wait: Duration,
    max_in_flight: i64,
    steps: watch::Sender<u64>,
}

impl<P: Process> ProcessWorker<P> {
    /// A worker for `manager`'s process, on the durable consumer named after its process
    /// type.
    pub fn new(manager: ProcessManager<P, JetStreamEventStore>) -> Self {
        ProcessWorker {
            manager,
            name: P::AGGREGATE_TYPE.to_owned(),
            ack_wait: DEFAULT_STEP_TIMEOUT,
            max_in_flight: 1,
            steps: watch::channel(0).0,
        }
    }

    /// The durable consumer's name (default: the process type). Workers sharing a name
    /// share the steps.
    pub fn durable_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long a step may take before its trigger goes to another worker (default
    /// [`DEFAULT_STEP_TIMEOUT`]); also how long a crashed worker's trigger waits.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// How many triggers may be in flight at once across all workers (default 1: in
    /// stream order).
    pub fn max_in_flight(mut self, max: i64) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// How many steps this worker has carried out, published after each.
    pub fn steps(&self) -> watch::Receiver<u64> {
        self.steps.subscribe()
    }

    /// The process manager.
    pub fn manager(&self) -> &ProcessManager<P, JetStreamEventStore> {
        &self.manager
    }

    /// Runs until a step fails permanently (returned), handing every step's report to
    /// `on_step`: the triggers from the durable consumer and, if the manager has
    /// [`timers`](ProcessManager::timers), its timers as they come due (read on a consumer
    /// of the same name). Stop it by dropping the future (a step cut short is carried out
    /// again).
    pub async fn run(
        &self,
        mut on_step: impl FnMut(&StepReport) + Send,
    ) -> Result<(), ProcessError> {
        let consumer = self.consumer().await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.max_in_flight.max(1) as usize)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| backend("pull", e, true))?;
        let fired = match self.manager.timer_source() {
            Some(timers) => timers.fired(&self.name).await?,
            None => Box::pin(futures::stream::pending()),
        };
        let mut work = futures::stream::select(messages.map(Work::Trigger), fired.map(Work::Timer));
        while let Some(work) = work.next().await {
            let step = match work {
                Work::Trigger(Ok(message)) => self.trigger(message).await,
                // A missed heartbeat or a reconnect: the stream goes on.
                Work::Trigger(Err(error)) => {
                    tracing::warn!(process = P::AGGREGATE_TYPE, %error, "pull failed; going on");
                    continue;
                }
                // Unacknowledged, a timer whose step failed comes again after its ack wait.
                Work::Timer(fired) => match fired {
                    Ok(fired) => self.manager.fired(fired).await.map(Some),
                    Err(error) => Err(error.into()),
                },
            };
            match step {
                Ok(Some(report)) => {
                    self.steps.send_modify(|steps| *steps += 1);
                    on_step(&report);
                }
                Ok(None) => {}
                Err(error) if error.is_transient() => {
                    tracing::warn!(process = P::AGGREGATE_TYPE, %error, "step failed; trying again");
                }
                Err(error) => return Err(error),
            }
        }
        Err(ProcessError::Store(Error::Backend {
            operation: "process worker",
            message: "the consumer's message stream ended".to_owned(),
            transient: true,
        }))
    }

    /// Carries out the step of one delivered trigger and acknowledges it; a transiently
    /// failed step is handed back at once to be tried again.
    async fn trigger(
        &self,
        message: async_nats::jetstream::Message,
    ) -> Result<Option<StepReport>, ProcessError> {
        let mut trigger = RecordedEvent::from_raw(consumer_record(&message)?)?;
        crate::crypto::open(self.manager.store().encryption(), &mut trigger).await?;
        match self.manager.react(&trigger).await {
            Ok(report) => {
                // Lost acknowledgements cost a redelivery, which repeats nothing.
                if let Err(error) = message.ack().await {
                    tracing::warn!(process = P::AGGREGATE_TYPE, %error, "ack failed");
                }
                Ok(Some(report))
            }
            Err(error) => {
                if error.is_transient() {
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                        .await;
                }
                Err(error)
            }
        }
    }

    /// The durable consumer, created if it does not exist (all workers create the same).
    async fn consumer(&self) -> Result<PullConsumer, ProcessError> {
        let store = self.manager.store();
        let prefix = store.subject_prefix();
        let filters = validate_subscriptions(prefix, &P::selector().subject_filters(prefix))?;
        let mut config = pull::Config {
            description: Some(format!("cim-events process `{}`", P::AGGREGATE_TYPE)),
            durable_name: Some(self.name.clone()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            max_ack_pending: self.max_in_flight,
            replay_policy: ReplayPolicy::Instant,
            ..pull::Config::default()
        };
        super::filters::configure(&mut config, &filters);
        let inner = &store.inner;
        inner
            .context
            .create_consumer_on_stream(config, &inner.stream_name)
            .await
            .map_err(|e| ProcessError::Store(backend("create process consumer", e, false)))
    }
}

/// What the worker handles next.
enum Work<M> {
    Trigger(M),
    Timer(crate::Result<crate::timer::FiredTimer>),
}

impl<P: Process> std::fmt::Debug for ProcessWorker<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessWorker")
            .field("process", &P::AGGREGATE_TYPE)
            .field("durable_name", &self.name)
            .field("ack_wait", &self.ack_wait)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}
