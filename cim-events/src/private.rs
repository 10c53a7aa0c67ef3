//! What the code written by `#[derive(Event)]` and `#[aggregate]` refers to. Not a public
//! API: names here change without notice.
//!
//! The traits below carry what one macro learns about a type to the other macro, which
//! cannot see that type's definition: `#[aggregate]` reads the variants of its events
//! through [`EventSet`] and checks its `#[apply]` methods against them at compile time.
//! Each trait has an `on_unimplemented` message, because a user meets them only through
//! a mistake.

pub use ::serde;
pub use std::format;
pub use std::string::String;
pub use std::vec::Vec;

pub use crate::payload::{PayloadError, PayloadProblem, from_ipld, to_ipld};
pub use crate::subject::{aggregate_filter, event_subject};

use ipld_core::ipld::Ipld;

use crate::aggregate::Aggregate;
use crate::event::Event;

/// One variant of an event type, as `#[aggregate]` needs it for its compile-time checks.
#[derive(Debug, Clone, Copy)]
pub struct VariantInfo {
    /// The variant's name (for a struct event, the struct's name).
    pub name: &'static str,
    /// The compile error shown when an aggregate has no `#[apply]` for it.
    pub missing_apply: &'static str,
}

/// Written by `#[derive(Event)]`: the aggregate type and the variants of an event type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not derive `Event`",
    label = "`events` must name a type that derives `Event`",
    note = "`#[aggregate]` reads the variants of its events from `#[derive(Event)]` to check that each has exactly one `#[apply]`"
)]
pub trait EventSet: Event {
    /// The aggregate type every event of the set belongs to.
    const AGGREGATE_TYPE: &'static str;
    /// The variants, in declaration order (one for a struct event).
    const VARIANTS: &'static [VariantInfo];
}

/// Written by `#[derive(Event)]` for every type `Self` that one variant of `E` wraps
/// (and for a struct event, with `E = Self`): how an `#[apply]` taking `&Self` finds its
/// event.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event of `{E}`",
    label = "this `#[apply]` takes `{Self}`",
    note = "`#[apply]` alone takes `&T` where `T` is wrapped by a newtype variant of `{E}` (or is `{E}` itself, for a struct event); for a variant with named fields write `#[apply(Variant)]` and bind the fields by name"
)]
pub trait VariantOf<E> {
    /// The name of the variant that wraps `Self`.
    const VARIANT: &'static str;
    /// `Some` when `event` is that variant.
    fn get(event: &E) -> Option<&Self>;
}

/// Written by `#[derive(Event)]` on a struct: its single event type, so that a newtype
/// variant of an enum can delegate to it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event struct",
    label = "a newtype variant of an event enum wraps a struct that derives `Event`",
    note = "derive `Event` on `{Self}`, or give the variant named fields"
)]
pub trait SingleEvent: Event {
    /// The event type.
    const EVENT_TYPE: &'static str;
    /// The subscription filter for this event type under the default prefix.
    const FILTER: &'static str;
}

/// The types an `#[event(id)]` field may have: anything that reads as a string.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an aggregate id",
    label = "the `#[event(id)]` field must read as a string",
    note = "use `String`, `Box<str>`, `Arc<str>`, `Cow<'static, str>` or a newtype that implements `AsRef<str>`"
)]
pub trait AsAggregateId {
    /// The id as a string.
    fn as_aggregate_id(&self) -> &str;
}

impl<T: AsRef<str> + ?Sized> AsAggregateId for T {
    fn as_aggregate_id(&self) -> &str {
        self.as_ref()
    }
}

/// Reads an `#[event(id)]` field; the explicit type argument puts a wrong type's error on
/// the field's type.
pub fn aggregate_id<T: AsAggregateId + ?Sized>(id: &T) -> &str {
    id.as_aggregate_id()
}

/// What a `#[command]` method may return: `Result<E, Error>`, `Result<Vec<E>, Error>` or
/// `Result<Option<E>, Error>` with the aggregate's own event and error types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a `#[command]` of `{A}` returns",
    label = "expected `Result<E, Error>`, `Result<Vec<E>, Error>` or `Result<Option<E>, Error>`",
    note = "`E` and `Error` are the `events` and `error` types given to `#[aggregate]` on `{A}`"
)]
pub trait CommandOutput<A: Aggregate> {
    /// The events decided, or the rejection.
    fn into_events(self) -> Result<Vec<A::Event>, A::Error>;
}

