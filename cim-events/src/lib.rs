//! # cim-events
//!
//! Event sourcing where every event is a content-addressed block (a CID) linked to its
//! parent, so any history can be verified — with this crate or with standard IPFS/IPLD
//! tools. Events live in NATS JetStream in production and in [`MemoryEventStore`] for
//! embedding and tests; both write the same bytes.
//!
//! ```
//! use cim_events::{Event, EventStore, ExpectedVersion, MemoryEventStore};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, PartialEq)]
//! struct Deposited { account_id: String, amount: u64 }
//!
//! impl Event for Deposited {
//!     fn event_type(&self) -> &str { "Deposited" }
//!     fn aggregate_id(&self) -> &str { &self.account_id }
//!     fn aggregate_type(&self) -> &str { "Account" }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! let first = store.append_event("acc-1", Deposited { account_id: "acc-1".into(), amount: 10 }, None).await?;
//! // Only succeeds if nobody appended since `first`: optimistic concurrency by CID.
//! store.append_event("acc-1", Deposited { account_id: "acc-1".into(), amount: 5 }, Some(first.cid)).await?;
//!
//! let events = store.load("acc-1").await?;
//! assert_eq!(events[1].block.prev, Some(first.cid));
//! assert_eq!(events[1].decode::<Deposited>()?.amount, 5);
//! assert!(store.verify_chain("acc-1").await?.is_valid());
//! # Ok::<(), cim_events::Error>(()) }).unwrap();
//! ```
//!
//! Modules: [`block`] (wire format v1), [`verify`] (chain verification), [`car`] (CARv1
//! export), [`subject`] (subject routing), [`payload`] (strict IPLD conversion).

mod aggregate;
pub mod block;
pub mod car;
mod error;
mod event;
mod expected;
mod head;
mod header;
mod memory;
mod metadata;
pub mod payload;
mod record;
pub mod seal;
mod snapshot;
mod store;
pub mod subject;
pub mod verify;
pub mod wire_headers;

// The repository and the given/when/then test harness.
pub mod repository;
pub mod testing;
pub use repository::{
    BrokenChain, CommandError, CommandOutcome, CommittedEvent, LoadError, Loaded, Repository,
    SnapshotRejection, SnapshotUse,
};

pub use aggregate::{Aggregate, CommandContext, Handle};
pub use cid::Cid;
pub use error::{ConflictError, Error, Result};
pub use event::Event;
pub use expected::ExpectedVersion;
pub use head::Head;
pub use header::EventHeader;
pub use ipld_core::ipld::Ipld;
pub use memory::{DEFAULT_MAX_EVENT_SIZE, MAX_BATCH, MemoryEventStore, MemoryEventStoreBuilder};
pub use metadata::EventMetadata;
pub use payload::{PayloadError, PayloadProblem};
pub use record::{RawRecord, RecordedEvent};
pub use snapshot::{MemorySnapshotStore, Snapshot, SnapshotPolicy, SnapshotStore};
pub use store::{EventStore, EventStream, StartFrom};
pub use subject::{TokenError, TokenKind, TokenProblem};
pub use verify::{ChainFault, ChainReport, FaultKind};

// Projections: read models fed by the event stream, with checkpoints.
pub mod projection;
pub use projection::{Checkpoint, CheckpointStore, Projection, ProjectionError, ProjectionRunner};

#[cfg(feature = "jetstream")]
pub mod jetstream;
#[cfg(feature = "jetstream")]
pub use jetstream::{JetStreamEventStore, JetStreamEventStoreBuilder};

/// Items the macros' generated code refers to. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc = include_str!("../docs/derive-event.md")]
pub use cim_events_derive::Event;
#[doc = include_str!("../docs/aggregate.md")]
pub use cim_events_derive::aggregate;
/// Marks an event applier in an [`aggregate`] impl block. [`aggregate`] reads and
/// removes it; anywhere else it is a compile error.
pub use cim_events_derive::apply;
/// Marks a command handler in an [`aggregate`] impl block. [`aggregate`] reads and
/// removes it; anywhere else it is a compile error.
pub use cim_events_derive::command;
