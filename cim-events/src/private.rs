//! What the code written by `#[derive(Event)]` and `#[aggregate]` refers to. Not a public
//! API: names here change without notice.
//!
//! The traits below carry what one macro learns about a type to the other macro, which
//! cannot see that type's definition: `#[aggregate]` reads the variants of its events
//! through `EventSet` and checks its `#[apply]` methods against them at compile time.
//! Each trait has an `on_unimplemented` message, because a user meets them only through
//! a mistake.

pub use ::serde;
pub use std::format;
pub use std::string::String;
pub use std::vec::Vec;

pub use crate::payload::{PayloadError, PayloadProblem, from_ipld, to_ipld};
pub use crate::subject::{aggregate_filter, event_subject};

use ipld_core::ipld::Ipld;

use crate::aggregate::{Aggregate, CommandContext};
use crate::event::Event;

/// One variant of an event type, as `#[aggregate]` needs it for its compile-time checks.
#[derive(Debug, Clone, Copy)]
pub struct VariantInfo {
    /// The variant's name (for a struct event, the struct's name).
    pub name: &'static str,
    /// The compile error shown when an aggregate has no `#[apply]` for it.
    pub missing_apply: &'static str,
    /// Its event type names: the current one and its aliases, in parts.
    pub event_types: &'static [&'static [&'static str]],
}

/// Written by `#[derive(Event)]`: the aggregate type and the variants of an event type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not derive `Event`",
    label = "expected a type that derives `Event`",
    note = "`#[aggregate]` and `#[process]` read the variants of an event type from `#[derive(Event)]`"
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

/// The name under which an event type counts as one of its own variants: an `#[apply]`
/// taking `&E` applies every event of `E`. No enum variant can be called `Self`.
pub const WHOLE_EVENT: &str = "Self";

/// Every event is "a variant" of itself: an `#[apply]` taking the whole event type (a
/// struct event, or an enum the method matches on itself) applies all of it.
impl<E: Event> VariantOf<E> for E {
    const VARIANT: &'static str = WHOLE_EVENT;
    fn get(event: &E) -> Option<&E> {
        Some(event)
    }
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
    /// The earlier names of this event type, still read (`#[event(aliases(…))]`).
    const ALIASES: &'static [&'static str];
    /// The subscription filters for the event type and each alias, default prefix.
    const FILTERS: &'static [&'static str];

    // The enum's `Event` impl delegates through these rather than through `Event`, so
    // that a wrapped type that is not an event struct gives one error, not several.

    /// [`Event::aggregate_id`].
    fn single_aggregate_id(&self) -> &str {
        self.aggregate_id()
    }

    /// [`Event::carried_id`].
    fn single_carried_id(&self) -> Option<&str> {
        self.carried_id()
    }

    /// [`Event::schema_version`].
    fn single_schema_version(&self) -> u32 {
        self.schema_version()
    }

    /// [`Event::data_subject`].
    fn single_data_subject(&self) -> Option<&str> {
        self.data_subject()
    }

    /// [`Event::is_retired`].
    fn single_is_retired(&self) -> bool {
        self.is_retired()
    }

    /// [`Event::to_payload`].
    fn single_to_payload(&self) -> Result<Ipld, PayloadError> {
        self.to_payload()
    }

    /// [`Event::from_payload`].
    fn single_from_payload(
        event_type: &str,
        schema: u32,
        payload: Ipld,
    ) -> Result<Self, PayloadError>
    where
        Self: Sized,
    {
        Self::from_payload(event_type, schema, payload)
    }

    /// [`Event::event_shapes`].
    fn single_event_shapes() -> Vec<crate::schema::EventShape> {
        Self::event_shapes()
    }
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

/// The types an `#[event(data_subject)]` field may have: anything that reads as a string.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name a data subject",
    label = "the `#[event(data_subject)]` field must read as a string: its value is the key id",
    note = "use `String` or a newtype that implements `AsRef<str>`; a number can be written as a string field"
)]
pub trait AsDataSubject {
    /// The key id.
    fn as_data_subject(&self) -> &str;
}

