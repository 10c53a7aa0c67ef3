//! The process harness (`cim_events::testing::ProcessTest`): the commands and records of
//! a trigger, timers fired by the virtual clock (in due order, cancelled, replaced, set by
//! a wake), rejections, triggers the process ignores, instances, the triggers the process
//! sees, and the text of the panics it raises when an expectation fails.

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cim_events::process::{Outgoing, Process, Reaction, Wakeup};
use cim_events::testing::{ProcessTest, Trigger};
use cim_events::{Event, EventSelector, RecordedEvent, aggregate};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// The domain: orders, payments, inventory and customers; a checkout process between them.
// ---------------------------------------------------------------------------------------

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed {
        customer: String,
        sku: String,
        qty: u32,
    },
    Confirmed,
    Cancelled,
    Shipped,
}

#[derive(Default)]
struct Order;
#[aggregate(events = OrderEvent, error = Infallible)]
impl Order {
    #[command]
    fn confirm(&self) -> Result<OrderEvent, Infallible> {
        Ok(OrderEvent::Confirmed)
    }
    #[command]
    fn cancel(&self) -> Result<OrderEvent, Infallible> {
        Ok(OrderEvent::Cancelled)
    }
    #[apply(Placed)]
    fn placed(&mut self) {}
    #[apply(Confirmed)]
    fn confirmed(&mut self) {}
    #[apply(Cancelled)]
    fn cancelled(&mut self) {}
    #[apply(Shipped)]
    fn shipped(&mut self) {}
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Payment")]
enum PaymentEvent {
    /// The provider is still processing: wait longer.
    Pending,
    Received {
        amount: u64,
    },
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Inventory")]
enum InventoryEvent {
    Released { qty: u32 },
}

#[derive(Default)]
struct Inventory;
#[aggregate(events = InventoryEvent, error = Infallible)]
impl Inventory {
    #[command]
    fn release(&self, qty: u32) -> Result<InventoryEvent, Infallible> {
        Ok(InventoryEvent::Released { qty })
    }
    #[apply(Released)]
    fn released(&mut self) {}
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Customer")]
enum CustomerEvent {
    Notified { text: String },
}

#[derive(Default)]
struct Customer;
#[aggregate(events = CustomerEvent, error = Infallible)]
impl Customer {
    #[command]
    fn notify(&self, text: String) -> Result<CustomerEvent, Infallible> {
        Ok(CustomerEvent::Notified { text })
    }
    #[apply(Notified)]
    fn notified(&mut self) {}
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Checkout")]
enum CheckoutEvent {
    Started {
        order: String,
        customer: String,
        qty: u32,
    },
    Paid,
    Reminded {
        n: u32,
    },
    Expired,
}

#[derive(Debug, PartialEq)]
enum CheckoutError {
    /// A payment for a checkout that has no order.
    NotPlaced,
}
impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for CheckoutError {}

/// Placed: remind the customer after 10 minutes, and once more 15 minutes later; cancel
/// the order and release its stock after 30 minutes without payment. Pending: wait 30
/// more minutes. Received: confirm, and stop every timer.
#[derive(Debug, Default)]
struct Checkout {
    order: Option<(String, String, u32)>,
    paid: bool,
    expired: bool,
    reminders: u32,
}
#[aggregate(events = CheckoutEvent, error = CheckoutError)]
impl Checkout {
    #[apply(Started)]
    fn started(&mut self, order: &str, customer: &str, qty: &u32) {
        self.order = Some((order.to_owned(), customer.to_owned(), *qty));
    }
    #[apply(Paid)]
    fn paid(&mut self) {
        self.paid = true;
    }
    #[apply(Reminded)]
    fn reminded(&mut self, n: &u32) {
        self.reminders = *n;
    }
    #[apply(Expired)]
    fn expired(&mut self) {
        self.expired = true;
    }
}

const MINUTE: Duration = Duration::from_secs(60);

impl Process for Checkout {
    fn selector() -> EventSelector {
        OrderEvent::selector_placed().or(PaymentEvent::selector())
    }

