//! Tests of the lock check, its file format and its reports.

use super::file::{parse, render};
use super::*;
use crate::schema::{FieldShape, StateField};

const V2: &[FieldShape] = &[
    FieldShape {
        name: "account_id",
        ty: "String",
    },
    FieldShape {
        name: "amount",
        ty: "u64",
    },
];

fn deposited(schema: u32, fields: &'static [FieldShape]) -> EventShape {
    EventShape {
        aggregate_type: "Account",
        event_type: "Deposited",
        aliases: &[],
        schema,
        fields,
    }
}

fn state(version: u32, fields: &[(&str, &str)]) -> StateShape {
    StateShape {
        aggregate_type: "Account",
        version,
        fields: fields
            .iter()
            .map(|&(n, t)| StateField {
                name: n.to_owned(),
                ty: t.to_owned(),
            })
            .collect(),
    }
}

fn lock_in(dir: &Path) -> PathBuf {
    dir.join("schema.lock")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cim-events-lock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn problems(result: Result<LockReport, LockError>) -> Vec<LockProblem> {
    match result {
        Err(LockError::Mismatch { problems, .. }) => problems,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn records_then_passes_then_fails_on_change() {
    let dir = tempdir("cycle");
    let path = lock_in(&dir);
    let events = [deposited(2, V2)];
    let states = [state(1, &[("balance", "u64")])];

    let first = check_lock(&path, &events, &states, LockMode::Check).expect("records");
    assert_eq!(first.recorded.len(), 2);
    let again = check_lock(&path, &events, &states, LockMode::Check).expect("unchanged");
    assert_eq!((again.recorded.len(), again.unchanged), (0, 2));

    const RETYPED: &[FieldShape] = &[
        FieldShape {
            name: "account_id",
            ty: "String",
        },
        FieldShape {
            name: "amount",
            ty: "u128",
        },
    ];
    let before = std::fs::read_to_string(&path).expect("the lock");
    let found = problems(check_lock(
        &path,
        &[deposited(2, RETYPED)],
        &[state(1, &[("balance", "u64"), ("owner", "str")])],
        LockMode::Check,
    ));
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "event `Account/Deposited`: field `amount` changed from `u64` to `u128` but schema is still 2; bump schema to 3 and add an upcast from 2 (`#[event(schema = 3, from(2 = …))]`)",
            "state of `Account` changed: field `owner` added (`str`) but state is still 1; bump `#[aggregate(state = 2)]` (snapshots of state 1 are then rebuilt from events)",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("the lock"),
        before,
        "nothing written on failure"
    );

    let bumped = check_lock(&path, &[deposited(3, RETYPED)], &states, LockMode::Check)
        .expect("a new version is recorded");
    assert_eq!(
        bumped.recorded,
        [LockKey::Event {
            aggregate_type: "Account".into(),
            event_type: "Deposited".into(),
            schema: 3
        }]
    );
    let text = std::fs::read_to_string(&path).expect("the lock");
    assert!(text.contains("event Account/Deposited schema 2 fingerprint"));
    assert!(text.contains("event Account/Deposited schema 3 fingerprint"));

    // Going back to 2 with the new shape is behind 3.
    let found = problems(check_lock(
        &path,
        &[deposited(1, RETYPED)],
        &states,
        LockMode::Check,
    ));
    assert!(matches!(
        &found[..],
        [LockProblem::VersionBehind { recorded: 3, .. }]
    ));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn renamed_and_removed_fields_and_missing_events() {
    let old = [("account_id", "String"), ("amount", "u64"), ("..", "Extra")];
    let new = [("account_id", "String"), ("amt", "u64"), ("..", "Other")];
    let owned = |f: &[(&str, &str)]| -> Vec<(String, String)> {
        f.iter().map(|&(n, t)| (n.into(), t.into())).collect()
    };
    assert_eq!(
        diff(&owned(&old), &owned(&new))
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "field `..` changed from `Extra` to `Other`",
            "field `amount` removed (was `u64`)",
            "field `amt` added (`u64`)",
        ]
    );

    let dir = tempdir("missing");
    let path = lock_in(&dir);
    check_lock(&path, &[deposited(1, V2)], &[], LockMode::Check).expect("records");
    let renamed = EventShape {
        event_type: "MoneyDeposited",
        ..deposited(1, V2)
    };
    let found = problems(check_lock(&path, &[renamed], &[], LockMode::Check));
    assert_eq!(
        found,
        [LockProblem::EventMissing {
            aggregate_type: "Account".into(),
            event_type: "Deposited".into(),
            schemas: vec![1],
        }]
    );
    let aliased = EventShape {
        aliases: &["Deposited"],
        ..renamed
    };
    check_lock(&path, &[aliased], &[], LockMode::Check).expect("the alias reads history");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn overwrite_rewrites_from_the_code() {
    let dir = tempdir("overwrite");
    let path = lock_in(&dir);
    check_lock(&path, &[deposited(1, V2)], &[], LockMode::Check).expect("records");
    check_lock(&path, &[deposited(2, V2)], &[], LockMode::Check).expect("records");
    let report =
        check_lock(&path, &[deposited(2, &[])], &[], LockMode::Overwrite).expect("rewrites");
    assert!(report.rewritten);
    let text = std::fs::read_to_string(&path).expect("the lock");
    assert!(!text.contains("schema 1"));
    assert!(text.contains("event Account/Deposited schema 2"));
    assert!(!text.contains("amount"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn conflicting_types_are_reported() {
    let found = problems(check_lock(
        Path::new("unused.lock"),
        &[deposited(1, V2), deposited(1, &[]), deposited(1, V2)],
        &[],
        LockMode::Overwrite,
    ));
    assert!(matches!(&found[..], [LockProblem::Conflict { .. }]));
}

#[test]
fn the_file_round_trips() {
    let (mut problems, events) = (Vec::new(), [deposited(2, V2)]);
    let strange = EventShape {
        aggregate_type: "Odd/Agg",
        event_type: "Ev ent",
        aliases: &[],
        schema: 7,
        fields: &[FieldShape {
            name: "a: b\n",
            ty: "Box<dyn Error+Send>",
        }],
    };
    let current = current_entries(
        &[events[0], strange],
        &[state(1, &[(".", "enum Mode{A,B}")])],
        &mut problems,
    );
    assert!(problems.is_empty());
    let text = render(&current);
    assert!(text.contains("\nevent Account/Deposited schema 2 fingerprint "));
    assert!(text.contains("\n  account_id: String\n  amount: u64\n"));
    assert!(text.contains("\nevent Odd\\u{2f}Agg/Ev\\u{20}ent schema 7 fingerprint "));
    assert!(text.contains("\n  a\\u{3a}\\u{20}b\\u{a}: Box<dyn Error+Send>\n"));
    assert!(text.contains("\nstate Account version 1 fingerprint "));
    assert_eq!(parse(Path::new("x"), &text).expect("parses"), current);
    assert_eq!(
        current
            .values()
            .find(|e| e.key.version() == 2)
            .map(|e| e.fingerprint),
        Some(events[0].fingerprint()),
        "the lock's fingerprint is the shape's"
    );
}

#[test]
fn malformed_files_name_the_line() {
    let good = render(&current_entries(&[deposited(2, V2)], &[], &mut Vec::new()));
    let header_line = good
        .lines()
        .position(|l| l.starts_with("event "))
        .expect("an entry")
        + 1;
    for (text, line, needle) in [
        ("  amount: u64\n".to_owned(), 1, "a field line before"),
        ("event Account/Deposited\n".to_owned(), 1, "expected `event"),
        ("bogus\n".to_owned(), 1, "expected `event"),
        (
            "event Account/Deposited schema x fingerprint 00\n".to_owned(),
            1,
            "`x` is not a version number",
        ),
        (
            "state Account version 1 fingerprint 00\n".to_owned(),
            1,
            "`00` is not a fingerprint",
        ),
        (
            good.replace("amount: u64", "amount: u128"),
            header_line,
            "edited by hand",
        ),
        (
            good.replace("amount: u64", "amount u64"),
            header_line + 2,
            "expected a field",
        ),
        (
            format!("{good}{good}"),
            header_line + good.lines().count(),
            "already recorded",
        ),
    ] {
        match parse(Path::new("schema.lock"), &text) {
            Err(LockError::Malformed {
                line: l, message, ..
            }) => {
                assert_eq!(l, line, "{message}");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("expected malformed for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn modes() {
    assert_eq!(LockMode::parse("").ok(), Some(LockMode::Check));
    assert_eq!(LockMode::parse("overwrite").ok(), Some(LockMode::Overwrite));
    let error = LockMode::parse("ovewrite").expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "CIM_EVENTS_LOCK=`ovewrite` is not understood: set it to `overwrite` to rewrite the lock, or unset it"
    );
}

#[test]
fn an_unreadable_lock_is_a_typed_error() {
    let dir = tempdir("unreadable");
    // A directory where the file should be.
    let result = check_lock(&dir, &[deposited(1, V2)], &[], LockMode::Check);
    assert!(matches!(result, Err(LockError::Read { .. })), "{result:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
