use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(data_subject)]
struct Registered {
    #[event(id)]
    order_id: String,
    customer_id: String,
}

fn main() {}
