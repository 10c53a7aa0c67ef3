//! [`IpfsMirror`]: a projection that puts every stored event's block on an IPFS node and
//! keeps each aggregate's newest head pinned.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cid::Cid;
use tokio::sync::watch;

use super::client::KuboClient;
use super::error::IpfsError;
use crate::block::{DAG_CBOR, EventBlock};
use crate::error::Error;
use crate::projection::{Checkpoint, Projection, ShutdownHandle};
use crate::record::RecordedEvent;

/// The projection name (checkpoint key, durable consumer) a mirror uses by default.
pub const DEFAULT_MIRROR_NAME: &str = "ipfs-mirror";
/// Events between two pin rounds by default.
pub const DEFAULT_PIN_EVERY: u64 = 256;
/// How long a mirror waits out an unreachable or slow node by default before it gives up
/// on the event (and its runner stops, to be run again).
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(300);

/// A [`Projection`] that mirrors a store to an IPFS node: each event's block is put under
/// its own CID, and each aggregate's newest head is pinned recursively — which pins its
/// whole history, since every `prev` is an IPLD link.
///
/// Run it on [`ProjectionRunner`](crate::projection::ProjectionRunner) (any store) or on
/// `JetStreamProjectionRunner` (a durable consumer): the runner's checkpoint is how far
/// the mirror got, and a restart resumes there.
///
/// - **Idempotent.** The block is put before the checkpoint moves past its event, so a
///   stop anywhere loses nothing. The one event a restart can deliver again (stopped after
///   the put, before the checkpoint) is first looked up on the node (`block/stat`) and not
///   sent again if it is there; so is the event after any failed call. Other events are
///   sent without asking, one `dag/put` each.
/// - **Pinned per round.** A recursive pin walks the whole history below it, so pinning
///   every new head would cost O(n²). The mirror pins every aggregate that moved once per
///   [`pin_every`](Self::pin_every) events (and on [`flush_pins`](Self::flush_pins)),
///   then unpins the head it pinned before. Heads newer than the last round are on the
///   node but not pinned yet: a node's garbage collector could drop those few blocks.
/// - **Waits out the node.** A call that fails because the node is unreachable or slow
///   is retried with backoff for up to [`retry_for`](Self::retry_for) (meanwhile
///   [`waiting`](Self::waiting) holds the error); then the event fails, the runner stops
///   with that [`IpfsError`] inside [`Error::Ipfs`], and running it again resumes from the
///   checkpoint. A node that refuses a request, or answers another CID, fails at once.
///
/// Before its first pin round the mirror reads the node's recursive pins (`pin/ls`) and
/// the block of each DAG-CBOR one, to learn which heads an earlier run (or a
/// [`backfill`](super::backfill)) pinned, and moves those pins on.
///
/// ```no_run
/// use cim_events::ipfs::{IpfsMirror, KuboClient};
/// use cim_events::projection::{MemoryCheckpointStore, ProjectionRunner};
/// use cim_events::{EventStore, MemoryEventStore};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryEventStore::new();
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// let runner = ProjectionRunner::new(store.clone(), IpfsMirror::new(node), MemoryCheckpointStore::new());
/// let mut running = runner.spawn();
/// running.wait_until_sequence(store.last_sequence().await?).await?;
/// running.shutdown_handle().shutdown();
/// let (stopped, runner) = running.join_runner().await;
/// stopped?;
/// // Pin the heads of the last round's events too.
/// if let Some(mut runner) = runner {
///     runner.projection_mut().flush_pins().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct IpfsMirror {
    client: KuboClient,
    name: String,
    pin_every: u64,
    retry_for: Duration,
    shutdown: Option<ShutdownHandle>,
    /// Aggregate → the head the node holds pinned for it.
    pinned: HashMap<String, Cid>,
    /// Aggregate → its newest head, put but not pinned yet.
    unpinned: BTreeMap<String, Cid>,
    since_pins: u64,
    /// Ask the node before the next put (first event of a run, or after a failure).
    check_next: bool,
    pins_loaded: bool,
    stats: MirrorStats,
    waiting: watch::Sender<Option<IpfsError>>,
}

