//! # cim-events
//!
//! Event sourcing where every event is a content-addressed block (a CID) linked to its
//! parent, so any history can be verified — with this crate or with standard IPFS/IPLD
//! tools. Events live in NATS JetStream in production and in [`MemoryEventStore`] for
//! embedding and tests; both write the same bytes.
//!
//! ```
//! use cim_events::{aggregate, CommandError, Event, EventStore, MemoryEventStore, Repository};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! #[event(aggregate = "Account")]
//! enum AccountEvent {
//!     Opened { #[event(id)] account_id: String, owner: String },
//!     Deposited { #[event(id)] account_id: String, amount: u64 },
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! enum BankError {
//!     #[error("account is already open")]
//!     AlreadyOpen,
//! }
//!
//! #[derive(Clone)] // a command is cloned for each retry after a conflict
//! struct Open { owner: String }
//! #[derive(Clone)]
//! struct Deposit { amount: u64 }
//!
//! #[derive(Default)]
//! struct Account { open: bool, balance: u64 }
//!
//! #[aggregate(events = AccountEvent, error = BankError)]
//! impl Account {
//!     #[command]
//!     fn open(&self, cmd: Open, ctx: &cim_events::CommandContext<'_>) -> Result<AccountEvent, BankError> {
//!         if self.open {
//!             return Err(BankError::AlreadyOpen);
//!         }
//!         Ok(AccountEvent::Opened { account_id: ctx.aggregate_id.into(), owner: cmd.owner })
//!     }
//!
//!     #[command]
//!     fn deposit(&self, cmd: Deposit, ctx: &cim_events::CommandContext<'_>) -> Result<AccountEvent, BankError> {
//!         Ok(AccountEvent::Deposited { account_id: ctx.aggregate_id.into(), amount: cmd.amount })
//!     }
//!
//!     #[apply(Opened)]
//!     fn opened(&mut self) { self.open = true; }
//!
//!     #[apply(Deposited)]
//!     fn deposited(&mut self, amount: &u64) { self.balance += amount; }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! let accounts = Repository::<Account, _>::new(store.clone());
//!
//! // A command runs as load → handle → append (expecting the loaded head) → apply.
//! accounts.execute("acc-1", Open { owner: "Alice".into() }).await?;
//! let outcome = accounts.execute("acc-1", Deposit { amount: 10 }).await?;
//! assert_eq!((outcome.version, outcome.state.balance), (2, 10));
//!
//! // Domain rules reject commands with typed errors; nothing is stored.
//! let again = accounts.execute("acc-1", Open { owner: "Bob".into() }).await;
//! assert!(matches!(again, Err(CommandError::Rejected(BankError::AlreadyOpen))));
//!
//! // Every event is a DAG-CBOR block whose `prev` links to its predecessor's CID.
//! let events = store.load("acc-1").await?;
//! assert_eq!(events[1].block.prev, Some(events[0].cid));
//! assert_eq!(events[1].event_type(), "Deposited");
//! assert!(store.verify_chain("acc-1").await?.is_valid());
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! Where to go next:
//!
//! - [`macro@Event`] and [`aggregate`]: what the macros write and the mistakes they catch;
//! - [`EventStore`]: the seed API (`append_event`, `validate_cid_chain`,
//!   `subscribe_to_events`) and the richer one (`append_events`, [`ExpectedVersion`],
//!   `load_from`, `verify_chain`, `subscribe` with [`StartFrom`]);
//! - [`MemoryEventStore`] (embedded) and `jetstream::JetStreamEventStore` (NATS JetStream,
//!   feature `jetstream`, on by default), which pass the same conformance suite;
//! - [`Repository`], snapshots ([`SnapshotStore`], [`SnapshotPolicy`]) and the
//!   given/when/then harness in [`testing`];
//! - [`Transaction`] and [`AtomicAppend`]: one decision over several aggregates, committed
//!   atomically; [`CommandId`]: commands that take effect once however often they are sent;
//!   `docs/across-aggregates.md`;
//! - [`projection`]: read models with checkpoints (stream sequence + CID);
//! - [`block`] (wire format v1), [`verify_records`] and [`ChainReport`] (chain verification), [`car`] (CARv1 export
//!   for IPFS tools), [`import`] (existing blocks into a store, same CIDs), [`subject`]
//!   (subject routing), [`EventSelector`] (event types' events, told apart from other
//!   aggregates', several aggregate types at once with [`EventSelector::or`]), [`payload`] (strict IPLD conversion);
//! - `ipfs` (feature `ipfs`): mirror every chain to an IPFS node and restore it from there;
//!   `docs/ipfs.md`.
//! - [`schema`]: evolving events — upcasts (`#[event(from(…))]`), the schema lock
//!   ([`assert_schema_lock!`]) and drift caught at start-up; `docs/evolving-events.md` walks
//!   one event through three versions;
//! - [`crypto`] and [`Pii`]: personal data encrypted per data subject, and crypto-shredding
//!   with every chain still verifiable; `docs/encryption.md` has the threat model;
//! - [`observe`]: `tracing` spans, metrics (names, types, units, labels) and the W3C
//!   `traceparent` that follows a command into its events ([`EventHeader::with_traceparent`],
//!   [`RecordedEvent::traceparent`]); `docs/observability.md` in the repository has the
//!   same tables for operators.

mod aggregate;
mod anchor;
mod append;
mod atomic;
mod backoff;
pub mod block;
mod cache;
pub mod car;
mod chain;
mod command_id;
pub mod crypto;
mod dyn_store;
mod error;
mod event;
mod expected;
mod extension;
mod filter_set;
mod head;
mod header;
pub mod import;
mod memory;
mod metadata;
pub mod observe;
pub mod payload;
mod prepared;
pub mod process;
mod record;
pub mod schema;
mod seal;
mod selector;
mod snapshot;
mod store;
pub mod subject;
mod tail;
mod traceparent;
mod transaction;
mod verify;
mod wire_headers;

// The repository and the given/when/then test harness.
mod repository;
pub mod testing;
pub mod timer;
pub use repository::{
    BrokenChain, CommandError, CommandOutcome, CommittedEvent, DEFAULT_MAX_RETRIES, LoadError,
    Loaded, Repository, SnapshotRejection, SnapshotUse,
};

pub use aggregate::{Aggregate, Command, CommandContext, Handle};
pub use anchor::Truncated;
pub use atomic::{AtomicAppend, AtomicPart, COMMIT_META_KEY};
pub use cid::Cid;
pub use command_id::{COMMAND_META_KEY, CommandId, MAX_COMMAND_ID_LEN};
pub use crypto::pii::Pii;
pub use dyn_store::DynEventStore;
pub use error::{ConflictError, Error, Result};
pub use event::Event;
pub use expected::ExpectedVersion;
pub use extension::{Divergence, ExtensionReport};
pub use head::Head;
pub use header::{Cause, EventHeader};
pub use ipld_core::ipld::Ipld;
pub use memory::{DEFAULT_MAX_EVENT_SIZE, MemoryEventStore, MemoryEventStoreBuilder};
pub use metadata::EventMetadata;
pub use prepared::PreparedAppend;
pub use record::{RawRecord, RecordedEvent};
pub use seal::{MAX_BATCH, SealedEvent};
pub use selector::{EventSelector, SelectorGroup};
pub use snapshot::{MemorySnapshotStore, Snapshot, SnapshotPolicy, SnapshotStore};
pub use store::{EventStore, EventStream, Published, RawStream, RetryPolicy, StartFrom};
pub use tail::Tail;
pub use traceparent::{Traceparent, TraceparentError, TraceparentProblem};
pub use transaction::{
    Committed, CommittedAggregate, Rejection, Transaction, TransactionError, TransactionOptions,
};
pub use verify::{ChainFault, ChainReport, FaultKind, Verifier, verify_records};

// Projections: read models fed by the event stream, with checkpoints.
pub mod projection;

#[cfg(feature = "ipfs")]
pub mod ipfs;
#[cfg(feature = "jetstream")]
pub mod jetstream;
#[cfg(feature = "jetstream")]
pub use jetstream::{JetStreamEventStore, JetStreamEventStoreBuilder};

/// Building blocks for tests of stores and verification: forging messages as a foreign
/// writer could. Feature `test-util`; not for production code.
#[cfg(feature = "test-util")]
pub mod test_util;

/// Items the macros' generated code refers to. Not a public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The guide `docs/evolving-events.md`, compiled as doctests so its examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../docs/evolving-events.md")]
pub struct EvolvingEventsGuide;

/// The guide `docs/across-aggregates.md`, compiled as doctests so its examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../docs/across-aggregates.md")]
pub struct AcrossAggregatesGuide;

/// The comparison `docs/compared-to-cqrs-es.md`, whose cim-events listing compiles.
#[cfg(doctest)]
#[doc = include_str!("../docs/compared-to-cqrs-es.md")]
pub struct ComparedToCqrsEs;

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
/// Marks an event handler in a [`process`](macro@process) impl block:
/// `#[on(OrderEvent::Placed)]`. [`process`](macro@process) reads and removes it;
/// anywhere else it is a compile error.
pub use cim_events_derive::on;
/// Marks a timer handler in a [`process`](macro@process) impl block:
/// `#[on_timer("payment-timeout")]`. [`process`](macro@process) reads and removes it;
/// anywhere else it is a compile error.
pub use cim_events_derive::on_timer;
#[doc = include_str!("../docs/process.md")]
pub use cim_events_derive::process;
