//! Runtime behaviour of the code `#[derive(Event)]` writes: names, subjects, filters,
//! ids, schema versions, and per-variant payloads through a real store.

use std::collections::BTreeMap;

use cim_events::payload::PayloadProblem;
use cim_events::{Event, EventStore, ExpectedVersion, Ipld, MemoryEventStore};
use serde::{Deserialize, Serialize};

/// A struct event wrapped by a newtype variant below. Only its version was bumped, twice:
/// older payloads read as the current type (`From<T> for T`).
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", name = "AccountClosed", schema = 3, from(2 = Closed, 1 = Closed))]
struct Closed {
    #[event(id)]
    account_id: String,
    reason: String,
}

mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account")]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
        owner_name: String,
    },
    #[event(name = "MoneyDeposited", schema = 2, from(1 = DepositedV1))]
    Deposited {
        #[event(id)]
        account_id: String,
        #[serde(rename = "amt", with = "hex")]
        amount: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        memo: Option<String>,
        #[serde(skip)]
        cached: u8,
    },
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    Renamed {
        #[event(id)]
        account_id: Box<str>,
        new_owner: String,
    },
    Closed(Closed),
}

/// `Deposited` as schema 1 stored it: the amount in decimal, no memo.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DepositedV1 {
    account_id: String,
    amount: u64,
}

impl From<DepositedV1> for AccountEvent {
    fn from(old: DepositedV1) -> Self {
        AccountEvent::Deposited {
            account_id: old.account_id,
            amount: old.amount,
            memo: None,
            cached: 0,
        }
    }
}

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        account_id: "acc-1".into(),
        owner_name: "Alice".into(),
    }
}

fn deposited(memo: Option<&str>) -> AccountEvent {
    AccountEvent::Deposited {
        account_id: "acc-1".into(),
        amount: 255,
        memo: memo.map(str::to_owned),
        cached: 0,
    }
}

fn closed() -> AccountEvent {
    AccountEvent::Closed(Closed {
        account_id: "acc-1".into(),
        reason: "moved".into(),
    })
}

