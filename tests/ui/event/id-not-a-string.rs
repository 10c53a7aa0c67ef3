use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderId(u128);

#[derive(Event, Serialize, Deserialize)]
struct OrderCreated {
    #[event(id)]
    order_id: OrderId,
}

fn main() {}
