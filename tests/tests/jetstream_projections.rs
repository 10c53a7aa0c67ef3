//! Projections on JetStream, on one shared R1 server (each case its own stream, prefix and
//! checkpoint bucket): the projection suite against the durable `JetStreamProjectionRunner`
//! with `JetStreamCheckpointStore`, and against the generic `ProjectionRunner` on
//! `JetStreamEventStore`; then what only the durable runner has (its consumer, a server
//! restart mid-stream) and the checkpoint bucket's fencing.

mod projection_suite;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use cim_events::jetstream::{
    JetStreamCheckpointStore, JetStreamEventStore, JetStreamProjectionRunner,
};
use cim_events::projection::{Checkpoint, CheckpointStore, Projection, ProjectionRunner};
use cim_events::{Error, EventStore};
use projection_suite::{Counter, Harness, Model, Options, Running, append};
use tests::nats::{JetStreamFixture, NatsServer};

/// One case's store and checkpoint bucket, on the shared server.
struct JetStream {
    fixture: JetStreamFixture,
    bucket: String,
}

impl JetStream {
    async fn fresh() -> JetStream {
        Self::on(NatsServer::shared().await).await
    }

    async fn on(server: &NatsServer) -> JetStream {
        let fixture = JetStreamFixture::new(vec![server.addr()], 1).await;
        let bucket = format!("CHECKPOINTS_{}", fixture.store.stream_name());
        JetStream { fixture, bucket }
    }

    fn store(&self) -> &JetStreamEventStore {
        &self.fixture.store
    }

    /// A new handle on the case's checkpoint bucket, as a restarted process opens it.
    async fn kv_checkpoints(&self) -> JetStreamCheckpointStore {
        JetStreamCheckpointStore::new(self.store().context().clone(), &self.bucket)
            .await
            .expect("open the checkpoint bucket")
    }

    async fn forge(&self, subject: String, headers: Vec<(String, String)>, data: Vec<u8>) -> u64 {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.insert(k.as_str(), v.as_str());
        }
        self.store()
            .context()
            .publish_with_headers(subject, map, data.into())
            .await
            .expect("publish")
            .await
            .expect("stored")
            .sequence
    }
}

fn spawn<P, F>(
    runner_run: F,
    shutdown: cim_events::projection::ShutdownHandle,
    progress: tokio::sync::watch::Receiver<cim_events::projection::Progress>,
) -> Running<P>
where
    P: Projection + 'static,
    F: Future<Output = projection_suite::Outcome<P>> + Send + 'static,
{
    Running {
        task: tokio::spawn(runner_run),
        shutdown,
        progress,
    }
}

/// The durable runner.
struct Durable(JetStream);

async fn durable() -> Durable {
    Durable(JetStream::fresh().await)
}

impl Harness for Durable {
    type Store = JetStreamEventStore;

    fn store(&self) -> &JetStreamEventStore {
        self.0.store()
    }

    async fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.0.kv_checkpoints().await)
    }

    fn start<P, C>(&self, projection: P, checkpoints: C, options: &Options) -> Running<P>
    where
        P: Projection + 'static,
        C: CheckpointStore + 'static,
    {
        let mut runner = JetStreamProjectionRunner::new(self.store(), projection, checkpoints)
            .verify_chain(options.verify_chain)
            // Redeliveries after a crash come quickly.
            .ack_wait(Duration::from_secs(1));
        if let Some(filter) = &options.filter {
            runner = runner.filter(filter.clone());
        }
        let (shutdown, progress) = (runner.shutdown_handle(), runner.progress());
        spawn(
            async move {
                let result = runner.run().await;
                (result, runner.into_projection())
            },
            shutdown,
            progress,
        )
    }

    async fn forge(&self, subject: String, headers: Vec<(String, String)>, data: Vec<u8>) -> u64 {
        self.0.forge(subject, headers, data).await
    }
}

/// The generic runner, on the store's ordered-consumer subscriptions.
struct Generic(JetStream);

async fn generic() -> Generic {
    Generic(JetStream::fresh().await)
}

impl Harness for Generic {
    type Store = JetStreamEventStore;

    fn store(&self) -> &JetStreamEventStore {
        self.0.store()
    }

