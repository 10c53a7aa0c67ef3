//! Observability, on the memory store and on JetStream: the spans and metrics that
//! commands (one of them losing a race), a load, a verification, a subscription and a
//! projection produce; and the W3C `traceparent` from a command's header to its events.
//!
//! Each test installs its own span collector and metrics recorder on its thread (tests
//! run on current-thread runtimes), so counts are exact. Every test that creates spans
//! calls `observe()` first (see `recorders`).

mod bank;
mod recorders;

use bank::{Account, Deposit, OpenAccount, deposited};
use cim_events::observe::{
    APPEND_DURATION, APPEND_REFUSALS, APPEND_RETRIES, APPEND_UNKNOWN_OUTCOMES, APPENDED_EVENTS,
    APPENDS, CACHE_LOOKUPS, CHAIN_FAULTS, COMMAND_DURATION, COMMAND_RETRIES, COMMANDS,
    NATS_CONNECTS, PROJECTION_EVENTS, PROJECTION_LAG, READ_EVENTS, REPLAYED_EVENTS,
    REPOSITORY_LOADS, record_projection_lag,
};
use cim_events::projection::{Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner};
use cim_events::{
    EventHeader, EventStore, MemoryEventStore, RecordedEvent, Repository, StartFrom, Traceparent,
    TraceparentProblem,
};
use futures::StreamExt;
use recorders::{Observed, observe};
use tests::nats::{JetStreamFixture, NatsServer};

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn jetstream() -> JetStreamFixture {
    JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1).await
}

/// Counts the events it is fed.
struct Count(u64);

#[cim_events::projection::async_trait]
impl Projection for Count {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "count"
    }
    async fn apply(&mut self, _: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
        self.0 += 1;
        Ok(())
    }
}

