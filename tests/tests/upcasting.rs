//! Schema evolution on the memory store: history written by v1 code is read by v3 code.
//!
//! `v1` is the code as it was first shipped, with its own derive. The v3 code at the
//! root has, since then: added a field (`Opened.currency`, in 2), renamed one
//! (`Opened.owner` → `holder`, in 3), retyped one (`Deposited.amount`, text → cents, in
//! 2), renamed an event (`Noted` → `Annotated`, read under its old name through
//! `aliases`) and retired one (`Frozen`). Stored blocks never change: the CIDs the v1
//! appends returned are the ones read back, and the chain still verifies.

use cim_events::payload::PayloadProblem;
use cim_events::testing::AggregateTest;
use cim_events::{
    Cid, CommandContext, Error, Event, EventStore, ExpectedVersion, MemoryEventStore, Repository,
    StartFrom, aggregate,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// The first release.
mod v1 {
    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: String,
            owner: String,
        },
        Deposited {
            #[event(id)]
            account_id: String,
            /// Cents, as text.
            amount: String,
        },
        Noted {
            #[event(id)]
            account_id: String,
            text: String,
        },
        Frozen {
            #[event(id)]
            account_id: String,
        },
    }

    /// A writer with a bug: it stored `Deposited.amount` as a number, which no version
    /// of the reader expects. Its `Event` impl is hand-written, so it registers no shape:
    /// a derived one would be refused as schema drift before storing anything (see
    /// `schema_drift.rs`), and this test is about history that is already stored.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Deposited {
        pub account_id: String,
        pub amount: i64,
    }

    impl Event for Deposited {
        fn event_type(&self) -> &str {
            "Deposited"
        }
        fn aggregate_id(&self) -> &str {
            &self.account_id
        }
        fn aggregate_type(&self) -> &str {
            "Account"
        }
    }
}

// `Opened` as schemas 1 and 2 stored it.

#[derive(Deserialize)]
struct OpenedV1 {
    account_id: String,
    owner: String,
}

#[derive(Deserialize)]
struct OpenedV2 {
    account_id: String,
    owner: String,
    currency: String,
}

impl From<OpenedV1> for OpenedV2 {
    fn from(old: OpenedV1) -> Self {
        OpenedV2 {
            account_id: old.account_id,
            owner: old.owner,
            // Every account opened before schema 2 was in euros.
            currency: "EUR".into(),
        }
    }
}

impl From<OpenedV2> for AccountEvent {
    fn from(old: OpenedV2) -> Self {
        AccountEvent::Opened {
            account_id: old.account_id,
            holder: old.owner,
            currency: old.currency,
        }
    }
}

// `Deposited` as schemas 1 and 2 stored it.

#[derive(Deserialize)]
struct DepositedV1 {
    account_id: String,
    amount: String,
}

#[derive(Deserialize)]
struct DepositedV2 {
    account_id: String,
    amount: u64,
}

impl From<DepositedV1> for DepositedV2 {
    fn from(old: DepositedV1) -> Self {
        DepositedV2 {
            account_id: old.account_id,
            amount: old.amount.parse().unwrap_or_default(),
        }
    }
}

impl From<DepositedV2> for Deposited {
    fn from(old: DepositedV2) -> Self {
        Deposited {
            account_id: old.account_id,
            amount: old.amount,
            memo: None,
        }
    }
}