impl<T: AsRef<str> + ?Sized> AsDataSubject for T {
    fn as_data_subject(&self) -> &str {
        self.as_ref()
    }
}

/// Reads an `#[event(data_subject)]` field; the explicit type argument puts a wrong
/// type's error on the field's type.
pub fn data_subject<T: AsDataSubject + ?Sized>(subject: &T) -> &str {
    subject.as_data_subject()
}

/// The bound of the `aggregate_id` and `subject` methods `#[derive(Event)]` writes on an
/// event that carries no id: never met, so that calling them is this error rather than an
/// empty id.
#[diagnostic::on_unimplemented(
    message = "this event carries no aggregate id: it has no `#[event(id)]` field",
    label = "the id is not in the event",
    note = "the id it was appended under is in its block's envelope: read it with `RecordedEvent::aggregate_id()`, or add an `#[event(id)]` field"
)]
pub trait CarriesId {}

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

impl<A, T, X> CommandOutput<A> for Result<T, X>
where
    A: Aggregate,
    T: IntoEvents<A::Event>,
    X: AggregateError<A::Error>,
{
    fn into_events(self) -> Result<Vec<A::Event>, A::Error> {
        self.map(IntoEvents::into_events)
            .map_err(AggregateError::into_error)
    }
}

/// The error a `#[command]` may reject with: exactly the aggregate's error type. (A
/// trait rather than the type in the impl above, so a mismatch gets its own message.)
#[diagnostic::on_unimplemented(
    message = "a `#[command]` of this aggregate rejects commands with `{E}`, not `{Self}`",
    label = "expected `Result<…, {E}>`",
    note = "the error type is `error = …` in `#[aggregate(…)]` (`Infallible` when not given); convert with `?` or `map_err` inside the method"
)]
pub trait AggregateError<E> {
    /// The error itself.
    fn into_error(self) -> E;
}

impl<E> AggregateError<E> for E {
    fn into_error(self) -> E {
        self
    }
}

/// The type of a `#[command]`'s optional second parameter: the command's context.
#[diagnostic::on_unimplemented(
    message = "the second parameter of a `#[command]` receives its context, not `{Self}`",
    label = "expected `&CommandContext<'_>`",
    note = "write `ctx: &CommandContext<'_>`, or drop the parameter"
)]
pub trait ContextParam<'c> {
    /// The context, as the parameter's type.
    fn from_context(ctx: &'c CommandContext<'c>) -> Self;
}

impl<'c> ContextParam<'c> for &'c CommandContext<'c> {
    fn from_context(ctx: &'c CommandContext<'c>) -> Self {
        ctx
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
///
/// `None` as well when `applied` names something that is not a variant: the compiler
/// already reports that `#[apply(…)]`, and one mistake should give one error. An apply
/// of the whole event type ([`WHOLE_EVENT`]) covers every variant, and must be alone.
pub const fn missing_apply(variants: &[VariantInfo], applied: &[&str]) -> Option<&'static str> {
    if contains(applied, WHOLE_EVENT) {
        if applied.len() > 1 {
            return Some(
                "an `#[apply]` that takes the whole event type applies every event, so it must be the only `#[apply]`; remove the others or let it take a variant",
            );
        }
        return None;
    }
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

/// Written by `#[derive(Event)]` for each step of `#[event(from(…))]`: how a payload
/// stored as `Old` becomes the next schema's type. Implemented through `From`.
#[diagnostic::on_unimplemented(
    message = "cannot upcast `{Old}` to `{Self}`",
    label = "the type stored under this schema must convert into the next schema's type",
    note = "add `impl From<{Old}> for {Self}`, or list the type this schema was stored as"
)]
pub trait Upcast<Old>: Sized {
    /// `Self::from(old)`.
    fn upcast(old: Old) -> Self;
}

