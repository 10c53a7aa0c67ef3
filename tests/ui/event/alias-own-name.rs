use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(name = "MoneyDeposited", aliases("Deposit", "MoneyDeposited"))]
struct Deposited {
    #[event(id)]
    account_id: String,
}

fn main() {}