/// A struct event wrapped by a newtype variant: it carries its own upcasts.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account", schema = 3, from(2 = DepositedV2, 1 = DepositedV1))]
struct Deposited {
    #[event(id)]
    account_id: String,
    amount: u64,
    memo: Option<String>,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Account")]
enum AccountEvent {
    #[event(schema = 3, from(2 = OpenedV2, 1 = OpenedV1))]
    Opened {
        #[event(id)]
        account_id: String,
        holder: String,
        currency: String,
    },
    Deposited(Deposited),
    #[event(aliases("Noted"))]
    Annotated {
        #[event(id)]
        account_id: String,
        text: String,
    },
    #[event(retired)]
    Frozen {
        #[event(id)]
        account_id: String,
    },
}

#[derive(Default, Debug, PartialEq)]
struct Account {
    holder: String,
    balance: u64,
    notes: Vec<String>,
    frozen: bool,
}

#[aggregate(events = AccountEvent, error = Rejected)]
impl Account {
    #[apply(Opened)]
    fn opened(&mut self, holder: &str) {
        self.holder = holder.to_owned();
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    #[apply(Annotated)]
    fn annotated(&mut self, text: &str) {
        self.notes.push(text.to_owned());
    }

    // Retired, but history still holds it, and it still counts.
    #[apply(Frozen)]
    fn frozen(&mut self) {
        self.frozen = true;
    }

    #[command]
    fn deposit(
        &self,
        Deposit(amount): Deposit,
        ctx: &CommandContext<'_>,
    ) -> Result<AccountEvent, Rejected> {
        if self.frozen {
            return Err(Rejected::Frozen);
        }
        Ok(AccountEvent::Deposited(Deposited {
            account_id: ctx.aggregate_id.to_owned(),
            amount,
            memo: None,
        }))
    }
}

struct Deposit(u64);

#[derive(Debug, PartialEq)]
enum Rejected {
    Frozen,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the account is frozen")
    }
}

impl std::error::Error for Rejected {}

fn v1_history(id: &str) -> Vec<v1::AccountEvent> {
    vec![
        v1::AccountEvent::Opened {
            account_id: id.into(),
            owner: "Alice".into(),
        },
        v1::AccountEvent::Deposited {
            account_id: id.into(),
            amount: "1250".into(),
        },
        v1::AccountEvent::Noted {
            account_id: id.into(),
            text: "first note".into(),
        },
        v1::AccountEvent::Frozen {
            account_id: id.into(),
        },
    ]
}

/// What v3 code reads `v1_history` as.
fn v3_history(id: &str) -> Vec<AccountEvent> {
    vec![
        AccountEvent::Opened {
            account_id: id.into(),
            holder: "Alice".into(),
            currency: "EUR".into(),
        },
        AccountEvent::Deposited(Deposited {
            account_id: id.into(),
            amount: 1250,
            memo: None,
        }),
        AccountEvent::Annotated {
            account_id: id.into(),
            text: "first note".into(),
        },
        AccountEvent::Frozen {
            account_id: id.into(),
        },
    ]
}

/// Appends the v1 history one event at a time, as v1 code did, returning the CIDs.
async fn write_v1(store: &MemoryEventStore, id: &str) -> Vec<Cid> {
    let mut cids = Vec::new();
    for event in v1_history(id) {
        cids.push(
            store
                .append_event(id, event, None)
                .await
                .expect("v1 append")
                .cid,
        );
    }
    cids
}

#[tokio::test]
async fn v3_code_reads_v1_history_unchanged() {
    let store = MemoryEventStore::new();
    let cids = write_v1(&store, "acc-1").await;

    // v3 code appends after the old history, at its own schemas.
    let new = AccountEvent::Deposited(Deposited {
        account_id: "acc-1".into(),
        amount: 5,
        memo: Some("rent".into()),
    });
    store
        .append_event("acc-1", new.clone(), None)
        .await
        .expect("v3 append");

    let records = store.load("acc-1").await.expect("load");
    assert_eq!(
        records
            .iter()
            .map(|r| (r.event_type(), r.block.schema))
            .collect::<Vec<_>>(),
        [
            ("Opened", 1),
            ("Deposited", 1),
            ("Noted", 1),
            ("Frozen", 1),
            ("Deposited", 3)
        ]
    );
    // The stored blocks are v1's, byte for byte.
    assert_eq!(
        records.iter().take(4).map(|r| r.cid).collect::<Vec<_>>(),
        cids
    );
    let decoded: Vec<AccountEvent> = records
        .iter()
        .map(|r| r.decode().expect("v3 decodes v1"))
        .collect();
    let mut expected = v3_history("acc-1");
    expected.push(new);
    assert_eq!(decoded, expected);
    // Decoded under its alias, the renamed event reports its current name.
    assert_eq!(decoded[2].event_type(), "Annotated");

    let report = store.verify_chain("acc-1").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.events, 5);

    // The repository folds the old history into the current state, retired event included.
    let loaded = Repository::<Account, _>::new(store.clone())
        .load("acc-1")
        .await
        .expect("repository load");
    assert_eq!(loaded.version, 5);
    assert_eq!(
        loaded.state,
        Account {
            holder: "Alice".into(),
            balance: 1255,
            notes: vec!["first note".into()],
            frozen: true,
        }
    );
}

/// The derive's filters include the aliases, so a subscription on them sees history
/// stored under the old subject.
#[tokio::test]
async fn alias_filters_see_history_under_the_old_subject() {
    let store = MemoryEventStore::new();
    write_v1(&store, "acc-1").await;
    assert_eq!(AccountEvent::FILTER_ANNOTATED, "events.*.Annotated");
    assert_eq!(
        AccountEvent::FILTERS_ANNOTATED,
        ["events.*.Annotated", "events.*.Noted"]
    );
    assert!(AccountEvent::FILTERS.contains(&"events.*.Noted"));
    assert_eq!(
        AccountEvent::filters("events").len(),
        AccountEvent::FILTERS.len()
    );

    let mut seen = Vec::new();
    for filter in AccountEvent::FILTERS_ANNOTATED {
        let mut sub = store
            .subscribe(filter, StartFrom::Beginning)
            .await
            .expect("subscribe");
        // Bounded: the subscription stays live after the stored events.
        while let Ok(Some(item)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), sub.next()).await
        {
            seen.push(
                item.expect("event")
                    .decode::<AccountEvent>()
                    .expect("decode"),
            );
        }
    }
    assert_eq!(seen, [v3_history("acc-1").remove(2)]);
}

