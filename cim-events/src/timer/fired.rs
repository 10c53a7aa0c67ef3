//! `FiredTimer`: a timer that came due, delivered to a worker that acknowledges it.

use std::fmt;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;

use crate::error::Result;

/// Fired timers, delivered through one consumer name: see [`Timers::fired`](super::Timers::fired).
pub type FiredTimers = Pin<Box<dyn Stream<Item = Result<FiredTimer>> + Send>>;

/// How a backend acknowledges one delivery.
pub(crate) trait Acker: Send + Sync {
    /// Tells the backend the delivery is handled, so it is never delivered again.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>>;
}

/// A timer that came due. Handle it, then [`ack`](Self::ack) it: a fired timer that is not
/// acknowledged within the consumer's ack wait (the worker crashed, or dropped it) is
/// delivered again, to this consumer name's next free worker.
///
/// Delivery is at least once: a timer may arrive twice (a redelivery after a slow ack, a
/// timer scheduled again after it fired), and a cancelled timer may still arrive if it
/// fired before the cancel. Workers check on arrival whether the timer still matters.
pub struct FiredTimer {
    /// Who the timer belongs to.
    pub owner: String,
    /// The timer's name within its owner.
    pub name: String,
    /// When it was due.
    pub due: SystemTime,
    /// What it carries.
    pub payload: Bytes,
    /// When it fired: on JetStream the time the server stored the fired message; in
    /// memory the virtual time at which it fired (its due time, or the time it was
    /// scheduled if that was later).
    pub fired_at: SystemTime,
    /// How many times it has been delivered, this delivery included (1 the first time).
    pub deliveries: u64,
    acker: Box<dyn Acker>,
}

impl FiredTimer {
    pub(crate) fn new(
        key: (String, String),
        due: SystemTime,
        payload: Bytes,
        fired_at: SystemTime,
        deliveries: u64,
        acker: Box<dyn Acker>,
    ) -> FiredTimer {
        let (owner, name) = key;
        FiredTimer {
            owner,
            name,
            due,
            payload,
            fired_at,
            deliveries,
            acker,
        }
    }

    /// Acknowledges the timer: it is handled and is not delivered again. On JetStream the
    /// server confirms the acknowledgement before this returns, so an `Ok` means the timer
    /// is gone from the stream.
    pub async fn ack(self) -> Result<()> {
        self.acker.ack().await
    }
}

impl fmt::Debug for FiredTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiredTimer")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("due", &self.due)
            .field("payload", &self.payload)
            .field("fired_at", &self.fired_at)
            .field("deliveries", &self.deliveries)
            .finish_non_exhaustive()
    }
}
