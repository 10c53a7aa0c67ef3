use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct DepositedV2 {
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 3, from(2 = DepositedV2))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

impl From<DepositedV2> for Deposited {
    fn from(old: DepositedV2) -> Self {
        Deposited { account_id: old.account_id }
    }
}

fn main() {}
