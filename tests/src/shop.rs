//! A small shop for the process-manager tests: an `Order` aggregate and a `Fulfilment`
//! process that, when an order is placed, records the start, reserves and confirms the
//! order (two commands), and sets an expiry timer that marks the order expired.
//!
//! The worker binary `shop_worker` runs the process on JetStream, so that a test can kill
//! it with SIGKILL mid-step. With `SHOP_SLOW_CONFIRM_MS` set, confirming takes that long:
//! a kill then lands between the reservation and the confirmation.

use std::time::Duration;

use cim_events::process::{Process, Reaction, Wakeup};
use cim_events::{Event, EventSelector, RecordedEvent, aggregate};
use serde::{Deserialize, Serialize};

/// How long after an order is placed its fulfilment expires it.
pub const EXPIRY: Duration = Duration::from_secs(3);

/// The events of an order.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Order")]
pub enum OrderEvent {
    /// Placed with this many items.
    Placed {
        /// Items ordered.
        items: u32,
    },
    /// Its stock is reserved.
    Reserved,
    /// Confirmed to the customer.
    Confirmed,
    /// Expired by its fulfilment's timer.
    Expired,
}

/// An order.
#[derive(Default, Debug)]
pub struct Order {
    /// Events applied, by type, to count effects.
    pub reserved: u32,
    /// Times confirmed.
    pub confirmed: u32,
    /// Times expired.
    pub expired: u32,
}

#[aggregate(events = OrderEvent, error = std::convert::Infallible)]
impl Order {
    /// Places the order.
    #[command]
    pub fn place(&self, items: u32) -> Result<OrderEvent, std::convert::Infallible> {
        Ok(OrderEvent::Placed { items })
    }

    /// Reserves its stock (applied every time it is sent: effects are counted).
    #[command]
    pub fn reserve(&self) -> Result<OrderEvent, std::convert::Infallible> {
        Ok(OrderEvent::Reserved)
    }

    /// Confirms it; slow when `SHOP_SLOW_CONFIRM_MS` says so.
    #[command]
    pub fn confirm(&self) -> Result<OrderEvent, std::convert::Infallible> {
        if let Some(ms) = std::env::var("SHOP_SLOW_CONFIRM_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        Ok(OrderEvent::Confirmed)
    }

    /// Expires it.
    #[command]
    pub fn expire(&self) -> Result<OrderEvent, std::convert::Infallible> {
        Ok(OrderEvent::Expired)
    }

    #[apply(Placed)]
    fn placed(&mut self) {}

    #[apply(Reserved)]
    fn reserved(&mut self) {
        self.reserved += 1;
    }

    #[apply(Confirmed)]
    fn confirmed(&mut self) {
        self.confirmed += 1;
    }

    #[apply(Expired)]
    fn expired(&mut self) {
        self.expired += 1;
    }
}

/// The decisions of a fulfilment.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Fulfilment")]
pub enum FulfilmentEvent {
    /// Started for an order.
    Started {
        /// The order.
        order: String,
    },
    /// Expired.
    Expired,
}

/// A fulfilment: one per order, its instance id `f-{order}`.
#[derive(Default, Debug)]
pub struct Fulfilment {
    /// The order, once started.
    pub order: Option<String>,
    /// Whether it expired.
    pub expired: bool,
}

#[aggregate(events = FulfilmentEvent, error = std::convert::Infallible)]
impl Fulfilment {
    #[apply(Started)]
    fn started(&mut self, order: &str) {
        self.order = Some(order.to_owned());
    }

    #[apply(Expired)]
    fn was_expired(&mut self) {
        self.expired = true;
    }
}

/// The fulfilment's own timers on JetStream: a timer stream of its own beside the event
/// stream `stream` (one consumer per timer stream).
pub async fn timers(
    context: async_nats::jetstream::Context,
    stream: &str,
    prefix: &str,
) -> cim_events::Result<cim_events::jetstream::JetStreamTimers> {
    cim_events::jetstream::JetStreamTimers::builder(context, stream)
        .stream_name(format!("{stream}_FULFILMENT_TIMERS"))
        .prefix(format!("{prefix}_fulfilment"))
        .ack_wait(Duration::from_secs(2))
        .build()
        .await
}

/// The fulfilment instance of `order`.
pub fn fulfilment_of(order: &str) -> String {
    format!("f-{order}")
}

impl Process for Fulfilment {
    fn selector() -> EventSelector {
        OrderEvent::selector_placed()
    }

    fn instance(trigger: &RecordedEvent) -> Option<String> {
        Some(fulfilment_of(trigger.aggregate_id()))
    }

    fn react(&self, placed: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), Self::Error> {
        if self.order.is_some() {
            return Ok(());
        }
        let order = placed.aggregate_id().to_owned();
        out.record(FulfilmentEvent::Started {
            order: order.clone(),
        });
        out.send::<Order, _>(order.clone(), order::Reserve);
        out.send::<Order, _>(order, order::Confirm);
        out.schedule("expire", EXPIRY);
        Ok(())
    }

    fn wake(&self, timer: &Wakeup, out: &mut Reaction<Self>) -> Result<(), Self::Error> {
        // Expired already, or not started: the timer no longer matters.
        if let (Some(order), "expire", false) = (&self.order, timer.name.as_str(), self.expired) {
            out.record(FulfilmentEvent::Expired);
            out.send::<Order, _>(order.clone(), order::Expire);
        }
        Ok(())
    }
}
