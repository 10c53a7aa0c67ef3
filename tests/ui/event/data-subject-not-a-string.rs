use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    Placed {
        #[event(id)]
        order_id: String,
        #[event(data_subject)]
        customer: u64,
    },
}

fn main() {}
