use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct Created {
    #[event(id)]
    order_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    Created(Created),
    Recreated(Created),
}

fn main() {}
