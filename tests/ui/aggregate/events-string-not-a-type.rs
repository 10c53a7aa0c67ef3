use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
}

#[derive(Default)]
struct Account;

#[aggregate(events = "the account events")]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self, owner: &str) {
        let _ = owner;
    }
}

fn main() {}
