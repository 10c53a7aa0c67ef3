//! Crate-visible events and aggregates in modules, named by path from elsewhere.
#![deny(warnings)]

mod bank {
    pub(crate) mod events {
        use cim_events::Event;
        use serde::{Deserialize, Serialize};

        #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
        #[event(aggregate = "Account")]
        pub(crate) enum AccountEvent {
            Deposited {
                #[event(id)]
                account_id: String,
                amount: u64,
            },
        }
    }

    use std::convert::Infallible;

    use cim_events::aggregate;

    pub(crate) struct Deposit(pub(crate) u64);

    #[derive(Default)]
    pub(crate) struct Account {
        pub(crate) balance: u64,
    }

    #[aggregate(events = events::AccountEvent)]
    impl Account {
        #[command]
        pub(crate) fn deposit(&self, Deposit(amount): Deposit) -> Result<events::AccountEvent, Infallible> {
            Ok(events::AccountEvent::Deposited {
                account_id: "acc-1".into(),
                amount,
            })
        }

        #[apply(Deposited)]
        pub(super) fn deposited(&mut self, amount: &u64) {
            self.balance += amount;
        }
    }
}

use bank::events::AccountEvent;
use cim_events::{Aggregate, CommandContext, EventHeader, Handle};

fn main() {
    let header = EventHeader::default();
    let ctx = CommandContext {
        aggregate_id: "acc-1",
        version: 0,
        header: &header,
    };
    let mut account = bank::Account::default();
    for event in account.handle(bank::Deposit(5), &ctx).unwrap() {
        account.apply(&event);
    }
    assert_eq!(account.balance, 5);
    assert_eq!(AccountEvent::EVENT_TYPES, ["Deposited"]);
    assert_eq!(AccountEvent::filter_deposited("bank"), "bank.*.Deposited");
}