/// Three commands on a repository with a state cache — the third after another writer's
/// append, so that it conflicts once and succeeds on its second attempt — then a load, a
/// verification, a subscription and a projection run, each checked in its span and
/// metrics.
async fn commands_loads_and_projections_are_observed<S>(store: S, observed: &Observed)
where
    S: EventStore + Clone + 'static,
{
    let kind = store.store_kind();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(10);
    let open = OpenAccount {
        owner: "alice".to_owned(),
    };
    accounts.execute("acc-1", open).await.expect("open");
    accounts
        .execute("acc-1", Deposit { amount: 10 })
        .await
        .expect("deposit");
    // Another writer appends behind the repository's cached head.
    store
        .append_event("acc-1", deposited("acc-1", 5), None)
        .await
        .expect("foreign append");
    let last = accounts
        .execute("acc-1", Deposit { amount: 20 })
        .await
        .expect("deposit after the race");
    assert_eq!(
        (last.version, last.attempts, last.state.balance),
        (4, 2, 35)
    );
    let head = last.head.expect("a head");
    let head_cid = head.cid.to_string();

    // Metrics of the appends and commands.
    let m = &observed.metrics;
    let account = ("aggregate_type", "Account");
    let store_label = ("store", kind);
    let appends = |outcome| m.counter(APPENDS, &[store_label, account, ("outcome", outcome)]);
    assert_eq!((appends("stored"), appends("conflict")), (4, 1));
    assert_eq!((appends("unknown"), appends("error")), (0, 0));
    assert_eq!(m.counter(APPENDED_EVENTS, &[store_label, account]), 4);
    assert_eq!(m.counter(APPEND_REFUSALS, &[store_label]), 1);
    assert_eq!(m.counter(APPEND_UNKNOWN_OUTCOMES, &[store_label]), 0);
    for reason in ["conflict", "transient"] {
        assert_eq!(
            m.counter(APPEND_RETRIES, &[store_label, ("reason", reason)]),
            0
        );
    }
    let durations = m.histogram(APPEND_DURATION, &[store_label, ("outcome", "stored")]);
    assert_eq!(durations.len(), 4);
    assert!(durations.iter().all(|d| *d >= 0.0));
    assert_eq!(m.counter(COMMANDS, &[account, ("outcome", "ok")]), 3);
    assert_eq!(
        m.histogram(COMMAND_DURATION, &[account, ("outcome", "ok")])
            .len(),
        3
    );
    assert_eq!(m.counter(COMMAND_RETRIES, &[account]), 1);
    assert_eq!(m.counter(CACHE_LOOKUPS, &[account, ("result", "hit")]), 2);
    assert_eq!(m.counter(CACHE_LOOKUPS, &[account, ("result", "miss")]), 1);
    assert_eq!(
        m.counter(REPOSITORY_LOADS, &[account, ("source", "replay")]),
        1
    );
    assert_eq!(m.histogram(REPLAYED_EVENTS, &[account]), [0.0]);

    // Spans of the appends: open, deposit, the other writer's, the refused one, the retry.
    let spans = &observed.spans;
    let appends = spans.named("cim_events.append");
    let outcomes: Vec<Option<&str>> = appends.iter().map(|s| s.field("outcome")).collect();
    let expected = ["stored", "stored", "stored", "conflict", "stored"].map(Some);
    assert_eq!(outcomes, expected);
    let stored = &appends[4];
    assert_eq!(stored.field("store"), Some(kind));
    assert_eq!(stored.field("aggregate_type"), Some("Account"));
    assert_eq!(stored.field("aggregate_id"), Some("acc-1"));
    assert_eq!(stored.field("events"), Some("1"));
    assert_eq!(stored.field("attempts"), Some("1"));
    assert_eq!(stored.field("version"), Some("4"));
    assert_eq!(stored.field("cid"), Some(head_cid.as_str()));
    let refused = &appends[3];
    assert!(
        refused
            .field("expected")
            .is_some_and(|e| e.contains("version 2"))
    );
    assert_eq!(refused.field("version"), None);

    // Spans of the commands and of the one repository load (the first command's).
    let commands = spans.named("cim_events.command");
    assert_eq!(commands.len(), 3);
    assert_eq!(commands[0].field("cache"), Some("miss"));
    let command = &commands[2];
    assert_eq!(command.field("aggregate_type"), Some("Account"));
    assert_eq!(command.field("aggregate_id"), Some("acc-1"));
    assert_eq!(command.field("cache"), Some("hit"));
    assert_eq!(command.field("attempts"), Some("2"));
    assert_eq!(command.field("version"), Some("4"));
    assert_eq!(command.field("cid"), Some(head_cid.as_str()));
    assert_eq!(command.field("outcome"), Some("ok"));
    let loads = spans.named("cim_events.repository.load");
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].field("aggregate_id"), Some("acc-1"));
    assert_eq!(loads[0].field("version"), Some("0"));
    assert_eq!(loads[0].field("snapshot"), Some("absent"));

    // A load and a verification.
    assert_eq!(store.load("acc-1").await.expect("load").len(), 4);
    let load = &spans.named("cim_events.load")[0];
    assert_eq!(load.field("store"), Some(kind));
    assert_eq!(load.field("aggregate_id"), Some("acc-1"));
    assert_eq!(load.field("events"), Some("4"));
    assert_eq!(load.field("stepped"), Some("0"));
    assert_eq!(load.field("version"), Some("4"));
    assert_eq!(load.field("cid"), Some(head_cid.as_str()));
    assert_eq!(
        m.histogram(READ_EVENTS, &[store_label, ("operation", "load")]),
        [4.0]
    );
    assert!(
        store
            .verify_chain("acc-1")
            .await
            .expect("verify")
            .is_valid()
    );
    let verify = &spans.named("cim_events.verify_chain")[0];
    assert_eq!(verify.field("events"), Some("4"));
    assert_eq!(verify.field("faults"), Some("0"));
    assert_eq!(verify.field("cid"), Some(head_cid.as_str()));
    assert_eq!(
        m.histogram(READ_EVENTS, &[store_label, ("operation", "verify")]),
        [4.0]
    );
    assert_eq!(m.counter(CHAIN_FAULTS, &[store_label]), 0);

    // A subscription.
    let filter = format!("{}.acc-1.>", store.subject_prefix());
    let events: Vec<_> = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe")
        .take(4)
        .collect()
        .await;
    assert!(
        events
            .iter()
            .all(|e| e.as_ref().is_ok_and(|e| e.traceparent().is_none()))
    );
    let subscribe = &spans.named("cim_events.subscribe")[0];
    assert_eq!(subscribe.field("store"), Some(kind));
    assert_eq!(subscribe.field("filter"), Some(filter.as_str()));
    assert_eq!(subscribe.field("start"), Some("Beginning"));

    // A projection catching up with the four events.
    let mut running =
        ProjectionRunner::new(store.clone(), Count(0), MemoryCheckpointStore::new()).spawn();
    running
        .wait_until_sequence(head.sequence)
        .await
        .expect("caught up");
    running.stop().await.expect("stopped cleanly");
    let steps = spans.named("cim_events.projection.apply");
    assert_eq!(steps.len(), 4);
    let step = &steps[3];
    assert_eq!(step.field("projection"), Some("count"));
    assert_eq!(
        step.field("sequence"),
        Some(head.sequence.to_string().as_str())
    );
    assert_eq!(step.field("cid"), Some(head_cid.as_str()));
    assert_eq!(step.field("outcome"), Some("applied"));
    let count = ("projection", "count");
    assert_eq!(
        m.counter(PROJECTION_EVENTS, &[count, ("outcome", "applied")]),
        4
    );
    assert_eq!(m.gauge(PROJECTION_LAG, &[count]), Some(0.0));
    // On demand: a projection still at the first event is three messages behind.
    let first = Checkpoint::of(&store.load("acc-1").await.expect("load")[0]);
    let lag = record_projection_lag(&store, "count", Some(first)).await;
    assert_eq!(lag.expect("lag"), 3);
    assert_eq!(m.gauge(PROJECTION_LAG, &[count]), Some(3.0));
}