fn map(entries: &[(&str, Ipld)]) -> Ipld {
    Ipld::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn string(s: &str) -> Ipld {
    Ipld::String(s.to_owned())
}

#[test]
fn names_types_and_schemas() {
    assert_eq!(
        AccountEvent::EVENT_TYPES,
        ["Opened", "MoneyDeposited", "Renamed", "AccountClosed"]
    );
    assert_eq!(AccountEvent::AGGREGATE_TYPE, "Account");
    assert_eq!(opened().event_type(), "Opened");
    assert_eq!(deposited(None).event_type(), "MoneyDeposited");
    assert_eq!(closed().event_type(), "AccountClosed");
    assert_eq!(closed().aggregate_type(), "Account");
    assert_eq!(opened().schema_version(), 1);
    assert_eq!(deposited(None).schema_version(), 2);
    assert_eq!(closed().schema_version(), 3);
    assert_eq!(Closed::EVENT_TYPE, "AccountClosed");
    assert_eq!(Closed::SCHEMA_VERSION, 3);
    assert_eq!(Closed::EVENT_TYPES, ["AccountClosed"]);
}

#[test]
fn aggregate_ids() {
    assert_eq!(opened().aggregate_id(), "acc-1");
    assert_eq!(closed().aggregate_id(), "acc-1");
    let renamed = AccountEvent::Renamed {
        account_id: "acc-9".into(),
        new_owner: "Bob".into(),
    };
    assert_eq!(renamed.aggregate_id(), "acc-9");
}

#[test]
fn subjects_and_filters() {
    assert_eq!(
        deposited(None).subject("events"),
        "events.acc-1.MoneyDeposited"
    );
    assert_eq!(closed().subject("bank"), "bank.acc-1.AccountClosed");
    assert_eq!(AccountEvent::FILTER_OPENED, "events.*.Opened");
    assert_eq!(AccountEvent::FILTER_DEPOSITED, "events.*.MoneyDeposited");
    assert_eq!(AccountEvent::FILTER_CLOSED, "events.*.AccountClosed");
    assert!(AccountEvent::FILTER_OPENED.starts_with(cim_events::subject::DEFAULT_PREFIX));
    assert_eq!(
        AccountEvent::filter_deposited("bank"),
        "bank.*.MoneyDeposited"
    );
    assert_eq!(AccountEvent::filter_closed("bank"), "bank.*.AccountClosed");
    assert_eq!(Closed::FILTER, "events.*.AccountClosed");
    assert_eq!(Closed::filter("t.ev"), "t.ev.*.AccountClosed");
    assert_eq!(
        AccountEvent::aggregate_filter("events", "acc-1"),
        cim_events::subject::aggregate_filter("events", "acc-1")
    );
    for filter in [AccountEvent::FILTER_OPENED, AccountEvent::FILTER_RENAMED] {
        assert!(cim_events::subject::subject_matches(
            filter,
            &format!("events.acc-7.{}", filter.rsplit('.').next().unwrap())
        ));
    }
}

#[test]
fn payloads_are_per_variant_and_follow_serde() {
    // No enum tag (`kind`), fields renamed by `rename_all_fields`.
    assert_eq!(
        opened().to_payload().unwrap(),
        map(&[
            ("accountId", string("acc-1")),
            ("ownerName", string("Alice"))
        ])
    );
    // `rename`, `with`, `skip_serializing_if` and `skip` on fields.
    assert_eq!(
        deposited(None).to_payload().unwrap(),
        map(&[("accountId", string("acc-1")), ("amt", string("ff"))])
    );
    assert_eq!(
        deposited(Some("rent")).to_payload().unwrap(),
        map(&[
            ("accountId", string("acc-1")),
            ("amt", string("ff")),
            ("memo", string("rent"))
        ])
    );
    // The variant's `rename_all` wins over the enum's `rename_all_fields`.
    let renamed = AccountEvent::Renamed {
        account_id: "acc-1".into(),
        new_owner: "Bob".into(),
    };
    assert_eq!(
        renamed.to_payload().unwrap(),
        map(&[
            ("ACCOUNT_ID", string("acc-1")),
            ("NEW_OWNER", string("Bob"))
        ])
    );
    // A newtype variant stores the wrapped event's payload.
    assert_eq!(
        closed().to_payload().unwrap(),
        map(&[("account_id", string("acc-1")), ("reason", string("moved"))])
    );
}

#[test]
fn decoding_picks_the_variant_by_event_type() {
    for event in [opened(), deposited(None), deposited(Some("x")), closed()] {
        let payload = event.to_payload().unwrap();
        let back = AccountEvent::from_payload(event.event_type(), event.schema_version(), payload)
            .unwrap();
        assert_eq!(back, event);
    }
    let err = AccountEvent::from_payload("Nope", 1, map(&[])).unwrap_err();
    assert!(
        matches!(err.problem, PayloadProblem::Mismatch(ref m) if m.contains("Nope") && m.contains("MoneyDeposited"))
    );
    // A payload of the wrong shape for its event type is a mismatch too.
    let err = AccountEvent::from_payload("Opened", 1, map(&[("x", string("y"))])).unwrap_err();
    assert!(matches!(err.problem, PayloadProblem::Mismatch(_)));
}

#[test]
fn older_schemas_decode_through_their_upcasts() {
    let v1 = map(&[
        ("accountId", string("acc-1")),
        ("amount", Ipld::Integer(255)),
    ]);
    assert_eq!(
        AccountEvent::from_payload("MoneyDeposited", 1, v1).unwrap(),
        deposited(None)
    );
    // An identity step: the payload is the current type's.
    let payload = closed().to_payload().unwrap();
    assert_eq!(
        AccountEvent::from_payload("AccountClosed", 1, payload.clone()).unwrap(),
        closed()
    );
    // Newer than the code, or version 0: a typed error, not a guess.
    for (event_type, stored, current) in [
        ("MoneyDeposited", 3, 2),
        ("AccountClosed", 4, 3),
        ("Opened", 2, 1),
        ("Opened", 0, 1),
    ] {
        let err = AccountEvent::from_payload(event_type, stored, payload.clone()).unwrap_err();
        assert_eq!(
            err.problem,
            PayloadProblem::UnknownSchema {
                event_type: event_type.to_owned(),
                stored,
                current
            }
        );
    }
}

#[tokio::test]
async fn round_trip_through_the_memory_store() {
    let store = MemoryEventStore::new();
    let events = vec![opened(), deposited(Some("rent")), closed()];
    let stored = store
        .append_events("acc-1", events.clone(), ExpectedVersion::NoStream)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1].subject, "events.acc-1.MoneyDeposited");

    let loaded = store.load("acc-1").await.unwrap();
    let types: Vec<&str> = loaded.iter().map(|r| r.event_type()).collect();
    assert_eq!(types, ["Opened", "MoneyDeposited", "AccountClosed"]);
    assert_eq!(
        loaded.iter().map(|r| r.block.schema).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(loaded[0].block.aggregate_type, "Account");
    // The stored payload is the variant's own map, renamed as serde says.
    assert_eq!(
        loaded[1].block.payload,
        map(&[
            ("accountId", string("acc-1")),
            ("amt", string("ff")),
            ("memo", string("rent"))
        ])
    );
    let decoded: Vec<AccountEvent> = loaded.iter().map(|r| r.decode().unwrap()).collect();
    assert_eq!(decoded, events);
    // A `#[serde(skip)]` field comes back as its default.
    assert!(matches!(
        decoded[1],
        AccountEvent::Deposited { cached: 0, .. }
    ));
    assert!(store.verify_chain("acc-1").await.unwrap().is_valid());
}
