//! Code generation for `Event::event_shapes`: the shape of each event type, for the schema
//! lock and the drift check.

use proc_macro2::TokenStream;

use crate::ast::{EventInput, Field, Variant};
use crate::serde_attr::SerdeContainer;

/// The `event_shapes` method of a struct event's `Event` impl.
pub fn struct_shapes(_input: &EventInput<'_>, _fields: &[Field<'_>]) -> TokenStream {
    TokenStream::new()
}

/// The `event_shapes` method of an event enum's `Event` impl.
pub fn enum_shapes(
    _input: &EventInput<'_>,
    _serde: &SerdeContainer,
    _variants: &[Variant<'_>],
) -> TokenStream {
    TokenStream::new()
}
