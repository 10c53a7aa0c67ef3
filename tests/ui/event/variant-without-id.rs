use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    Created {
        #[event(id)]
        order_id: String,
    },
    Shipped {
        order_id: String,
    },
}

fn main() {}
