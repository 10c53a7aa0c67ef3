use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct OrderCreated {
    #[event(id)]
    order_id: Option<String>,
}

fn main() {}
