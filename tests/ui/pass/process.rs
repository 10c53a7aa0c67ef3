//! `#[process]` with every form of handler: the whole enum, the raw trigger, a handler
//! that cannot fail, timers with and without the `Wakeup`, an explicit subscription and
//! an instance function.

use std::time::Duration;

use cim_events::process::{Process, Reaction, Wakeup};
use cim_events::{Event, EventSelector, RecordedEvent, aggregate, process};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed { amount: u64 },
    #[event(name = "OrderShipped", aliases("Sent"))]
    Shipped,
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Payment")]
enum PaymentEvent {
    Received(Received),
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Payment", name = "PaymentReceived")]
struct Received {
    amount: u64,
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Checkout")]
enum CheckoutEvent {
    Started,
    Done,
}

#[derive(Debug)]
struct CheckoutError;

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("checkout failed")
    }
}

impl std::error::Error for CheckoutError {}

#[derive(Default)]
struct Checkout {
    started: bool,
}

#[aggregate(events = CheckoutEvent, error = CheckoutError)]
impl Checkout {
    #[apply(Started)]
    fn started(&mut self) {
        self.started = true;
    }
    #[apply(Done)]
    fn done(&mut self) {}
}

fn order_of(trigger: &RecordedEvent) -> Option<String> {
    Some(trigger.aggregate_id().to_owned())
}

#[process(instance = order_of, on = [OrderEvent::Placed, OrderEvent::Shipped, PaymentEvent::Received])]
impl Checkout {
    #[on(OrderEvent::Placed)]
    fn placed(&self, _event: &OrderEvent, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        out.record(CheckoutEvent::Started);
        out.schedule("payment-timeout", Duration::from_secs(60));
        Ok(())
    }

    #[cim_events::on(OrderEvent::Shipped)]
    fn shipped(&self, _event: &OrderEvent, _trigger: &RecordedEvent, out: &mut Reaction<Self>) {
        out.record(CheckoutEvent::Done);
    }

    #[on(PaymentEvent::Received)]
    fn paid(&self, event: &PaymentEvent, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        let PaymentEvent::Received(Received { amount }) = event;
        if *amount == 0 || !self.started {
            return Err(CheckoutError);
        }
        out.cancel("payment-timeout");
        Ok(())
    }

    #[on_timer("payment-timeout")]
    fn timed_out(&self, timer: &Wakeup, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        if timer.instance.is_empty() {
            return Err(CheckoutError);
        }
        out.record(CheckoutEvent::Done);
        Ok(())
    }

    #[on_timer("reminder")]
    fn remind(&self, _out: &mut Reaction<Self>) {}

    /// Not a handler: stays an ordinary method.
    fn is_started(&self) -> bool {
        self.started
    }
}

fn main() {
    let expected: EventSelector = OrderEvent::selector().or(PaymentEvent::selector());
    assert_eq!(Checkout::selector(), expected);
    assert!(!Checkout::default().is_started());
}
