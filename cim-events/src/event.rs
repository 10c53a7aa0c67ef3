//! The `Event` trait: what the store needs to know about a domain event.

use ipld_core::ipld::Ipld;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::payload::{self, PayloadError};
use crate::schema::EventShape;

/// A domain event. Usually written by `#[derive(Event)]`; a hand-written impl needs only
/// [`event_type`](Event::event_type) and [`aggregate_id`](Event::aggregate_id).
///
/// ```
/// use cim_events::Event;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct AccountCreated { account_id: String, owner: String }
///
/// impl Event for AccountCreated {
///     fn event_type(&self) -> &str { "AccountCreated" }
///     fn aggregate_id(&self) -> &str { &self.account_id }
/// }
/// # let e = AccountCreated { account_id: "acc-1".into(), owner: "Alice".into() };
/// # assert_eq!(e.aggregate_type(), "AccountCreated");
/// ```
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The event type: one NATS subject token, e.g. `Deposited`.
    fn event_type(&self) -> &str;

    /// The id of the aggregate the event belongs to: one NATS subject token. Empty for
    /// an event that does not carry its id ([`carried_id`](Event::carried_id) is `None`).
    fn aggregate_id(&self) -> &str;

    /// The aggregate id the event holds in its own fields: `Some(aggregate_id())` unless
    /// overridden. `#[derive(Event)]` writes `None` for an event without an
    /// `#[event(id)]` field: such an event is appended under the id its append names,
    /// which the block's envelope keeps and [`RecordedEvent::aggregate_id`] gives back.
    /// An event that carries its id must carry the id it is appended under.
    ///
    /// [`RecordedEvent::aggregate_id`]: crate::RecordedEvent::aggregate_id
    fn carried_id(&self) -> Option<&str> {
        Some(self.aggregate_id())
    }

    /// The aggregate type, e.g. `Account`. Defaults to the Rust type's name.
    fn aggregate_type(&self) -> &str {
        short_type_name::<Self>()
    }

    /// The payload schema version, for upcasting. Defaults to 1.
    fn schema_version(&self) -> u32 {
        1
    }

    /// The shapes of this type's event types, one per event type, for the schema lock
    /// and the drift check ([`schema`](crate::schema)). Written by `#[derive(Event)]`; a
    /// hand-written impl has none, and is then neither locked nor checked for drift.
    fn event_shapes() -> Vec<EventShape> {
        Vec::new()
    }

    /// The data subject whose key encrypts this event's [`Pii`](crate::Pii) values: for
    /// example a customer id, so that shredding that one key erases the person's data in
    /// every aggregate that holds it. `None` (the default, and what `#[derive(Event)]`
    /// writes unless a field is marked `#[event(data_subject)]`): the aggregate id.
    fn data_subject(&self) -> Option<&str> {
        None
    }

    /// The payload stored in the block. Defaults to the serde serialization of `self`.
    fn to_payload(&self) -> Result<Ipld, PayloadError> {
        payload::to_ipld(self)
    }

    /// Whether this event is retired (`#[event(retired)]`): kept so that history still
    /// decodes and applies, but no longer produced. Appending one fails with
    /// [`Error::RetiredEvent`](crate::Error::RetiredEvent) before anything is stored.
    /// Defaults to `false`.
    fn is_retired(&self) -> bool {
        false
    }

    /// Rebuilds the event from a stored event type, schema version and payload. Defaults
    /// to serde deserialization of the payload, whatever the schema.
    ///
    /// `#[derive(Event)]` reads the current schema directly and older ones through the
    /// upcasts of `#[event(from(…))]`; any other schema is a [`PayloadError`] with
    /// [`PayloadProblem::UnknownSchema`](crate::payload::PayloadProblem::UnknownSchema).
    fn from_payload(event_type: &str, schema: u32, payload: Ipld) -> Result<Self, PayloadError>
    where
        Self: Sized,
    {
        let _ = (event_type, schema);
        payload::from_ipld(payload)
    }
}

/// The last path segment of a type's name, without generics: `my::Thing<u8>` → `Thing`.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}
