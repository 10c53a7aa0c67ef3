//! Names that cannot collide: two aggregates both have an `Added` event, and a selector
//! (`BookEvent::selector()`) keeps the book's apart from the member's in subscriptions and
//! in both projection runners, on the memory store and on JetStream. A union of selectors
//! (`MemberEvent::selector().or(BookEvent::selector_lent())`) is one subscription or one
//! runner, filtered by the server on its event type names (`filter_subjects` on
//! JetStream) and by the client on aggregate type.

use std::sync::{Arc, Mutex};

use cim_events::jetstream::async_nats::jetstream::consumer::{self, pull};
use cim_events::jetstream::async_nats::jetstream::stream::ConsumerErrorKind;
use cim_events::jetstream::{JetStreamEventStore, JetStreamProjectionRunner};
use cim_events::projection::{
    Checkpoint, MemoryCheckpointStore, Projection, ProjectionError, ProjectionRunner,
    RunningProjection, async_trait,
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

/// Members and the book's loans: every member event and the books' `Lent` (with its alias
/// `Loaned`), one selector over two aggregate types.
fn members_and_loans() -> EventSelector {
    MemberEvent::selector().or(BookEvent::selector_lent())
}

/// What [`members_and_loans`] selects after [`populate_more`], in stream order.
const MEMBERS_AND_LOANS: [&str; 4] = ["m-1:Added", "m-2:Added", "m-3:Added", "b-1:Lent"];

/// [`populate`], then a book event whose name no selector here lists: the server never
/// delivers it. Returns the stream sequence of `b-1:Lent`, the last selected event.
async fn populate_more<S: EventStore>(store: &S) -> u64 {
    populate(store).await;
    let lent = store.last_sequence().await.expect("last");
    store
        .append_event("b-2", Catalogued { shelf: 4 }, None)
        .await
        .expect("catalogued");
    lent
}

#[test]
fn a_union_selector_names_each_event_type_once() {
    let selector = members_and_loans();
    let groups: Vec<(&str, &[String])> = selector
        .groups()
        .iter()
        .map(|g| (g.aggregate_type(), g.event_types()))
        .collect();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].0, "Book");
    assert_eq!(groups[0].1, ["Lent", "Loaned"]);
    assert_eq!(groups[1].0, "Member");
    assert_eq!(groups[1].1, ["Added"]);
    assert_eq!(
        selector.subject_filters("events"),
        ["events.*.Added", "events.*.Lent", "events.*.Loaned"]
    );
    // A group of every event of its aggregate type needs every subject.
    let everything = selector.or(EventSelector::new("Member", Vec::<String>::new()));
    assert_eq!(everything.subject_filters("events"), ["events.>"]);
}

/// Records `aggregate_id:event_type` of every event it applies, decoding each as its own
/// aggregate type's event.
struct Library(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Projection for Library {
    type Error = cim_events::Error;
    fn name(&self) -> &str {
        "library"
    }
    async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
        match event.block.aggregate_type.as_str() {
            "Book" => drop(event.decode::<BookEvent>()?),
            _ => drop(event.decode::<MemberEvent>()?),
        }
        self.0.lock().expect("not poisoned").push(format!(
            "{}:{}",
            event.aggregate_id(),
            event.event_type()
        ));
        Ok(())
    }
}

/// Runs `running` up to `lent` (the last selected event), stops it, and checks what it
/// applied and skipped: the books' `Added`, delivered for the members' name, are skipped;
/// `Catalogued` never arrives.
async fn assert_applies_members_and_loans<R: Send + 'static>(
    mut running: RunningProjection<R, cim_events::Error>,
    lent: u64,
    seen: &Mutex<Vec<String>>,
) {
    running.wait_until_sequence(lent).await.expect("caught up");
    let progress = running.stop().await.expect("stopped");
    assert_eq!(*seen.lock().expect("not poisoned"), MEMBERS_AND_LOANS);
    assert_eq!((progress.applied, progress.skipped), (4, 2));
    assert_eq!(progress.checkpoint.map(|c| c.sequence), Some(lent));
}

