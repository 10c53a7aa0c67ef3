//! Orders, inventory and payments: an atomic commit across aggregates, and a durable
//! process with a timer.
//!
//! - **Placing an order reserves its stock in the same commit.** A `Transaction` runs
//!   `Order::Place` and `InventoryItem::Reserve` for every line and stores all their events
//!   at once, or none: an order that asks for more than is left is rejected as a whole.
//! - **A `Checkout` process per order** (`checkout.rs`) reacts to `Placed`: it records that
//!   it awaits payment and sets a `payment-timeout` timer. A `Payment`'s `Received` makes it
//!   record `Paid`, cancel the timer and confirm the order. The timeout, if it fires first,
//!   makes it record `TimedOut`, cancel the order and release the order's stock.
//!
//! The example stocks two items, places three orders (the third asks for more than is
//! left), pays for the first and not the second, and lets the second's payment time run
//! out. It prints the process's steps, every stored event (aggregate, version, type, CID,
//! correlation, causation), each order's causal tree — the process's commands name its
//! decision's CID as their causation — and the final state and chain verdict of every
//! aggregate.
//!
//! On the embedded store, timers run on a `VirtualClock`: moving it 30 minutes fires the
//! timeout at once.
//!
//! ```text
//! cargo run --example orders
//! ```
//!
//! With `NATS_URL` set it runs on JetStream: stream `ORDERS_CHECKOUT` under prefix `shop`
//! (created if missing), the checkout as a `ProcessWorker` on a durable consumer, its
//! timers on the server (`JetStreamTimers`, stream `ORDERS_CHECKOUT_TIMERS`), and new ids
//! each run. The payment timeout is real there: 5 seconds. `ORDERS_PAYMENT_TIMEOUT_SECS`
//! sets it in either mode.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run --example orders
//! ```

mod checkout;
mod inventory;
mod order;
mod payment;
mod report;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cim_events::jetstream::{JetStreamTimers, ProcessWorker, async_nats};
use cim_events::process::{self, ProcessManager};
use cim_events::timer::{MemoryTimers, VirtualClock};
use cim_events::{
    Aggregate, EventHeader, EventMetadata, EventStore, EventStream, JetStreamEventStore,
    MemoryEventStore, RecordedEvent, Repository, StartFrom, Transaction, TransactionOptions,
};
use futures::StreamExt;

use checkout::{Checkout, checkout_of};
use inventory::{InventoryError, InventoryItem, inventory_item};
use order::{Line, Order, OrderEvent, order::Place};
use payment::{Payment, payment::Receive};

/// The error type of the example: any error, movable between tasks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Units of each SKU put in stock at the start.
const STOCK: [(&str, u32); 2] = [("widget", 10), ("gadget", 5)];

/// The (SKU, quantity) lines of an order.
type Lines = &'static [(&'static str, u32)];

/// The orders placed: id, customer, lines. `order-3` wants 4 gadgets when 1 is left.
const ORDERS: [(&str, &str, Lines); 3] = [
    ("order-1", "ada", &[("widget", 3), ("gadget", 2)]),
    ("order-2", "grace", &[("widget", 2), ("gadget", 2)]),
    ("order-3", "linus", &[("widget", 1), ("gadget", 4)]),
];

/// The events the scenario stores before the payment timeout: 2 `Stocked`; per placed
/// order `Placed` and 2 `Reserved` (one commit) and the checkout's `AwaitingPayment`; for
/// `order-1` the payment's `Received`, then the checkout's `Paid` and the order's
/// `Confirmed`. Nothing for `order-3`.
const BEFORE_TIMEOUT: usize = 2 + 2 * 4 + 3;

/// And in all: after the timeout, `order-2`'s checkout `TimedOut`, the order `Cancelled`
/// and 2 `Released`.
const EXPECTED_EVENTS: usize = BEFORE_TIMEOUT + 4;

/// The checkout's steps: two orders placed, one paid, one payment timeout.
const CHECKOUT_STEPS: u64 = 4;

/// The JetStream stream (its schema registry and the checkout's durable consumer live
/// beside it).
const STREAM: &str = "ORDERS_CHECKOUT";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    match std::env::var("NATS_URL") {
        Ok(url) => on_jetstream(&url).await,
        Err(_) => on_memory().await.map(drop),
    }
}