/// What a mirror did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MirrorStats {
    /// Blocks put on the node.
    pub put: u64,
    /// Events whose block the node already held (found by `block/stat`), not put again.
    pub already_there: u64,
    /// Pin rounds run.
    pub pin_rounds: u64,
    /// Heads pinned (`pin/add`), over all rounds.
    pub pinned: u64,
    /// Calls retried after the node was unreachable or slow.
    pub retries: u64,
}

impl IpfsMirror {
    /// A mirror to the node `client` talks to, named [`DEFAULT_MIRROR_NAME`], pinning
    /// every [`DEFAULT_PIN_EVERY`] events, waiting out the node for [`DEFAULT_RETRY_FOR`].
    pub fn new(client: KuboClient) -> IpfsMirror {
        IpfsMirror {
            client,
            name: DEFAULT_MIRROR_NAME.to_owned(),
            pin_every: DEFAULT_PIN_EVERY,
            retry_for: DEFAULT_RETRY_FOR,
            shutdown: None,
            pinned: HashMap::new(),
            unpinned: BTreeMap::new(),
            since_pins: 0,
            check_next: true,
            pins_loaded: false,
            stats: MirrorStats::default(),
            waiting: watch::channel(None).0,
        }
    }

    /// Names the mirror (its checkpoint key and durable consumer): one name per node
    /// mirrored to. Letters, digits, `-` and `_`.
    pub fn named(mut self, name: impl Into<String>) -> IpfsMirror {
        self.name = name.into();
        self
    }

    /// Runs a pin round every `events` events (at least 1).
    pub fn pin_every(mut self, events: u64) -> IpfsMirror {
        self.pin_every = events.max(1);
        self
    }

    /// How long one event waits out an unreachable or slow node before it fails.
    pub fn retry_for(mut self, wait: Duration) -> IpfsMirror {
        self.retry_for = wait;
        self
    }

    /// Stops waiting out the node as soon as `shutdown` is asked for (pass the runner's
    /// [`shutdown_handle`](crate::projection::ProjectionRunner::shutdown_handle)), so that
    /// a stop is not held up by a node that is down.
    pub fn stop_waiting_on(mut self, shutdown: ShutdownHandle) -> IpfsMirror {
        self.shutdown = Some(shutdown);
        self
    }

    /// The client, whose [`counts`](KuboClient::counts) tell what was sent.
    pub fn client(&self) -> &KuboClient {
        &self.client
    }

    /// What the mirror did so far.
    pub fn stats(&self) -> MirrorStats {
        self.stats
    }

    /// The node failure the mirror is waiting out right now (`None`: it is not waiting).
    pub fn waiting(&self) -> watch::Receiver<Option<IpfsError>> {
        self.waiting.subscribe()
    }

    /// The heads the mirror holds pinned, by aggregate.
    pub fn pinned_heads(&self) -> &HashMap<String, Cid> {
        &self.pinned
    }

    /// Runs a pin round now: pins each aggregate's newest head put since the last round,
    /// then unpins the head pinned before it. Call it when a runner stops, or when the
    /// store is idle, so that the newest events are pinned too.
    ///
    /// # Errors
    ///
    /// [`Error::Ipfs`]; the heads not pinned yet are kept for the next round.
    pub async fn flush_pins(&mut self) -> Result<(), Error> {
        Ok(self.pin_round().await?)
    }

    async fn pin_round(&mut self) -> Result<(), IpfsError> {
        self.load_pins().await?;
        while let Some((aggregate, head)) = self.unpinned.pop_first() {
            if let Err(e) = self.pin(&aggregate, head).await {
                self.unpinned.insert(aggregate, head);
                return Err(e);
            }
        }
        self.since_pins = 0;
        self.stats.pin_rounds += 1;
        Ok(())
    }

