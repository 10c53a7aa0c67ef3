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
//! Each `(aggregate type, event type, schema)` has one shape. A store registers the shapes
//! of an aggregate's events before its first append of that aggregate type; a shape that
//! differs from the one already registered for the same version is
//! [`Error::SchemaDrift`](crate::Error::SchemaDrift), and nothing is stored.

mod shape;

pub use shape::{EventShape, FieldShape, Fingerprint};

/// Placeholder until the registry lands: what [`Error::SchemaDrift`](crate::Error::SchemaDrift) carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "schema drift: `{aggregate_type}/{event_type}` schema {schema} is registered with shape {registered}, but this code has shape {ours}"
)]
pub struct SchemaDrift {
    /// The aggregate type.
    pub aggregate_type: String,
    /// The event type.
    pub event_type: String,
    /// The schema version both claim.
    pub schema: u32,
    /// The fingerprint registered first.
    pub registered: Fingerprint,
    /// The fingerprint of this code's shape.
    pub ours: Fingerprint,
}
