use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aliases = "Deposit")]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