    async fn pin(&mut self, aggregate: &str, head: Cid) -> Result<(), IpfsError> {
        if self.pinned.get(aggregate) == Some(&head) {
            return Ok(());
        }
        self.client.pin_add(&head).await?;
        self.stats.pinned += 1;
        if let Some(old) = self.pinned.insert(aggregate.to_owned(), head) {
            match self.client.pin_rm(&old).await {
                // Already unpinned (by hand, or by a run that stopped midway): fine.
                Ok(()) | Err(IpfsError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Learns which heads are pinned: every recursive pin that is an event block.
    async fn load_pins(&mut self) -> Result<(), IpfsError> {
        if self.pins_loaded {
            return Ok(());
        }
        let mut best: HashMap<String, (u64, Cid)> = HashMap::new();
        let mut stale = Vec::new();
        for cid in self.client.pin_ls().await? {
            if cid.codec() != DAG_CBOR {
                continue;
            }
            let Ok(bytes) = self.client.block_get(&cid).await else {
                continue;
            };
            let Ok(block) = EventBlock::decode(&bytes) else {
                continue;
            };
            let entry = best.entry(block.aggregate_id).or_insert((block.seq, cid));
            if block.seq > entry.0 {
                stale.push(entry.1);
                *entry = (block.seq, cid);
            } else if entry.1 != cid {
                stale.push(cid);
            }
        }
        // An older head of an aggregate whose newer head is pinned too: a run that stopped
        // between a pin and an unpin. The newer pin covers it.
        for cid in stale {
            match self.client.pin_rm(&cid).await {
                Ok(()) | Err(IpfsError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.pinned = best.into_iter().map(|(a, (_, cid))| (a, cid)).collect();
        self.pins_loaded = true;
        Ok(())
    }

    /// Puts one event's block, asking the node first if the last call may have stored it.
    async fn put(&mut self, event: &RecordedEvent) -> Result<(), IpfsError> {
        if self.check_next {
            match self.client.block_stat(&event.cid).await {
                Ok(stat) if stat.size == event.bytes.len() as u64 => {
                    self.check_next = false;
                    self.stats.already_there += 1;
                    return Ok(());
                }
                // Unreachable or slow: the answer is unknown, so wait it out.
                Err(e) if e.is_transient() => return Err(e),
                // Not there (refused), or another size: put it.
                _ => {}
            }
        }
        self.client.put_block(&event.cid, &event.bytes).await?;
        self.check_next = false;
        self.stats.put += 1;
        Ok(())
    }

    /// Runs `step` (a put of `event`, or a pin round) until it succeeds, waiting out
    /// transient failures.
    async fn with_retries(&mut self, event: &RecordedEvent, step: Step) -> Result<(), IpfsError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let result = match step {
                Step::Put => self.put(event).await,
                Step::Pins => self.pin_round().await,
            };
            let error = match result {
                Ok(()) => {
                    self.waiting.send_replace(None);
                    return Ok(());
                }
                Err(e) => e,
            };
            self.check_next = true;
            let stopping = self
                .shutdown
                .as_ref()
                .is_some_and(ShutdownHandle::is_shutdown);
            if !error.is_transient() || stopping || started.elapsed() >= self.retry_for {
                self.waiting.send_replace(None);
                return Err(error);
            }
            tracing::warn!(mirror = %self.name, error = %error, "waiting for the IPFS node");
            self.waiting.send_replace(Some(error));
            self.stats.retries += 1;
            crate::backoff::sleep(attempt, Duration::from_millis(100), Duration::from_secs(5))
                .await;
            attempt += 1;
        }
    }
}

/// What [`IpfsMirror::with_retries`] runs.
#[derive(Debug, Clone, Copy)]
enum Step {
    Put,
    Pins,
}

#[async_trait]
impl Projection for IpfsMirror {
    type Error = Error;

    fn name(&self) -> &str {
        &self.name
    }

    async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Error> {
        self.with_retries(event, Step::Put).await?;
        self.unpinned
            .insert(event.block.aggregate_id.clone(), event.cid);
        self.since_pins += 1;
        if self.since_pins >= self.pin_every {
            self.with_retries(event, Step::Pins).await?;
        }
        Ok(())
    }
}