    async fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.0.kv_checkpoints().await)
    }

    fn start<P, C>(&self, projection: P, checkpoints: C, options: &Options) -> Running<P>
    where
        P: Projection + 'static,
        C: CheckpointStore + 'static,
    {
        let mut runner = ProjectionRunner::new(self.store().clone(), projection, checkpoints)
            .verify_chain(options.verify_chain);
        if let Some(filter) = &options.filter {
            runner = runner.filter(filter.clone());
        }
        let (shutdown, progress) = (runner.shutdown_handle(), runner.progress());
        spawn(
            async move {
                let result = runner.run().await;
                (result, runner.into_projection())
            },
            shutdown,
            progress,
        )
    }

    async fn forge(&self, subject: String, headers: Vec<(String, String)>, data: Vec<u8>) -> u64 {
        self.0.forge(subject, headers, data).await
    }
}

mod durable_runner {
    use super::{durable, projection_suite, projection_suite::projection_suite};
    projection_suite!(durable);
}

mod generic_runner {
    use super::{generic, projection_suite, projection_suite::projection_suite};
    projection_suite!(generic);
}

/// The durable consumer is named after the projection, acknowledges explicitly, filters
/// as asked, and after a graceful stop has nothing pending: its ack floor is the
/// checkpoint.
#[tokio::test]
async fn durable_consumer_follows_the_checkpoint() {
    let js = JetStream::fresh().await;
    let events = append(js.store(), 0, 12, 3).await;
    let model = Arc::new(std::sync::Mutex::new(Model::default()));
    let h = Durable(js);
    let mut running = h.start(
        Counter::new(&model).named("orders-view"),
        h.checkpoints().await,
        &Options::default(),
    );
    let progress = running.wait_for(events[11].0).await;
    assert_eq!(progress.pending, Some(0), "caught up: no lag");
    running.stop().await.0.expect("graceful stop");
    // Acknowledgements are processed by the server asynchronously: wait for the last.
    let mut consumer: PullConsumer = h
        .store()
        .context()
        .get_consumer_from_stream("orders-view", h.store().stream_name())
        .await
        .expect("the durable consumer exists");
    for _ in 0..100 {
        if consumer
            .info()
            .await
            .expect("consumer info")
            .num_ack_pending
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = consumer.cached_info();
    assert_eq!(info.config.durable_name.as_deref(), Some("orders-view"));
    assert_eq!(info.config.ack_policy, AckPolicy::Explicit);
    assert_eq!(
        info.config.filter_subject,
        format!("{}.>", h.store().subject_prefix())
    );
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.ack_floor.stream_sequence, events[11].0);
    assert_eq!(info.num_pending, 0);
}

/// The server is killed and restarted under a running projection, while it is in the
/// middle of applying an event with later ones already delivered, and events are appended
/// after the restart: every event is applied exactly once, in order.
#[tokio::test]
async fn survives_a_server_restart_mid_stream() {
    let mut server = NatsServer::start().await;
    let js = JetStream::on(&server).await;
    let mut events = append(js.store(), 0, 20, 2).await;
    let model = Arc::new(std::sync::Mutex::new(Model::default()));
    let h = Durable(js);
    let (counter, paused, release) = Counter::new(&model).pause_before(events[9].0);
    let mut running = h.start(counter, h.checkpoints().await, &Options::default());
    projection_suite::reached(&paused).await;
    server.restart().await;
    release.notify_one();
    running.wait_for(events[19].0).await;
    events.extend(append(h.store(), 20, 20, 2).await);
    running.wait_for(events[39].0).await;
    let (result, _) = running.stop().await;
    let progress = result.expect("graceful stop");
    assert_eq!(model.lock().expect("model").applied, events);
    assert_eq!(progress.applied, 40);
}

/// The durable consumer deleted under a running projection (by an operator) is
/// recreated from the checkpoint: no gap, no repeat.
#[tokio::test]
async fn recreates_a_deleted_consumer_from_the_checkpoint() {
    let js = JetStream::fresh().await;
    let mut events = append(js.store(), 0, 10, 2).await;
    let model = Arc::new(std::sync::Mutex::new(Model::default()));
    let h = Durable(js);
    let mut running = h.start(
        Counter::new(&model),
        h.checkpoints().await,
        &Options::default(),
    );
    running.wait_for(events[9].0).await;
    h.store()
        .context()
        .delete_consumer_from_stream("counter", h.store().stream_name())
        .await
        .expect("delete the consumer");
    events.extend(append(h.store(), 10, 10, 2).await);
    let progress = running.wait_for(events[19].0).await;
    assert!(progress.resumed >= 2, "{progress:?}");
    running.stop().await.0.expect("graceful stop");
    assert_eq!(model.lock().expect("model").applied, events);
}

