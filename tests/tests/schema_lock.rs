//! The schema lock end to end: the shapes `#[derive(Event)]` lists and `state_shape`
//! traces, checked against lock files in a temporary directory (first run records, an
//! unchanged run passes, a change without a bump fails with its fix, a bump records the
//! new version beside the old one, overwrite rewrites), and this crate's own lock,
//! `tests/schema.lock`, committed with the code.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use cim_events::schema::{
    EventShape, FieldChange, FieldShape, LockError, LockKey, LockMode, LockProblem, LockReport,
    StateShape, check_lock, state_shape,
};
use cim_events::{Event, assert_schema_lock};

/// The account as released: `Deposited` at schema 2, and a state at version 1.
mod released {
    use cim_events::{Event, aggregate};
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account", name = "AccountClosed")]
    pub struct Closed {
        #[event(id)]
        pub account_id: String,
        pub reason: String,
    }

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    #[serde(rename_all_fields = "camelCase")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: String,
            owner: String,
        },
        #[event(schema = 2, from(1 = DepositedV1))]
        Deposited {
            #[event(id)]
            account_id: String,
            amount: u64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            memo: Option<String>,
            #[serde(skip)]
            cached: u8,
        },
        Closed(Closed),
    }

    /// `Deposited` as schema 1 stored it.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DepositedV1 {
        pub account_id: String,
        pub amount: u64,
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

    #[derive(Default, Deserialize)]
    pub struct Account {
        pub balance: u64,
        pub owner: Option<String>,
    }

    #[aggregate(events = AccountEvent)]
    impl Account {
        #[apply(Opened)]
        fn opened(&mut self, owner: &str) {
            self.owner = Some(owner.to_owned());
        }
        #[apply(Deposited)]
        fn deposited(&mut self, amount: &u64) {
            self.balance += amount;
        }
        #[apply]
        fn closed(&mut self, _event: &Closed) {}
    }
}

/// `amount` retyped while `Deposited` stays at schema 2: what the lock is for.
mod retyped {
    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    #[serde(rename_all_fields = "camelCase")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: String,
            owner: String,
        },
        #[event(schema = 2, from(1 = super::released::DepositedV1))]
        Deposited {
            #[event(id)]
            account_id: String,
            amount: u128,
            memo: Option<String>,
        },
        Closed(super::released::Closed),
    }

    impl From<super::released::DepositedV1> for AccountEvent {
        fn from(old: super::released::DepositedV1) -> Self {
            AccountEvent::Deposited {
                account_id: old.account_id,
                amount: u128::from(old.amount),
                memo: None,
            }
        }
    }
}

/// The fix: the same change under schema 3.
mod bumped {
    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Account")]
    #[serde(rename_all_fields = "camelCase")]
    pub enum AccountEvent {
        Opened {
            #[event(id)]
            account_id: String,
            owner: String,
        },
        #[event(schema = 3, from(2 = DepositedV2, 1 = super::released::DepositedV1))]
        Deposited {
            #[event(id)]
            account_id: String,
            amount: u128,
            memo: Option<String>,
        },
        Closed(super::released::Closed),
    }

    /// `Deposited` as schema 2 stored it.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DepositedV2 {
        pub account_id: String,
        pub amount: u64,
        pub memo: Option<String>,
    }

    impl From<super::released::DepositedV1> for DepositedV2 {
        fn from(old: super::released::DepositedV1) -> Self {
            DepositedV2 {
                account_id: old.account_id,
                amount: old.amount,
                memo: None,
            }
        }
    }

    impl From<DepositedV2> for AccountEvent {
        fn from(old: DepositedV2) -> Self {
            AccountEvent::Deposited {
                account_id: old.account_id,
                amount: u128::from(old.amount),
                memo: old.memo,
            }
        }
    }
}

/// The state grows a field; first without a bump, then with `state = 2`.
mod state_changed {
    use cim_events::aggregate;
    use serde::Deserialize;

    use super::released::{AccountEvent, Closed};

    #[derive(Default, Deserialize)]
    #[allow(dead_code)] // read through serde only
    pub struct Account {
        pub balance: u64,
        pub owner: Option<String>,
        pub last_depositor: Option<String>,
    }

