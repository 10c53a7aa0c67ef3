//! Schema evolution: the shapes events are stored in, the lock that keeps them honest, and
//! the registry that catches two services disagreeing on one.
//!
//! A stored event never changes: its block, and so its CID, is fixed forever. Its Rust
//! type does change. `#[derive(Event)]` records, for every event type, its *shape* — the
//! payload's fields with their serde names and types, under the schema version the event
//! declares — and reads older versions through the upcasts the event declares. See
//! `docs/evolving-events.md` for a walk through one event's versions.
//!
//! # Drift caught at start-up
//!
//! Each `(aggregate type, event type, schema)` has one shape, and a store's schema registry
//! records it the first time it is registered: its [`Fingerprint`] and its canonical text.
//! Registering a shape whose fingerprint differs from the one recorded for the same triple
//! — a second service, or a new build, changed an event's fields without bumping its
//! schema — fails with [`Error::SchemaDrift`](crate::Error::SchemaDrift) naming both
//! fingerprints and the lines that differ, and nothing is stored. The same shape again is
//! fine; a new event type or schema version is recorded. Records are create-only: of two
//! services registering different shapes at once, exactly one wins, and the other gets the
//! drift. They are never replaced; an operator who knows that no event was stored under a
//! wrong registration may delete it.
//!
//! **When.** On a store handle's first append of an event type, before anything is sealed,
//! the append registers all of the type's shapes ([`Event::event_shapes`](crate::Event::event_shapes)):
//! `Repository::new` does no I/O, so the first command does it. Later appends of that type
//! through the handle cost one set lookup. To fail at start-up instead of on the first
//! command, call [`EventStore::register`](crate::EventStore::register)`::<AccountEvent>()`
//! (or [`register_schema`](crate::EventStore::register_schema) with shapes) before serving.
//! A hand-written `Event` impl has no shapes and registers nothing.
//!
//! **Where.** [`MemoryEventStore`](crate::MemoryEventStore) keeps the records in the store,
//! shared by its clones. `JetStreamEventStore` keeps them in key-value bucket
//! `{stream}_SCHEMAS`, one key per triple, opened on the first registration (see
//! `cim_events::jetstream`). A custom store implements
//! [`EventStore::register_shape`](crate::EventStore::register_shape) and
//! [`EventStore::schema_cache`](crate::EventStore::schema_cache); by default it has no
//! registry and checks nothing.
//!
//! ```
//! use cim_events::schema::{EventShape, FieldShape};
//! use cim_events::{Error, EventStore, MemoryEventStore};
//!
//! // What two builds of one service say `Deposited` schema 1 holds.
//! let deployed = EventShape {
//!     aggregate_type: "Account",
//!     event_type: "Deposited",
//!     aliases: &[],
//!     schema: 1,
//!     fields: &[FieldShape { name: "amount", ty: "u64" }],
//! };
//! let changed = EventShape { fields: &[FieldShape { name: "cents", ty: "u64" }], ..deployed };
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! store.register_schema(&[deployed]).await?;
//! let Err(Error::SchemaDrift(drift)) = store.register_schema(&[changed]).await else {
//!     panic!("a changed shape under the same schema version is drift");
//! };
//! assert_eq!((drift.registered, drift.ours), (deployed.fingerprint(), changed.fingerprint()));
//! # Ok::<(), cim_events::Error>(()) }).unwrap();
//! ```

pub(crate) mod registry;
mod shape;

pub use registry::{RegisteredShape, SchemaCache, SchemaDrift};
pub use shape::{EventShape, FieldShape, Fingerprint};
