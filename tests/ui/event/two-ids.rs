use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct OrderCreated {
    #[event(id)]
    order_id: String,
    #[event(id)]
    customer_id: String,
}

fn main() {}
