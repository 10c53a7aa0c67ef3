use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Created {
    order_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    Created(Created),
}

fn main() {}