    fn react(
        &self,
        trigger: &RecordedEvent,
        out: &mut Reaction<Self>,
    ) -> Result<(), CheckoutError> {
        if OrderEvent::selector_placed().matches(trigger) {
            let OrderEvent::Placed { customer, qty, .. } = (match trigger.decode() {
                Ok(placed) => placed,
                Err(unreadable) => {
                    out.fail(unreadable);
                    return Ok(());
                }
            }) else {
                return Ok(());
            };
            out.record(CheckoutEvent::Started {
                order: trigger.aggregate_id().to_owned(),
                customer,
                qty,
            });
            // Set first, due last: timers fire in due order, not in set order.
            out.schedule("payment-timeout", 30 * MINUTE);
            out.schedule("reminder", 10 * MINUTE);
            return Ok(());
        }
        let Some((order, _, _)) = &self.order else {
            return Err(CheckoutError::NotPlaced);
        };
        if self.paid || self.expired {
            return Ok(());
        }
        let payment = match trigger.decode() {
            Ok(payment) => payment,
            Err(unreadable) => {
                out.fail(unreadable);
                return Ok(());
            }
        };
        match payment {
            PaymentEvent::Pending => out.schedule("payment-timeout", 30 * MINUTE),
            PaymentEvent::Received { .. } => {
                out.record(CheckoutEvent::Paid);
                for timer in ["payment-timeout", "reminder", "final-reminder"] {
                    out.cancel(timer);
                }
                out.send::<Order, _>(order.clone(), order::Confirm);
            }
        }
        Ok(())
    }

