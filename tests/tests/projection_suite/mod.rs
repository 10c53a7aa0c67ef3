//! The projection suite, written once and run against every runner: the generic
//! `ProjectionRunner` on the memory store and on JetStream, and the durable
//! `JetStreamProjectionRunner`. Each case asserts outcomes: which events were applied, in
//! which order, how often, and where the checkpoint ended.

// Each test binary uses its own harness.
#![allow(dead_code)]

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cim_events::projection::{
    Checkpoint, CheckpointStore, Progress, Projection, ProjectionError, ShutdownHandle, async_trait,
};
use cim_events::{Cid, EventStore, Head, RecordedEvent};
use tests::domain::{Named, Noted};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How long a case waits for a runner before failing (a hang guard, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

/// What a runner task returns: its result and the projection.
pub type Outcome<P> = (
    Result<Progress, ProjectionError<<P as Projection>::Error>>,
    P,
);

/// A runner running in a task.
pub struct Running<P: Projection> {
    /// The task; aborting it is a crash at whatever point the runner was.
    pub task: JoinHandle<Outcome<P>>,
    /// Stops the runner gracefully.
    pub shutdown: ShutdownHandle,
    /// Its progress.
    pub progress: watch::Receiver<Progress>,
}

impl<P: Projection + 'static> Running<P> {
    /// Waits until the checkpoint reaches stream sequence `sequence`.
    pub async fn wait_for(&mut self, sequence: u64) -> Progress {
        let progress = &mut self.progress;
        let reached = match tokio::time::timeout(
            PATIENCE,
            progress.wait_for(|p| p.checkpoint.is_some_and(|c| c.sequence >= sequence)),
        )
        .await
        {
            Ok(Ok(progress)) => Some(*progress),
            Ok(Err(_)) => panic!("the runner stopped before reaching sequence {sequence}"),
            Err(_) => None,
        };
        reached.unwrap_or_else(|| {
            panic!(
                "the runner did not reach sequence {sequence} in {PATIENCE:?}: {:?}",
                *self.progress.borrow()
            )
        })
    }

    /// Waits until `condition` holds for the progress.
    pub async fn wait_until(&mut self, condition: impl FnMut(&Progress) -> bool) -> Progress {
        let reached = match tokio::time::timeout(PATIENCE, self.progress.wait_for(condition)).await
        {
            Ok(Ok(progress)) => Some(*progress),
            _ => None,
        };
        reached.unwrap_or_else(|| {
            panic!(
                "the runner's progress never got there: {:?}",
                *self.progress.borrow()
            )
        })
    }

    /// Stops the runner gracefully and returns what it returned.
    pub async fn stop(self) -> Outcome<P> {
        self.shutdown.shutdown();
        self.finish().await
    }

    /// Waits for the runner to end on its own (with an error).
    pub async fn finish(self) -> Outcome<P> {
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the runner ends")
            .expect("the runner task does not panic")
    }

    /// Kills the runner wherever it is, as a crash would.
    pub async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// How a case wants its runner.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A subject filter instead of every event.
    pub filter: Option<String>,
    /// Chain verification.
    pub verify_chain: bool,
}

/// One runner implementation on one store, for one case.
pub trait Harness: Send + Sync {
    /// The store.
    type Store: EventStore + Clone + 'static;
    /// The store, empty at the start of the case.
    fn store(&self) -> &Self::Store;
    /// The checkpoint store a real deployment would use, as a process would open it after
    /// a restart (every call a new handle on the same checkpoints).
    fn checkpoints(&self) -> impl Future<Output = Arc<dyn CheckpointStore>> + Send;
    /// Starts a runner in a task.
    fn start<P, C>(&self, projection: P, checkpoints: C, options: &Options) -> Running<P>
    where
        P: Projection + 'static,
        C: CheckpointStore + 'static;
    /// Stores a message as-is, bypassing every check (a foreign writer); returns its
    /// stream sequence.
    fn forge(
        &self,
        subject: String,
        headers: Vec<(String, String)>,
        data: Vec<u8>,
    ) -> impl Future<Output = u64> + Send;
}

