use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
struct Closed {
    #[event(id)]
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
    Closed(Closed),
}

#[derive(Default)]
struct Account;

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply]
    fn any(&mut self, event: &AccountEvent) {
        let _ = event;
    }

    #[apply]
    fn closed(&mut self, event: &Closed) {
        let _ = event;
    }
}

fn main() {}
