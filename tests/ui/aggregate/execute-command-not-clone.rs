use cim_events::{Event, MemoryEventStore, Repository, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
}

#[derive(Default)]
struct Account;

struct Open;

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self) {}

    #[command]
    fn open(&self, _command: Open) -> Result<AccountEvent, std::convert::Infallible> {
        Ok(AccountEvent::Opened {
            account_id: "acc-1".into(),
        })
    }
}

async fn run(accounts: Repository<Account, MemoryEventStore>) {
    let _ = accounts.execute("acc-1", Open).await;
}

fn main() {
    let _ = run;
}
