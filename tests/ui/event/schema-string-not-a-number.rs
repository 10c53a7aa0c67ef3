use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = "v2")]
struct OrderCreated {
    #[event(id)]
    order_id: String,
}

fn main() {}
