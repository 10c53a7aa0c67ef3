use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
}

struct Unrelated;

#[derive(Default)]
struct Account;

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self) {}

    #[apply]
    fn unrelated(&mut self, event: &Unrelated) {
        let _ = event;
    }
}

fn main() {}
