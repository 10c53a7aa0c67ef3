use std::convert::Infallible;
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

struct Open {
    owner: String,
}

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self, owner: &str) {
        let _ = owner;
    }
    #[command(Open)]
    fn open(&self, command: Open) -> Result<AccountEvent, Infallible> {
        Ok(AccountEvent::Opened {
            account_id: "acc-1".into(),
            owner: command.owner,
        })
    }
}

fn main() {}