#[tokio::test]
async fn memory_commands_loads_and_projections_are_observed() {
    let observed = observe();
    commands_loads_and_projections_are_observed(MemoryEventStore::new(), &observed).await;
}

#[tokio::test]
async fn jetstream_commands_loads_and_projections_are_observed() {
    let observed = observe();
    let fixture = jetstream().await;
    commands_loads_and_projections_are_observed(fixture.store.clone(), &observed).await;
    let m = &observed.metrics;
    assert_eq!(m.counter(NATS_CONNECTS, &[]), 1);
    let publishes = observed.spans.named("cim_events.jetstream.publish");
    assert_eq!(publishes.len(), 5, "four stored, one refused");
    assert!(
        publishes
            .iter()
            .all(|p| p.field("aggregate_id") == Some("acc-1"))
    );
}

/// A command's trace context reaches its events as the `traceparent` header — on loads,
/// subscriptions and the raw messages — without entering the blocks, and a reaction
/// built with `EventHeader::caused_by` continues it.
async fn traceparent_follows_the_command<S: EventStore + Clone>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let header = EventHeader::new("corr-1")
        .with_traceparent(TRACE)
        .expect("a valid traceparent");
    let open = OpenAccount {
        owner: "alice".to_owned(),
    };
    let opened = accounts
        .execute_with("acc-t", open, header)
        .await
        .expect("open");
    accounts
        .execute("acc-t", Deposit { amount: 1 })
        .await
        .expect("untraced deposit");

    let loaded = store.load("acc-t").await.expect("load");
    assert_eq!(loaded[0].traceparent(), Some(TRACE));
    assert_eq!(loaded[0].cid, opened.events[0].metadata.cid);
    assert_eq!(loaded[1].traceparent(), None);
    let trace_id = &TRACE.as_bytes()[3..35];
    assert!(
        !loaded[0].bytes.windows(32).any(|w| w == trace_id),
        "not in the block"
    );
    assert!(
        store
            .verify_chain("acc-t")
            .await
            .expect("verify")
            .is_valid()
    );

    let raw = store.read_raw("acc-t", 1).await.expect("raw");
    assert!(
        raw[0]
            .headers
            .iter()
            .any(|(k, v)| k == "traceparent" && v == TRACE)
    );

    let filter = format!("{}.acc-t.>", store.subject_prefix());
    let mut events = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let first = events.next().await.expect("an event").expect("decoded");
    assert_eq!(first.traceparent(), Some(TRACE));
    let second = events.next().await.expect("an event").expect("decoded");
    assert_eq!(second.traceparent(), None);

    let reaction = EventHeader::caused_by(&first);
    assert_eq!(
        reaction.traceparent.as_ref().map(Traceparent::as_str),
        Some(TRACE)
    );
}

#[tokio::test]
async fn memory_traceparent_follows_the_command() {
    let _observed = observe();
    traceparent_follows_the_command(MemoryEventStore::new()).await;
}

#[tokio::test]
async fn jetstream_traceparent_follows_the_command() {
    let _observed = observe();
    traceparent_follows_the_command(jetstream().await.store).await;
}

#[test]
fn an_invalid_traceparent_is_a_typed_error() {
    let upper = TRACE.to_uppercase();
    let cases = [
        ("garbage", TraceparentProblem::Shape),
        (&TRACE[..50], TraceparentProblem::Shape),
        (&upper[..], TraceparentProblem::NotHex("trace id")),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TraceparentProblem::Version,
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            TraceparentProblem::Zero("trace id"),
        ),
    ];
    for (value, problem) in cases {
        let error = EventHeader::default()
            .with_traceparent(value)
            .expect_err(value);
        assert_eq!((error.value.as_str(), error.problem), (value, problem));
    }
}