/// A subscription and the generic runner on `store` with [`members_and_loans`].
async fn union_through_subscription_and_runner<S: EventStore + Clone + 'static>(store: &S) {
    let lent = populate_more(store).await;
    let selector = members_and_loans();
    let mut stream = store
        .subscribe_selected(&selector, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let mut got = Vec::new();
    for _ in 0..4 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("delivered in time")
            .expect("open")
            .expect("an event");
        got.push((
            format!("{}:{}", event.aggregate_id(), event.event_type()),
            event.block.aggregate_type.as_str().to_owned(),
        ));
    }
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, MEMBERS_AND_LOANS);
    assert_eq!(got[3].1, "Book");
    assert!(got[..3].iter().all(|(_, ty)| ty == "Member"));
    let extra = tokio::time::timeout(std::time::Duration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "nothing else is selected: {extra:?}");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = ProjectionRunner::new(
        store.clone(),
        Library(seen.clone()),
        MemoryCheckpointStore::new(),
    )
    .select(selector);
    assert_applies_members_and_loans(runner.spawn(), lent, &seen).await;
}

#[tokio::test]
async fn memory_union_selector_through_subscription_and_runner() {
    union_through_subscription_and_runner(&MemoryEventStore::new()).await;
}

#[tokio::test]
async fn jetstream_union_selector_through_subscription_and_runner() {
    let server = NatsServer::shared().await;
    let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
    union_through_subscription_and_runner(&fixture.store).await;
}

/// The filters a consumer was created with: `filter_subject` and `filter_subjects`.
fn consumer_filters(info: &consumer::Info) -> (String, Vec<String>) {
    (
        info.config.filter_subject.clone(),
        info.config.filter_subjects.clone(),
    )
}

/// The filters `selector` puts on a consumer under the store's prefix.
fn wanted_filters(store: &JetStreamEventStore, selector: &EventSelector) -> Vec<String> {
    selector.subject_filters(store.subject_prefix())
}