impl<A: Aggregate, T: IntoEvents<A::Event>> CommandOutput<A> for Result<T, A::Error> {
    fn into_events(self) -> Result<Vec<A::Event>, A::Error> {
        self.map(IntoEvents::into_events)
    }
}

/// The success values a `#[command]` may return: one event, several, or maybe one.
#[diagnostic::on_unimplemented(
    message = "a `#[command]` cannot return `{Self}` as its events",
    label = "expected `{E}`, `Vec<{E}>` or `Option<{E}>`"
)]
pub trait IntoEvents<E> {
    /// The events, in order.
    fn into_events(self) -> Vec<E>;
}

impl<E: Event> IntoEvents<E> for E {
    fn into_events(self) -> Vec<E> {
        vec![self]
    }
}

impl<E: Event> IntoEvents<E> for Vec<E> {
    fn into_events(self) -> Vec<E> {
        self
    }
}

impl<E: Event> IntoEvents<E> for Option<E> {
    fn into_events(self) -> Vec<E> {
        self.into_iter().collect()
    }
}

/// The aggregate id of the event a newtype variant wraps. Bounded by [`SingleEvent`]
/// alone, so a wrapped type that is not an event struct gives one error, not several.
pub fn single_aggregate_id<T: SingleEvent>(event: &T) -> &str {
    event.aggregate_id()
}

/// The schema version of the event a newtype variant wraps.
pub fn single_schema_version<T: SingleEvent>(event: &T) -> u32 {
    event.schema_version()
}

/// The payload of the event a newtype variant wraps.
pub fn single_to_payload<T: SingleEvent>(event: &T) -> Result<Ipld, PayloadError> {
    event.to_payload()
}

/// Decodes the event a newtype variant wraps.
pub fn single_from_payload<T: SingleEvent>(
    event_type: &str,
    schema: u32,
    payload: Ipld,
) -> Result<T, PayloadError> {
    T::from_payload(event_type, schema, payload)
}

/// `a == b`, usable in constants.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `list` holds `name`, usable in constants.
pub const fn contains(list: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < list.len() {
        if str_eq(list[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

/// The compile error for the first variant with no `#[apply]` among `applied`, if any.
/// `None` as well when `applied` names something that is not a variant: the compiler
/// already reports that `#[apply(…)]`, and one mistake should give one error.
pub const fn missing_apply(variants: &[VariantInfo], applied: &[&str]) -> Option<&'static str> {
    let mut i = 0;
    while i < applied.len() {
        let mut known = false;
        let mut j = 0;
        while j < variants.len() {
            known = known || str_eq(variants[j].name, applied[i]);
            j += 1;
        }
        if !known {
            return None;
        }
        i += 1;
    }
    let mut i = 0;
    while i < variants.len() {
        if !contains(applied, variants[i].name) {
            return Some(variants[i].missing_apply);
        }
        i += 1;
    }
    None
}

/// The error `from_payload` returns for an event type the enum does not have.
pub fn unknown_event_type(type_name: &str, event_type: &str, known: &[&str]) -> PayloadError {
    PayloadError {
        path: String::from("$"),
        problem: PayloadProblem::Mismatch(format!(
            "`{type_name}` has no event type `{event_type}`; it has {}",
            known.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_helpers() {
        assert!(str_eq("Opened", "Opened"));
        assert!(!str_eq("Opened", "Opene"));
        assert!(contains(&["a", "b"], "b"));
        assert!(!contains(&[], "b"));
        let variants = [
            VariantInfo {
                name: "A",
                missing_apply: "no A",
            },
            VariantInfo {
                name: "B",
                missing_apply: "no B",
            },
        ];
        assert_eq!(missing_apply(&variants, &["B", "A"]), None);
        assert_eq!(missing_apply(&variants, &["A"]), Some("no B"));
        assert_eq!(missing_apply(&variants, &["A", "Typo"]), None);
    }

    #[test]
    fn unknown_event_type_names_the_known_ones() {
        let err = unknown_event_type("AccountEvent", "Nope", &["Opened", "Closed"]);
        assert_eq!(
            err.to_string(),
            "payload value at `$` does not match the target type: `AccountEvent` has no event type `Nope`; it has Opened, Closed"
        );
    }
}