/// A second checkpoint store writing the same projection's key (a second runner) is
/// fenced off: the first one's next save fails, not transient, instead of overwriting.
#[tokio::test]
async fn checkpoint_bucket_fences_a_second_writer() {
    let js = JetStream::fresh().await;
    let events = append(js.store(), 0, 3, 1).await;
    let at = |i: usize| Checkpoint {
        sequence: events[i].0,
        cid: events[i].1,
    };
    let first = js.kv_checkpoints().await;
    let second = js.kv_checkpoints().await;
    assert_eq!(first.load_checkpoint("p").await.expect("load"), None);
    first
        .save_checkpoint("p", at(0))
        .await
        .expect("first saves");
    assert_eq!(
        second.load_checkpoint("p").await.expect("load"),
        Some(at(0))
    );
    second
        .save_checkpoint("p", at(1))
        .await
        .expect("second saves");
    match first.save_checkpoint("p", at(2)).await {
        Err(
            e @ Error::ConcurrentWriter {
                what: "checkpoint", ..
            },
        ) => {
            assert!(e.to_string().contains("another runner"), "{e}");
        }
        other => panic!("expected the first writer to be fenced off, got {other:?}"),
    }
    assert_eq!(first.load_checkpoint("p").await.expect("load"), Some(at(1)));
    first
        .save_checkpoint("p", at(2))
        .await
        .expect("after reloading it may save");
    assert_eq!(
        second.load_checkpoint("p").await.expect("load"),
        Some(at(2))
    );
}

/// A value in the checkpoint bucket that is not a checkpoint is a typed error naming the
/// key, never a panic; the runner reports it as a checkpoint failure.
#[tokio::test]
async fn malformed_checkpoint_is_a_typed_error() {
    let js = JetStream::fresh().await;
    let checkpoints = js.kv_checkpoints().await;
    checkpoints
        .kv()
        .put("counter", "garbage".into())
        .await
        .expect("put");
    match checkpoints.load_checkpoint("counter").await {
        Err(
            e @ Error::Malformed {
                what: "checkpoint", ..
            },
        ) => {
            assert!(
                e.to_string().contains("is not a checkpoint of `counter`"),
                "{e}"
            );
        }
        other => panic!("expected a typed error, got {other:?}"),
    }
    let model = Arc::new(std::sync::Mutex::new(Model::default()));
    let h = Durable(js);
    let (result, _) = h
        .start(Counter::new(&model), checkpoints, &Options::default())
        .finish()
        .await;
    assert!(
        matches!(
            result,
            Err(cim_events::projection::ProjectionError::Checkpoint { sequence: None, .. })
        ),
        "{result:?}"
    );
}

/// Defect 12 on JetStream, for both runners: the waiter gets the runner's own error.
#[tokio::test]
async fn a_dead_runner_tells_its_waiter_why() {
    for durable_runner in [true, false] {
        let js = JetStream::fresh().await;
        append(js.store(), 0, 5, 2).await;
        let model = Arc::new(std::sync::Mutex::new(Model::default()));
        let counter = Counter::new(&model).fail_at(3);
        let checkpoints = js.kv_checkpoints().await;
        if durable_runner {
            let running = JetStreamProjectionRunner::new(js.store(), counter, checkpoints).spawn();
            projection_suite::a_dead_runner_tells_its_waiter_why(running, 3, 5).await;
        } else {
            let running = ProjectionRunner::new(js.store().clone(), counter, checkpoints).spawn();
            projection_suite::a_dead_runner_tells_its_waiter_why(running, 3, 5).await;
        }
        assert_eq!(model.lock().expect("model").applied.len(), 2);
    }
}

/// A spawned durable runner catches up with the stream's last sequence.
#[tokio::test]
async fn a_spawned_runner_catches_up_with_the_last_sequence() {
    let js = JetStream::fresh().await;
    append(js.store(), 0, 7, 3).await;
    let model = Arc::new(std::sync::Mutex::new(Model::default()));
    let running =
        JetStreamProjectionRunner::new(js.store(), Counter::new(&model), js.kv_checkpoints().await)
            .spawn();
    projection_suite::a_spawned_runner_catches_up_with_the_last_sequence(js.store(), running).await;
}