/// On JetStream the selection is the consumer's `filter_subjects`: the server leaves out
/// `Catalogued`, and the client still drops the books' `Added` delivered for the members'
/// name. Both for a subscription's consumer and for the durable runner's.
#[tokio::test]
async fn jetstream_consumers_carry_the_union_as_filter_subjects() {
    let server = NatsServer::shared().await;
    let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
    let store = &fixture.store;
    let lent = populate_more(store).await;
    let selector = members_and_loans();
    let wanted = wanted_filters(store, &selector);
    assert_eq!(wanted.len(), 3);

    // A subscription: its ordered consumer, while it is open.
    let mut stream = store
        .subscribe_selected(&selector, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let first = stream.next().await.expect("open").expect("an event");
    assert_eq!(
        (first.aggregate_id(), first.block.aggregate_type.as_str()),
        ("m-1", "Member")
    );
    let infos: Vec<consumer::Info> = store
        .stream()
        .consumers()
        .map(|info| info.expect("consumer info"))
        .collect()
        .await;
    assert_eq!(infos.len(), 1, "one consumer for the whole selection");
    assert_eq!(consumer_filters(&infos[0]), (String::new(), wanted.clone()));
    drop(stream);

    // The durable runner's consumer, named after the projection.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner =
        JetStreamProjectionRunner::new(store, Library(seen.clone()), MemoryCheckpointStore::new())
            .select(selector);
    assert_applies_members_and_loans(runner.spawn(), lent, &seen).await;
    let info = store
        .stream()
        .consumer_info("library")
        .await
        .expect("the durable consumer");
    assert_eq!(consumer_filters(&info), (String::new(), wanted));
    // Delivered: the six messages up to `b-1:Lent`; `Catalogued` matched no filter.
    assert_eq!(info.delivered.stream_sequence, lent);
    assert_eq!(info.num_pending, 0);
}

/// A durable runner whose selection changes between runs: widened, its consumer is
/// replaced by one on the new filters, starting after the checkpoint; narrowed so that
/// the checkpointed event is no longer selected, the run fails with
/// `CheckpointMismatch` and the consumer is left as it was.
#[tokio::test]
async fn jetstream_runner_follows_a_changed_selection_or_refuses_it() {
    let server = NatsServer::shared().await;
    let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
    let store = &fixture.store;
    let lent = populate_more(store).await;
    let checkpoints = MemoryCheckpointStore::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let members = MemberEvent::selector();

    // Run 1: the members only, one filter.
    let runner = JetStreamProjectionRunner::new(store, Library(seen.clone()), checkpoints.clone())
        .select(members.clone());
    let mut running = runner.spawn();
    running.wait_for(|p| p.applied == 3).await.expect("members");
    let progress = running.stop().await.expect("stopped");
    assert_eq!((progress.applied, progress.skipped), (3, 2));
    let info = store.stream().consumer_info("library").await.expect("info");
    let added = format!("{}.*.Added", store.subject_prefix());
    assert_eq!(consumer_filters(&info), (added, Vec::new()));

    // Run 2: widened to the loans; the checkpoint (`m-3:Added`) is still selected.
    let widened = members_and_loans();
    let runner = JetStreamProjectionRunner::new(store, Library(seen.clone()), checkpoints.clone())
        .select(widened.clone());
    let mut running = runner.spawn();
    running.wait_until_sequence(lent).await.expect("the loan");
    let progress = running.stop().await.expect("stopped");
    assert_eq!((progress.applied, progress.skipped), (1, 0));
    assert_eq!(
        seen.lock()
            .expect("not poisoned")
            .last()
            .map(String::as_str),
        Some("b-1:Lent")
    );
    assert_eq!(seen.lock().expect("not poisoned").len(), 4);
    let info = store.stream().consumer_info("library").await.expect("info");
    let wanted = wanted_filters(store, &widened);
    assert_eq!(consumer_filters(&info), (String::new(), wanted.clone()));

    // Run 3: narrowed back; the checkpoint (`b-1:Lent`) is no longer selected.
    let mut runner =
        JetStreamProjectionRunner::new(store, Library(seen.clone()), checkpoints.clone())
            .select(members);
    match runner.run().await {
        Err(ProjectionError::CheckpointMismatch {
            checkpoint, found, ..
        }) => {
            assert_eq!(checkpoint.sequence, lent);
            assert_eq!(found, None, "no member event after the checkpoint");
        }
        other => panic!("expected CheckpointMismatch, got {other:?}"),
    }
    let info = store.stream().consumer_info("library").await.expect("info");
    assert_eq!(consumer_filters(&info), (String::new(), wanted));
    assert_eq!(seen.lock().expect("not poisoned").len(), 4);
}

/// Why filter sets are normalised: nats-server refuses a consumer whose filters repeat
/// one another or hold one inside another (error 10138), and accepts filters that only
/// overlap (the conformance suite shows that a message matching both comes once).
#[tokio::test]
async fn nats_server_refuses_covered_filters_and_accepts_overlapping_ones() {
    let server = NatsServer::shared().await;
    let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
    let store = &fixture.store;
    let prefix = store.subject_prefix();
    let create = |filters: Vec<String>| {
        let config = pull::Config {
            filter_subjects: filters,
            ..pull::Config::default()
        };
        store
            .context()
            .create_consumer_on_stream(config, store.stream_name())
    };
    for covered in [
        vec![format!("{prefix}.*.Added"), format!("{prefix}.>")],
        vec![format!("{prefix}.*.Added"), format!("{prefix}.*.Added")],
        vec![format!("{prefix}.m-1.Added"), format!("{prefix}.*.Added")],
    ] {
        let err = create(covered.clone()).await.expect_err("refused");
        match err.kind() {
            ConsumerErrorKind::JetStream(api) => {
                assert_eq!(api.error_code().0, 10138, "{covered:?}: {api}")
            }
            other => panic!("{covered:?}: expected a JetStream error, got {other:?}"),
        }
    }
    let overlapping = vec![format!("{prefix}.m-1.*"), format!("{prefix}.*.Added")];
    let consumer = create(overlapping.clone())
        .await
        .expect("overlapping filters");
    assert_eq!(consumer.cached_info().config.filter_subjects, overlapping);
}
