//! Orders and inventory: two kinds of aggregate, and a process that reacts to their events.
//!
//! An `Order` is placed with lines (SKU × quantity); each SKU is an `InventoryItem` that
//! holds stock and reservations. The fulfilment process follows the store through a
//! subscription: when an order is placed it reserves each line's stock; when every line is
//! reserved it confirms the order, ships it, and dispatches the stock; when a line cannot be
//! reserved it releases what the order holds and rejects it. Its commands are sent with
//! `EventHeader::caused_by(&event)`, so every event of one order — in whichever aggregate —
//! shares the order's correlation id and names the CID of the event that caused it.
//!
//! The example stocks two items, places two orders (the second asks for more than is left),
//! prints every event as it is stored (aggregate, version, type, CID, correlation,
//! causation), then each order's causal tree, and the final state and chain verdict of
//! every aggregate.
//!
//! Runs on the embedded store, with no server:
//!
//! ```text
//! cargo run --example orders
//! ```
//!
//! With `NATS_URL` set it runs on JetStream, in stream `ORDERS_EXAMPLE` under prefix `shop`
//! (created if missing), with new order ids and SKUs each run:
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run --example orders
//! ```

mod fulfilment;
mod inventory;
mod order;
mod report;

use std::time::Duration;

use cim_events::jetstream::{JetStreamEventStore, async_nats};
use cim_events::{EventStore, EventStream, MemoryEventStore, RecordedEvent, Repository, StartFrom};
use futures::StreamExt;

use fulfilment::Fulfilment;
use inventory::{InventoryItem, inventory_item::Restock};
use order::{Line, Order, OrderEvent, order::Place};
use report::Table;

/// The error type of the example: any error, movable between tasks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Units of each SKU put in stock at the start.
const STOCK: [(&str, u32); 2] = [("widget", 10), ("gadget", 5)];

/// The (SKU, quantity) lines of an order.
type Lines = &'static [(&'static str, u32)];

/// The orders placed: id, customer, lines. `order-2` wants 4 gadgets when `order-1` has
/// left 3.
const ORDERS: [(&str, &str, Lines); 2] = [
    ("order-1", "ada", &[("widget", 3), ("gadget", 2)]),
    ("order-2", "grace", &[("widget", 2), ("gadget", 4)]),
];

/// The events the scenario stores: 2 `Stocked`; for `order-1` placed, 2 reserved,
/// confirmed, shipped, 2 dispatched; for `order-2` placed, widget reserved, gadget failed,
/// widget released, rejected.
const EXPECTED_EVENTS: usize = 14;

/// How long to wait for them.
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let Ok(url) = std::env::var("NATS_URL") else {
        println!("store: in-memory (MemoryEventStore, no server)");
        let store = MemoryEventStore::builder().prefix("shop").build()?;
        return run(store, "").await;
    };
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await?);
    let store = JetStreamEventStore::builder(jetstream, "ORDERS_EXAMPLE")
        .prefix("shop")
        .build()
        .await?;
    println!("store: JetStream at {url} (stream ORDERS_EXAMPLE, prefix shop)");
    // The stream outlives this run: new orders and items each time.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    run(store, &format!("-{}", now.as_millis())).await
}

/// Runs the scenario on `store`, with `suffix` appended to every order id and SKU.
async fn run<S: EventStore + Clone + 'static>(store: S, suffix: &str) -> Result<(), BoxError> {
    let id = |name: &str| format!("{name}{suffix}");
    let orders = Repository::<Order, _>::new(store.clone()).with_cache(fulfilment::CACHE);
    let inventory =
        Repository::<InventoryItem, _>::new(store.clone()).with_cache(fulfilment::CACHE);

    // Both follow the store from now on: the process to react, `log` to print.
    let fulfilment = Fulfilment::new(store.clone()).start().await?;
    let mut log = store
        .subscribe(&format!("{}.>", store.subject_prefix()), StartFrom::Now)
        .await?;

    for (sku, quantity) in STOCK {
        inventory.execute(&id(sku), Restock { quantity }).await?;
    }
    for (order_id, customer, lines) in ORDERS {
        let lines = lines
            .iter()
            .map(|&(sku, quantity)| Line {
                sku: id(sku),
                quantity,
            })
            .collect();
        let customer = customer.into();
        orders
            .execute(&id(order_id), Place { customer, lines })
            .await?;
    }

    let order_ids: Vec<String> = ORDERS.iter().map(|(o, ..)| id(o)).collect();
    let skus: Vec<String> = STOCK.iter().map(|(s, _)| id(s)).collect();
    let table = Table::fitting(skus.iter().chain(&order_ids));

    println!("\nevents in stream order, from a live subscription:");
    table.header();
    let stored = watch(&mut log, &table).await;
    // Stop the process either way; an error that stopped it earlier comes first.
    let commands = fulfilment.stop().await?;
    let stored = stored?;
    println!("the fulfilment process sent {commands} commands");

    println!("\ncausal trees:");
    report::causal_trees(&stored, &OrderEvent::selector());

    println!("\nfinal states and chains:");
    for order_id in &order_ids {
        let order = orders.load(order_id).await?;
        let state = &order.state;
        let summary = match &state.rejection {
            Some(reason) => format!("{:?} (customer {}; {reason})", state.status, state.customer),
            None => format!("{:?} (customer {})", state.status, state.customer),
        };
        let verdict = verdict(&store, order_id).await?;
        println!(
            "  Order/{order_id} v{}: {summary}; chain {verdict}",
            order.version
        );
    }
    for sku in &skus {
        let item = inventory.load(sku).await?;
        let state = &item.state;
        let verdict = verdict(&store, sku).await?;
        println!(
            "  InventoryItem/{sku} v{}: {} on hand, {} available, reserved {:?}; chain {verdict}",
            item.version,
            state.on_hand,
            state.available(),
            state.reservations
        );
    }
    Ok(())
}

/// Prints events as `log` delivers them, until the scenario's events are all there, or
/// fails after [`TIMEOUT`].
async fn watch(log: &mut EventStream, table: &Table) -> Result<Vec<RecordedEvent>, BoxError> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut stored = Vec::with_capacity(EXPECTED_EVENTS);
    while stored.len() < EXPECTED_EVENTS {
        let event = match tokio::time::timeout_at(deadline, log.next()).await {
            Ok(Some(event)) => event?,
            Ok(None) => return Err("the subscription ended".into()),
            Err(_) => {
                let seen = stored.len();
                return Err(format!("timed out after {seen} of {EXPECTED_EVENTS} events").into());
            }
        };
        table.row(&event);
        stored.push(event);
    }
    Ok(stored)
}

/// Verifies the aggregate's chain: `intact (n events)` or the faults.
async fn verdict<S: EventStore>(store: &S, aggregate_id: &str) -> Result<String, BoxError> {
    let report = store.verify_chain(aggregate_id).await?;
    Ok(if report.is_valid() {
        format!("intact ({} events)", report.events)
    } else {
        format!("BROKEN: {:?}", report.faults)
    })
}

#[cfg(test)]
mod tests {
    /// The stored shapes of the order and inventory events are locked in
    /// `orders.schema.lock` (see `cim-events/docs/evolving-events.md`).
    #[test]
    fn schema_lock() {
        cim_events::assert_schema_lock!(
            crate::order::OrderEvent,
            crate::inventory::InventoryEvent;
            path: "orders.schema.lock"
        );
    }
}
