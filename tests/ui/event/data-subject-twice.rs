use cim_events::{Event, Pii};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct Registered {
    #[event(id)]
    order_id: String,
    #[event(data_subject)]
    customer_id: String,
    #[event(data_subject)]
    email: Pii<String>,
}

fn main() {}