/// Runs the scenario on the embedded store, with the checkout's timers on a virtual clock.
async fn on_memory() -> Result<(Shop<MemoryEventStore>, Vec<RecordedEvent>), BoxError> {
    println!("store: in-memory (MemoryEventStore); timers: MemoryTimers on a VirtualClock");
    let store = MemoryEventStore::builder().prefix("shop").build()?;
    let shop = Shop::new(store, String::new(), Duration::from_secs(30 * 60));
    let mut log = shop.log().await?;
    let placed = shop.place_orders().await?;

    // The events are stamped by the wall clock, the timers fire by the virtual one: it
    // starts after the orders, so that moving it 30 minutes passes their payment time.
    let clock = VirtualClock::new(SystemTime::now());
    let timers = Arc::new(MemoryTimers::new(&clock));
    let manager = ProcessManager::<Checkout, _>::new(shop.store.clone()).timers(timers);
    let steps = process::drive(manager, StartFrom::Beginning, "checkout").await?;
    let mut steps = std::pin::pin!(steps);
    let mut next = async || steps.next().await.ok_or("the process stopped");
    println!("\ncheckout steps:");
    report::step(&next().await??); // order-1 placed
    report::step(&next().await??); // order-2 placed
    shop.pay(&placed).await?;
    report::step(&next().await??); // order-1 paid
    println!("  (the clock moves {:?})", shop.pay_within);
    clock.advance(shop.pay_within);
    report::step(&next().await??); // order-2's payment timeout

    let events = shop.collect(&mut log, Duration::from_secs(5)).await?;
    shop.report(&events).await?;
    Ok((shop, events))
}

/// Runs the scenario on JetStream, with the checkout as a worker on a durable consumer and
/// its timers on the server.
async fn on_jetstream(url: &str) -> Result<(), BoxError> {
    let context = async_nats::jetstream::new(async_nats::connect(url).await?);
    let store = JetStreamEventStore::builder(context.clone(), STREAM)
        .prefix("shop")
        .build()
        .await?;
    // One timer stream per process type: this stream has one, its default timer stream.
    let timers = JetStreamTimers::builder(context, STREAM)
        .prefix("shop")
        .build()
        .await?;
    println!("store: JetStream at {url} (stream {STREAM}, prefix shop); timers on the server");
    let manager = ProcessManager::<Checkout, _>::new(store.clone()).timers(Arc::new(timers));
    let worker = ProcessWorker::new(manager);
    let mut steps = worker.steps();
    // The stream outlives this run: new orders and items each time.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let shop = Shop::new(
        store,
        format!("-{}", now.as_millis()),
        Duration::from_secs(5),
    );
    let mut log = shop.log().await?;

    println!("checkout steps, as the worker makes them:");
    let mut worker = tokio::spawn(async move { worker.run(report::step).await });
    let placed = shop.place_orders().await?;
    shop.pay(&placed).await?;
    let within = shop.pay_within + Duration::from_secs(30);
    let events = tokio::select! {
        events = shop.collect(&mut log, within) => events?,
        stopped = &mut worker => return Err(format!("the checkout worker stopped: {stopped:?}").into()),
    };
    // A step's report comes after its effects are stored: let the last one print too.
    let _ = tokio::time::timeout(within, steps.wait_for(|n| *n >= CHECKOUT_STEPS)).await;
    worker.abort();
    shop.report(&events).await
}

/// One run of the scenario on `store`: every id ends with `suffix`, and customers have
/// `pay_within` to pay.
struct Shop<S> {
    store: S,
    suffix: String,
    pay_within: Duration,
}

