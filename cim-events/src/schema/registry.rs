//! The schema registry's shared half: what a drift is, what one store handle remembers of
//! the shapes it has registered, and registration itself — explicit
//! ([`EventStore::register_schema`]) or lazy, on a handle's first append of an event type.
//! A store supplies only the create-only write ([`EventStore::register_shape`]) and the
//! handle's [`SchemaCache`] ([`EventStore::schema_cache`]).

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::store::EventStore;
use crate::subject::{TokenKind, validate_token};

use super::shape::{EventShape, Fingerprint};

/// Two services disagree on what one schema version of an event holds: a shape is
/// registered for `(aggregate_type, event_type, schema)`, and this code's shape for the
/// same triple differs. What [`Error::SchemaDrift`](crate::Error::SchemaDrift) carries.
///
/// The fix is on the side that changed the shape: bump the event's schema version (and
/// read the old one through an upcast), or deploy the registered shape again.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The registered shape's canonical text ([`EventShape::canonical`]), as the registry
    /// holds it.
    pub registered_shape: String,
    /// This code's shape's canonical text.
    pub our_shape: String,
}

impl SchemaDrift {
    fn new(shape: &EventShape, ours: Fingerprint, registered: &RegisteredShape) -> SchemaDrift {
        SchemaDrift {
            aggregate_type: shape.aggregate_type.to_owned(),
            event_type: shape.event_type.to_owned(),
            schema: shape.schema,
            registered: registered.fingerprint,
            ours,
            registered_shape: registered.canonical.clone(),
            our_shape: shape.canonical(),
        }
    }
}

impl std::fmt::Display for SchemaDrift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "schema drift: `{}/{}` schema {} is registered with shape {}, but this code has shape {}",
            self.aggregate_type, self.event_type, self.schema, self.registered, self.ours
        )?;
        // The lines of the canonical texts that differ, so a log says what changed.
        let registered: Vec<&str> = self.registered_shape.lines().collect();
        let ours: Vec<&str> = self.our_shape.lines().collect();
        let only = |a: &[&str], b: &[&str]| -> String {
            let lines: Vec<String> = a
                .iter()
                .filter(|line| !b.contains(line))
                .map(|line| format!("`{line}`"))
                .collect();
            if lines.is_empty() {
                "nothing".to_owned()
            } else {
                lines.join(", ")
            }
        };
        write!(
            f,
            " (registered only: {}; this code only: {}): bump the schema version and add an upcast from {}, or deploy the registered shape",
            only(&registered, &ours),
            only(&ours, &registered),
            self.schema
        )
    }
}

impl std::error::Error for SchemaDrift {}

/// A shape as a registry holds it: its fingerprint and its canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredShape {
    /// The shape's fingerprint.
    pub fingerprint: Fingerprint,
    /// The shape's canonical text ([`EventShape::canonical`]), for people to read.
    pub canonical: String,
}

impl RegisteredShape {
    /// The registration of `shape`.
    pub fn of(shape: &EventShape) -> RegisteredShape {
        RegisteredShape {
            fingerprint: shape.fingerprint(),
            canonical: shape.canonical(),
        }
    }
}

/// What a registry keys a shape by: `(aggregate type, event type, schema)`.
pub(crate) type ShapeKey = (String, String, u32);

/// The key of `shape`.
pub(crate) fn shape_key(shape: &EventShape) -> ShapeKey {
    (
        shape.aggregate_type.to_owned(),
        shape.event_type.to_owned(),
        shape.schema,
    )
}

/// What one store handle knows to be registered, so that registration costs its requests
/// once per handle: the shapes it registered or found registered equal to its own, and
/// the event types ([`Event`] implementations) whose every shape is among them. A store
/// with a registry keeps one per handle and returns it from
/// [`EventStore::schema_cache`].
#[derive(Debug, Default)]
pub struct SchemaCache {
    /// Rust event types whose shapes are all registered: the append path's one lookup.
    checked: RwLock<HashSet<TypeId>>,
    /// Shapes known to be registered as this handle's code has them.
    registered: Mutex<HashMap<ShapeKey, Fingerprint>>,
}

