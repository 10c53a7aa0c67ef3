use cim_events::Event;
use serde::{Deserialize, Serialize};

struct DepositedV1 {
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = DepositedV1))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

impl From<DepositedV1> for Deposited {
    fn from(old: DepositedV1) -> Self {
        Deposited { account_id: old.account_id }
    }
}

fn main() {}
