//! Durable timers: "deliver this message to me at T", for process managers (sagas) that
//! must wake up at a time even if every process restarted in between.
//!
//! - [`Timer`] (`request.rs`): owner, name, due time and a small payload, checked when made;
//! - [`Timers`] (`timers.rs`): `schedule`, `cancel` and `fired`, a durable delivery of
//!   the timers that came due, each to one worker of a consumer name, acknowledged with
//!   [`FiredTimer::ack`] (`fired.rs`) and redelivered if it is not;
//! - [`MemoryTimers`] (`memory.rs`) on a [`VirtualClock`] (`clock.rs`): deterministic
//!   timers for tests, fired as the test advances the clock;
//! - `jetstream::JetStreamTimers`: JetStream message schedules (ADR-51), held and fired by
//!   the server, so no process sleeps and nothing is lost over restarts.
//!
//! A timer is identified by owner and name. Scheduling it again replaces it; cancelling
//! removes it whether it is pending or fired but not yet acknowledged. Delivery is at
//! least once: a worker checks on arrival whether a timer still matters (it may have
//! been cancelled while it fired, or handled by a worker that crashed before its ack).

mod clock;
mod error;
mod fired;
mod memory;
mod request;
mod timers;

pub use clock::VirtualClock;
pub use error::TimerError;
#[cfg(feature = "jetstream")]
pub(crate) use fired::Acker;
pub use fired::{FiredTimer, FiredTimers};
pub use memory::{DEFAULT_ACK_WAIT, MemoryTimers};
pub use request::{MAX_PAYLOAD, Timer};
#[cfg(feature = "jetstream")]
pub(crate) use request::{check_key, from_nanos};
pub use timers::Timers;
