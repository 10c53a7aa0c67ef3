//! Durable process managers (sagas): processes that react to events of several
//! aggregates, send commands, and wait — for the next event, or for a timer.
//!
//! A process is an [`Aggregate`] whose events are its decisions: each instance's state is a
//! CID-chained history like any other, verifiable and replayable. [`Process`] adds what it
//! reacts to ([`selector`](Process::selector)), which instance an event concerns
//! ([`instance`](Process::instance), by default the event's correlation), and the
//! handlers ([`react`](Process::react), [`wake`](Process::wake)) that fill a
//! [`Reaction`]: events to record, commands to send, timers to set or cancel.
//!
//! A [`ProcessManager`] carries out one step per trigger, so that each effect happens once
//! however often the step is carried out: the step is recorded with a [`CommandId`]
//! derived from the trigger's CID, and each command it sends carries one derived from the
//! step's. Drivers feed it: `jetstream::ProcessWorker` on a durable consumer (restarts and
//! several workers), and [`drive`] on any store's subscription.
//!
//! [`CommandId`]: crate::CommandId
//!
//! ```
//! use cim_events::process::{Process, ProcessManager, Reaction};
//! use cim_events::{aggregate, Event, EventSelector, EventStore, MemoryEventStore, RecordedEvent, Repository};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug)]
//! #[event(aggregate = "Order")]
//! enum OrderEvent { Placed, Shipped }
//!
//! #[derive(Default)]
//! struct Order { shipped: bool }
//! #[aggregate(events = OrderEvent, error = std::convert::Infallible)]
//! impl Order {
//!     #[command]
//!     fn place(&self) -> Result<OrderEvent, std::convert::Infallible> { Ok(OrderEvent::Placed) }
//!     #[command]
//!     fn ship(&self) -> Result<Vec<OrderEvent>, std::convert::Infallible> {
//!         Ok(if self.shipped { vec![] } else { vec![OrderEvent::Shipped] })
//!     }
//!     #[apply(Placed)]
//!     fn placed(&mut self) {}
//!     #[apply(Shipped)]
//!     fn shipped(&mut self) { self.shipped = true }
//! }
//!
//! /// Ships every order as soon as it is placed.
//! #[derive(Event, Serialize, Deserialize, Clone, Debug)]
//! #[event(aggregate = "Shipping")]
//! enum ShippingEvent { Requested { order: String } }
//!
//! #[derive(Default)]
//! struct Shipping;
//! #[aggregate(events = ShippingEvent, error = std::convert::Infallible)]
//! impl Shipping {
//!     #[apply(Requested)]
//!     fn requested(&mut self) {}
//! }
//!
//! impl Process for Shipping {
//!     fn selector() -> EventSelector { OrderEvent::selector_placed() }
//!     fn react(&self, placed: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), Self::Error> {
//!         let order = placed.aggregate_id().to_owned();
//!         out.record(ShippingEvent::Requested { order: order.clone() });
//!         out.send::<Order, _>(order, order::Ship);
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! Repository::<Order, _>::new(store.clone()).execute("o-1", order::Place).await?;
//! let placed = store.load("o-1").await?.remove(0);
//!
//! let shipping = ProcessManager::<Shipping, _>::new(store.clone());
//! let step = shipping.react(&placed).await?;
//! assert_eq!((step.recorded.len(), step.sent.len()), (1, 1));
//! // Carried out again (a redelivery): nothing happens twice.
//! let again = shipping.react(&placed).await?;
//! assert!(again.repeated && again.sent[0].1.as_ref().is_ok_and(|d| d.deduplicated));
//! assert_eq!(store.load("o-1").await?.len(), 2); // Placed, Shipped
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod drive;
mod error;
mod manager;
mod reaction;

pub use drive::drive;
pub use error::{DispatchError, ProcessError};
pub use manager::{ProcessManager, StepReport, TIMER_META_KEY};
pub use reaction::{Delivered, Outgoing, Reaction, Wakeup};

use crate::aggregate::Aggregate;
use crate::record::RecordedEvent;
use crate::selector::EventSelector;

/// A process manager: an [`Aggregate`] (its state, rebuilt from the decisions it
/// recorded) that reacts to events of other aggregates and to its timers. See the
/// [module documentation](self).
pub trait Process: Aggregate {
    /// The events the process reacts to.
    fn selector() -> EventSelector;

    /// The process instance `trigger` concerns (an aggregate id of the process), `None`
    /// when it concerns none. By default the trigger's correlation id: a process instance
    /// per conversation.
    fn instance(trigger: &RecordedEvent) -> Option<String> {
        Some(trigger.correlation_id().to_owned())
    }

    /// Reacts to `trigger`, one of the events [`selector`](Process::selector) selects:
    /// records events, sends commands, sets timers, or rejects it (nothing is done then).
    /// Decide from the state and the trigger only: a step may be decided again.
    fn react(
        &self,
        trigger: &RecordedEvent,
        reaction: &mut Reaction<Self>,
    ) -> Result<(), Self::Error>;

    /// Reacts to one of its timers coming due. By default, nothing. A timer that no longer
    /// matters (cancelled, but already on its way) is ignored here, by the state.
    fn wake(&self, timer: &Wakeup, reaction: &mut Reaction<Self>) -> Result<(), Self::Error> {
        let _ = (timer, reaction);
        Ok(())
    }
}