    fn wake(&self, timer: &Wakeup, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        let Some((order, customer, qty)) = &self.order else {
            return Err(CheckoutError::NotPlaced);
        };
        if self.paid || self.expired {
            return Ok(());
        }
        match timer.name.as_str() {
            "reminder" => {
                out.record(CheckoutEvent::Reminded { n: 1 });
                out.send::<Customer, _>(customer.clone(), notify("please pay"));
                // Due within the same advance as the reminder that sets it.
                out.schedule("final-reminder", 15 * MINUTE);
            }
            "final-reminder" => {
                out.record(CheckoutEvent::Reminded { n: 2 });
                out.send::<Customer, _>(customer.clone(), notify("last call"));
            }
            _ => {
                out.record(CheckoutEvent::Expired);
                out.send::<Order, _>(order.clone(), order::Cancel);
                out.send::<Inventory, _>("sku-1", inventory::Release { qty: *qty });
            }
        }
        Ok(())
    }
}

fn notify(text: &str) -> customer::Notify {
    customer::Notify {
        text: text.to_owned(),
    }
}

fn placed() -> Trigger {
    Trigger::new(
        "o-1",
        OrderEvent::Placed {
            customer: "cu-1".into(),
            sku: "sku-1".into(),
            qty: 2,
        },
    )
}

fn pending() -> Trigger {
    Trigger::new("pay-1", PaymentEvent::Pending)
}

fn received() -> Trigger {
    Trigger::new("pay-1", PaymentEvent::Received { amount: 42 })
}

fn confirm() -> Outgoing {
    Outgoing::new::<Order, _>("o-1", order::Confirm)
}

fn remind(text: &str) -> Outgoing {
    Outgoing::new::<Customer, _>("cu-1", notify(text))
}

/// What the payment timeout sends.
fn expire() -> [Outgoing; 2] {
    [
        Outgoing::new::<Order, _>("o-1", order::Cancel),
        Outgoing::new::<Inventory, _>("sku-1", inventory::Release { qty: 2 }),
    ]
}

/// The start of every test's clock.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The pending timers, as (name, minutes after the start).
fn pending_timers(timers: &[Wakeup]) -> Vec<(&str, u64)> {
    timers
        .iter()
        .map(|timer| {
            let after = timer
                .due
                .duration_since(start())
                .expect("due after the start");
            (timer.name.as_str(), after.as_secs() / 60)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// A trigger: its commands, its records, its state
// ---------------------------------------------------------------------------------------

#[test]
fn when_sends_commands_and_records_events() {
    let then = ProcessTest::<Checkout>::new()
        .given([placed()])
        .when(received())
        .then_commands([confirm()])
        .then_records([CheckoutEvent::Paid])
        .then_state(|checkout| {
            assert!(checkout.paid);
            assert_eq!(checkout.order, Some(("o-1".into(), "cu-1".into(), 2)));
        });
    assert_eq!(then.commands(), [confirm()]);
    assert_eq!(then.records(), [CheckoutEvent::Paid]);
    assert_eq!(then.instance(), Some("process-test"));
    assert!(then.timers().is_empty(), "every timer was cancelled");
    assert_eq!(then.now(), start(), "a trigger does not move the clock");
}

#[test]
fn only_the_when_step_is_under_test() {
    // The given Placed recorded Started and sent nothing; the Pending under test records
    // nothing and sends nothing, but moves the timeout.
    ProcessTest::<Checkout>::new()
        .given([placed()])
        .when(pending())
        .then_commands([])
        .then_records([])
        .then_state(|checkout| assert!(checkout.order.is_some()));
}

#[test]
fn a_trigger_sets_timers_relative_to_the_clock() {
    let then = ProcessTest::<Checkout>::new()
        .given_advance(7 * MINUTE)
        .when(placed())
        .then_records([CheckoutEvent::Started {
            order: "o-1".into(),
            customer: "cu-1".into(),
            qty: 2,
        }]);
    assert_eq!(
        pending_timers(then.timers()),
        [("reminder", 17), ("payment-timeout", 37)]
    );
    assert_eq!(then.now(), start() + 7 * MINUTE);
}

#[test]
fn starting_at_moves_the_whole_clock() {
    let noon = UNIX_EPOCH + Duration::from_secs(1_767_268_800);
    let then = ProcessTest::<Checkout>::new()
        .starting_at(noon)
        .when(placed());
    assert_eq!(then.now(), noon);
    assert_eq!(
        then.timers().first().map(|timer| timer.due),
        Some(noon + 10 * MINUTE)
    );
}

// ---------------------------------------------------------------------------------------
// The virtual clock
// ---------------------------------------------------------------------------------------

#[test]
fn advance_fires_due_timers_in_due_order_and_no_later_one() {
    // The timeout was set before the reminder, but the reminder is due first.
    let then = ProcessTest::<Checkout>::new()
        .given([placed()])
        .advance(24 * MINUTE)
        .then_commands([remind("please pay")])
        .then_records([CheckoutEvent::Reminded { n: 1 }])
        .then_state(|checkout| assert_eq!(checkout.reminders, 1));
    assert_eq!(
        pending_timers(then.timers()),
        [("final-reminder", 25), ("payment-timeout", 30)]
    );
    assert_eq!(then.now(), start() + 24 * MINUTE);
}

#[test]
fn a_timer_set_by_a_wake_fires_within_the_same_advance() {
    let mut expected = vec![remind("please pay"), remind("last call")];
    expected.extend(expire());
    let then = ProcessTest::<Checkout>::new()
        .given([placed()])
        .advance(30 * MINUTE)
        .then_commands(expected)
        .then_records([
            CheckoutEvent::Reminded { n: 1 },
            CheckoutEvent::Reminded { n: 2 },
            CheckoutEvent::Expired,
        ])
        .then_state(|checkout| assert!(checkout.expired && !checkout.paid));
    assert!(then.timers().is_empty());
}

#[test]
fn a_timer_due_exactly_at_the_end_of_the_advance_fires() {
    ProcessTest::<Checkout>::new()
        .given([placed()])
        .given_advance(25 * MINUTE)
        .advance(5 * MINUTE)
        .then_commands(expire());
}

#[test]
fn cancel_keeps_a_timer_from_firing() {
    let then = ProcessTest::<Checkout>::new()
        .given([placed(), received()])
        .advance(24 * 60 * MINUTE)
        .then_commands([])
        .then_records([])
        .then_state(|checkout| assert!(checkout.paid && !checkout.expired));
    assert!(then.timers().is_empty());
    assert_eq!(then.now(), start() + 24 * 60 * MINUTE);
}

#[test]
fn scheduling_again_replaces_the_timer() {
    // Pending at +20 min moves the timeout from +30 to +50 min; the final reminder the
    // reminder set is still due at +25.
    let test = ProcessTest::<Checkout>::new()
        .given([placed()])
        .given_advance(20 * MINUTE)
        .given([pending()]);
    let then = test
        .advance(29 * MINUTE)
        .then_commands([remind("last call")]);
    assert_eq!(pending_timers(then.timers()), [("payment-timeout", 50)]);

    ProcessTest::<Checkout>::new()
        .given([placed()])
        .given_advance(20 * MINUTE)
        .given([pending()])
        .advance(30 * MINUTE)
        .then_commands([
            remind("last call"),
            expire()[0].clone(),
            expire()[1].clone(),
        ]);
}

#[test]
fn given_advance_is_history_not_the_step_under_test() {
    // The reminder fired in the given history: its command is not the step's.
    ProcessTest::<Checkout>::new()
        .given([placed()])
        .given_advance(12 * MINUTE)
        .when(received())
        .then_commands([confirm()])
        .then_state(|checkout| assert_eq!(checkout.reminders, 1));
}

#[test]
fn advance_with_nothing_due_does_nothing() {
    let then = ProcessTest::<Checkout>::new()
        .advance(MINUTE)
        .then_commands([])
        .then_records([]);
    assert_eq!(then.instance(), None);
}

// ---------------------------------------------------------------------------------------
// Rejections, ignored triggers, instances
// ---------------------------------------------------------------------------------------

#[test]
fn a_rejected_trigger_does_nothing() {
    let then = ProcessTest::<Checkout>::new()
        .when(received())
        .then_rejected(|error| *error == CheckoutError::NotPlaced)
        .then_state(|checkout| assert!(checkout.order.is_none()));
    assert!(then.commands().is_empty() && then.records().is_empty());
}

#[test]
fn a_rejection_fails_then_commands_with_the_error() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .when(received())
            .then_commands([confirm()]);
    });
    assert_eq!(
        panic,
        "then_commands failed for process `Checkout` on `Received` of Payment(pay-1): \
         expected 1 command, but the trigger of instance `process-test` was rejected:\n\
         NotPlaced\n\nexpected:\n   commands[0] = Order(o-1) <- Confirm\n"
    );
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Alarm")]
enum AlarmEvent {
    Rang,
}

/// Sets a timer on every shipment, and rejects it when it rings.
#[derive(Default)]
struct Alarm;
#[aggregate(events = AlarmEvent, error = CheckoutError)]
impl Alarm {
    #[apply(Rang)]
    fn rang(&mut self) {}
}

impl Process for Alarm {
    fn selector() -> EventSelector {
        OrderEvent::selector_shipped()
    }
    fn react(&self, _: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        out.schedule("ring", MINUTE);
        Ok(())
    }
    fn wake(&self, _: &Wakeup, _: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        Err(CheckoutError::NotPlaced)
    }
}

#[test]
fn a_rejected_wake_is_named_by_its_timer() {
    let shipped = || Trigger::new("o-1", OrderEvent::Shipped);
    let then = ProcessTest::<Alarm>::new()
        .given([shipped()])
        .advance(MINUTE)
        .then_rejected(|error| *error == CheckoutError::NotPlaced);
    assert!(then.timers().is_empty(), "a rejected wake's timer is spent");

    let panic = panic_of(|| {
        ProcessTest::<Alarm>::new()
            .given([shipped()])
            .advance(MINUTE)
            .then_commands([]);
    });
    assert_eq!(
        panic,
        "then_commands failed for process `Alarm` after advance(60s): expected 0 commands, \
         but timer `ring` of instance `process-test` (due at +60s) was rejected:\nNotPlaced\n\nexpected:\n"
    );
}

/// Payments as an older build stored them: an amount the checkout cannot read.
mod stale {
    use cim_events::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug)]
    #[event(aggregate = "Payment")]
    pub enum PaymentEvent {
        Received { amount: String },
    }
}

#[test]
fn a_trigger_that_cannot_be_read_fails_the_step() {
    let unreadable = || {
        Trigger::new(
            "pay-1",
            stale::PaymentEvent::Received {
                amount: "42 EUR".into(),
            },
        )
    };
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .when(unreadable())
            .then_records([CheckoutEvent::Paid]);
    });
    assert!(
        panic.starts_with(
            "then_records failed for process `Checkout` on `Received` of Payment(pay-1): \
             expected 1 event, but the trigger of instance `process-test` failed: "
        ),
        "{panic}"
    );
    // A failure is not a rejection.
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .when(unreadable())
            .then_rejected(|_| true);
    });
    assert!(
        panic.contains("the trigger of instance `process-test` failed, it was not rejected: "),
        "{panic}"
    );
}