/// What the counting projection did, shared with the test.
#[derive(Debug, Default)]
pub struct Model {
    /// Every event applied, in the order applied.
    pub applied: Vec<(u64, Cid)>,
    /// The checkpoint written with the effects, for projections that own their storage.
    pub checkpoint: Option<Checkpoint>,
}

/// The error the counting projection fails with when told to.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub u64);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused the event at stream sequence {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// A projection that records every event it applies.
pub struct Counter {
    name: String,
    model: Arc<Mutex<Model>>,
    /// Before applying the event at this sequence: signal, then hang (the case kills the
    /// runner there).
    stall_before: Option<(u64, Arc<Notify>)>,
    /// Before applying the event at this sequence: signal, then wait for the release.
    pause_before: Option<(u64, Arc<Notify>, Arc<Notify>)>,
    /// Refuse the event at this sequence.
    fail_at: Option<u64>,
}

impl Counter {
    pub fn new(model: &Arc<Mutex<Model>>) -> Counter {
        Counter {
            name: "counter".to_owned(),
            model: Arc::clone(model),
            stall_before: None,
            pause_before: None,
            fail_at: None,
        }
    }

    pub fn named(mut self, name: &str) -> Counter {
        self.name = name.to_owned();
        self
    }

    pub fn stall_before(mut self, sequence: u64) -> (Counter, Arc<Notify>) {
        let reached = Arc::new(Notify::new());
        self.stall_before = Some((sequence, Arc::clone(&reached)));
        (self, reached)
    }

    /// Pauses before the event at `sequence`: returns the signal that it got there and the
    /// one that lets it go on.
    pub fn pause_before(mut self, sequence: u64) -> (Counter, Arc<Notify>, Arc<Notify>) {
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        self.pause_before = Some((sequence, Arc::clone(&reached), Arc::clone(&release)));
        (self, reached, release)
    }

    pub fn fail_at(mut self, sequence: u64) -> Counter {
        self.fail_at = Some(sequence);
        self
    }
}

#[async_trait]
impl Projection for Counter {
    type Error = Refused;

    fn name(&self) -> &str {
        &self.name
    }

    async fn apply(
        &mut self,
        event: &RecordedEvent,
        checkpoint: Checkpoint,
    ) -> Result<(), Refused> {
        if let Some((sequence, reached)) = &self.stall_before
            && event.sequence == *sequence
        {
            reached.notify_one();
            std::future::pending::<()>().await;
        }
        if let Some((sequence, reached, release)) = &self.pause_before
            && event.sequence == *sequence
        {
            reached.notify_one();
            release.notified().await;
        }
        if self.fail_at == Some(event.sequence) {
            return Err(Refused(event.sequence));
        }
        let mut model = self.model.lock().expect("model lock");
        model.applied.push((event.sequence, event.cid));
        model.checkpoint = Some(checkpoint);
        Ok(())
    }
}

/// Checkpoints kept in the projection's own model, written by `apply` with the effects:
/// the pattern for projections that own their storage.
pub struct ModelCheckpoints(pub Arc<Mutex<Model>>);

#[async_trait]
impl CheckpointStore for ModelCheckpoints {
    async fn load_checkpoint(&self, _: &str) -> cim_events::Result<Option<Checkpoint>> {
        Ok(self.0.lock().expect("model lock").checkpoint)
    }

    async fn save_checkpoint(&self, _: &str, checkpoint: Checkpoint) -> cim_events::Result<()> {
        // `apply` wrote it already, atomically with the effect.
        assert_eq!(
            self.0.lock().expect("model lock").checkpoint,
            Some(checkpoint)
        );
        Ok(())
    }
}

/// Where a [`Hang`] stops the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before the checkpoint of the event is saved (after the projection applied it).
    BeforeSave,
    /// After it is saved, before the runner acknowledges the event.
    AfterSave,
}

/// A checkpoint store that hangs at one event's checkpoint, so the case can kill the
/// runner exactly there.
pub struct Hang<C> {
    inner: C,
    at: u64,
    when: When,
    reached: Arc<Notify>,
}

