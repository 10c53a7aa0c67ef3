use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(from(1 = Deposited))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