#[test]
fn a_trigger_the_selector_does_not_select_is_ignored() {
    let then = ProcessTest::<Checkout>::new()
        .given([placed()])
        .when(Trigger::new("o-1", OrderEvent::Shipped))
        .then_ignored();
    assert!(then.commands().is_empty());

    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .when(Trigger::new("o-1", OrderEvent::Shipped))
            .then_commands([]);
    });
    assert!(
        panic.contains("but the process does not react to the trigger: the selector of `Checkout` does not select it"),
        "{panic}"
    );
}

#[test]
#[should_panic(expected = "given[1] `Shipped` of Order(o-1) is not reacted to")]
fn a_given_trigger_the_process_ignores_is_a_mistake() {
    let _ =
        ProcessTest::<Checkout>::new().given([placed(), Trigger::new("o-1", OrderEvent::Shipped)]);
}

#[test]
fn the_correlation_names_the_instance() {
    let then = ProcessTest::<Checkout>::new()
        .correlation("c-7")
        .given([placed()])
        .when(received())
        .then_commands([confirm()]);
    assert_eq!(then.instance(), Some("c-7"));

    // A trigger of another correlation concerns another instance, which has no order.
    let then = ProcessTest::<Checkout>::new()
        .given([placed()])
        .when(received().correlation("c-8"))
        .then_rejected(|error| *error == CheckoutError::NotPlaced);
    assert_eq!(then.instance(), Some("c-8"));
    assert_eq!(
        pending_timers(then.timers()),
        [("reminder", 10), ("payment-timeout", 30)],
        "the first instance's timers are untouched"
    );
}

