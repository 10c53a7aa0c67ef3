use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(name = "Order.Created")]
struct OrderCreated {
    #[event(id)]
    order_id: String,
}

fn main() {}
