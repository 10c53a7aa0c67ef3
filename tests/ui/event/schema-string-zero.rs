use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = "0")]
struct OrderCreated {
    #[event(id)]
    order_id: String,
}

fn main() {}
