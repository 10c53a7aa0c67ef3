//! Process managers on the embedded store: `drive` feeds the shop's fulfilment its
//! triggers and, on a virtual clock, its timers; driven again from the beginning, every
//! step is found carried out and nothing happens twice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cim_events::process::{ProcessManager, StepReport, drive};
use cim_events::timer::{MemoryTimers, VirtualClock};
use cim_events::{EventStore, MemoryEventStore, Repository, StartFrom};
use futures::{FutureExt, Stream, StreamExt};
use tests::shop::{EXPIRY, Fulfilment, FulfilmentEvent, Order, OrderEvent, fulfilment_of, order};

const ORDERS: [&str; 3] = ["o-1", "o-2", "o-3"];

async fn next_steps(
    steps: &mut (impl Stream<Item = Result<StepReport, cim_events::process::ProcessError>> + Unpin),
    n: usize,
) -> Vec<StepReport> {
    let mut out = Vec::new();
    for _ in 0..n {
        let step = tokio::time::timeout(Duration::from_secs(10), steps.next())
            .await
            .expect("a step within 10 s")
            .expect("the stream goes on")
            .expect("the step is carried out");
        out.push(step);
    }
    out
}

async fn order_events(store: &MemoryEventStore, id: &str) -> Vec<OrderEvent> {
    store
        .load(id)
        .await
        .expect("load")
        .iter()
        .map(|e| e.decode().expect("an order event"))
        .collect()
}

#[tokio::test]
async fn triggers_and_timers_drive_each_effect_once() {
    let store = MemoryEventStore::new();
    let clock = VirtualClock::new(SystemTime::now());
    let timers = MemoryTimers::new(&clock);
    let manager = ProcessManager::<Fulfilment, _>::new(store.clone()).timers(Arc::new(timers));
    let mut steps = Box::pin(
        drive(manager.clone(), StartFrom::Beginning, "fulfilment")
            .await
            .expect("drive"),
    );
    let orders = Repository::<Order, _>::new(store.clone());
    for id in ORDERS {
        orders
            .execute(id, order::Place { items: 1 })
            .await
            .expect("place");
    }
    for step in next_steps(&mut steps, ORDERS.len()).await {
        assert_eq!((step.recorded.len(), step.sent.len()), (1, 2));
        assert_eq!(step.timers.len(), 1);
        assert!(!step.repeated);
    }
    for id in ORDERS {
        assert_eq!(
            order_events(&store, id).await,
            [
                OrderEvent::Placed { items: 1 },
                OrderEvent::Reserved,
                OrderEvent::Confirmed
            ]
        );
    }

    // Not due yet: nothing fires.
    clock.advance(EXPIRY - Duration::from_millis(500));
    assert!(steps.next().now_or_never().is_none());
    clock.advance(Duration::from_secs(10));
    for step in next_steps(&mut steps, ORDERS.len()).await {
        assert_eq!((step.recorded.len(), step.sent.len()), (1, 1));
    }
    for id in ORDERS {
        assert_eq!(
            order_events(&store, id).await.last(),
            Some(&OrderEvent::Expired)
        );
        let fulfilment: Vec<FulfilmentEvent> = store
            .load(&fulfilment_of(id))
            .await
            .expect("load")
            .iter()
            .map(|e| e.decode().expect("a fulfilment event"))
            .collect();
        assert_eq!(
            fulfilment,
            [
                FulfilmentEvent::Started { order: id.into() },
                FulfilmentEvent::Expired
            ]
        );
    }

    // Driven again from the beginning (a restart without a durable position): every step
    // is found recorded, its commands found applied, nothing stored.
    drop(steps);
    let last = store.last_sequence().await.expect("last");
    let mut again = Box::pin(
        drive(manager, StartFrom::Beginning, "fulfilment")
            .await
            .expect("drive again"),
    );
    for step in next_steps(&mut again, ORDERS.len()).await {
        assert!(step.repeated);
        assert!(
            step.sent
                .iter()
                .all(|(_, delivered)| { delivered.as_ref().is_ok_and(|d| d.deduplicated) })
        );
    }
    assert_eq!(store.last_sequence().await.expect("last"), last);
}