impl<S: EventStore + Clone + 'static> Shop<S> {
    /// `ORDERS_PAYMENT_TIMEOUT_SECS`, when set, replaces `pay_within`.
    fn new(store: S, suffix: String, pay_within: Duration) -> Self {
        let secs = std::env::var("ORDERS_PAYMENT_TIMEOUT_SECS").ok();
        let pay_within = secs
            .and_then(|s| s.parse().ok())
            .map_or(pay_within, Duration::from_secs);
        Shop {
            store,
            suffix,
            pay_within,
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    /// Every event stored from now on, to print at the end.
    async fn log(&self) -> Result<EventStream, BoxError> {
        let all = format!("{}.>", self.store.subject_prefix());
        Ok(self.store.subscribe(&all, StartFrom::Now).await?)
    }

    /// The scenario's events from `log`, in stream order, or an error after `within`.
    async fn collect(
        &self,
        log: &mut EventStream,
        within: Duration,
    ) -> Result<Vec<RecordedEvent>, BoxError> {
        let mut events = Vec::with_capacity(EXPECTED_EVENTS);
        let deadline = tokio::time::Instant::now() + within;
        while events.len() < EXPECTED_EVENTS {
            let Ok(next) = tokio::time::timeout_at(deadline, log.next()).await else {
                return Err(format!("{} of {EXPECTED_EVENTS} events came", events.len()).into());
            };
            let event = next.ok_or("the subscription ended")??;
            // On JetStream, events of earlier runs may still be coming (their timers).
            if event.aggregate_id().ends_with(&self.suffix) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Stocks the items and places the orders; the `Placed` events.
    async fn place_orders(&self) -> Result<Vec<EventMetadata>, BoxError> {
        // The goods come in one delivery, a conversation of its own.
        let delivery = EventHeader::new(self.id("delivery-1"));
        let inventory = Repository::<InventoryItem, _>::new(self.store.clone());
        for (sku, quantity) in STOCK {
            let restock = inventory_item::Restock { quantity };
            inventory
                .execute_with(&self.id(sku), restock, delivery.clone())
                .await?;
        }
        let mut placed = Vec::new();
        for (order, customer, lines) in ORDERS {
            placed.extend(self.place(&self.id(order), customer, lines).await?);
        }
        Ok(placed)
    }

    /// Places order `order_id` and reserves the stock of every line, in one atomic commit
    /// whose events share the order's id as their correlation. Returns the `Placed` event,
    /// or `None` if the order was rejected, and nothing stored.
    async fn place(
        &self,
        order_id: &str,
        customer: &str,
        lines: Lines,
    ) -> Result<Option<EventMetadata>, BoxError> {
        let lines: Vec<Line> = lines
            .iter()
            .map(|&(sku, quantity)| Line {
                sku: self.id(sku),
                quantity,
            })
            .collect();
        let pay_within_secs = self.pay_within.as_secs();
        let options = TransactionOptions::default().header(EventHeader::new(order_id));
        let lines = &lines;
        let placed = Transaction::run_with(&self.store, options, |mut tx| async move {
            let place = Place {
                customer: customer.into(),
                lines: lines.clone(),
                pay_within_secs,
            };
            tx.execute::<Order, _>(order_id, place).await?;
            for Line { sku, quantity } in lines {
                let reserve = inventory_item::Reserve {
                    order_id: order_id.into(),
                    quantity: *quantity,
                };
                tx.execute::<InventoryItem, _>(sku, reserve).await?;
            }
            Ok(tx)
        })
        .await;
        match placed {
            Ok(commit) => {
                println!(
                    "{order_id} ({customer}): placed, {} events in one commit",
                    commit.event_count()
                );
                Ok(commit.events_of(order_id).first().cloned())
            }
            Err(error) => {
                let Some(out_of_stock) = error.rejection::<InventoryError>() else {
                    return Err(error.into());
                };
                let stored = self.store.load(order_id).await?.len();
                println!(
                    "{order_id} ({customer}): rejected as a whole ({out_of_stock}), {stored} events stored; the stock is untouched:"
                );
                for (sku, _) in STOCK {
                    self.show::<InventoryItem>(&self.id(sku)).await?;
                }
                Ok(None)
            }
        }
    }

    /// Ada pays for `order-1`, in its conversation; Grace never pays for `order-2`.
    async fn pay(&self, placed: &[EventMetadata]) -> Result<(), BoxError> {
        let order_id = self.id("order-1");
        let placed = placed
            .iter()
            .find(|p| p.aggregate_id == order_id)
            .ok_or("order-1 is placed")?;
        let payment_id = format!("payment-{order_id}");
        println!("  ({payment_id} received)");
        let paid = EventHeader::caused_by(placed);
        let payments = Repository::<Payment, _>::new(self.store.clone());
        payments
            .execute_with(&payment_id, Receive { order_id }, paid)
            .await?;
        Ok(())
    }

    /// Prints the events, each order's causal tree, and every aggregate's final state and
    /// chain verdict.
    async fn report(&self, events: &[RecordedEvent]) -> Result<(), BoxError> {
        println!("\nevents in stream order:");
        report::table(events);
        println!("\ncausal trees:");
        report::causal_trees(events, &OrderEvent::selector());
        println!("\nfinal states and chains:");
        for (order, ..) in ORDERS {
            self.show::<Order>(&self.id(order)).await?;
            self.show::<Checkout>(&checkout_of(&self.id(order))).await?;
        }
        for (sku, _) in STOCK {
            self.show::<InventoryItem>(&self.id(sku)).await?;
        }
        self.show::<Payment>(&format!("payment-{}", self.id("order-1")))
            .await
    }

    /// Prints aggregate `id`'s version, state and chain verdict, or that it has no events.
    async fn show<A: Aggregate + Debug>(&self, id: &str) -> Result<(), BoxError> {
        let loaded = Repository::<A, _>::new(self.store.clone()).load(id).await?;
        if loaded.version == 0 {
            println!("  {}/{id}: no events", A::AGGREGATE_TYPE);
            return Ok(());
        }
        let chain = self.store.verify_chain(id).await?;
        let verdict = match (chain.is_valid(), chain.events) {
            (true, 1) => "chain intact (1 event)".to_owned(),
            (true, n) => format!("chain intact ({n} events)"),
            (false, _) => format!("chain BROKEN: {:?}", chain.faults),
        };
        println!(
            "  {}/{id} v{}: {:?}; {verdict}",
            A::AGGREGATE_TYPE,
            loaded.version,
            loaded.state
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scenario's outcome: the events of each aggregate, the orders' ends, the second
    /// order's stock back, and every chain intact.
    #[tokio::test]
    async fn scenario() {
        let (shop, events) = on_memory().await.expect("the scenario runs");
        let count = |id: &str| events.iter().filter(|e| e.aggregate_id() == id).count();
        let counts = [
            ("order-1", 2),
            ("order-2", 2),
            ("order-3", 0),
            ("checkout-order-1", 2),
            ("checkout-order-2", 2),
            ("checkout-order-3", 0),
            ("payment-order-1", 1),
            ("widget", 4),
            ("gadget", 4),
        ];
        assert_eq!(counts.map(|(id, _)| (id, count(id))), counts);
        assert_eq!(events.len(), EXPECTED_EVENTS);

        let orders = Repository::<Order, _>::new(shop.store.clone());
        let status = async |id| orders.load(id).await.expect("load").state.status;
        assert_eq!(status("order-1").await, order::Status::Confirmed);
        assert_eq!(status("order-2").await, order::Status::Cancelled);
        assert_eq!(status("order-3").await, order::Status::New);

        // Only `order-1` holds stock: `order-2`'s came back, `order-3` never took any.
        let inventory = Repository::<InventoryItem, _>::new(shop.store.clone());
        for (sku, on_hand, held) in [("widget", 10, 3), ("gadget", 5, 2)] {
            let item = inventory.load(sku).await.expect("load").state;
            let reserved: Vec<_> = item.reservations.into_iter().collect();
            assert_eq!(
                (item.on_hand, reserved),
                (on_hand, vec![("order-1".to_owned(), held)]),
                "{sku}"
            );
        }

        let mut ids: Vec<&str> = events.iter().map(RecordedEvent::aggregate_id).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let report = shop.store.verify_chain(id).await.expect("verify");
            assert!(report.is_valid(), "{id}: {:?}", report.faults);
        }
    }

    /// The stored shapes of the events are locked in `orders.schema.lock` (see
    /// `cim-events/docs/evolving-events.md`).
    #[test]
    fn schema_lock() {
        cim_events::assert_schema_lock!(
            crate::order::OrderEvent,
            crate::inventory::InventoryEvent,
            crate::payment::PaymentEvent,
            crate::checkout::CheckoutEvent;
            path: "orders.schema.lock"
        );
    }
}
