//! A process written with `#[process]`, carried out by `ProcessManager` on the memory
//! store: triggers of two aggregate types, a timer, and a trigger that cannot be read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cim_events::process::Process;
use cim_events::process::{ProcessError, ProcessManager, Reaction, Wakeup};
use cim_events::timer::{FiredTimers, Timer};
use cim_events::{
    Event, EventStore, MemoryEventStore, RecordedEvent, Repository, aggregate, process,
};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed { amount: u64 },
    Shipped,
    Cancelled,
}

#[derive(Default)]
struct Order {
    done: bool,
}

#[aggregate(events = OrderEvent)]
impl Order {
    #[command]
    fn place(&self, amount: u64) -> Result<OrderEvent, std::convert::Infallible> {
        Ok(OrderEvent::Placed { amount })
    }
    #[command]
    fn ship(&self) -> Result<Option<OrderEvent>, std::convert::Infallible> {
        Ok((!self.done).then_some(OrderEvent::Shipped))
    }
    #[command]
    fn cancel(&self) -> Result<Option<OrderEvent>, std::convert::Infallible> {
        Ok((!self.done).then_some(OrderEvent::Cancelled))
    }
    #[apply(Placed)]
    fn placed(&mut self) {}
    #[apply(Shipped)]
    fn shipped(&mut self) {
        self.done = true;
    }
    #[apply(Cancelled)]
    fn cancelled(&mut self) {
        self.done = true;
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aggregate = "Payment")]
enum PaymentEvent {
    Received { order: String, amount: u64 },
    Refunded { order: String },
}

#[derive(Default)]
struct Payment;

#[aggregate(events = PaymentEvent)]
impl Payment {
    #[command]
    fn receive(
        &self,
        order: String,
        amount: u64,
    ) -> Result<PaymentEvent, std::convert::Infallible> {
        Ok(PaymentEvent::Received { order, amount })
    }
    #[command]
    fn refund(&self, order: String) -> Result<PaymentEvent, std::convert::Infallible> {
        Ok(PaymentEvent::Refunded { order })
    }
    #[apply(Received)]
    fn received(&mut self) {}
    #[apply(Refunded)]
    fn refunded(&mut self) {}
}

/// The checkout of one order: waits for its payment, ships it, or cancels it when the
/// payment does not come in time.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Checkout")]
enum CheckoutEvent {
    Started { order: String, amount: u64 },
    Paid,
    TimedOut,
}

#[derive(Debug)]
enum CheckoutError {
    Underpaid { owed: u64, paid: u64 },
}

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let CheckoutError::Underpaid { owed, paid } = self;
        write!(f, "paid {paid} of {owed}")
    }
}

impl std::error::Error for CheckoutError {}

#[derive(Default)]
struct Checkout {
    order: Option<String>,
    amount: u64,
    paid: bool,
}

#[aggregate(events = CheckoutEvent, error = CheckoutError)]
impl Checkout {
    #[apply(Started)]
    fn started(&mut self, order: &str, amount: &u64) {
        self.order = Some(order.to_owned());
        self.amount = *amount;
    }
    #[apply(Paid)]
    fn was_paid(&mut self) {
        self.paid = true;
    }
    #[apply(TimedOut)]
    fn timed_out_applied(&mut self) {}
}

/// One checkout per order: `checkout-{order id}`, whichever event concerns it.
fn checkout_of(trigger: &RecordedEvent) -> Option<String> {
    let order = if PaymentEvent::selector().matches(trigger) {
        match trigger.decode::<PaymentEvent>().ok()? {
            PaymentEvent::Received { order, .. } | PaymentEvent::Refunded { order } => order,
        }
    } else {
        trigger.aggregate_id().to_owned()
    };
    Some(format!("checkout-{order}"))
}

const TIMEOUT: &str = "payment-timeout";

#[process(instance = checkout_of, on = [OrderEvent::Placed, PaymentEvent::Received])]
impl Checkout {
    #[on(OrderEvent::Placed)]
    fn placed(
        &self,
        event: &OrderEvent,
        trigger: &RecordedEvent,
        out: &mut Reaction<Self>,
    ) -> Result<(), CheckoutError> {
        if let OrderEvent::Placed { amount } = event {
            out.record(CheckoutEvent::Started {
                order: trigger.aggregate_id().to_owned(),
                amount: *amount,
            });
            out.schedule(TIMEOUT, Duration::from_secs(15 * 60));
        }
        Ok(())
    }

