//! Schema evolution: the shapes events are stored in, the lock that keeps them honest, and
//! the registry that catches two services disagreeing on one.
//!
//! A stored event never changes: its block, and so its CID, is fixed forever. Its Rust
//! type does change. `#[derive(Event)]` records, for every event type, its *shape* — the
//! payload's fields with their serde names and types, under the schema version the event
//! declares — and reads older versions through the upcasts the event declares. See
//! `docs/evolving-events.md` for a walk through one event's versions.
//!
//! # Shapes and fingerprints
//!
//! An [`EventShape`] is what `#[derive(Event)]` reads from the type: the aggregate type,
//! the event type, the schema version, and per payload field its serde name and its Rust
//! type as written, normalised. A [`StateShape`] is what [`state_shape`] traces from an
//! aggregate state's `Deserialize` impl: per field its serde name and serde data-model
//! type (`u64`, `str`, `option<T>`, `seq<T>`, `map<K,V>`, nested structs and enums with
//! their fields and variants). A [`Fingerprint`] is the SHA-256 of a shape's canonical
//! text.
//!
//! These count as a change of shape (a new fingerprint; the lock fails unless the version
//! is bumped):
//!
//! - a field added or removed;
//! - a field renamed, as serde stores it: a Rust rename under `#[serde(rename)]` that keeps
//!   the stored name is no change; a changed `rename`, `rename_all` or `rename_all_fields`
//!   is;
//! - a field's type changed, after normalisation (`u64` → `u128`, `String` →
//!   `Option<String>`); a field newly `#[serde(skip)]`ped counts as removed, a field newly
//!   `#[serde(flatten)]`ed is listed under `..` with its type;
//! - the schema version (or state version) itself;
//! - the event renamed: a new event type, and the old one goes missing from the lock
//!   unless an alias keeps reading it.
//!
//! These do not count:
//!
//! - field order: serde stores fields as a map and reads them by name;
//! - aliases: they widen what is read, not what is written, so two services with
//!   different aliases still store the same shape;
//! - how a type is spelled: paths are reduced to their last segment
//!   (`std::string::String` = `String`, `::std::option::Option<alloc::string::String>` =
//!   `Option<String>`), whitespace is dropped, lifetimes and `mut` of references are
//!   dropped (`&'a str` = `&str`); doc comments and attributes other than the serde ones
//!   above;
//! - serde attributes that change how a value is encoded rather than what is stored
//!   (`with`, `serialize_with`, `default`, `skip_serializing_if`), and the inside of a
//!   field's type: a field of type `Address` has shape `Address` whatever `Address`
//!   holds. Bump the schema yourself when such a change alters stored bytes, or lock
//!   `Address` as an event type or state of its own.
//!
//! Type aliases are not resolved: `type Amount = u64;` makes a field `Amount`, not `u64`.
//!
//! # The schema lock
//!
//! [`assert_schema_lock!`](crate::assert_schema_lock) keeps every shape ever recorded in a
//! text file committed with the code, `schema.lock` by default. Each entry is a header
//! line, then one line per field (sorted by name, indented by two spaces):
//!
//! ```text
//! event Account/Deposited schema 2 fingerprint 3b1f…(64 hex digits)
//!   account_id: String
//!   amount: u64
//!
//! state Account version 1 fingerprint 9c04…
//!   balance: u64
//!   owner: option<str>
//! ```
//!
//! Entries are sorted by aggregate type, then event type and version, then state version;
//! lines starting with `#` are comments. Names are escaped (`\\`, and `\u{hex}` for
//! control characters, whitespace and the separators `/` and `:`), so every entry stays on
//! its lines. The fingerprint is recomputed on reading: an entry edited by hand is an
//! error naming its line. [`check_lock`] is the same check as a function returning a
//! [`LockReport`] or a [`LockError`].
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

mod lock;
pub(crate) mod registry;
mod shape;
mod state;
mod trace;

pub use lock::{
    FieldChange, LOCK_ENV, LockError, LockKey, LockMode, LockProblem, LockReport, assert_lock,
    check_lock,
};
pub use registry::{RegisteredShape, SchemaCache, SchemaDrift};
pub use shape::{EventShape, FieldShape, Fingerprint};
pub use state::{StateField, StateShape, WHOLE_STATE, state_shape};