impl SchemaCache {
    /// An empty cache.
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    /// Whether every shape of the event type `type_id` is known to be registered.
    fn is_checked(&self, type_id: TypeId) -> bool {
        // Every update is one insert: a poisoned lock still holds a whole set.
        self.checked
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&type_id)
    }

    fn mark_checked(&self, type_id: TypeId) {
        self.checked
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(type_id);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ShapeKey, Fingerprint>> {
        self.registered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the shapes of an append's events come from: captured by
/// [`PreparedAppend::new`](crate::PreparedAppend::new), where the event type is known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShapeSource {
    type_id: TypeId,
    shapes: fn() -> Vec<EventShape>,
}

impl ShapeSource {
    /// The shapes of `E`.
    pub(crate) fn of<E: Event>() -> ShapeSource {
        ShapeSource {
            type_id: TypeId::of::<E>(),
            shapes: E::event_shapes,
        }
    }
}

/// Registers every shape in `shapes`; see [`EventStore::register_schema`].
pub(crate) async fn register<S: EventStore + ?Sized>(
    store: &S,
    shapes: &[EventShape],
) -> Result<()> {
    // Every shape is checked before any is registered.
    for shape in shapes {
        validate_token(TokenKind::AggregateType, shape.aggregate_type)?;
        validate_token(TokenKind::EventType, shape.event_type)?;
    }
    let cache = store.schema_cache();
    let mut pending: Vec<(&EventShape, Fingerprint)> = Vec::new();
    for shape in shapes {
        let ours = shape.fingerprint();
        let known = cache.is_some_and(|c| c.lock().get(&shape_key(shape)) == Some(&ours));
        let listed = pending
            .iter()
            .any(|(s, f)| *f == ours && shape_key(s) == shape_key(shape));
        if !known && !listed {
            pending.push((shape, ours));
        }
    }
    // All at once: each is one create (and, if the key exists, one read) on a server.
    let results =
        futures::future::join_all(pending.iter().map(|(shape, _)| store.register_shape(shape)))
            .await;
    let mut first_error = None;
    for ((shape, ours), result) in pending.into_iter().zip(results) {
        let outcome = match result {
            Ok(registered) if registered.fingerprint == ours => {
                if let Some(cache) = cache {
                    cache.lock().insert(shape_key(shape), ours);
                }
                continue;
            }
            // Not cached: an operator may remove a wrong registration, and the next
            // attempt then registers this code's shape.
            Ok(registered) => {
                Error::SchemaDrift(Box::new(SchemaDrift::new(shape, ours, &registered)))
            }
            Err(error) => error,
        };
        first_error.get_or_insert(outcome);
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Registers the shapes of `E` and remembers that they are, on this handle; see
/// [`EventStore::register`].
pub(crate) async fn register_type<S: EventStore + ?Sized>(
    store: &S,
    source: ShapeSource,
) -> Result<()> {
    register(store, &(source.shapes)()).await?;
    if let Some(cache) = store.schema_cache() {
        cache.mark_checked(source.type_id);
    }
    Ok(())
}

/// The append path's check, before anything is sealed: the first append of an event type
/// through a handle registers its shapes; every later one costs one set lookup. A store
/// without a registry checks nothing.
pub(crate) async fn ensure<S: EventStore + ?Sized>(store: &S, source: ShapeSource) -> Result<()> {
    match store.schema_cache() {
        Some(cache) if !cache.is_checked(source.type_id) => register_type(store, source).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldShape;

    const AMOUNT_U64: &[FieldShape] = &[FieldShape {
        name: "amount",
        ty: "u64",
    }];
    const AMOUNT_I64: &[FieldShape] = &[FieldShape {
        name: "amount",
        ty: "i64",
    }];

    fn deposited(fields: &'static [FieldShape]) -> EventShape {
        EventShape {
            aggregate_type: "Account",
            event_type: "Deposited",
            aliases: &[],
            schema: 1,
            fields,
        }
    }

    #[test]
    fn a_drift_names_the_triple_both_fingerprints_and_the_lines_that_differ() {
        let ours = deposited(AMOUNT_I64);
        let theirs = deposited(AMOUNT_U64);
        let drift = SchemaDrift::new(&ours, ours.fingerprint(), &RegisteredShape::of(&theirs));
        let message = drift.to_string();
        for part in [
            "`Account/Deposited` schema 1",
            &theirs.fingerprint().to_string(),
            &ours.fingerprint().to_string(),
            "bump the schema version",
        ] {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
        // Only the lines that differ are quoted, each on its side.
        let registered = message.find("registered only").expect("registered side");
        let this = message.find("this code only").expect("our side");
        let u64_at = message.find("u64").expect("registered field");
        let i64_at = message.find("i64").expect("our field");
        assert!(
            registered < u64_at && u64_at < this && this < i64_at,
            "{message}"
        );
        assert!(!message.contains("`event "), "{message}");
    }
}
