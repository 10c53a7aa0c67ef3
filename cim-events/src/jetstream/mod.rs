//! The production store: [`JetStreamEventStore`], on NATS JetStream.
//!
//! Every event is one message whose body is its DAG-CBOR block, stored under
//! `{prefix}.{aggregate_id}.{event_type}` in one stream. The server, not this client,
//! keeps each aggregate's chain linear: every append carries
//! `Nats-Expected-Last-Subject-Sequence` (the stream sequence of the head it was chained
//! to) scoped to `{prefix}.{aggregate_id}.*`, so of two racing writers exactly one wins.
//!
//! - **Appends** ([`append`](self)): one event is one publish; several events of one call
//!   are one ADR-50 atomic batch (all or nothing, at most [`MAX_BATCH`](crate::MAX_BATCH)).
//!   `Nats-Msg-Id` is the CID, so a retry after a timeout is idempotent, and after an
//!   unknown outcome the store reads the head to learn whether the write landed.
//! - **Reads**: the head is a Direct Get of the last message on the aggregate's subjects
//!   (through the stream leader on replicated streams, so it is never stale); loads are
//!   batch Direct Gets for short aggregates and an ordered consumer for long ones.
//! - **Subscriptions**: an ordered pull consumer per subscription, which delivers each
//!   stored message once, in order, from history into live with no gap, and pulls only as
//!   fast as the caller reads.
//!
//! The store provisions (or checks) its stream: file storage, deny delete, deny purge, no
//! rollup, direct get, atomic publish, a duplicate window, no discarding limits. It refuses
//! a stream or server that cannot keep those guarantees with [`Error::Config`](crate::Error::Config).
//!
//! ```no_run
//! use cim_events::jetstream::{JetStreamEventStore, async_nats};
//! use cim_events::{Event, EventStore};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Opened { account_id: String }
//! impl Event for Opened {
//!     fn event_type(&self) -> &str { "Opened" }
//!     fn aggregate_id(&self) -> &str { &self.account_id }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let jetstream = async_nats::jetstream::new(client);
//! let store = JetStreamEventStore::new(jetstream, "accounts").await?;
//! let meta = store.append_event("acc-123", Opened { account_id: "acc-123".into() }, None).await?;
//! assert!(store.validate_cid_chain("acc-123").await?);
//!
//! // Or configured: a replicated stream under another prefix.
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let store = JetStreamEventStore::builder(async_nats::jetstream::new(client), "BANK")
//!     .prefix("bank.events")
//!     .replicas(3)
//!     .build()
//!     .await?;
//! # let _ = (meta, store); Ok(()) }
//! ```

mod append;
mod backoff;
mod batch;
mod builder;
mod direct;
mod errors;
mod provision;
mod read;
mod store;
mod subscribe;

// Snapshots and projection checkpoints in key-value buckets; durable projections.
mod kv;
mod kv_checkpoint;
mod kv_snapshot;
mod projection_runner;
pub use kv_checkpoint::{CHECKPOINT_FORMAT_VERSION, KvCheckpointStore};
pub use kv_snapshot::{JetStreamSnapshotStore, SNAPSHOT_FORMAT_VERSION};
pub use projection_runner::JetStreamProjectionRunner;

pub use builder::{HEADER_ROOM, JetStreamEventStoreBuilder};
pub use provision::MIN_SERVER_VERSION;
pub use store::JetStreamEventStore;

/// The NATS client this store is built on, re-exported so that callers use the same
/// version to connect.
pub use async_nats;
