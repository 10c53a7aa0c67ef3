//! The given/when/then harness (`cim_events::testing`): its happy paths, and the text of
//! the panics it raises when an expectation fails.

mod bank;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use bank::{
    Account, AccountEvent, Annotate, BankError, Close, Deposit, DepositMany, Misdirect,
    OpenAccount, Withdraw, deposited, opened, withdrawn,
};
use cim_events::EventHeader;
use cim_events::testing::AggregateTest;

/// A test of `acc-1`, opened by alice with a deposit of 10.
fn funded() -> AggregateTest<Account> {
    AggregateTest::new("acc-1").given([opened("acc-1", "alice"), deposited("acc-1", 10)])
}

// ---------------------------------------------------------------------------------------
// Capturing panics: the message, and where it points (to check `#[track_caller]`).
// ---------------------------------------------------------------------------------------

struct Panic {
    message: String,
    file: String,
    line: u32,
}

thread_local! {
    static LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns what it panicked with.
fn panic_of(f: impl FnOnce()) -> Panic {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(location) = info.location() {
                let at = (location.file().to_owned(), location.line());
                LOCATION.with(|l| *l.borrow_mut() = Some(at));
            }
            default(info);
        }));
    });
    let payload = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic, but none happened"),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("panic payloads here are strings");
    let (file, line) = LOCATION
        .with(|l| l.borrow_mut().take())
        .expect("the hook recorded the location");
    Panic {
        message,
        file,
        line,
    }
}

// ---------------------------------------------------------------------------------------
// Happy paths
// ---------------------------------------------------------------------------------------

#[test]
fn given_when_then_expect_events() {
    funded()
        .when(Withdraw { amount: 4 })
        .then_expect_events([withdrawn("acc-1", 4)])
        .then_state(|account| {
            assert_eq!(account.balance, 6);
            assert_eq!(account.applied, 3);
        });
}

#[test]
fn several_events_compare_in_order() {
    funded()
        .when(DepositMany {
            amounts: vec![1, 2, 3],
        })
        .then_expect_events(vec![
            deposited("acc-1", 1),
            deposited("acc-1", 2),
            deposited("acc-1", 3),
        ])
        .then_state(|account| assert_eq!(account.balance, 16));
}

#[test]
fn a_new_aggregate_starts_from_default() {
    AggregateTest::<Account>::new("acc-9")
        .when(OpenAccount {
            owner: "bob".to_owned(),
        })
        .then_expect_events([opened("acc-9", "bob")])
        .then_state(|account| assert!(account.open));
}

#[test]
fn given_adds_up_across_calls() {
    AggregateTest::<Account>::new("acc-1")
        .given([opened("acc-1", "alice")])
        .given([deposited("acc-1", 5)])
        .given(vec![deposited("acc-1", 6)])
        .when(Withdraw { amount: 11 })
        .then_expect_events([withdrawn("acc-1", 11)])
        .then_state(|account| assert_eq!(account.balance, 0));
}

#[test]
fn then_expect_no_events_accepts_a_no_op() {
    funded()
        .given([AccountEvent::Closed {
            account_id: "acc-1".to_owned(),
        }])
        .when(Close)
        .then_expect_no_events()
        .then_state(|account| assert!(account.closed));
}

#[test]
fn then_expect_error_with_a_predicate_or_by_equality() {
    funded()
        .when(Withdraw { amount: 11 })
        .then_expect_error(|e| matches!(e, BankError::InsufficientFunds { .. }))
        .then_expect_error_eq(BankError::InsufficientFunds {
            balance: 10,
            requested: 11,
        })
        // A rejected command leaves the given state as it was.
        .then_state(|account| assert_eq!(account.balance, 10));
}

#[test]
fn handler_sees_the_version_and_header() {
    funded()
        .with_header(EventHeader::with_causation("corr-1", "cmd-1"))
        .when(Annotate)
        .then_expect_events([AccountEvent::Annotated {
            account_id: "acc-1".to_owned(),
            note: r#"id=acc-1 version=2 correlation=corr-1 causation=Some("cmd-1")"#.to_owned(),
        }]);
}

#[test]
fn result_and_state_can_be_inspected_directly() {
    let then = funded().when(Deposit { amount: 5 });
    assert_eq!(then.result().unwrap(), &[deposited("acc-1", 5)]);
    assert_eq!(then.state().balance, 15);
    assert_eq!(then.into_state().applied, 3);

    let then = funded().when(Deposit { amount: 0 });
    assert_eq!(then.result().unwrap_err(), &BankError::ZeroAmount);
}

// ---------------------------------------------------------------------------------------
// Failures: each panics at the caller's line with a readable message.
// ---------------------------------------------------------------------------------------

