//! Events that carry no aggregate id: a struct without an `#[event(id)]` field, and an
//! enum whose variants have none, unit variants included. The envelope carries the id.
#![deny(warnings)]

use cim_events::{Event, EventStore, MemoryEventStore};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct OrderCreated {
    order_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed { lines: u32 },
    Shipped {},
    Cancelled,
}

async fn append(store: &MemoryEventStore) -> cim_events::Result<()> {
    store
        .append_event("ord-1", OrderCreated { order_id: "a payload field".into() }, None)
        .await?;
    store.append_event("ord-2", OrderEvent::Placed { lines: 2 }, None).await?;
    store.append_event("ord-2", OrderEvent::Cancelled, None).await?;
    let events = store.load("ord-2").await?;
    let id: &str = events[1].aggregate_id();
    assert_eq!(id, "ord-2");
    assert!(OrderEvent::Shipped {}.carried_id().is_none());
    Ok(())
}

fn main() {
    let _ = append(&MemoryEventStore::new());
}
