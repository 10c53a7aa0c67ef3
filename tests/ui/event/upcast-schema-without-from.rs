use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 3)]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