#[tokio::test]
async fn a_retired_event_is_read_but_never_appended() {
    let store = MemoryEventStore::new();
    write_v1(&store, "acc-1").await;
    let before = store.load("acc-1").await.expect("load");
    let frozen = before[3].decode::<AccountEvent>().expect("retired decodes");
    assert!(frozen.is_retired());
    assert_eq!(frozen.event_type(), "Frozen");

    let err = store
        .append_event("acc-1", frozen.clone(), None)
        .await
        .expect_err("retired");
    assert!(
        matches!(&err, Error::RetiredEvent { event_type } if event_type == "Frozen"),
        "{err:?}"
    );
    // Nor in a batch: the live event before it is not stored either.
    let opened = v3_history("acc-2").remove(0);
    let err = store
        .append_events(
            "acc-2",
            vec![
                opened,
                AccountEvent::Frozen {
                    account_id: "acc-2".into(),
                },
            ],
            ExpectedVersion::Any,
        )
        .await
        .expect_err("retired in a batch");
    assert!(matches!(err, Error::RetiredEvent { .. }), "{err:?}");
    assert_eq!(store.load("acc-1").await.expect("load").len(), before.len());
    assert!(store.load("acc-2").await.expect("load").is_empty());
}

#[tokio::test]
async fn an_old_payload_that_does_not_decode_names_the_event() {
    let store = MemoryEventStore::new();
    store
        .append_event(
            "acc-2",
            v1::AccountEvent::Opened {
                account_id: "acc-2".into(),
                owner: "Bob".into(),
            },
            None,
        )
        .await
        .expect("v1 append");
    store
        .append_event(
            "acc-2",
            v1::Deposited {
                account_id: "acc-2".into(),
                amount: 7,
            },
            None,
        )
        .await
        .expect("buggy v1 append");
    let records = store.load("acc-2").await.expect("load");
    assert!(records[0].decode::<AccountEvent>().is_ok());
    let err = records[1]
        .decode::<AccountEvent>()
        .expect_err("amount is a number");
    match &err {
        Error::PayloadDecode {
            event_type,
            schema,
            aggregate_id,
            version,
            source,
            ..
        } => {
            assert_eq!(
                (
                    event_type.as_str(),
                    *schema,
                    aggregate_id.as_str(),
                    *version
                ),
                ("Deposited", 1, "acc-2", 2)
            );
            assert_eq!(source.path, "$.amount");
            assert!(matches!(source.problem, PayloadProblem::Mismatch(_)));
        }
        other => panic!("expected PayloadDecode, got {other:?}"),
    }
    let message = err.to_string();
    for part in ["`Deposited`", "schema 1", "`acc-2`", "version 2"] {
        assert!(message.contains(part), "{message}");
    }
    // The repository reports the same error, not a panic.
    let loaded = Repository::<Account, _>::new(store.clone())
        .load("acc-2")
        .await;
    assert!(loaded.is_err());
}

/// A schema newer than the code's is a typed error naming both versions.
#[tokio::test]
async fn a_newer_schema_than_the_code_reads_is_a_typed_error() {
    let store = MemoryEventStore::new();
    // v3 code writes `Opened` at schema 3; v1 code reads it.
    store
        .append_event("acc-3", v3_history("acc-3").remove(0), None)
        .await
        .expect("v3 append");
    let records = store.load("acc-3").await.expect("load");
    let err = records[0]
        .decode::<v1::AccountEvent>()
        .expect_err("v1 cannot read schema 3");
    match err {
        Error::PayloadDecode {
            schema: 3, source, ..
        } => assert_eq!(
            source.problem,
            PayloadProblem::UnknownSchema {
                event_type: "Opened".into(),
                stored: 3,
                current: 1
            }
        ),
        other => panic!("expected PayloadDecode, got {other:?}"),
    }
}

/// The test harness reads old shapes through the same upcasts as a load.
#[test]
fn the_harness_gives_history_as_v1_stored_it() {
    AggregateTest::<Account>::new("acc-1")
        .given_stored(v1_history("acc-1"))
        .when(Deposit(5))
        .then_expect_error_eq(Rejected::Frozen)
        .then_state(|account| {
            assert_eq!(account.holder, "Alice");
            assert_eq!(account.balance, 1250);
            assert_eq!(account.notes, ["first note"]);
        });
    // Old and current events add up, in order.
    AggregateTest::<Account>::new("acc-1")
        .given_stored(v1_history("acc-1").into_iter().take(2))
        .given([AccountEvent::Annotated {
            account_id: "acc-1".into(),
            text: "new".into(),
        }])
        .when(Deposit(5))
        .then_state(|account| assert_eq!((account.balance, account.notes.len()), (1255, 1)));
}

#[test]
#[should_panic(expected = "given_stored events[0] (`Deposited`, schema 1) does not read back")]
fn the_harness_fails_on_history_that_does_not_decode() {
    AggregateTest::<Account>::new("acc-2").given_stored([v1::Deposited {
        account_id: "acc-2".into(),
        amount: 7,
    }]);
}