impl<Old, New: From<Old>> Upcast<Old> for New {
    #[inline]
    fn upcast(old: Old) -> New {
        New::from(old)
    }
}

/// The types `#[event(from(…))]` lists: older payloads are decoded into them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from history: it does not implement `Deserialize`",
    label = "an older payload is decoded into this type",
    note = "derive `serde::Deserialize` on `{Self}`"
)]
pub trait StoredPayload: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> StoredPayload for T {}

/// Decodes an older payload; generated code spans the call at the type in `from(…)`.
#[inline]
pub fn from_stored<T: StoredPayload>(ipld: Ipld) -> Result<T, PayloadError> {
    from_ipld(ipld)
}

/// One upcast step; generated code calls it with inferred types, so that a missing
/// `From` is reported where the call is spanned: at the older type in `from(…)`.
#[inline]
pub fn upcast<Old, New: Upcast<Old>>(old: Old) -> New {
    New::upcast(old)
}

/// The error `from_payload` returns for a schema it has no reader for.
pub fn unknown_schema(event_type: &str, stored: u32, current: u32) -> PayloadError {
    PayloadError {
        path: String::from("$"),
        problem: PayloadProblem::UnknownSchema {
            event_type: event_type.to_owned(),
            stored,
            current,
        },
    }
}

/// `selector()` of a derived event: every name of every part, of `aggregate_type`.
pub fn selector(aggregate_type: &str, parts: &[&[&str]]) -> crate::EventSelector {
    crate::EventSelector::new(
        aggregate_type,
        parts.iter().flat_map(|names| names.iter().copied()),
    )
}

/// The event types of variant `variant` of `E`, for `#[process]`. The macro has checked
/// that `E` has that variant.
fn variant_names<E: EventSet>(variant: &str) -> &'static [&'static [&'static str]] {
    E::VARIANTS
        .iter()
        .find(|v| v.name == variant)
        .map_or(&[], |v| v.event_types)
}

/// Variant `variant` of `E`, as an `#[on(E::Variant)]` handler reacts to it. Only
/// [`on_variant`] is bounded by `EventSet`, so a type that does not derive `Event` is one
/// error however often the generated code names it.
pub struct OnVariant<E> {
    aggregate_type: &'static str,
    names: &'static [&'static [&'static str]],
    decode: fn(&crate::RecordedEvent) -> crate::Result<E>,
}

/// Variant `variant` of `E`.
pub fn on_variant<E: EventSet>(variant: &str) -> OnVariant<E> {
    OnVariant {
        aggregate_type: E::AGGREGATE_TYPE,
        names: variant_names::<E>(variant),
        decode: crate::RecordedEvent::decode::<E>,
    }
}

impl<E> OnVariant<E> {
    /// Its stored events: under its current name and its aliases.
    pub fn selector(&self) -> crate::EventSelector {
        selector(self.aggregate_type, self.names)
    }

    /// Whether `trigger` is one of its events (without building the selector).
    pub fn matches(&self, trigger: &crate::RecordedEvent) -> bool {
        trigger.block.aggregate_type == self.aggregate_type
            && self
                .names
                .iter()
                .any(|names| names.contains(&trigger.block.event_type.as_str()))
    }

    /// `trigger`, decoded.
    pub fn decode(&self, trigger: &crate::RecordedEvent) -> crate::Result<E> {
        (self.decode)(trigger)
    }
}

/// The event parameter of an `#[on(E::Variant)]` handler: `&E`.
#[diagnostic::on_unimplemented(
    message = "an `#[on]` handler of `{E}` takes `&{E}`, not `{Self}`",
    label = "expected `&{E}`",
    note = "an `#[on(E::Variant)]` handler takes the decoded event, the whole enum, by reference: `event: &{E}`"
)]
pub trait OnEvent<'e, E> {
    /// The decoded trigger, as the parameter's type.
    fn from_event(event: &'e E) -> Self;
}

