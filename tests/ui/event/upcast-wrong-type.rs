use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct DepositedV1 {
    account_id: String,
}

#[derive(Deserialize)]
struct DepositedV2 {
    account_id: String,
    amount: u64,
}

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 3, from(2 = DepositedV2, 1 = DepositedV1))]
struct Deposited {
    #[event(id)]
    account_id: String,
    amount: u64,
}

impl From<DepositedV2> for Deposited {
    fn from(old: DepositedV2) -> Self {
        Deposited { account_id: old.account_id, amount: old.amount }
    }
}

// Converts straight to the current type, skipping schema 2: the chain needs
// `From<DepositedV1> for DepositedV2`.
impl From<DepositedV1> for Deposited {
    fn from(old: DepositedV1) -> Self {
        Deposited { account_id: old.account_id, amount: 0 }
    }
}

fn main() {}
