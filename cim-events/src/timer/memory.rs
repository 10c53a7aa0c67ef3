//! `MemoryTimers`: timers kept in memory and fired by a [`VirtualClock`], with the same
//! replace, cancel, ack and redelivery rules as the JetStream timers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::error::Result;
use crate::subject::{TokenKind, validate_token};

use super::clock::VirtualClock;
use super::error::TimerError;
use super::fired::{Acker, FiredTimer, FiredTimers};
use super::request::{Timer, check_key};
use super::timers::Timers;

/// How long a delivered timer may stay unacknowledged before it is delivered again,
/// unless told otherwise: 30 s, as JetStream's default ack wait.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// Timers in memory, fired by a [`VirtualClock`] that the test moves: deterministic, with
/// no sleeping. Clones share the same timers.
///
/// ```
/// use std::time::Duration;
/// use cim_events::timer::{MemoryTimers, Timer, Timers, VirtualClock};
/// use futures::{FutureExt, StreamExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = VirtualClock::default();
/// let timers = MemoryTimers::new(&clock);
/// let due = clock.now() + Duration::from_secs(60);
/// timers.schedule(&Timer::new("saga-1", "timeout", due, "payload")?).await?;
/// let mut fired = timers.fired("sagas").await?;
///
/// clock.advance(Duration::from_secs(59));
/// assert!(fired.next().now_or_never().is_none()); // not due yet
///
/// clock.advance(Duration::from_secs(1));
/// let timer = fired.next().await.expect("fired")?;
/// assert_eq!((timer.name.as_str(), timer.fired_at), ("timeout", due));
/// timer.ack().await?;
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryTimers {
    shared: Arc<Shared>,
    clock: VirtualClock,
}

/// The state a store shares with its clock, its readers and its deliveries.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken whenever a fired timer becomes ready to read.
    ready: Notify,
}

type Key = (String, String);

#[derive(Debug)]
struct State {
    ack_wait: Duration,
    /// Orders events at the same instant: schedules and deliveries, in the order made.
    next_seq: u64,
    pending: BTreeMap<Key, Pending>,
    /// Fired, waiting for a reader, in firing order.
    ready: VecDeque<Delivery>,
    /// Delivered and not yet acknowledged, by delivery id, with the time it comes back.
    in_flight: HashMap<u64, (Delivery, SystemTime)>,
    consumer: Option<String>,
}

#[derive(Debug)]
struct Pending {
    due: SystemTime,
    payload: Bytes,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Delivery {
    id: u64,
    key: Key,
    due: SystemTime,
    payload: Bytes,
    fired_at: SystemTime,
    deliveries: u64,
}

impl MemoryTimers {
    /// Timers on `clock`, redelivering unacknowledged timers after [`DEFAULT_ACK_WAIT`].
    pub fn new(clock: &VirtualClock) -> MemoryTimers {
        MemoryTimers::with_ack_wait(clock, DEFAULT_ACK_WAIT)
    }

    /// Timers on `clock`, redelivering a fired timer that is not acknowledged within
    /// `ack_wait` of virtual time after its delivery.
    pub fn with_ack_wait(clock: &VirtualClock, ack_wait: Duration) -> MemoryTimers {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ack_wait,
                next_seq: 0,
                pending: BTreeMap::new(),
                ready: VecDeque::new(),
                in_flight: HashMap::new(),
                consumer: None,
            }),
            ready: Notify::new(),
        });
        clock.register(Arc::downgrade(&shared));
        MemoryTimers {
            shared,
            clock: clock.clone(),
        }
    }

    /// How many timers are scheduled and have not fired yet.
    pub fn pending(&self) -> usize {
        self.shared.lock().pending.len()
    }
}

#[async_trait]
impl Timers for MemoryTimers {
    async fn schedule(&self, timer: &Timer) -> Result<()> {
        let clock = self.clock.lock();
        let mut state = self.shared.lock();
        let key = (timer.owner().to_owned(), timer.name().to_owned());
        state.remove(&key);
        let seq = state.seq();
        let pending = Pending {
            due: timer.due(),
            payload: timer.payload().clone(),
            seq,
        };
        if pending.due <= clock.now {
            state.fire(key, pending, clock.now);
            drop((state, clock));
            self.shared.wake();
        } else {
            state.pending.insert(key, pending);
        }
        Ok(())
    }

