//! `JetStreamTimers`: schedule, cancel and deliver timers on the timer stream.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{
    self, AckKind, Message,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, ReplayPolicy, pull::Config as PullConfig},
    context::PublishErrorKind,
    stream::{ConsumerErrorKind, PurgeError, PurgeErrorKind, Stream},
};
use async_trait::async_trait;
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::subject::{TokenKind, validate_token};
use crate::timer::{Acker, FiredTimer, FiredTimers, Timer, TimerError, Timers, check_key};

use super::super::errors::{CLUSTER_NOT_AVAILABLE, api_code, backend};
use super::builder::JetStreamTimersBuilder;
use super::layout::Layout;
use super::rfc3339;

/// Server error code: a work queue stream allows one consumer per subject.
const CONSUMER_NOT_UNIQUE: u64 = 10100;
/// Server error code: no such consumer.
const CONSUMER_NOT_FOUND: u64 = 10014;

/// Timers on NATS JetStream: each timer is a message schedule (ADR-51) that the server
/// holds in the timer stream and publishes, when due, to the fired-timer subjects, where
/// a durable consumer hands it to a worker. Nothing sleeps in any process; schedules and
/// fired timers are stored on file and survive restarts of the server and of every
/// client.
///
/// # What nats-server 2.15.1 does (probed, and read in its `scheduler.go`)
///
/// - A stream needs `allow_msg_schedules` (nats-server 2.12+). The server then also turns
///   on `allow_rollup` and turns off `deny_purge`, silently: that is why timers have their
///   own stream (`{events_stream}_TIMERS`, subjects `{prefix}_timers.>`), never the event
///   stream. It is a work queue, so an acknowledged fired timer is removed, and one
///   consumer per subject is allowed ([`TimerError::ConsumerInUse`] for a second name).
/// - A timer is published to `{base}.schedule.{owner}.{name}.{due}` with
///   `Nats-Schedule: @at <RFC 3339 UTC, nanoseconds>` and `Nats-Schedule-Target:
///   {base}.fired.{owner}.{name}.{due}`. A pattern the server cannot parse is refused
///   (error 10189); the target must be in the same stream.
/// - When due, the server stores the body and the headers at the target, without the
///   `Nats-Schedule*` headers and with `Nats-Scheduler: <schedule subject>` and
///   `Nats-Schedule-Next: purge`; storing it purges the schedule. The server's schedule
///   timer runs at most every 250 ms: a lone timer fires within a few milliseconds of its
///   due time, but one due less than 250 ms after the previous firing waits for the next
///   run, up to 250 ms late (measured with the `timers` bench: timers 1 s apart fire
///   about 1 ms late, 100 ms apart a median of 110 ms and at most 220 ms late). Timers
///   never fire early.
/// - A due time already past fires at once (at the scheduler's next run); so does one
///   that came due while the server was down, as soon as it is back.
/// - Schedules survive a restart (also a `kill -9`): they are rebuilt from the stored
///   messages.
/// - Purging the schedule subject cancels it: a schedule fires only while its message is
///   stored. `cancel` purges `{base}.*.{owner}.{name}.*`, which also drops a fired timer
///   not yet acknowledged.
/// - Publishing to a schedule subject again replaces the schedule there (a rollup).
///   `schedule` purges the timer's older messages after publishing, so a new due time
///   replaces the old one as well.
///
/// Due times are absolute and read by the server's clock: a client whose clock is off
/// sees its timers fire off by as much.
///
/// Permissions, for timer stream `T` with subjects under `B` (see
/// [`subject_base`](Self::subject_base)): to schedule and cancel, `$JS.API.INFO`,
/// `$JS.API.STREAM.INFO.T`, `$JS.API.STREAM.PURGE.T` and `B.schedule.>` (and
/// `$JS.API.STREAM.CREATE.T` for the first start, which creates the stream); to read fired
/// timers through consumer `C`, `$JS.API.INFO`, `$JS.API.STREAM.INFO.T`,
/// `$JS.API.CONSUMER.CREATE.T.C.>`, `$JS.API.CONSUMER.MSG.NEXT.T.C` and `$JS.ACK.T.C.>`;
/// all roles subscribe to `_INBOX.>` for replies.
///
/// ```no_run
/// use std::time::{Duration, SystemTime};
/// use cim_events::jetstream::{JetStreamTimers, async_nats};
/// use cim_events::timer::{Timer, Timers};
/// use futures::StreamExt;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let timers = JetStreamTimers::new(async_nats::jetstream::new(client), "ORDERS").await?;
/// let due = SystemTime::now() + Duration::from_secs(15 * 60);
/// timers.schedule(&Timer::new("payment-saga-42", "payment-timeout", due, "")?).await?;
///
/// // In every worker of the saga, after any restart:
/// let mut fired = timers.fired("payment-saga").await?;
/// while let Some(timer) = fired.next().await {
///     let timer = timer?;
///     // … handle it (idempotently), then:
///     timer.ack().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamTimers {
    context: jetstream::Context,
    stream: Stream,
    stream_name: String,
    layout: Layout,
    ack_wait: Duration,
}