// ---------------------------------------------------------------------------------------
// The triggers a process sees: sealed as a store seals them
// ---------------------------------------------------------------------------------------

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Witness")]
enum WitnessEvent {
    Saw {
        aggregate_id: String,
        version: u64,
        correlation: String,
        secs: u64,
        cid: String,
    },
}

/// Records what it sees of every order event.
#[derive(Default)]
struct Witness;
#[aggregate(events = WitnessEvent, error = Infallible)]
impl Witness {
    #[apply(Saw)]
    fn saw(&mut self) {}
}

impl Process for Witness {
    fn selector() -> EventSelector {
        OrderEvent::selector()
    }
    fn react(&self, trigger: &RecordedEvent, out: &mut Reaction<Self>) -> Result<(), Infallible> {
        out.record(WitnessEvent::Saw {
            aggregate_id: trigger.aggregate_id().to_owned(),
            version: trigger.version(),
            correlation: trigger.correlation_id().to_owned(),
            secs: trigger
                .time()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            cid: trigger.cid.to_string(),
        });
        Ok(())
    }
}

fn witnessed() -> Vec<WitnessEvent> {
    ProcessTest::<Witness>::new()
        .given([placed(), Trigger::new("o-2", OrderEvent::Shipped)])
        .given_advance(MINUTE)
        .when(Trigger::new("o-1", OrderEvent::Shipped))
        .records()
        .to_vec()
}

