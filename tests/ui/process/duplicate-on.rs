use cim_events::process::Reaction;
use cim_events::{Event, aggregate, process};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed { amount: u64 },
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Payment")]
enum PaymentEvent {
    Received { amount: u64 },
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Checkout")]
enum CheckoutEvent {
    Started,
}

#[derive(Default)]
struct Checkout;

#[aggregate(events = CheckoutEvent)]
impl Checkout {
    #[apply(Started)]
    fn started(&mut self) {}
}

#[process]
impl Checkout {
    #[on(OrderEvent::Placed)]
    fn placed(&self, _event: &OrderEvent, out: &mut Reaction<Self>) {
        out.record(CheckoutEvent::Started);
    }

    #[on(OrderEvent::Placed)]
    fn placed_again(&self, _event: &OrderEvent, _out: &mut Reaction<Self>) {}
}

fn main() {}