impl JetStreamTimers {
    /// Timers beside the event stream `events_stream` with the default prefix: stream
    /// `{events_stream}_TIMERS`, subjects `events_timers.>`. See [`builder`](Self::builder).
    pub async fn new(context: jetstream::Context, events_stream: &str) -> Result<JetStreamTimers> {
        JetStreamTimersBuilder::new(context, events_stream)
            .build()
            .await
    }

    /// Configures timers beside the event stream `events_stream`.
    pub fn builder(context: jetstream::Context, events_stream: &str) -> JetStreamTimersBuilder {
        JetStreamTimersBuilder::new(context, events_stream)
    }

    pub(crate) fn from_parts(
        context: jetstream::Context,
        stream: Stream,
        stream_name: String,
        layout: Layout,
        ack_wait: Duration,
    ) -> JetStreamTimers {
        JetStreamTimers {
            context,
            stream,
            stream_name,
            layout,
            ack_wait,
        }
    }

    /// The timer stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// The subjects the timers live under (`{prefix}_timers`).
    pub fn subject_base(&self) -> &str {
        self.layout.base()
    }

    /// Deletes the durable consumer `consumer` that [`fired`](Timers::fired) created, so
    /// that fired timers can go to another name (a work queue has one consumer per
    /// subject). Fired timers it held but had not acknowledged stay in the stream for the
    /// next consumer. Returns whether it existed.
    pub async fn delete_consumer(&self, consumer: &str) -> Result<bool> {
        validate_token(TokenKind::TimerConsumer, consumer)?;
        match self
            .context
            .delete_consumer_from_stream(consumer, &self.stream_name)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.kind() {
                ConsumerErrorKind::JetStream(api) if api.error_code().0 == CONSUMER_NOT_FOUND => {
                    Ok(false)
                }
                ConsumerErrorKind::JetStream(api) => Err(backend(
                    "delete timer consumer",
                    &e,
                    api.error_code().0 == CLUSTER_NOT_AVAILABLE,
                )),
                _ => Err(backend("delete timer consumer", &e, true)),
            },
        }
    }

    /// Purges the messages of one timer (before stream sequence `before`, if given);
    /// returns how many there were.
    async fn purge(&self, owner: &str, name: &str, before: Option<u64>) -> Result<u64> {
        let purge = self.stream.purge().filter(self.layout.timer(owner, name));
        let response = match before {
            Some(sequence) => purge.sequence(sequence).await,
            None => purge.await,
        };
        response
            .map(|r| r.purged)
            .map_err(|e| purge_error("purge timer", &e))
    }

    fn consumer_config(&self, consumer: &str) -> PullConfig {
        PullConfig {
            description: Some("cim-events fired timers".to_owned()),
            durable_name: Some(consumer.to_owned()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            filter_subject: self.layout.all_fired(),
            replay_policy: ReplayPolicy::Instant,
            ..PullConfig::default()
        }
    }
}

