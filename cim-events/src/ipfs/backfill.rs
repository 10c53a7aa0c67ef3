//! [`backfill`]: a whole store to an IPFS node in CARs of bounded size, with progress.

use futures::StreamExt;

use super::client::KuboClient;
use crate::chain::{Follower, Step};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::projection::Checkpoint;
use crate::store::EventStore;

/// Blocks per CAR by default.
pub const DEFAULT_CHUNK_BLOCKS: usize = 1000;
/// Bytes of blocks per CAR by default.
pub const DEFAULT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// How a [`backfill`] sends blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    /// At most this many blocks per CAR (at least 1).
    pub chunk_blocks: usize,
    /// At most this many bytes of blocks per CAR (a larger block goes alone).
    pub chunk_bytes: usize,
    /// Pin each aggregate's head once its chain is on the node (one recursive pin per
    /// aggregate).
    pub pin: bool,
}

impl Default for Backfill {
    fn default() -> Self {
        Backfill {
            chunk_blocks: DEFAULT_CHUNK_BLOCKS,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            pin: true,
        }
    }
}

/// How far a [`backfill`] got, passed to its progress callback after every CAR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackfillProgress {
    /// Aggregates whose chain is on the node.
    pub aggregates_done: usize,
    /// Aggregates to send.
    pub aggregates: usize,
    /// Blocks sent.
    pub blocks: u64,
    /// Bytes of blocks sent.
    pub bytes: u64,
    /// CARs imported.
    pub cars: u64,
}

/// What a [`backfill`] sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillReport {
    /// Each aggregate's head as sent (and pinned, with [`Backfill::pin`]).
    pub heads: Vec<(String, Head)>,
    /// The totals.
    pub progress: BackfillProgress,
    /// Where an [`IpfsMirror`](super::IpfsMirror) takes over: every chain event up to this
    /// stream sequence is on the node. Save it as the mirror's checkpoint
    /// ([`CheckpointStore::save_checkpoint`](crate::projection::CheckpointStore::save_checkpoint))
    /// before its first run. `None` when the store was empty, or its last message was not
    /// an event of a chain.
    pub checkpoint: Option<Checkpoint>,
}

/// Sends every aggregate's chain of `store` to the node, as it stands when the backfill
/// starts (up to the store's [`last_sequence`](EventStore::last_sequence) then), in CARs
/// through `dag/import?pin-roots=false` of at most [`Backfill::chunk_blocks`] blocks and
/// [`Backfill::chunk_bytes`] bytes, genesis first; then pins each aggregate's head.
/// `progress` is called after every CAR. Each chain is read as a stream, so memory holds
/// one CAR at a time.
///
/// Blocks go as they are stored, whatever their encoding, and keep their CIDs. The
/// backfill does not ask the node what it holds already: on a node that has part of the
/// store, the [`IpfsMirror`](super::IpfsMirror) (which asks only where it must) sends less.
///
/// ```no_run
/// use cim_events::ipfs::{Backfill, KuboClient, backfill};
/// use cim_events::projection::{CheckpointStore, MemoryCheckpointStore};
/// use cim_events::MemoryEventStore;
/// # async fn demo(store: MemoryEventStore) -> Result<(), cim_events::Error> {
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// let report = backfill(&store, &node, Backfill::default(), |p| {
///     eprintln!("{}/{} aggregates, {} blocks", p.aggregates_done, p.aggregates, p.blocks);
/// })
/// .await?;
/// // The mirror goes on from where the backfill ended.
/// let checkpoints = MemoryCheckpointStore::new();
/// if let Some(checkpoint) = report.checkpoint {
///     checkpoints.save_checkpoint("ipfs-mirror", checkpoint).await?;
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Ipfs`] when the node fails (what was imported stays; running the backfill
/// again sends everything again, so prefer the mirror to finish); a store error; and
/// [`Error::BrokenChain`] if a chain is broken.
pub async fn backfill<S: EventStore + ?Sized>(
    store: &S,
    client: &KuboClient,
    options: Backfill,
    mut progress: impl FnMut(&BackfillProgress),
) -> Result<BackfillReport> {
    let last = store.last_sequence().await?;
    let ids = store.aggregate_ids().await?;
    let mut report = BackfillReport {
        heads: Vec::new(),
        progress: BackfillProgress {
            aggregates: ids.len(),
            ..BackfillProgress::default()
        },
        checkpoint: None,
    };
    let max_blocks = options.chunk_blocks.max(1);
    for id in &ids {
        let mut messages = store.read_messages(id, 0).await?;
        let mut chain = Follower::new(id, None);
        let mut chunk: Vec<(cid::Cid, bytes::Bytes)> = Vec::new();
        let mut chunk_bytes = 0;
        while let Some(message) = messages.next().await {
            let message = message?;
            if message.sequence > last {
                // Stored after the backfill started: the mirror's part.
                break;
            }
            let Step::Extends(event) = chain.step(message) else {
                continue;
            };
            if event.sequence == last {
                report.checkpoint = Some(Checkpoint::of(&event));
            }
            if !chunk.is_empty()
                && (chunk.len() >= max_blocks
                    || chunk_bytes + event.bytes.len() > options.chunk_bytes)
            {
                send(client, &mut chunk, &mut report.progress).await?;
                chunk_bytes = 0;
                progress(&report.progress);
            }
            chunk_bytes += event.bytes.len();
            chunk.push((event.cid, event.bytes));
        }
        if !chunk.is_empty() {
            send(client, &mut chunk, &mut report.progress).await?;
        }
        if let Some(head) = chain.tail().map_err(Error::BrokenChain)?.head {
            if options.pin {
                client.pin_add(&head.cid).await?;
            }
            report.heads.push((id.clone(), head));
        }
        report.progress.aggregates_done += 1;
        progress(&report.progress);
    }
    Ok(report)
}

/// Imports one chunk and empties it.
async fn send(
    client: &KuboClient,
    chunk: &mut Vec<(cid::Cid, bytes::Bytes)>,
    progress: &mut BackfillProgress,
) -> Result<()> {
    let blocks: Vec<_> = chunk.iter().map(|(c, b)| (*c, b.as_ref())).collect();
    client.import_blocks(&blocks).await?;
    progress.blocks += blocks.len() as u64;
    progress.bytes += blocks.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    progress.cars += 1;
    chunk.clear();
    Ok(())
}