    #[on(PaymentEvent::Received)]
    fn paid(&self, event: &PaymentEvent, out: &mut Reaction<Self>) -> Result<(), CheckoutError> {
        let PaymentEvent::Received { order, amount } = event else {
            return Ok(());
        };
        if *amount < self.amount {
            return Err(CheckoutError::Underpaid {
                owed: self.amount,
                paid: *amount,
            });
        }
        out.record(CheckoutEvent::Paid);
        out.cancel(TIMEOUT);
        out.send::<Order, _>(order.clone(), order::Ship);
        Ok(())
    }

    #[on_timer("payment-timeout")]
    fn timed_out(&self, out: &mut Reaction<Self>) {
        if let (Some(order), false) = (&self.order, self.paid) {
            out.record(CheckoutEvent::TimedOut);
            out.send::<Order, _>(order.clone(), order::Cancel);
        }
    }
}

/// The timers a step sets and cancels, as a list.
#[derive(Default)]
struct Timers {
    set: Mutex<Vec<Wakeup>>,
    cancelled: Mutex<Vec<String>>,
}

#[async_trait]
impl cim_events::timer::Timers for Timers {
    async fn schedule(&self, timer: &Timer) -> cim_events::Result<()> {
        self.set.lock().expect("not poisoned").push(Wakeup {
            instance: timer.owner().to_owned(),
            name: timer.name().to_owned(),
            due: timer.due(),
        });
        Ok(())
    }
    async fn cancel(&self, owner: &str, name: &str) -> cim_events::Result<bool> {
        self.cancelled
            .lock()
            .expect("not poisoned")
            .push(format!("{owner}/{name}"));
        Ok(true)
    }
    async fn fired(&self, _consumer: &str) -> cim_events::Result<FiredTimers> {
        Ok(Box::pin(futures::stream::pending()))
    }
}

async fn last_event(store: &MemoryEventStore, id: &str) -> RecordedEvent {
    store
        .load(id)
        .await
        .expect("loads")
        .pop()
        .expect("an event")
}

async fn checkout_events(store: &MemoryEventStore, id: &str) -> Vec<CheckoutEvent> {
    store
        .load(id)
        .await
        .expect("loads")
        .iter()
        .map(|e| e.decode().expect("a checkout event"))
        .collect()
}

#[test]
fn the_selector_is_the_union_of_the_handlers_events() {
    let selector = Checkout::selector();
    assert_eq!(
        selector,
        OrderEvent::selector_placed().or(PaymentEvent::selector_received())
    );
}