#[async_trait]
impl Timers for JetStreamTimers {
    async fn schedule(&self, timer: &Timer) -> Result<()> {
        let (owner, name, due) = (timer.owner(), timer.name(), timer.due_nanos());
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_SCHEDULE,
            format!("@at {}", rfc3339::format(due)).as_str(),
        );
        headers.insert(
            async_nats::header::NATS_SCHEDULE_TARGET,
            self.layout.fired(owner, name, due).as_str(),
        );
        let ack = self
            .context
            .publish_with_headers(
                self.layout.schedule(owner, name, due),
                headers,
                timer.payload().clone(),
            )
            .await
            .map_err(|e| publish_error(&e))?
            .await
            .map_err(|e| publish_error(&e))?;
        // The same subject again was replaced by the server (a rollup); another due time
        // of the same timer, and its fired message if not yet acknowledged, go now.
        self.purge(owner, name, Some(ack.sequence)).await?;
        Ok(())
    }

    async fn cancel(&self, owner: &str, name: &str) -> Result<bool> {
        check_key(owner, name)?;
        Ok(self.purge(owner, name, None).await? > 0)
    }

    async fn fired(&self, consumer: &str) -> Result<FiredTimers> {
        validate_token(TokenKind::TimerConsumer, consumer)?;
        let created = self
            .context
            .create_consumer_on_stream(self.consumer_config(consumer), &self.stream_name)
            .await;
        let consumer_handle: PullConsumer = match created {
            Ok(handle) => handle,
            Err(e) => {
                return Err(match e.kind() {
                    ConsumerErrorKind::JetStream(api)
                        if api.error_code().0 == CONSUMER_NOT_UNIQUE =>
                    {
                        TimerError::ConsumerInUse {
                            requested: consumer.to_owned(),
                            existing: String::new(),
                        }
                        .into()
                    }
                    ConsumerErrorKind::JetStream(api) => backend(
                        "open timer consumer",
                        &e,
                        api.error_code().0 == CLUSTER_NOT_AVAILABLE,
                    ),
                    _ => backend("open timer consumer", &e, true),
                });
            }
        };
        let messages = consumer_handle
            .stream()
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| backend("pull fired timers", e, true))?;
        let layout = self.layout.clone();
        Ok(Box::pin(messages.then(move |message| {
            let layout = layout.clone();
            async move {
                match message {
                    Ok(message) => to_fired(&layout, message).await,
                    Err(e) => Err(backend("pull fired timers", e, true)),
                }
            }
        })))
    }
}

/// A fired timer from its message; a message that is not one is terminated (never
/// redelivered) and reported.
async fn to_fired(layout: &Layout, message: Message) -> Result<FiredTimer> {
    let parsed = layout.parse_fired(&message.subject);
    let info = message
        .info()
        .map(|info| (info.published, info.delivered))
        .map_err(|e| TimerError::Malformed {
            subject: message.subject.to_string(),
            problem: format!("its reply subject is not a JetStream ack subject: {e}"),
        });
    match (parsed, info) {
        (Ok((owner, name, due)), Ok((published, delivered))) => Ok(FiredTimer::new(
            (owner, name),
            crate::timer::from_nanos(due),
            message.payload.clone(),
            published.into(),
            u64::try_from(delivered).unwrap_or(1),
            Box::new(JetStreamAck { message }),
        )),
        (Err(e), _) | (_, Err(e)) => {
            // Best effort: if the term is lost, the message comes back and is reported again.
            let _ = message.ack_with(AckKind::Term).await;
            Err(e.into())
        }
    }
}

/// Acknowledges one fired-timer message, waiting for the server to confirm.
struct JetStreamAck {
    message: Message,
}

impl Acker for JetStreamAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            self.message
                .double_ack()
                .await
                .map_err(|e| backend("ack fired timer", e, true))
        })
    }
}

/// A failed publish of a schedule: timeouts and missing responders may pass, a refusal
/// by the server does not.
fn publish_error(e: &async_nats::jetstream::context::PublishError) -> Error {
    let transient = match e.kind() {
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound => true,
        _ => api_code(e).is_none_or(|code| code == CLUSTER_NOT_AVAILABLE),
    };
    backend("schedule timer", e, transient)
}

fn purge_error(operation: &'static str, e: &PurgeError) -> Error {
    let transient = match e.kind() {
        PurgeErrorKind::JetStream(api) => api.error_code().0 == CLUSTER_NOT_AVAILABLE,
        _ => true,
    };
    backend(operation, e, transient)
}