impl<'e, E> OnEvent<'e, E> for &'e E {
    fn from_event(event: &'e E) -> Self {
        event
    }
}

/// What an `#[on]` or `#[on_timer]` handler may return: `Result<(), E>` with the
/// process's error type, or `()` when it never rejects.
#[diagnostic::on_unimplemented(
    message = "a handler of this process returns `Result<(), {E}>` or `()`, not `{Self}`",
    label = "expected `Result<(), {E}>` or `()`",
    note = "the error type is the process's `Aggregate::Error` (`error = …` in its `#[aggregate(…)]`); record events and send commands through the `Reaction` instead of returning them"
)]
pub trait HandlerOutput<E> {
    /// The outcome, as `Process::react` returns it.
    fn into_result(self) -> Result<(), E>;
}

impl<E> HandlerOutput<E> for Result<(), E> {
    fn into_result(self) -> Result<(), E> {
        self
    }
}

impl<E> HandlerOutput<E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

/// `{prefix}.*.{name}` for each name of each part.
pub fn filters(prefix: &str, parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|names| names.iter())
        .map(|name| format!("{prefix}.*.{name}"))
        .collect()
}

/// The number of names in all parts, usable in constants.
pub const fn total_len(parts: &[&[&str]]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < parts.len() {
        total += parts[i].len();
        i += 1;
    }
    total
}

/// The names of all parts in one array, usable in constants; `N` is
/// [`total_len`]`(parts)`.
pub const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            if k < N {
                out[k] = parts[i][j];
            }
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Whether a name of `ours` is also a name of `theirs`, usable in constants.
pub const fn clash(ours: &[&[&str]], theirs: &[&[&str]]) -> bool {
    let mut i = 0;
    while i < ours.len() {
        let mut j = 0;
        while j < ours[i].len() {
            let mut k = 0;
            while k < theirs.len() {
                if contains(theirs[k], ours[i][j]) {
                    return true;
                }
                k += 1;
            }
            j += 1;
        }
        i += 1;
    }
    false
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
                event_types: &[&["A"]],
            },
            VariantInfo {
                name: "B",
                missing_apply: "no B",
                event_types: &[&["B", "Bee"]],
            },
        ];
        assert_eq!(missing_apply(&variants, &["B", "A"]), None);
        assert_eq!(missing_apply(&variants, &["A"]), Some("no B"));
        assert_eq!(missing_apply(&variants, &["A", "Typo"]), None);
        assert_eq!(missing_apply(&variants, &[WHOLE_EVENT]), None);
        assert!(missing_apply(&variants, &[WHOLE_EVENT, "A"]).is_some());
    }

    #[test]
    fn name_lists() {
        const PARTS: &[&[&str]] = &[&["a", "b"], &[], &["c"]];
        const ALL: [&str; total_len(PARTS)] = concat(PARTS);
        assert_eq!(ALL, ["a", "b", "c"]);
        assert!(clash(&[&["x"], &["c"]], PARTS));
        assert!(!clash(&[&["x"]], PARTS));
        assert_eq!(
            filters("p", &[&["A"], &["B", "C"]]),
            ["p.*.A", "p.*.B", "p.*.C"]
        );
    }

    #[test]
    fn upcasts_go_through_from() {
        struct V1(u8);
        struct V2(u16);
        impl From<V1> for V2 {
            fn from(v: V1) -> V2 {
                V2(v.0.into())
            }
        }
        let v2: V2 = upcast(V1(7));
        assert_eq!(v2.0, 7);
        assert_eq!(
            unknown_schema("Deposited", 4, 3).to_string(),
            "payload value at `$` was stored under schema 4 of event type `Deposited`, newer than schema 3 that this code reads; read it with code that knows schema 4"
        );
        assert_eq!(
            unknown_schema("Deposited", 0, 3).to_string(),
            "payload value at `$` was stored under schema 0 of event type `Deposited`, which has no upcast to schema 3"
        );
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
