use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2.5)]
struct OrderCreated {
    #[event(id)]
    order_id: String,
}

fn main() {}
