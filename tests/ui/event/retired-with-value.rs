use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(retired = true)]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
