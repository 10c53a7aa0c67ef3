use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = Deposited, 1 = Deposited))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