    #[aggregate(events = AccountEvent)]
    impl Account {
        #[apply(Opened)]
        fn opened(&mut self) {}
        #[apply(Deposited)]
        fn deposited(&mut self) {}
        #[apply]
        fn closed(&mut self, _event: &Closed) {}
    }
}

mod state_bumped {
    use cim_events::aggregate;
    use serde::Deserialize;

    use super::released::{AccountEvent, Closed};

    #[derive(Default, Deserialize)]
    #[allow(dead_code)] // read through serde only
    pub struct Account {
        pub balance: u64,
        pub owner: Option<String>,
        pub last_depositor: Option<String>,
    }

    #[aggregate(events = AccountEvent, state = 2)]
    impl Account {
        #[apply(Opened)]
        fn opened(&mut self) {}
        #[apply(Deposited)]
        fn deposited(&mut self) {}
        #[apply]
        fn closed(&mut self, _event: &Closed) {}
    }
}

/// One event, spelled two ways that store the same payload.
mod spelled_short {
    use std::collections::BTreeMap;

    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Notebook")]
    pub struct Noted {
        #[event(id)]
        pub id: String,
        pub tags: Vec<String>,
        pub counts: BTreeMap<String, u64>,
        pub at: Option<u64>,
        pub raw: Box<[u8]>,
    }
}

mod spelled_long {
    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Notebook")]
    pub struct Noted {
        /// Field order, doc comments and Rust names do not count; serde names do.
        pub counts: ::std::collections::BTreeMap<std::string::String, u64>,
        #[event(id)]
        pub id: ::std::string::String,
        pub tags: std::vec::Vec<std::string::String>,
        #[serde(rename = "at")]
        pub when: ::core::option::Option<u64>,
        pub raw: std::boxed::Box<[u8]>,
    }
}

/// The domain this crate locks in its committed `tests/schema.lock`. Add the event types
/// and states of new test domains to [`our_lock_matches_the_code`].
mod library {
    use cim_events::{Event, aggregate};
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(aggregate = "Book")]
    pub enum BookEvent {
        Added {
            #[event(id)]
            book_id: String,
            title: String,
        },
        Lent {
            #[event(id)]
            book_id: String,
            borrower: String,
        },
        Returned {
            #[event(id)]
            book_id: String,
        },
    }

    #[derive(Default, Serialize, Deserialize)]
    pub struct Book {
        pub title: String,
        pub lent_to: Option<String>,
        /// Added in state 2: snapshots of state 1 lack it, so they are rebuilt.
        pub last_borrower: Option<String>,
    }

    #[aggregate(events = BookEvent, state = 2)]
    impl Book {
        #[apply(Added)]
        fn added(&mut self, title: &str) {
            self.title = title.to_owned();
        }
        #[apply(Lent)]
        fn lent(&mut self, borrower: &str) {
            self.lent_to = Some(borrower.to_owned());
            self.last_borrower = Some(borrower.to_owned());
        }
        #[apply(Returned)]
        fn returned(&mut self) {
            self.lent_to = None;
        }
    }
}

fn lock_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("schema.lock");
    (dir, path)
}

fn check(
    path: &Path,
    events: &[EventShape],
    states: &[StateShape],
) -> Result<LockReport, LockError> {
    check_lock(path, events, states, LockMode::Check)
}

fn event_key(event_type: &str, schema: u32) -> LockKey {
    LockKey::Event {
        aggregate_type: "Account".to_owned(),
        event_type: event_type.to_owned(),
        schema,
    }
}

