//! Timers on JetStream message schedules (ADR-51): [`JetStreamTimers`], configured with
//! [`JetStreamTimersBuilder`]. `layout.rs` places timers in subjects, `provision.rs`
//! makes the timer stream, `rfc3339.rs` writes the `@at` times.

mod builder;
mod layout;
mod provision;
mod rfc3339;
mod timers;

pub use builder::{DEFAULT_TIMER_ACK_WAIT, JetStreamTimersBuilder};
pub use timers::JetStreamTimers;
