//! Procedural macros for `cim-events`: `#[derive(Event)]`, `#[aggregate]` and `#[process]`.
//! Use them through the `cim-events` crate, which re-exports and documents them.
//!
//! Each entry point parses, expands and converts; the work is split as in serde and
//! thiserror: `ast` reads the input into a typed model, `attr` and `serde_attr` parse
//! attributes, `valid` checks the rules that span several items, `event`, `event_enum`,
//! `payload`, `upcast`, `aggregate` and `command` generate code (`process` parses, checks
//! and generates `#[process]` on its own), and `fallback` emits stubs
//! next to errors.

mod aggregate;
mod ast;
mod attr;
mod command;
mod ctxt;
mod event;
mod event_enum;
mod fallback;
mod names;
mod payload;
mod process;
mod process_expand;
mod serde_attr;
mod shape;
mod upcast;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Re-exported and documented by `cim_events`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    event::derive(&input).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    aggregate::attribute(args.into(), item.into()).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn command(_args: TokenStream, item: TokenStream) -> TokenStream {
    fallback::misplaced_marker("command", item.into()).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn apply(_args: TokenStream, item: TokenStream) -> TokenStream {
    fallback::misplaced_marker("apply", item.into()).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn process(args: TokenStream, item: TokenStream) -> TokenStream {
    process::attribute(args.into(), item.into()).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn on(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced_marker("on", item.into()).into()
}

/// Re-exported and documented by `cim_events`.
#[proc_macro_attribute]
pub fn on_timer(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced_marker("on_timer", item.into()).into()
}
