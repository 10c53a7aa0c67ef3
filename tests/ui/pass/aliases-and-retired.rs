//! Renamed events read under their old names, filters that cover them, and a retired
//! event that still decodes and applies but is no longer appended.
#![deny(warnings)]

use cim_events::{Aggregate, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", name = "AccountClosed", aliases("Closed"))]
struct Closed {
    #[event(id)]
    account_id: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account")]
enum AccountEvent {
    #[event(name = "MoneyDeposited", aliases("Deposit", "Deposited"))]
    Deposited {
        #[event(id)]
        account_id: String,
        amount: u64,
    },
    #[event(retired)]
    Frozen {
        #[event(id)]
        account_id: String,
    },
    Closed(Closed),
}

#[derive(Default)]
struct Account {
    balance: u64,
    frozen: bool,
    closed: bool,
}

#[aggregate(events = AccountEvent)]
impl Account {
    #[apply(Deposited)]
    fn deposited(&mut self, amount: &u64) {
        self.balance += amount;
    }

    #[apply(Frozen)]
    fn frozen(&mut self) {
        self.frozen = true;
    }

    #[apply]
    fn closed(&mut self, _event: &Closed) {
        self.closed = true;
    }
}

fn main() {
    assert_eq!(AccountEvent::EVENT_TYPES, ["MoneyDeposited", "Frozen", "AccountClosed"]);
    assert_eq!(AccountEvent::FILTER_DEPOSITED, "events.*.MoneyDeposited");
    assert_eq!(
        AccountEvent::FILTERS_DEPOSITED,
        ["events.*.MoneyDeposited", "events.*.Deposit", "events.*.Deposited"]
    );
    assert_eq!(
        AccountEvent::filters_closed("bank"),
        ["bank.*.AccountClosed", "bank.*.Closed"]
    );
    assert_eq!(
        AccountEvent::FILTERS,
        [
            "events.*.MoneyDeposited",
            "events.*.Deposit",
            "events.*.Deposited",
            "events.*.Frozen",
            "events.*.AccountClosed",
            "events.*.Closed",
        ]
    );
    assert_eq!(AccountEvent::filters("bank").len(), 6);
    assert_eq!(Closed::FILTER, "events.*.AccountClosed");
    assert_eq!(Closed::FILTERS, ["events.*.AccountClosed", "events.*.Closed"]);
    assert_eq!(Closed::filters("x"), ["x.*.AccountClosed", "x.*.Closed"]);

    let deposited = AccountEvent::Deposited {
        account_id: "a-1".into(),
        amount: 5,
    };
    let payload = deposited.to_payload().unwrap();
    for name in ["MoneyDeposited", "Deposit", "Deposited"] {
        assert_eq!(
            AccountEvent::from_payload(name, 1, payload.clone()).unwrap(),
            deposited
        );
    }
    let closed = Closed {
        account_id: "a-1".into(),
    };
    let back = AccountEvent::from_payload("Closed", 1, closed.to_payload().unwrap()).unwrap();
    assert_eq!(back, AccountEvent::Closed(closed));
    assert_eq!(back.event_type(), "AccountClosed");

    let frozen = AccountEvent::Frozen {
        account_id: "a-1".into(),
    };
    assert!(frozen.is_retired());
    assert!(!deposited.is_retired());
    assert!(!back.is_retired());
    let mut account = Account::default();
    for event in [&deposited, &frozen, &back] {
        account.apply(event);
    }
    assert_eq!((account.balance, account.frozen, account.closed), (5, true, true));
}
