use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = DepositedV1))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
