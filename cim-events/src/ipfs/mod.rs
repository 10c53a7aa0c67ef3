//! Mirroring chains to an IPFS node, and restoring them from it (feature `ipfs`).
//!
//! Every event is already an IPFS block (DAG-CBOR, CIDv1, sha2-256) and every `prev` an
//! IPLD link, so one recursive pin of an aggregate's head pins its whole history, and
//! anyone holding the head CID can fetch and verify the chain without NATS. This module
//! talks to a node over the Kubo RPC API (`/api/v0/...`), which Kubo and js-ipfs serve:
//!
//! - [`KuboClient`] (`client.rs`): the RPC calls, typed errors ([`IpfsError`],
//!   `error.rs`), CIDs compared parsed, blocks counted;
//! - [`IpfsMirror`] (`mirror.rs`): a [`Projection`](crate::projection::Projection) that
//!   follows a store on a projection runner (checkpoint, resume), puts each block once and
//!   pins each aggregate's head per round;
//! - [`backfill`] (`backfill.rs`): a whole store in CARs of bounded size, with progress;
//! - [`pin_heads`] (`pins.rs`): every current head the node holds, pinned, after a mirror
//!   that died between pin rounds;
//! - [`restore_chain`] and [`restore_into`] (`restore.rs`): a chain from its head CID
//!   alone, every block verified, faults located in an [`IpfsChainReport`]; imported into
//!   an empty store through [`import_chain`](crate::import::import_chain), CIDs unchanged.
//!
//! `docs/ipfs.md` in the repository tells how to point this at a Kubo node, what is
//! pinned, what a mirror costs, how to restore, and which RPC calls are made.
//!
//! ```no_run
//! use cim_events::ipfs::{IpfsMirror, KuboClient, restore_chain};
//! use cim_events::projection::{MemoryCheckpointStore, ProjectionRunner};
//! use cim_events::{EventStore, MemoryEventStore};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryEventStore::new();
//! let node = KuboClient::new("http://127.0.0.1:5001")?;
//!
//! // Mirror the store: every block put once, heads pinned.
//! let mirror = IpfsMirror::new(node.clone());
//! let mut running = ProjectionRunner::new(store.clone(), mirror, MemoryCheckpointStore::new()).spawn();
//! running.wait_until_sequence(store.last_sequence().await?).await?;
//!
//! // Anyone with the head CID and the node can fetch and verify the chain.
//! if let Some(head) = store.head("acc-1").await? {
//!     let restored = restore_chain(&node, head.cid).await?;
//!     assert!(restored.report.is_valid());
//! }
//! # Ok(()) }
//! ```

mod backfill;
mod client;
mod error;
mod mirror;
mod pins;
mod restore;

pub use backfill::{
    Backfill, BackfillProgress, BackfillReport, DEFAULT_CHUNK_BLOCKS, DEFAULT_CHUNK_BYTES, backfill,
};
pub use client::{BlockStat, ClientCounts, DEFAULT_TIMEOUT, KuboClient};
pub use error::IpfsError;
pub use mirror::{
    DEFAULT_MIRROR_NAME, DEFAULT_PIN_EVERY, DEFAULT_RETRY_FOR, IpfsMirror, MirrorStats,
};
pub use pins::{PinnedHeads, pin_heads};
pub use restore::{
    IpfsChainReport, IpfsFault, IpfsFaultKind, Restore, RestoredChain, restore_chain, restore_into,
};
