//! Names that cannot collide: two aggregates both have an `Added` event, and a selector
//! (`BookEvent::selector()`) keeps the book's apart from the member's in subscriptions and
//! in both projection runners, on the memory store and on JetStream.

use std::sync::{Arc, Mutex};

use cim_events::jetstream::JetStreamProjectionRunner;
use cim_events::projection::{
    Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner, RunningProjection, async_trait,
};
use cim_events::{Event, EventSelector, EventStore, MemoryEventStore, RecordedEvent, StartFrom};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tests::nats::{JetStreamFixture, NatsServer};

#[derive(Event, Serialize, Deserialize, Debug, PartialEq)]
#[event(aggregate = "Book")]
enum BookEvent {
    Added {
        title: String,
    },
    #[event(aliases("Loaned"))]
    Lent {
        member_id: String,
    },
}

#[derive(Event, Serialize, Deserialize, Debug, PartialEq)]
#[event(aggregate = "Member")]
enum MemberEvent {
    Added { name: String },
}

#[derive(Event, Serialize, Deserialize, Debug, PartialEq)]
#[event(aggregate = "Book")]
struct Catalogued {
    shelf: u32,
}

/// Members and books interleaved: 3 member `Added`, 2 book `Added`, 1 `Lent`.
async fn populate<S: EventStore>(store: &S) {
    for n in 1..=3 {
        let member = MemberEvent::Added {
            name: format!("member {n}"),
        };
        store
            .append_event(&format!("m-{n}"), member, None)
            .await
            .expect("member");
        if n <= 2 {
            let book = BookEvent::Added {
                title: format!("book {n}"),
            };
            store
                .append_event(&format!("b-{n}"), book, None)
                .await
                .expect("book");
        }
    }
    let lent = BookEvent::Lent {
        member_id: "m-1".into(),
    };
    store.append_event("b-1", lent, None).await.expect("lend");
}

#[test]
fn derived_selectors_name_every_event_type_and_the_aggregate_type() {
    let books = BookEvent::selector();
    let [group] = books.groups() else {
        panic!("one aggregate type: {books:?}")
    };
    assert_eq!(group.aggregate_type(), "Book");
    assert_eq!(group.event_types(), ["Added", "Lent", "Loaned"]);
    assert_eq!(
        books.subject_filters("events"),
        ["events.*.Added", "events.*.Lent", "events.*.Loaned"]
    );
    assert_eq!(
        BookEvent::selector_lent(),
        EventSelector::new("Book", ["Lent", "Loaned"])
    );
    let catalogued = Catalogued::selector();
    assert_eq!(catalogued, EventSelector::new("Book", ["Catalogued"]));
    assert_eq!(catalogued.subject_filters("lib"), ["lib.*.Catalogued"]);
}

async fn selected_ids<S: EventStore>(store: &S, selector: &EventSelector) -> Vec<String> {
    let mut stream = store
        .subscribe_selected(selector, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let mut out = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("delivered in time")
            .expect("open")
            .expect("an event");
        out.push(format!("{}:{}", event.aggregate_id(), event.event_type()));
    }
    out
}

/// Collects `aggregate_id:event_type` of every event it applies.
struct Seen(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Projection for Seen {
    type Error = cim_events::Error;
    fn name(&self) -> &str {
        "books"
    }
    async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
        event.decode::<BookEvent>()?;
        self.0.lock().expect("not poisoned").push(format!(
            "{}:{}",
            event.aggregate_id(),
            event.event_type()
        ));
        Ok(())
    }
}

const BOOKS: [&str; 3] = ["b-1:Added", "b-2:Added", "b-1:Lent"];

/// Runs `running` up to `last` (the store's last sequence), stops it, and checks that it
/// applied the book's events and skipped the members'.
async fn assert_applies_only_books<R: Send + 'static>(
    mut running: RunningProjection<R, cim_events::Error>,
    last: u64,
    seen: &Mutex<Vec<String>>,
) {
    running.wait_until_sequence(last).await.expect("caught up");
    let progress = running.stop().await.expect("stopped");
    assert_eq!(*seen.lock().expect("not poisoned"), BOOKS);
    assert_eq!((progress.applied, progress.skipped), (3, 3));
}

#[tokio::test]
async fn memory_subscriptions_and_runner_keep_the_aggregates_apart() {
    let store = MemoryEventStore::new();
    populate(&store).await;
    assert_eq!(selected_ids(&store, &BookEvent::selector()).await, BOOKS);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = ProjectionRunner::new(
        store.clone(),
        Seen(seen.clone()),
        MemoryCheckpointStore::new(),
    )
    .select(BookEvent::selector());
    assert_applies_only_books(
        runner.spawn(),
        store.last_sequence().await.expect("last"),
        &seen,
    )
    .await;
}

#[tokio::test]
async fn jetstream_subscriptions_and_durable_runner_keep_the_aggregates_apart() {
    let server = NatsServer::shared().await;
    let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
    let store = &fixture.store;
    populate(store).await;
    assert_eq!(selected_ids(store, &BookEvent::selector()).await, BOOKS);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner =
        JetStreamProjectionRunner::new(store, Seen(seen.clone()), MemoryCheckpointStore::new())
            .select(BookEvent::selector());
    assert_applies_only_books(
        runner.spawn(),
        store.last_sequence().await.expect("last"),
        &seen,
    )
    .await;
}
