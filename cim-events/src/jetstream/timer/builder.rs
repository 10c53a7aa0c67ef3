//! `JetStreamTimersBuilder`: where the timers live, and `build`, which checks the server
//! and the timer stream.

use std::time::Duration;

use async_nats::jetstream;

use crate::error::{Error, Result};
use crate::subject::{DEFAULT_PREFIX, validate_prefix};

use super::super::errors::backend;
use super::super::provision::{check_server_version, check_stream_name};
use super::layout::Layout;
use super::provision::{self, Wanted};
use super::timers::JetStreamTimers;

/// How long a delivered timer may stay unacknowledged before the server delivers it again,
/// unless told otherwise.
pub const DEFAULT_TIMER_ACK_WAIT: Duration = Duration::from_secs(30);

/// Configures [`JetStreamTimers`]. Obtained from [`JetStreamTimers::builder`].
///
/// ```no_run
/// # use cim_events::jetstream::{JetStreamTimers, async_nats};
/// # async fn run(jetstream: async_nats::jetstream::Context) -> cim_events::Result<()> {
/// // Beside an event store built with `builder(jetstream, "ORDERS").prefix("orders")`:
/// // stream `ORDERS_TIMERS`, subjects `orders_timers.>`.
/// let timers = JetStreamTimers::builder(jetstream, "ORDERS")
///     .prefix("orders")
///     .ack_wait(std::time::Duration::from_secs(60))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamTimersBuilder {
    context: jetstream::Context,
    stream_name: String,
    prefix: String,
    replicas: usize,
    ack_wait: Duration,
}

impl JetStreamTimersBuilder {
    pub(crate) fn new(context: jetstream::Context, events_stream: &str) -> Self {
        JetStreamTimersBuilder {
            context,
            stream_name: format!("{events_stream}_TIMERS"),
            prefix: DEFAULT_PREFIX.to_owned(),
            replicas: 1,
            ack_wait: DEFAULT_TIMER_ACK_WAIT,
        }
    }

    /// The event store's subject prefix (default `events`): the timers live under
    /// `{prefix}_timers.>`, beside the events and outside them.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The timer stream's name, instead of `{events_stream}_TIMERS`.
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// Replicas of the timer stream when it is created: 1 (default), 3 or 5. An existing
    /// stream keeps its own.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// How long a worker has to acknowledge a fired timer before the server delivers it
    /// again (default [`DEFAULT_TIMER_ACK_WAIT`]). It is set on the consumer each time
    /// [`fired`](crate::timer::Timers::fired) opens it.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Checks the server (message schedules need nats-server 2.12 or later), creates the
    /// timer stream or checks the existing one, and returns the timers. Fails with
    /// [`Error::Config`] for an old server or a stream that cannot hold timers, and with
    /// [`Error::InvalidToken`] for a bad prefix.
    pub async fn build(self) -> Result<JetStreamTimers> {
        validate_prefix(&self.prefix)?;
        check_stream_name(&self.stream_name)?;
        if !matches!(self.replicas, 1 | 3 | 5) {
            return Err(Error::Config {
                setting: "replicas".into(),
                problem: format!("is {}; use 1, 3 or 5", self.replicas),
            });
        }
        if self.ack_wait.is_zero() {
            return Err(Error::Config {
                setting: "ack_wait".into(),
                problem: "is zero; every fired timer would be redelivered at once".into(),
            });
        }
        // Also waits for the connection, so that the server info below is filled in.
        self.context
            .query_account()
            .await
            .map_err(|e| backend("check JetStream", &e, true))?;
        check_server_version(&self.context.client().server_info().version)?;
        let layout = Layout::new(format!("{}_timers", self.prefix));
        let stream = provision::provision(
            &self.context,
            &Wanted {
                name: &self.stream_name,
                base: layout.base(),
                replicas: self.replicas,
            },
        )
        .await?;
        Ok(JetStreamTimers::from_parts(
            self.context,
            stream,
            self.stream_name,
            layout,
            self.ack_wait,
        ))
    }
}
