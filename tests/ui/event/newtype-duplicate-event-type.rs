use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(name = "Created")]
struct Placed {
    #[event(id)]
    order_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    Created {
        #[event(id)]
        order_id: String,
    },
    Placed(Placed),
}

fn main() {}
