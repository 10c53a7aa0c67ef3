//! `VirtualClock`: time that moves only when a test says so, firing the timers of every
//! `MemoryTimers` on it as it passes their due times.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::memory::Shared;

/// A clock for tests: [`now`](Self::now) stands still until [`advance`](Self::advance)
/// moves it, and moving it fires every due timer of the [`MemoryTimers`](super::MemoryTimers)
/// built on it, in due order (timers due at the same instant in the order they were
/// scheduled), each at its own due time. Clones share the same time.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use cim_events::timer::VirtualClock;
///
/// let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let clock = VirtualClock::new(start);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), start + Duration::from_secs(90));
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
pub(crate) struct ClockState {
    pub(crate) now: SystemTime,
    /// The timer stores on this clock; dropped ones are pruned as time advances.
    stores: Vec<Weak<Shared>>,
}

impl Default for VirtualClock {
    /// A clock standing at the Unix epoch.
    fn default() -> Self {
        VirtualClock::new(UNIX_EPOCH)
    }
}

impl VirtualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> VirtualClock {
        VirtualClock {
            inner: Arc::new(Mutex::new(ClockState {
                now: start,
                stores: Vec::new(),
            })),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> SystemTime {
        self.lock().now
    }

    /// Moves the clock forward by `by`, firing every timer that comes due on the way, in
    /// due order, and returning fired timers not acknowledged within their ack wait to
    /// their consumer. When it returns, everything due by the new time has fired and is
    /// waiting for (or in the hands of) a reader.
    pub fn advance(&self, by: Duration) {
        let mut clock = self.lock();
        let target = clock.now + by;
        clock.stores.retain(|store| store.strong_count() > 0);
        let stores: Vec<Arc<Shared>> = clock.stores.iter().filter_map(Weak::upgrade).collect();
        // One event at a time across all stores, so that timers of different stores on
        // the same clock also fire in due order.
        loop {
            let next = stores
                .iter()
                .filter_map(|store| store.next_event().map(|at| (at, store)))
                .filter(|((time, _), _)| *time <= target)
                .min_by_key(|(at, _)| *at);
            let Some(((time, _), store)) = next else {
                break;
            };
            clock.now = clock.now.max(time);
            store.run_next(clock.now);
        }
        clock.now = target;
        drop(clock);
        for store in stores {
            store.wake();
        }
    }

    /// Puts a timer store on this clock.
    pub(crate) fn register(&self, store: Weak<Shared>) {
        self.lock().stores.push(store);
    }

    /// The clock's state, for a store that must read the time and change its own state
    /// as one step (the clock is always locked before a store).
    pub(crate) fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