#[tokio::test]
async fn orders_and_payments_drive_the_checkout() {
    let store = MemoryEventStore::new();
    let timers = Arc::new(Timers::default());
    let manager = ProcessManager::<Checkout, _>::new(store.clone()).timers(timers.clone());
    let orders = Repository::<Order, _>::new(store.clone());
    let payments = Repository::<Payment, _>::new(store.clone());

    // An order is placed: the checkout starts and waits for the payment.
    orders
        .execute("o-1", order::Place { amount: 30 })
        .await
        .expect("placed");
    let step = manager
        .react(&last_event(&store, "o-1").await)
        .await
        .expect("a step");
    assert_eq!(step.instance.as_deref(), Some("checkout-o-1"));
    assert_eq!(step.recorded.len(), 1);
    assert_eq!(step.timers.len(), 1);
    assert_eq!(step.timers[0].name, TIMEOUT);

    // Another order event is not one the process selects: nothing happens.
    orders
        .execute("o-1", order::Cancel)
        .await
        .expect("cancelled");
    let ignored = manager
        .react(&last_event(&store, "o-1").await)
        .await
        .expect("no step");
    assert_eq!(ignored.instance, None);

    // Too little is paid: the process rejects the trigger and records nothing.
    orders
        .execute("o-2", order::Place { amount: 50 })
        .await
        .expect("placed");
    manager
        .react(&last_event(&store, "o-2").await)
        .await
        .expect("a step");
    payments
        .execute(
            "pay-1",
            payment::Receive {
                order: "o-2".into(),
                amount: 20,
            },
        )
        .await
        .expect("received");
    let underpaid = manager
        .react(&last_event(&store, "pay-1").await)
        .await
        .expect("a step");
    assert_eq!(underpaid.rejected.as_deref(), Some("paid 20 of 50"));
    assert!(underpaid.recorded.is_empty() && underpaid.sent.is_empty());

    // Paid in full: the checkout records it, cancels its timer and ships the order.
    payments
        .execute(
            "pay-2",
            payment::Receive {
                order: "o-2".into(),
                amount: 50,
            },
        )
        .await
        .expect("received");
    let paid = manager
        .react(&last_event(&store, "pay-2").await)
        .await
        .expect("a step");
    assert_eq!(paid.instance.as_deref(), Some("checkout-o-2"));
    assert_eq!(paid.recorded.len(), 1);
    assert_eq!(paid.cancelled, [TIMEOUT]);
    assert_eq!(paid.sent.len(), 1);
    assert_eq!(paid.sent[0].0.aggregate_type, "Order");
    assert!(paid.sent[0].1.as_ref().is_ok_and(|d| d.events == 1));
    assert_eq!(last_event(&store, "o-2").await.event_type(), "Shipped");
    assert_eq!(
        checkout_events(&store, "checkout-o-2").await,
        [
            CheckoutEvent::Started {
                order: "o-2".into(),
                amount: 50
            },
            CheckoutEvent::Paid
        ]
    );
    assert_eq!(
        *timers.cancelled.lock().expect("not poisoned"),
        ["checkout-o-2/payment-timeout"]
    );

    // A payment event the process does not subscribe to is not a trigger.
    payments
        .execute(
            "pay-2",
            payment::Refund {
                order: "o-2".into(),
            },
        )
        .await
        .expect("refunded");
    let refund = manager
        .react(&last_event(&store, "pay-2").await)
        .await
        .expect("no step");
    assert_eq!(refund.instance, None);
}

#[tokio::test]
async fn a_timer_wakes_the_checkout() {
    let store = MemoryEventStore::new();
    let timers = Arc::new(Timers::default());
    let manager = ProcessManager::<Checkout, _>::new(store.clone()).timers(timers.clone());
    Repository::<Order, _>::new(store.clone())
        .execute("o-3", order::Place { amount: 10 })
        .await
        .expect("placed");
    manager
        .react(&last_event(&store, "o-3").await)
        .await
        .expect("a step");
    let timer = timers.set.lock().expect("not poisoned")[0].clone();
    assert_eq!(timer.instance, "checkout-o-3");

    let woken = manager.wake(&timer).await.expect("a step");
    assert_eq!(woken.recorded.len(), 1);
    assert_eq!(woken.sent.len(), 1);
    assert_eq!(last_event(&store, "o-3").await.event_type(), "Cancelled");
    assert_eq!(
        checkout_events(&store, "checkout-o-3").await.last(),
        Some(&CheckoutEvent::TimedOut)
    );

    // A timer no handler knows (one the process no longer sets) is ignored.
    let stale = Wakeup {
        name: "reminder".into(),
        ..timer
    };
    let ignored = manager.wake(&stale).await.expect("a step");
    assert!(ignored.recorded.is_empty() && ignored.sent.is_empty());
    assert_eq!(checkout_events(&store, "checkout-o-3").await.len(), 2);
}

/// Stored as an `Order`'s `Placed`, but not in the shape `OrderEvent` reads.
#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Order")]
enum ForgedOrderEvent {
    Placed { amount: String },
}

#[tokio::test]
async fn a_trigger_that_cannot_be_read_fails_its_step() {
    let store = MemoryEventStore::new();
    let manager =
        ProcessManager::<Checkout, _>::new(store.clone()).timers(Arc::new(Timers::default()));
    store
        .append_event(
            "o-4",
            ForgedOrderEvent::Placed {
                amount: "a lot".into(),
            },
            None,
        )
        .await
        .expect("appended");
    let forged = last_event(&store, "o-4").await;
    assert!(Checkout::selector().matches(&forged));

    let error = manager.react(&forged).await.expect_err("cannot be read");
    assert!(matches!(error, ProcessError::Store(_)), "{error:?}");
    assert!(store.load("checkout-o-4").await.expect("loads").is_empty());
}