    async fn cancel(&self, owner: &str, name: &str) -> Result<bool> {
        check_key(owner, name)?;
        Ok(self
            .shared
            .lock()
            .remove(&(owner.to_owned(), name.to_owned())))
    }

    async fn fired(&self, consumer: &str) -> Result<FiredTimers> {
        validate_token(TokenKind::TimerConsumer, consumer)?;
        {
            let mut state = self.shared.lock();
            match &state.consumer {
                Some(existing) if existing != consumer => {
                    return Err(TimerError::ConsumerInUse {
                        requested: consumer.to_owned(),
                        existing: existing.clone(),
                    }
                    .into());
                }
                _ => state.consumer = Some(consumer.to_owned()),
            }
        }
        let reader = (self.shared.clone(), self.clock.clone());
        Ok(Box::pin(futures::stream::unfold(
            reader,
            |(shared, clock)| async move {
                let fired = shared.next_delivery(&clock).await;
                Some((Ok(fired), (shared, clock)))
            },
        )))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the readers waiting for a fired timer.
    pub(crate) fn wake(&self) {
        self.ready.notify_waiters();
    }

    /// The time and order of the next thing that happens in this store: a pending timer
    /// firing or an unacknowledged one coming back.
    pub(crate) fn next_event(&self) -> Option<(SystemTime, u64)> {
        let state = self.lock();
        let fire = state.pending.values().map(|p| (p.due, p.seq));
        let back = state.in_flight.values().map(|(d, at)| (*at, d.id));
        fire.chain(back).min()
    }

    /// Makes the next event happen at `now`.
    pub(crate) fn run_next(&self, now: SystemTime) {
        let mut state = self.lock();
        let fire = state
            .pending
            .iter()
            .map(|(key, p)| ((p.due, p.seq), key.clone()))
            .min();
        let back = state
            .in_flight
            .values()
            .map(|(d, at)| ((*at, d.id), d.id))
            .min();
        let fire_first = match (&fire, &back) {
            (Some((at, _)), Some((back_at, _))) => at <= back_at,
            (fire, _) => fire.is_some(),
        };
        if fire_first {
            if let Some((_, key)) = fire {
                if let Some(pending) = state.pending.remove(&key) {
                    state.fire(key, pending, now);
                }
            }
        } else if let Some((_, id)) = back {
            if let Some((delivery, _)) = state.in_flight.remove(&id) {
                state.ready.push_back(delivery);
            }
        }
    }

    /// Waits for the next fired timer and hands it out.
    async fn next_delivery(self: &Arc<Self>, clock: &VirtualClock) -> FiredTimer {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let now = clock.lock().now;
                let mut state = self.lock();
                if let Some(mut delivery) = state.ready.pop_front() {
                    delivery.deliveries += 1;
                    let back_at = now + state.ack_wait;
                    state
                        .in_flight
                        .insert(delivery.id, (delivery.clone(), back_at));
                    let acker = MemoryAck {
                        shared: Arc::downgrade(self),
                        id: delivery.id,
                    };
                    return FiredTimer::new(
                        delivery.key,
                        delivery.due,
                        delivery.payload,
                        delivery.fired_at,
                        delivery.deliveries,
                        Box::new(acker),
                    );
                }
            }
            notified.await;
        }
    }
}

impl State {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn fire(&mut self, key: Key, pending: Pending, now: SystemTime) {
        let id = self.seq();
        self.ready.push_back(Delivery {
            id,
            key,
            due: pending.due,
            payload: pending.payload,
            fired_at: now,
            deliveries: 0,
        });
    }

    /// Removes every trace of the timer `key` that is not acknowledged yet; returns
    /// whether there was one.
    fn remove(&mut self, key: &Key) -> bool {
        let pending = self.pending.remove(key).is_some();
        let ready = self.ready.len();
        self.ready.retain(|d| &d.key != key);
        let in_flight = self.in_flight.len();
        self.in_flight.retain(|_, (d, _)| &d.key != key);
        pending || ready != self.ready.len() || in_flight != self.in_flight.len()
    }
}

/// Acknowledges one memory delivery.
struct MemoryAck {
    shared: Weak<Shared>,
    id: u64,
}

impl Acker for MemoryAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().in_flight.remove(&self.id);
        }
        Box::pin(async { Ok(()) })
    }
}