fn problems(result: Result<LockReport, LockError>) -> Vec<LockProblem> {
    match result {
        Err(LockError::Mismatch { problems, .. }) => problems,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("the lock file")
}

#[test]
fn the_derive_lists_serde_names_and_normalised_types() {
    let shapes = released::AccountEvent::event_shapes();
    assert_eq!(
        shapes,
        [
            EventShape {
                aggregate_type: "Account",
                event_type: "Opened",
                aliases: &[],
                schema: 1,
                fields: &[
                    FieldShape {
                        name: "accountId",
                        ty: "String"
                    },
                    FieldShape {
                        name: "owner",
                        ty: "String"
                    },
                ],
            },
            EventShape {
                aggregate_type: "Account",
                event_type: "Deposited",
                aliases: &[],
                schema: 2,
                fields: &[
                    FieldShape {
                        name: "accountId",
                        ty: "String"
                    },
                    FieldShape {
                        name: "amount",
                        ty: "u64"
                    },
                    FieldShape {
                        name: "memo",
                        ty: "Option<String>"
                    },
                ],
            },
            // The newtype variant takes the wrapped event's shape.
            EventShape {
                aggregate_type: "Account",
                event_type: "AccountClosed",
                aliases: &[],
                schema: 1,
                fields: &[
                    FieldShape {
                        name: "account_id",
                        ty: "String"
                    },
                    FieldShape {
                        name: "reason",
                        ty: "String"
                    },
                ],
            },
        ]
    );
    assert_eq!(released::Closed::event_shapes(), shapes[2..]);
}

#[test]
fn the_first_run_records_and_an_unchanged_run_passes() {
    let (_dir, path) = lock_dir();
    let events = released::AccountEvent::event_shapes();
    let states = [state_shape::<released::Account>()];

    let first = check(&path, &events, &states).expect("records");
    assert_eq!(
        first.recorded,
        [
            event_key("AccountClosed", 1),
            event_key("Deposited", 2),
            event_key("Opened", 1),
            LockKey::State {
                aggregate_type: "Account".to_owned(),
                version: 1
            },
        ]
    );
    let text = read(&path);
    let deposited = format!(
        "event Account/Deposited schema 2 fingerprint {}\n  accountId: String\n  amount: u64\n  memo: Option<String>\n",
        events[1].fingerprint().to_hex()
    );
    assert!(text.contains(&deposited), "{text}");
    assert!(
        text.contains("\nstate Account version 1 fingerprint ")
            && text.contains("\n  balance: u64\n  owner: option<str>\n"),
        "{text}"
    );

    let again = check(&path, &events, &states).expect("unchanged");
    assert_eq!((again.recorded.len(), again.unchanged), (0, 4));
    assert_eq!(read(&path), text, "an unchanged run writes nothing new");
}

#[test]
fn a_change_without_a_bump_fails_with_the_fix() {
    let (_dir, path) = lock_dir();
    check(&path, &released::AccountEvent::event_shapes(), &[]).expect("records");
    let before = read(&path);

    let found = problems(check(&path, &retyped::AccountEvent::event_shapes(), &[]));
    assert_eq!(
        found,
        [LockProblem::EventChanged {
            aggregate_type: "Account".to_owned(),
            event_type: "Deposited".to_owned(),
            schema: 2,
            changes: vec![FieldChange::Retyped {
                name: "amount".to_owned(),
                from: "u64".to_owned(),
                to: "u128".to_owned(),
            }],
        }]
    );
    assert_eq!(
        found[0].to_string(),
        "event `Account/Deposited`: field `amount` changed from `u64` to `u128` but schema is still 2; bump schema to 3 and add an upcast from 2 (`#[event(schema = 3, from(2 = …))]`)"
    );
    assert_eq!(read(&path), before, "a failed check writes nothing");

    // The macro turns the same failure into the test's panic.
    if LockMode::from_env().ok() == Some(LockMode::Check) {
        let panic = catch_unwind(AssertUnwindSafe(|| {
            assert_schema_lock!(retyped::AccountEvent; path: &path);
        }))
        .expect_err("the lock assertion fails");
        let message = panic
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(
            message.starts_with(&format!(
                "schema lock `{}` does not match the code:\n  - event `Account/Deposited`: field `amount` changed from `u64` to `u128` but schema is still 2; bump schema to 3",
                path.display()
            )),
            "{message}"
        );
    }
}

#[test]
fn a_bump_records_the_new_version_beside_the_old() {
    let (_dir, path) = lock_dir();
    check(&path, &released::AccountEvent::event_shapes(), &[]).expect("records");

    let report = check(&path, &bumped::AccountEvent::event_shapes(), &[]).expect("a new version");
    assert_eq!(report.recorded, [event_key("Deposited", 3)]);
    assert_eq!(report.unchanged, 2);
    let text = read(&path);
    let v2 = text
        .find("event Account/Deposited schema 2 ")
        .expect("schema 2 kept");
    let v3 = text
        .find("event Account/Deposited schema 3 ")
        .expect("schema 3 added");
    assert!(v2 < v3, "versions in order:\n{text}");
    assert!(text[v2..v3].contains("  amount: u64\n"));
    assert!(text[v3..].contains("  amount: u128\n"));

    // Through the macro too; and the old code is now behind.
    assert_schema_lock!(bumped::AccountEvent; path: &path);
    let found = problems(check(&path, &released::AccountEvent::event_shapes(), &[]));
    assert_eq!(
        found,
        [LockProblem::VersionBehind {
            key: event_key("Deposited", 2),
            recorded: 3
        }]
    );
}

#[test]
fn overwrite_rewrites_the_lock_from_the_code() {
    let (_dir, path) = lock_dir();
    check(&path, &released::AccountEvent::event_shapes(), &[]).expect("records");
    check(&path, &bumped::AccountEvent::event_shapes(), &[]).expect("records 3");

    let report = check_lock(
        &path,
        &retyped::AccountEvent::event_shapes(),
        &[],
        LockMode::Overwrite,
    )
    .expect("rewrites");
    assert!(report.rewritten);
    assert_eq!(report.recorded.len(), 3);
    let text = read(&path);
    assert!(!text.contains("schema 3"), "{text}");
    assert!(text.contains("event Account/Deposited schema 2 "));
    assert!(text.contains("  amount: u128\n"));
    assert!(!text.contains("  amount: u64\n"));
    check(&path, &retyped::AccountEvent::event_shapes(), &[]).expect("matches now");
}

#[test]
fn equivalent_spellings_have_one_fingerprint() {
    let short = spelled_short::Noted::event_shapes();
    let long = spelled_long::Noted::event_shapes();
    assert_eq!(short[0].fingerprint(), long[0].fingerprint());
    assert_eq!(
        short[0].canonical(),
        "event Notebook/Noted schema 1\nfield at: Option<u64>\nfield counts: BTreeMap<String,u64>\nfield id: String\nfield raw: Box<[u8]>\nfield tags: Vec<String>\n"
    );

    let (_dir, path) = lock_dir();
    check(&path, &short, &[]).expect("records");
    let report = check(&path, &long, &[]).expect("the other spelling matches");
    assert_eq!((report.recorded.len(), report.unchanged), (0, 1));
}

#[test]
fn a_state_change_needs_a_state_bump() {
    let (_dir, path) = lock_dir();
    let events = released::AccountEvent::event_shapes();
    check(&path, &events, &[state_shape::<released::Account>()]).expect("records");

    let found = problems(check(
        &path,
        &events,
        &[state_shape::<state_changed::Account>()],
    ));
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "state of `Account` changed: field `last_depositor` added (`option<str>`) but state is still 1; bump `#[aggregate(state = 2)]` (snapshots of state 1 are then rebuilt from events)"
        ]
    );

    let bumped = state_shape::<state_bumped::Account>();
    assert_eq!(bumped.version, 2);
    let report = check(&path, &events, &[bumped]).expect("a new state version");
    assert_eq!(
        report.recorded,
        [LockKey::State {
            aggregate_type: "Account".to_owned(),
            version: 2
        }]
    );
    let text = read(&path);
    assert!(text.contains("state Account version 1 ") && text.contains("state Account version 2 "));
}

#[test]
fn a_renamed_event_without_an_alias_fails() {
    let (_dir, path) = lock_dir();
    check(&path, &released::AccountEvent::event_shapes(), &[]).expect("records");
    let renamed: Vec<EventShape> = released::AccountEvent::event_shapes()
        .into_iter()
        .map(|mut shape| {
            if shape.event_type == "Deposited" {
                shape.event_type = "MoneyDeposited";
            }
            shape
        })
        .collect();
    let found = problems(check(&path, &renamed, &[]));
    assert_eq!(
        found,
        [LockProblem::EventMissing {
            aggregate_type: "Account".to_owned(),
            event_type: "Deposited".to_owned(),
            schemas: vec![2],
        }]
    );
    assert!(
        found[0]
            .to_string()
            .contains("add `aliases(\"Deposited\")`")
    );
}

/// This crate's own lock, committed as `tests/schema.lock`. A failure here means a test
/// domain changed shape: bump its version, or rewrite the lock with
/// `CIM_EVENTS_LOCK=overwrite` (nothing of ours is stored for good).
#[test]
fn our_lock_matches_the_code() {
    assert_schema_lock!(library::BookEvent; state: library::Book);
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.lock"));
    assert!(text.contains("state Book version 2 "), "{text}");
}