#[test]
fn triggers_are_chained_per_aggregate_at_the_clock_and_deterministic() {
    let seen = witnessed();
    let [
        WitnessEvent::Saw {
            aggregate_id,
            version,
            correlation,
            secs,
            cid,
        },
    ] = seen.as_slice()
    else {
        panic!("one event, got {seen:?}");
    };
    assert_eq!(
        (aggregate_id.as_str(), *version, correlation.as_str(), *secs),
        ("o-1", 2, "process-test", 1_767_225_600 + 60)
    );
    assert!(cid.starts_with("bafy"), "{cid}");
    assert_eq!(witnessed(), seen, "the same test seals the same blocks");
}

// ---------------------------------------------------------------------------------------
// Failed expectations panic, with a readable diff
// ---------------------------------------------------------------------------------------

/// Runs `f`, which must panic, and returns its message.
fn panic_of(f: impl FnOnce()) -> String {
    let payload = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic, but none happened"),
        Err(payload) => payload,
    };
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("panic payloads here are strings")
}

#[test]
fn then_commands_shows_expected_and_actual_commands() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .when(received())
            .then_commands([Outgoing::new::<Order, _>("o-1", order::Cancel)]);
    });
    assert_eq!(
        panic,
        "then_commands failed for process `Checkout` on `Received` of Payment(pay-1): expected 1 command, got 1\n\
         first difference at commands[0]; `-` expected, `+` actual\n\n\
         -> commands[0] differs:\n   - Order(o-1) <- Cancel\n   + Order(o-1) <- Confirm\n"
    );
}

#[test]
fn then_commands_names_missing_and_unexpected_commands() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .advance(30 * MINUTE)
            .then_commands([remind("please pay"), remind("last call")]);
    });
    assert!(
        panic.starts_with(
            "then_commands failed for process `Checkout` after advance(1800s): expected 2 commands, got 4\n\
             first difference at commands[2]"
        ),
        "{panic}"
    );
    assert!(
        panic.contains(
            "-> commands[2] unexpected (produced, not expected):\n   + Order(o-1) <- Cancel\n"
        ),
        "{panic}"
    );
    assert!(
        panic.contains("   commands[3] unexpected (produced, not expected):\n   + Inventory(sku-1) <- Release { qty: 2 }\n"),
        "{panic}"
    );
}

#[test]
fn then_records_shows_a_diff_of_the_events() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .advance(10 * MINUTE)
            .then_records([CheckoutEvent::Reminded { n: 2 }]);
    });
    assert!(
        panic.starts_with(
            "then_records failed for process `Checkout` after advance(600s): expected 1 event, got 1\n\
             first difference at events[0]"
        ),
        "{panic}"
    );
    assert!(
        panic.contains("   -     n: 2,\n   +     n: 1,\n"),
        "{panic}"
    );
}

#[test]
fn then_rejected_on_a_carried_out_step_lists_what_it_did() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .when(received())
            .then_rejected(|_| true);
    });
    assert_eq!(
        panic,
        "then_rejected failed for process `Checkout` on `Received` of Payment(pay-1): \
         expected a rejection, but the step was carried out: it sent 1 command:\n   \
         commands[0] = Order(o-1) <- Confirm\nand recorded 1 event:\n   events[0] = Paid\n"
    );
}

#[test]
fn then_rejected_shows_an_error_the_predicate_refuses() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .when(received())
            .then_rejected(|_| false);
    });
    assert!(
        panic.ends_with(
            "the trigger of instance `process-test` was rejected, but the predicate does not accept the error:\nNotPlaced"
        ),
        "{panic}"
    );
}

#[test]
fn then_ignored_on_a_trigger_the_process_reacts_to_fails() {
    let panic = panic_of(|| {
        ProcessTest::<Checkout>::new()
            .given([placed()])
            .when(received())
            .then_ignored();
    });
    assert_eq!(
        panic,
        "then_ignored failed for process `Checkout` on `Received` of Payment(pay-1): the process reacts to it (instance `process-test`), sending 1 command"
    );
}