impl<C> Hang<C> {
    pub fn new(inner: C, at: u64, when: When) -> (Hang<C>, Arc<Notify>) {
        let reached = Arc::new(Notify::new());
        let hang = Hang {
            inner,
            at,
            when,
            reached: Arc::clone(&reached),
        };
        (hang, reached)
    }
}

#[async_trait]
impl<C: CheckpointStore> CheckpointStore for Hang<C> {
    async fn load_checkpoint(&self, projection: &str) -> cim_events::Result<Option<Checkpoint>> {
        self.inner.load_checkpoint(projection).await
    }

    async fn save_checkpoint(
        &self,
        projection: &str,
        checkpoint: Checkpoint,
    ) -> cim_events::Result<()> {
        let here = checkpoint.sequence == self.at;
        if here && self.when == When::BeforeSave {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.save_checkpoint(projection, checkpoint).await?;
        if here && self.when == When::AfterSave {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Appends `count` events round-robin to aggregates `a-0`…`a-{aggregates-1}`; returns
/// (sequence, CID) of each, in stream order.
pub async fn append<S: EventStore>(
    store: &S,
    from: u64,
    count: u64,
    aggregates: u64,
) -> Vec<(u64, Cid)> {
    let mut out = Vec::new();
    for n in from..from + count {
        let id = format!("a-{}", n % aggregates);
        let meta = store
            .append_event(&id, Noted::new(&id, n), None)
            .await
            .expect("append");
        out.push((meta.sequence, meta.cid));
    }
    out
}

/// Waits until `reached` is signalled.
pub async fn reached(signal: &Notify) {
    tokio::time::timeout(PATIENCE, signal.notified())
        .await
        .expect("the runner reaches the chosen event");
}

fn applied(model: &Arc<Mutex<Model>>) -> Vec<(u64, Cid)> {
    model.lock().expect("model lock").applied.clone()
}

/// Every event, live ones included, is applied once, in stream order; the checkpoint ends
/// at the last event's CID, in the checkpoint store too.
pub async fn applies_every_event_once_in_order(h: &impl Harness) {
    let mut events = append(h.store(), 0, 30, 3).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let checkpoints = h.checkpoints().await;
    let mut running = h.start(
        Counter::new(&model),
        Arc::clone(&checkpoints),
        &Options::default(),
    );
    running.wait_for(events[29].0).await;
    // Live events after catching up.
    events.extend(append(h.store(), 30, 5, 3).await);
    let last = events[34];
    running.wait_for(last.0).await;
    let (result, _) = running.stop().await;
    let progress = result.expect("a graceful stop is Ok");
    assert_eq!(applied(&model), events);
    assert_eq!(progress.applied, 35);
    assert_eq!(progress.skipped, 0);
    let expected = Checkpoint {
        sequence: last.0,
        cid: last.1,
    };
    assert_eq!(progress.checkpoint, Some(expected));
    let stored = h
        .checkpoints()
        .await
        .load_checkpoint("counter")
        .await
        .expect("load");
    assert_eq!(stored, Some(expected));
}

/// A runner killed while applying (several times, at different events, with deliveries
/// in flight) resumes after its checkpoint: every event applied exactly once, in order.
pub async fn resumes_after_a_crash_mid_stream(h: &impl Harness) {
    let events = append(h.store(), 0, 40, 4).await;
    let model = Arc::new(Mutex::new(Model::default()));
    for stall in [6, 7, 23] {
        let (counter, stalled) = Counter::new(&model).stall_before(events[stall].0);
        let running = h.start(counter, h.checkpoints().await, &Options::default());
        reached(&stalled).await;
        running.crash().await;
        assert_eq!(applied(&model), events[..stall]);
    }
    let mut running = h.start(
        Counter::new(&model),
        h.checkpoints().await,
        &Options::default(),
    );
    running.wait_for(events[39].0).await;
    let (result, _) = running.stop().await;
    result.expect("graceful stop");
    assert_eq!(applied(&model), events, "no gap, no repeat, stream order");
    let stored = h
        .checkpoints()
        .await
        .load_checkpoint("counter")
        .await
        .expect("load");
    assert_eq!(stored.map(|c| c.cid), Some(events[39].1));
}

/// A crash after the checkpoint was saved and before the event was acknowledged, at the
/// end of the stream: the event comes again (from the server, or from a subscription at
/// the checkpoint) and is skipped, with no second effect.
pub async fn crash_between_checkpoint_and_ack_is_skipped(h: &impl Harness) {
    let events = append(h.store(), 0, 10, 2).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let (checkpoints, hung) = Hang::new(h.checkpoints().await, events[9].0, When::AfterSave);
    let running = h.start(Counter::new(&model), checkpoints, &Options::default());
    reached(&hung).await;
    running.crash().await;
    let mut running = h.start(
        Counter::new(&model),
        h.checkpoints().await,
        &Options::default(),
    );
    let progress = running.wait_until(|p| p.skipped >= 1).await;
    assert_eq!(progress.applied, 0);
    let more = append(h.store(), 10, 1, 2).await;
    running.wait_for(more[0].0).await;
    let (result, _) = running.stop().await;
    assert_eq!(result.expect("graceful stop").applied, 1);
    assert_eq!(applied(&model), [events, more].concat());
}

/// The same crash in the middle of the stream, with later events already delivered to the
/// crashed runner: no gap, no double effect.
pub async fn crash_between_checkpoint_and_ack_mid_stream(h: &impl Harness) {
    let events = append(h.store(), 0, 10, 2).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let (checkpoints, hung) = Hang::new(h.checkpoints().await, events[4].0, When::AfterSave);
    let running = h.start(Counter::new(&model), checkpoints, &Options::default());
    reached(&hung).await;
    running.crash().await;
    let mut running = h.start(
        Counter::new(&model),
        h.checkpoints().await,
        &Options::default(),
    );
    running.wait_for(events[9].0).await;
    running.stop().await.0.expect("graceful stop");
    assert_eq!(applied(&model), events);
}

/// A projection that owns its storage writes the checkpoint with its effects: killed
/// between `apply` and the runner's save, it still applies every event exactly once.
pub async fn owned_checkpoint_makes_effect_and_checkpoint_atomic(h: &impl Harness) {
    let events = append(h.store(), 0, 12, 3).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let (checkpoints, hung) = Hang::new(
        ModelCheckpoints(Arc::clone(&model)),
        events[5].0,
        When::BeforeSave,
    );
    let running = h.start(Counter::new(&model), checkpoints, &Options::default());
    reached(&hung).await;
    running.crash().await;
    assert_eq!(applied(&model), events[..6]);
    let mut running = h.start(
        Counter::new(&model),
        ModelCheckpoints(Arc::clone(&model)),
        &Options::default(),
    );
    running.wait_for(events[11].0).await;
    running.stop().await.0.expect("graceful stop");
    assert_eq!(applied(&model), events);
}

/// A projection error stops the runner with the failing event's sequence; nothing of
/// that event is checkpointed, and the next run resumes with it.
pub async fn projection_error_stops_without_losing_the_event(h: &impl Harness) {
    let events = append(h.store(), 0, 8, 2).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let running = h.start(
        Counter::new(&model).fail_at(events[4].0),
        h.checkpoints().await,
        &Options::default(),
    );
    let (result, _) = running.finish().await;
    match result {
        Err(ProjectionError::Apply {
            projection,
            sequence,
            cid,
            source,
        }) => {
            assert_eq!(
                (projection.as_str(), sequence, cid),
                ("counter", events[4].0, events[4].1)
            );
            assert_eq!(source, Refused(events[4].0));
        }
        other => panic!("expected the projection's error, got {other:?}"),
    }
    let stored = h
        .checkpoints()
        .await
        .load_checkpoint("counter")
        .await
        .expect("load");
    assert_eq!(stored.map(|c| c.sequence), Some(events[3].0));
    let mut running = h.start(
        Counter::new(&model),
        h.checkpoints().await,
        &Options::default(),
    );
    running.wait_for(events[7].0).await;
    running.stop().await.0.expect("graceful stop");
    assert_eq!(applied(&model), events);
}

/// A filter feeds only the matching events.
pub async fn filter_selects_events(h: &impl Harness) {
    let store = h.store();
    let mut wanted = Vec::new();
    for n in 0..9 {
        let id = format!("o-{}", n % 3);
        let name = if n % 2 == 0 { "Created" } else { "Shipped" };
        let meta = store
            .append_event(
                &id,
                Named {
                    id: id.clone(),
                    name: name.to_owned(),
                },
                None,
            )
            .await
            .expect("append");
        if name == "Shipped" {
            wanted.push((meta.sequence, meta.cid));
        }
    }
    let model = Arc::new(Mutex::new(Model::default()));
    let options = Options {
        filter: Some(format!("{}.*.Shipped", store.subject_prefix())),
        ..Options::default()
    };
    let mut running = h.start(Counter::new(&model), h.checkpoints().await, &options);
    running.wait_for(wanted[3].0).await;
    running.stop().await.0.expect("graceful stop");
    assert_eq!(applied(&model), wanted);
}

/// With chain verification on, an event whose `prev` skips its predecessor stops the
/// runner with the event's sequence, after the events before it.
pub async fn broken_chain_stops_at_its_sequence(h: &impl Harness) {
    let store = h.store();
    let good = append(store, 0, 4, 2).await; // a-0: 1st and 3rd, a-1: 2nd and 4th
    // Version 3 of a-0, linked to its version 1 instead of its version 2.
    let wrong_head = Head {
        version: 2,
        cid: good[0].1,
        sequence: good[0].0,
    };
    let forged = cim_events::test_util::seal_after(
        store.subject_prefix(),
        "a-0",
        Some(&wrong_head),
        &[Noted::new("a-0", 99)],
        &Default::default(),
    )
    .expect("seal")
    .remove(0);
    let headers = forged
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let sequence = h
        .forge(forged.subject.clone(), headers, forged.bytes.to_vec())
        .await;
    let model = Arc::new(Mutex::new(Model::default()));
    let options = Options {
        verify_chain: true,
        ..Options::default()
    };
    let (result, _) = h
        .start(Counter::new(&model), h.checkpoints().await, &options)
        .finish()
        .await;
    match result {
        Err(ProjectionError::BrokenChain { chain, .. }) => {
            assert_eq!(chain.sequence, sequence);
            assert_eq!(chain.aggregate_id, "a-0");
            assert_eq!(chain.expected_prev, Some(good[2].1));
            assert_eq!(chain.found_prev, Some(good[0].1));
        }
        other => panic!("expected a broken chain, got {other:?}"),
    }
    assert_eq!(applied(&model), good);
}

/// A message that is not an event stops the runner with a decode error naming it.
pub async fn malformed_message_stops_with_its_sequence(h: &impl Harness) {
    let good = append(h.store(), 0, 2, 1).await;
    let subject = format!("{}.a-0.Noted", h.store().subject_prefix());
    let sequence = h.forge(subject, Vec::new(), b"not cbor".to_vec()).await;
    let model = Arc::new(Mutex::new(Model::default()));
    let (result, _) = h
        .start(
            Counter::new(&model),
            h.checkpoints().await,
            &Options::default(),
        )
        .finish()
        .await;
    match result {
        Err(ProjectionError::Decode { sequence: at, .. }) => assert_eq!(at, sequence),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(applied(&model), good);
}

/// A checkpoint whose CID is not the stored event's at its sequence is refused before
/// anything is applied.
pub async fn checkpoint_from_another_history_is_refused(h: &impl Harness) {
    let events = append(h.store(), 0, 3, 1).await;
    let forged = Checkpoint {
        sequence: events[1].0,
        cid: events[2].1,
    };
    let checkpoints = h.checkpoints().await;
    assert_eq!(
        checkpoints.load_checkpoint("counter").await.expect("load"),
        None
    );
    checkpoints
        .save_checkpoint("counter", forged)
        .await
        .expect("save");
    let model = Arc::new(Mutex::new(Model::default()));
    let (result, _) = h
        .start(
            Counter::new(&model),
            h.checkpoints().await,
            &Options::default(),
        )
        .finish()
        .await;
    match result {
        Err(ProjectionError::CheckpointMismatch {
            checkpoint, found, ..
        }) => {
            assert_eq!(checkpoint, forged);
            assert_eq!(
                found,
                Some(Checkpoint {
                    sequence: events[1].0,
                    cid: events[1].1
                })
            );
        }
        other => panic!("expected a checkpoint mismatch, got {other:?}"),
    }
    assert!(applied(&model).is_empty());
}

/// A name that cannot key a checkpoint or name a consumer is refused.
pub async fn invalid_name_is_refused(h: &impl Harness) {
    let model = Arc::new(Mutex::new(Model::default()));
    let counter = Counter::new(&model).named("no.dots allowed");
    let (result, _) = h
        .start(counter, h.checkpoints().await, &Options::default())
        .finish()
        .await;
    assert!(
        matches!(result, Err(ProjectionError::InvalidName { ref name }) if name == "no.dots allowed"),
        "{result:?}"
    );
}

/// Instantiates the suite for a harness factory: `projection_suite!(make)`, where
/// `make()` is an `async fn` returning a fresh [`Harness`].
macro_rules! projection_suite {
    ($make:path) => {
        projection_suite!(@cases $make;
            applies_every_event_once_in_order,
            resumes_after_a_crash_mid_stream,
            crash_between_checkpoint_and_ack_is_skipped,
            crash_between_checkpoint_and_ack_mid_stream,
            owned_checkpoint_makes_effect_and_checkpoint_atomic,
            projection_error_stops_without_losing_the_event,
            filter_selects_events,
            broken_chain_stops_at_its_sequence,
            malformed_message_stops_with_its_sequence,
            checkpoint_from_another_history_is_refused,
            invalid_name_is_refused,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $make().await;
                projection_suite::$case(&harness).await;
            }
        )*
    };
}
pub(crate) use projection_suite;

/// Defect 12: a runner that dies while its owner waits on it hands the owner its own typed
/// error (here the projection's `Refused` at the failing sequence), not a closed channel.
/// `running` runs a [`Counter`] that fails at `fail_at`; the store holds events up to
/// `last`, in sequences `1..=last`.
pub async fn a_dead_runner_tells_its_waiter_why<R: Send + 'static>(
    mut running: cim_events::projection::RunningProjection<R, Refused>,
    fail_at: u64,
    last: u64,
) {
    let waited = tokio::time::timeout(PATIENCE, running.wait_until_sequence(last))
        .await
        .expect("the waiter learns of the failure instead of hanging");
    match waited {
        Err(ProjectionError::Apply {
            sequence, source, ..
        }) => assert_eq!((sequence, source), (fail_at, Refused(fail_at))),
        other => panic!("expected the projection's own error, got {other:?}"),
    }
    // The error is handed out once; afterwards the handle says the runner stopped, where.
    match running.join().await {
        Err(ProjectionError::Stopped { progress, .. }) => {
            assert_eq!(progress.checkpoint.map(|c| c.sequence), Some(fail_at - 1));
            assert_eq!(progress.applied, fail_at - 1);
        }
        other => panic!("expected Stopped after the error was returned, got {other:?}"),
    }
}

/// A spawned runner that catches up reports no lag against the store's last sequence,
/// and stops cleanly with its progress.
pub async fn a_spawned_runner_catches_up_with_the_last_sequence<
    S: EventStore,
    R: Send + 'static,
>(
    store: &S,
    mut running: cim_events::projection::RunningProjection<R, Refused>,
) {
    let last = store.last_sequence().await.expect("last sequence");
    let progress = tokio::time::timeout(PATIENCE, running.wait_until_sequence(last))
        .await
        .expect("caught up in time")
        .expect("runner alive");
    let lag = last - progress.checkpoint.expect("checkpoint").sequence;
    assert_eq!((lag, progress.applied), (0, last));
    let stopped = running.stop().await.expect("graceful stop");
    assert_eq!(stopped.applied, last);
}
