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

struct Rename {
    owner: String,
}

struct Close;

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self, owner: &str) {
        let _ = owner;
    }

    #[command]
    fn open(&self, command: Open) -> Result<AccountEvent, std::convert::Infallible> {
        Ok(AccountEvent::Opened {
            account_id: "acc-1".into(),
            owner: command.owner,
        })
    }

    #[command]
    fn rename(&self, command: Rename) -> Result<AccountEvent, std::convert::Infallible> {
        Ok(AccountEvent::Opened {
            account_id: "acc-1".into(),
            owner: command.owner,
        })
    }
}

fn run<A: cim_events::Handle<C>, C>(aggregate: &A, command: C) {
    let _ = (aggregate, command);
}

fn main() {
    run(&Account, Close);
}
