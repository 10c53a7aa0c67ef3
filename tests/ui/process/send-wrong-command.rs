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

#[derive(Default)]
struct Order;

#[aggregate(events = OrderEvent)]
impl Order {
    #[command]
    fn place(&self, amount: u64) -> Result<OrderEvent, std::convert::Infallible> {
        Ok(OrderEvent::Placed { amount })
    }
    #[apply(Placed)]
    fn placed(&mut self) {}
}

mod inventory {
    #[derive(Clone, Debug)]
    pub struct Reserve {
        pub sku: String,
    }
}

#[process]
impl Checkout {
    #[on(OrderEvent::Placed)]
    fn placed(&self, _event: &OrderEvent, out: &mut Reaction<Self>) {
        out.send::<Order, _>("o-1", inventory::Reserve { sku: "apple".into() });
    }
}

fn main() {}
