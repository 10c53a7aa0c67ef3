//! Upcasts as the compile errors' hints write them: each older schema listed in
//! `from(…)`, each step a `From` impl, the last one into the struct or, for a variant,
//! into the enum; identity steps for bumps that kept the payload; generic events.
#![deny(warnings)]

use cim_events::{Event, Ipld};
use serde::{Deserialize, Serialize};

// A struct event at schema 3: `memo` added in 2, `amount` retyped from text in 3.
#[derive(Deserialize)]
struct DepositedV1 {
    account_id: String,
    amount: String,
}

#[derive(Serialize, Deserialize)]
struct DepositedV2 {
    account_id: String,
    amount: String,
    memo: Option<String>,
}

impl From<DepositedV1> for DepositedV2 {
    fn from(old: DepositedV1) -> Self {
        DepositedV2 {
            account_id: old.account_id,
            amount: old.amount,
            memo: None,
        }
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", schema = 3, from(2 = DepositedV2, 1 = DepositedV1))]
struct Deposited {
    #[event(id)]
    account_id: String,
    cents: u64,
    memo: Option<String>,
}

impl From<DepositedV2> for Deposited {
    fn from(old: DepositedV2) -> Self {
        Deposited {
            account_id: old.account_id,
            cents: old.amount.parse().unwrap_or_default(),
            memo: old.memo,
        }
    }
}

// Only the version was bumped: schema 1 payloads are read as the current type.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", schema = 2, from(1 = Closed))]
struct Closed {
    #[event(id)]
    account_id: String,
}

#[derive(Deserialize)]
struct OpenedV1 {
    id: String,
}

// An enum at schema 2: a variant's last step converts into the enum, which builds the
// variant; a variant added at schema 2 was never stored under schema 1.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", schema = 2)]
enum AccountEvent {
    #[event(from(1 = OpenedV1))]
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
    #[event(schema = 1)]
    Frozen {
        #[event(id)]
        account_id: String,
    },
    Deposited(Deposited),
    Closed(Closed),
}

impl From<OpenedV1> for AccountEvent {
    fn from(old: OpenedV1) -> Self {
        AccountEvent::Opened {
            account_id: old.id,
            owner: String::new(),
        }
    }
}

// A generic event: the listed types may use the event's parameters.
#[derive(Deserialize)]
struct TaggedV1<T> {
    id: String,
    tag: T,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(schema = 2, from(1 = TaggedV1<T>))]
struct Tagged<T> {
    #[event(id)]
    id: String,
    tags: Vec<T>,
}

impl<T> From<TaggedV1<T>> for Tagged<T> {
    fn from(old: TaggedV1<T>) -> Self {
        Tagged {
            id: old.id,
            tags: vec![old.tag],
        }
    }
}

fn map(entries: &[(&str, Ipld)]) -> Ipld {
    Ipld::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn text(s: &str) -> Ipld {
    Ipld::String(s.to_owned())
}

fn main() {
    let v1 = map(&[("account_id", text("a-1")), ("amount", text("250"))]);
    let current = Deposited {
        account_id: "a-1".into(),
        cents: 250,
        memo: None,
    };
    assert_eq!(Deposited::from_payload("Deposited", 1, v1.clone()).unwrap(), current);
    let v2 = map(&[
        ("account_id", text("a-1")),
        ("amount", text("250")),
        ("memo", text("rent")),
    ]);
    let with_memo = Deposited {
        memo: Some("rent".into()),
        ..current.clone()
    };
    assert_eq!(Deposited::from_payload("Deposited", 2, v2).unwrap(), with_memo);
    let v3 = current.to_payload().unwrap();
    assert_eq!(Deposited::from_payload("Deposited", 3, v3.clone()).unwrap(), current);
    assert!(Deposited::from_payload("Deposited", 4, v3).is_err());
    assert!(Deposited::from_payload("Deposited", 0, v1).is_err());

    let closed = Closed {
        account_id: "a-1".into(),
    };
    assert_eq!(
        Closed::from_payload("Closed", 1, closed.to_payload().unwrap()).unwrap(),
        closed
    );

    let opened = AccountEvent::from_payload("Opened", 1, map(&[("id", text("a-1"))])).unwrap();
    assert_eq!(
        opened,
        AccountEvent::Opened {
            account_id: "a-1".into(),
            owner: String::new(),
        }
    );
    assert_eq!(opened.schema_version(), 2);
    let frozen = AccountEvent::Frozen {
        account_id: "a-1".into(),
    };
    assert_eq!(frozen.schema_version(), 1);
    // Through a newtype variant, the wrapped struct's upcasts apply.
    let v1 = map(&[("account_id", text("a-1")), ("amount", text("7"))]);
    assert_eq!(
        AccountEvent::from_payload("Deposited", 1, v1).unwrap(),
        AccountEvent::Deposited(Deposited {
            cents: 7,
            ..current
        })
    );

    let tagged = Tagged::<u8>::from_payload(
        "Tagged",
        1,
        map(&[("id", text("t-1")), ("tag", Ipld::Integer(3))]),
    )
    .unwrap();
    assert_eq!(tagged.tags, [3]);
}