#[test]
fn differing_events_panic_with_a_line_diff_at_the_caller() {
    let before = line!();
    let panic = panic_of(|| {
        funded()
            .when(Deposit { amount: 10 })
            .then_expect_events([deposited("acc-1", 15)]);
    });
    let after = line!();
    assert_eq!(
        panic.message,
        "then_expect_events failed for aggregate `acc-1`: expected 1 event, got 1\n\
         first difference at events[0]; `-` expected, `+` actual\n\
         \n\
         -> events[0] differs:\n\
         \x20    Deposited {\n\
         \x20        account_id: \"acc-1\",\n\
         \x20  -     amount: 15,\n\
         \x20  +     amount: 10,\n\
         \x20    }\n"
    );
    // `#[track_caller]`: the panic points into this test, not into the harness.
    assert!(panic.file.ends_with("testing_harness.rs"), "{}", panic.file);
    assert!((before..after).contains(&panic.line), "{}", panic.line);
}

#[test]
fn only_the_first_difference_is_marked_and_equal_events_stay_on_one_line() {
    let panic = panic_of(|| {
        funded()
            .when(DepositMany {
                amounts: vec![1, 2, 3],
            })
            .then_expect_events([
                deposited("acc-1", 1),
                deposited("acc-1", 5),
                withdrawn("acc-1", 3),
            ]);
    });
    let message = panic.message;
    assert!(
        message.starts_with(
            "then_expect_events failed for aggregate `acc-1`: expected 3 events, got 3\n\
             first difference at events[1]; `-` expected, `+` actual\n\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "   events[0] == Deposited { account_id: \"acc-1\", amount: 1 }\n\
             -> events[1] differs:\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "   events[2] differs:\n   \
             - Withdrawn {\n   \
             + Deposited {\n"
        ),
        "{message}"
    );
    assert_eq!(message.matches("-> ").count(), 1, "{message}");
}

#[test]
fn missing_and_unexpected_events_are_named() {
    let missing = panic_of(|| {
        funded()
            .when(Deposit { amount: 1 })
            .then_expect_events([deposited("acc-1", 1), deposited("acc-1", 2)]);
    });
    assert!(
        missing.message.starts_with(
            "then_expect_events failed for aggregate `acc-1`: expected 2 events, got 1\n"
        ),
        "{}",
        missing.message
    );
    assert!(
        missing.message.contains(
            "-> events[1] missing (expected, not produced):\n   \
             - Deposited {\n   \
             -     account_id: \"acc-1\",\n   \
             -     amount: 2,\n   \
             - }\n"
        ),
        "{}",
        missing.message
    );

    let unexpected = panic_of(|| {
        funded()
            .when(DepositMany {
                amounts: vec![1, 2],
            })
            .then_expect_events([deposited("acc-1", 1)]);
    });
    assert!(
        unexpected
            .message
            .contains("-> events[1] unexpected (produced, not expected):\n   + Deposited {\n"),
        "{}",
        unexpected.message
    );
}

#[test]
fn expecting_events_from_a_rejected_command_shows_the_error() {
    let panic = panic_of(|| {
        funded()
            .when(Withdraw { amount: 50 })
            .then_expect_events([withdrawn("acc-1", 50)]);
    });
    assert_eq!(
        panic.message,
        "then_expect_events failed for aggregate `acc-1`: expected 1 event, but the command was rejected:\n\
         InsufficientFunds {\n    balance: 10,\n    requested: 50,\n}\n\
         \n\
         expected:\n   events[0] = Withdrawn { account_id: \"acc-1\", amount: 50 }\n"
    );
}

#[test]
fn expecting_an_error_from_an_accepted_command_lists_the_events() {
    let panic = panic_of(|| {
        funded()
            .when(Deposit { amount: 3 })
            .then_expect_error(|_| true);
    });
    assert_eq!(
        panic.message,
        "then_expect_error failed for aggregate `acc-1`: expected the command to be rejected, \
         but it was accepted with 1 event:\n   events[0] = Deposited { account_id: \"acc-1\", amount: 3 }\n"
    );
    assert!(panic.file.ends_with("testing_harness.rs"));

    let panic = panic_of(|| {
        funded()
            .when(Deposit { amount: 3 })
            .then_expect_error_eq(BankError::ZeroAmount);
    });
    assert!(panic.message.starts_with(
        "then_expect_error_eq failed for aggregate `acc-1`: expected the command to be rejected"
    ));
}

#[test]
fn a_refused_predicate_shows_the_error() {
    let panic = panic_of(|| {
        funded()
            .when(Withdraw { amount: 11 })
            .then_expect_error(|e| matches!(e, BankError::Closed));
    });
    assert_eq!(
        panic.message,
        "then_expect_error failed for aggregate `acc-1`: the command was rejected, but the predicate \
         does not accept the error:\nInsufficientFunds {\n    balance: 10,\n    requested: 11,\n}"
    );
}

#[test]
fn a_different_error_panics_with_a_line_diff() {
    let panic = panic_of(|| {
        funded()
            .when(Withdraw { amount: 11 })
            .then_expect_error_eq(BankError::InsufficientFunds {
                balance: 10,
                requested: 12,
            });
    });
    assert_eq!(
        panic.message,
        "then_expect_error_eq failed for aggregate `acc-1`: the command was rejected with another error; \
         `-` expected, `+` actual\n\
         \n\
         \x20    InsufficientFunds {\n\
         \x20        balance: 10,\n\
         \x20  -     requested: 12,\n\
         \x20  +     requested: 11,\n\
         \x20    }\n"
    );
}

#[test]
fn unexpected_events_fail_then_expect_no_events() {
    let panic = panic_of(|| {
        funded().when(Close).then_expect_no_events();
    });
    assert_eq!(
        panic.message,
        "then_expect_no_events failed for aggregate `acc-1`: the command produced 1 event:\n   \
         events[0] = Closed { account_id: \"acc-1\" }\n"
    );

    let panic = panic_of(|| {
        AggregateTest::<Account>::new("acc-1")
            .when(Close)
            .then_expect_no_events();
    });
    assert_eq!(
        panic.message,
        "then_expect_no_events failed for aggregate `acc-1`: the command was rejected:\nNotOpen"
    );
}

#[test]
fn events_a_store_would_refuse_fail_even_when_equal() {
    let panic = panic_of(|| {
        funded()
            .when(Misdirect)
            .then_expect_events([deposited("someone-else", 1)]);
    });
    assert_eq!(
        panic.message,
        "then_expect_events failed for aggregate `acc-1`: the events are as expected, but they \
         cannot be stored as this aggregate's events: event belongs to aggregate `someone-else`, \
         but was appended to `acc-1`"
    );
}

/// An aggregate whose hand-written event forgets to name the aggregate type, so it reports
/// its Rust type name, `Ticked`.
#[derive(Debug, Default)]
struct Counter(u64);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ticked {
    counter: String,
}

impl cim_events::Event for Ticked {
    fn event_type(&self) -> &str {
        "Ticked"
    }
    fn aggregate_id(&self) -> &str {
        &self.counter
    }
}

impl cim_events::Aggregate for Counter {
    type Event = Ticked;
    type Error = BankError;
    const AGGREGATE_TYPE: &'static str = "Counter";
    fn apply(&mut self, _: &Ticked) {
        self.0 += 1;
    }
}

struct Tick;

impl cim_events::Handle<Tick> for Counter {
    fn handle(
        &self,
        _: Tick,
        ctx: &cim_events::CommandContext<'_>,
    ) -> Result<Vec<Ticked>, BankError> {
        Ok(vec![Ticked {
            counter: ctx.aggregate_id.to_owned(),
        }])
    }
}

#[test]
fn events_naming_another_aggregate_type_fail() {
    let then = AggregateTest::<Counter>::new("c-1").when(Tick);
    assert_eq!(then.state().0, 1);
    let panic = panic_of(|| {
        then.then_expect_events([Ticked {
            counter: "c-1".to_owned(),
        }]);
    });
    assert_eq!(
        panic.message,
        "then_expect_events failed for aggregate `c-1`: the events are as expected, but they \
         cannot be stored as this aggregate's events: event `Ticked` reports aggregate type \
         `Ticked`, but the aggregate's AGGREGATE_TYPE is `Counter`"
    );
}

#[test]
fn given_events_of_another_aggregate_panic() {
    let before = line!();
    let panic = panic_of(|| {
        let _ = AggregateTest::<Account>::new("acc-1")
            .given([opened("acc-1", "alice"), deposited("acc-2", 1)]);
    });
    let after = line!();
    assert_eq!(
        panic.message,
        "given events[1] belongs to aggregate `acc-2`, but the test is for `acc-1`"
    );
    assert!(panic.file.ends_with("testing_harness.rs"), "{}", panic.file);
    assert!((before..after).contains(&panic.line), "{}", panic.line);
}

#[test]
fn a_failing_state_check_panics_with_its_own_message() {
    let panic = panic_of(|| {
        funded()
            .when(Deposit { amount: 1 })
            .then_state(|account| assert_eq!(account.balance, 12, "balance after deposit"));
    });
    assert!(
        panic.message.contains("balance after deposit"),
        "{}",
        panic.message
    );
}
