//! The `Checkout` process, one instance per order: it waits for the order's payment, then
//! confirms the order, or cancels it and releases its stock when the payment does not come
//! in time.
//!
//! A process is an aggregate whose events are its decisions (`AwaitingPayment`, `Paid`,
//! `TimedOut`): each instance's state is a CID-chained history, verifiable like any other.
//! The `ProcessManager` records each step's decisions, then sends its commands as caused
//! by the last decision, then sets or cancels its timers; each effect happens once however
//! often a step is carried out again.

use std::convert::Infallible;
use std::time::Duration;

use cim_events::process::Reaction;
use cim_events::{Event, RecordedEvent, aggregate, process};
use serde::{Deserialize, Serialize};

use crate::inventory::{InventoryItem, inventory_item};
use crate::order::{Line, Order, OrderEvent, order};
use crate::payment::PaymentEvent;

/// The timer that cancels an unpaid order.
pub const PAYMENT_TIMEOUT: &str = "payment-timeout";

/// The decisions of a checkout.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Checkout")]
pub enum CheckoutEvent {
    /// Started for a placed order. It keeps the lines: a timeout releases their stock.
    AwaitingPayment {
        order_id: String,
        lines: Vec<Line>,
    },
    Paid,
    TimedOut,
}

/// Where a checkout stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    #[default]
    New,
    AwaitingPayment,
    Paid,
    TimedOut,
}

/// A checkout's state, rebuilt from its decisions.
#[derive(Debug, Default, Clone)]
pub struct Checkout {
    pub stage: Stage,
    pub order_id: String,
    pub lines: Vec<Line>,
}

#[aggregate(events = CheckoutEvent, error = Infallible)]
impl Checkout {
    #[apply(AwaitingPayment)]
    fn awaiting_payment(&mut self, order_id: &str, lines: &[Line]) {
        self.stage = Stage::AwaitingPayment;
        self.order_id = order_id.to_owned();
        self.lines = lines.to_vec();
    }

    #[apply(Paid)]
    fn paid(&mut self) {
        self.stage = Stage::Paid;
    }

    #[apply(TimedOut)]
    fn timed_out(&mut self) {
        self.stage = Stage::TimedOut;
    }
}

/// The checkout instance of an order: not the order's own id, which names the order's
/// chain under the same subject prefix.
pub fn checkout_of(order_id: &str) -> String {
    format!("checkout-{order_id}")
}

/// One checkout per order: an order's `Placed` is its own; a `Received` names its order.
fn instance(trigger: &RecordedEvent) -> Option<String> {
    match trigger.decode::<PaymentEvent>() {
        Ok(PaymentEvent::Received { order_id }) if PaymentEvent::selector().matches(trigger) => {
            Some(checkout_of(&order_id))
        }
        _ => Some(checkout_of(trigger.aggregate_id())),
    }
}

#[process(instance = instance)]
impl Checkout {
    #[on(OrderEvent::Placed)]
    fn placed(&self, placed: &OrderEvent, trigger: &RecordedEvent, out: &mut Reaction<Self>) {
        if let (
            OrderEvent::Placed {
                lines,
                pay_within_secs,
                ..
            },
            Stage::New,
        ) = (placed, self.stage)
        {
            let order_id = trigger.aggregate_id().to_owned();
            let lines = lines.clone();
            out.record(CheckoutEvent::AwaitingPayment { order_id, lines });
            out.schedule(PAYMENT_TIMEOUT, Duration::from_secs(*pay_within_secs));
        }
    }

    /// Paid in time; a payment after the timeout is a refund's business.
    #[on(PaymentEvent::Received)]
    fn received(&self, _payment: &PaymentEvent, out: &mut Reaction<Self>) {
        if self.stage == Stage::AwaitingPayment {
            out.record(CheckoutEvent::Paid);
            out.cancel(PAYMENT_TIMEOUT);
            out.send::<Order, _>(&self.order_id, order::Confirm);
        }
    }

    /// Paid meanwhile: the timer was cancelled, but may have been on its way already.
    #[on_timer("payment-timeout")]
    fn payment_timed_out(&self, out: &mut Reaction<Self>) {
        if self.stage != Stage::AwaitingPayment {
            return;
        }
        out.record(CheckoutEvent::TimedOut);
        let reason = "not paid in time".to_owned();
        out.send::<Order, _>(&self.order_id, order::Cancel { reason });
        for line in &self.lines {
            let order_id = self.order_id.clone();
            out.send::<InventoryItem, _>(&line.sku, inventory_item::Release { order_id });
        }
    }
}
