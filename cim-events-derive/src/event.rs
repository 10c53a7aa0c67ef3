//! Code generation for `#[derive(Event)]`: the entry point, structs, and what every event
//! type gets (enums are `event_enum`).
//!
//! A struct event stores its own serde form. An enum stores each variant on its own: the
//! event type names the variant, and the payload is the variant's fields as a map (or the
//! wrapped event's payload, for a newtype variant), never wrapped in an enum tag. Hidden
//! helper structs, one borrowed (serialize) and one owned (deserialize) per variant, carry
//! the fields' serde attributes, so the payload follows them exactly.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, Ident};

use crate::ast::{Body, EventInput, Field};
use crate::ctxt::Ctxt;
use crate::event_enum::expand_enum;
use crate::fallback;
use crate::names::{DEFAULT_PREFIX, snake_case, unraw};
use crate::shape;
use crate::upcast;
use crate::valid::{aggregate_name, check_event, event_name, generic_names};

/// Parses, checks and expands `#[derive(Event)]`.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = EventInput::from_syn(&cx, input);
    if let Some(model) = &model {
        check_event(&cx, model);
    }
    match (cx.check(), &model) {
        (Ok(()), Some(model)) => expand(model),
        (Ok(()), None) => TokenStream::new(),
        (Err(errors), model) => {
            let mut out = errors.to_compile_error();
            out.extend(model.as_ref().map(fallback::event));
            out
        }
    }
}

fn expand(input: &EventInput<'_>) -> TokenStream {
    match &input.body {
        Body::Struct(fields) => expand_struct(input, fields),
        Body::Enum { serde, variants } => expand_enum(input, serde, variants),
    }
}

/// The where clause every generated impl shares: the supertraits of `Event` and `'static`
/// lifetimes, stated for generic types so the impls need no guessed bounds.
pub fn event_where(generics: &Generics, ident: &Ident) -> Generics {
    let mut generics = generics.clone();
    if generics.params.is_empty() {
        return generics;
    }
    let (_, ty_generics, _) = generics.split_for_impl();
    let this = quote!(#ident #ty_generics);
    let lifetimes: Vec<syn::Lifetime> = generics.lifetimes().map(|l| l.lifetime.clone()).collect();
    let clause = generics.make_where_clause();
    for lifetime in lifetimes {
        clause
            .predicates
            .push(syn::parse_quote!(#lifetime: 'static));
    }
    clause.predicates.push(syn::parse_quote!(
        #this: ::cim_events::__private::serde::Serialize
            + ::cim_events::__private::serde::de::DeserializeOwned
            + ::core::marker::Send
            + ::core::marker::Sync
            + 'static
    ));
    generics
}

/// `event_where` plus `Self: Event`, for the impls that build on the `Event` impl.
pub fn derived_where(generics: &Generics, ident: &Ident) -> Generics {
    let mut generics = event_where(generics, ident);
    if !generics.params.is_empty() {
        let (_, ty_generics, _) = generics.split_for_impl();
        let this = quote!(#ident #ty_generics);
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(#this: ::cim_events::Event));
    }
    generics
}

fn expand_struct(input: &EventInput<'_>, fields: &[Field<'_>]) -> TokenStream {
    let ident = input.ident();
    let generics = &input.original.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let mut event = event_where(generics, ident);
    let target = quote!(#ident #ty_generics);
    for bound in upcast::bounds(input.attrs.from.as_ref(), &target, &generic_names(generics)) {
        event.make_where_clause().predicates.push(bound);
    }
    let event_clause = &event.where_clause;
    let derived = derived_where(generics, ident);
    let derived_clause = &derived.where_clause;

    let name = event_name(input.attrs.name.as_ref(), ident);
    let aggregate = aggregate_name(input);
    let schema = input.attrs.schema.as_ref().map_or(1, |s| s.value);
    let filter = format!("{DEFAULT_PREFIX}.*.{name}");
    let type_name = unraw(ident);
    let missing = format!(
        "no `#[apply]` for the event `{type_name}`: add `#[apply] fn {}(&mut self, event: &{type_name})` to the `#[aggregate]` impl",
        snake_case(&type_name)
    );
    let carries_id = fields.iter().any(|f| f.id.is_some());
    let (aggregate_id, carried_id) = match fields.iter().find(|f| f.id.is_some()) {
        Some(field) => {
            let member = &field.member;
            let ty = field.ty;
            (
                quote_spanned!(ty.span()=> ::cim_events::__private::aggregate_id::<#ty>(&self.#member)),
                TokenStream::new(),
            )
        }
        None => (
            quote!(""),
            quote! {
                fn carried_id(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::None
                }
            },
        ),
    };
    let doc_event_type = format!("The event type of `{type_name}`: `{name}`.");
    let doc_filter = format!(
        "The subscription filter for every `{name}` event under the default prefix: `{filter}`."
    );
    let doc_filter_fn = format!(
        "The subscription filter for every `{name}` event under `prefix`: `{{prefix}}.*.{name}`."
    );
    let aliases = input.attrs.alias_names();
    let filters: Vec<String> = std::iter::once(&name)
        .chain(&aliases)
        .map(|n| format!("{DEFAULT_PREFIX}.*.{n}"))
        .collect();
    let decode = upcast::decode(
        &name,
        schema,
        input.attrs.from.as_ref(),
        quote!(::cim_events::__private::from_ipld(__payload)),
    );
    let is_retired = input.attrs.retired.as_ref().map(|_| {
        quote! {
            fn is_retired(&self) -> bool {
                true
            }
        }
    });
    let common = common_helpers(carries_id);
    let shapes = shape::struct_shapes(input, fields);
    let data_subject = match fields.iter().find(|f| f.data_subject.is_some()) {
        Some(field) => {
            let member = &field.member;
            let ty = field.ty;
            quote_spanned! {ty.span()=>
                fn data_subject(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::Some(::cim_events::__private::data_subject::<#ty>(&self.#member))
                }
            }
        }
        None => TokenStream::new(),
    };

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::cim_events::Event for #ident #ty_generics #event_clause {
                #shapes
                fn event_type(&self) -> &str {
                    #name
                }
                fn aggregate_id(&self) -> &str {
                    #aggregate_id
                }
                #carried_id
                fn aggregate_type(&self) -> &str {
                    #aggregate
                }
                fn schema_version(&self) -> u32 {
                    #schema
                }
                #data_subject
                #is_retired
                fn from_payload(
                    __event_type: &str,
                    __schema: u32,
                    __payload: ::cim_events::Ipld,
                ) -> ::core::result::Result<Self, ::cim_events::__private::PayloadError> {
                    let _ = __event_type;
                    #decode
                }
            }

            #[automatically_derived]
            impl #impl_generics ::cim_events::__private::SingleEvent for #ident #ty_generics #derived_clause {
                const EVENT_TYPE: &'static str = #name;
                const FILTER: &'static str = #filter;
                const ALIASES: &'static [&'static str] = &[#(#aliases),*];
                const FILTERS: &'static [&'static str] = &[#(#filters),*];
            }

            #[automatically_derived]
            impl #impl_generics ::cim_events::__private::EventSet for #ident #ty_generics #derived_clause {
                const AGGREGATE_TYPE: &'static str = #aggregate;
                const VARIANTS: &'static [::cim_events::__private::VariantInfo] = &[
                    ::cim_events::__private::VariantInfo {
                        name: ::cim_events::__private::WHOLE_EVENT,
                        missing_apply: #missing,
                        event_types: &[&[#name #(, #aliases)*]],
                    },
                ];
            }

            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #derived_clause {
                #[doc = #doc_event_type]
                pub const EVENT_TYPE: &'static str = #name;
                #[doc = "Every event type of this type (here just one), as stored in `event_type`."]
                pub const EVENT_TYPES: &'static [&'static str] = &[#name];
                #[doc = "The aggregate type these events belong to."]
                pub const AGGREGATE_TYPE: &'static str = #aggregate;
                #[doc = "The payload schema version written with new events."]
                pub const SCHEMA_VERSION: u32 = #schema;
                #[doc = #doc_filter]
                pub const FILTER: &'static str = #filter;
                #[doc = #doc_filter_fn]
                pub fn filter(prefix: &str) -> ::cim_events::__private::String {
                    ::cim_events::__private::format!("{}.*.{}", prefix, #name)
                }
                #[doc = "The subscription filters for this event under its current name and each of its `aliases`, default prefix: the subjects its history may be stored under."]
                pub const FILTERS: &'static [&'static str] = &[#(#filters),*];
                #[doc = "The stored events of this type: its event type, current name and aliases, of its aggregate type (see `cim_events::EventSelector`)."]
                pub fn selector() -> ::cim_events::EventSelector {
                    ::cim_events::__private::selector(#aggregate, &[&[#name #(, #aliases)*]])
                }
                #[doc = "[`Self::FILTERS`] under `prefix`."]
                pub fn filters(prefix: &str) -> ::cim_events::__private::Vec<::cim_events::__private::String> {
                    ::cim_events::__private::filters(prefix, &[&[#name #(, #aliases)*]])
                }
                #common
            }
        };
    }
}

/// The inherent helpers every event type gets, whatever its shape. An event that
/// carries no id (`carries_id` false) gets `aggregate_id` and `subject` methods whose
/// bound is never met, so that calling them is a compile error that says where the id
/// is, instead of an empty id.
pub(crate) fn common_helpers(carries_id: bool) -> TokenStream {
    let id_helpers = if carries_id {
        quote! {
            #[doc = "The subject this event is published on: `{prefix}.{aggregate_id}.{event_type}`."]
            pub fn subject(&self, prefix: &str) -> ::cim_events::__private::String {
                ::cim_events::__private::event_subject(
                    prefix,
                    ::cim_events::Event::aggregate_id(self),
                    ::cim_events::Event::event_type(self),
                )
            }
        }
    } else {
        quote! {
            #[doc = "Not available: this event carries no aggregate id (it has no `#[event(id)]` field). The id it is appended under is in its block's envelope: `RecordedEvent::aggregate_id()`."]
            pub fn aggregate_id(&self) -> &str
            where
                for<'__a> &'__a Self: ::cim_events::__private::CarriesId,
            {
                ""
            }
            #[doc = "Not available: this event carries no aggregate id (it has no `#[event(id)]` field). Its subject is `{prefix}.{aggregate_id}.{event_type}` with the id it is appended under."]
            pub fn subject(&self, prefix: &str) -> ::cim_events::__private::String
            where
                for<'__a> &'__a Self: ::cim_events::__private::CarriesId,
            {
                ::cim_events::__private::String::from(prefix)
            }
        }
    };
    quote! {
        #id_helpers
        #[doc = "The subscription filter for every event of one aggregate: `{prefix}.{aggregate_id}.*`."]
        pub fn aggregate_filter(prefix: &str, aggregate_id: &str) -> ::cim_events::__private::String {
            ::cim_events::__private::aggregate_filter(prefix, aggregate_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::compile_errors as errors;
    use syn::parse_quote;

    /// A Rust name used as the event name or aggregate type meets the token rules of an
    /// explicit one, and the error names the key that fixes it.
    #[test]
    fn defaulted_names_are_checked_like_explicit_ones() {
        let long = syn::Ident::new(&"Measured".repeat(17), proc_macro2::Span::call_site());
        let cases: [(DeriveInput, &str); 4] = [
            (
                parse_quote!(struct #long { #[event(id)] id: String }),
                "give it a shorter one: `#[event(name = \"…\", aggregate = \"…\")]`",
            ),
            (
                parse_quote!(#[event(aggregate = "Order")] struct #long { #[event(id)] id: String }),
                "give it a shorter one: `#[event(name = \"…\")]`",
            ),
            (
                parse_quote!(#[event(name = "Created")] struct #long { #[event(id)] id: String }),
                "give it a shorter one: `#[event(aggregate = \"…\")]`",
            ),
            (
                parse_quote!(#[event(aggregate = "Order")] enum E { #long { #[event(id)] id: String } }),
                "give it a shorter one: `#[event(name = \"…\")]`",
            ),
        ];
        for (input, hint) in cases {
            let found = errors(&derive(&input));
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].ends_with(hint), "{found:?}");
            assert!(found[0].contains("it is 136 bytes long, the limit is 128"));
        }
        let short: DeriveInput = parse_quote!(
            struct Measured {
                #[event(id)]
                id: String,
            }
        );
        assert_eq!(errors(&derive(&short)), Vec::<String>::new());
    }

    #[test]
    fn enum_expansion_parses_and_names_every_piece() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "Account")]
            #[serde(rename_all_fields = "camelCase")]
            enum AccountEvent {
                Opened { #[event(id)] account_id: String, owner: String },
                #[event(name = "MoneyDeposited", schema = 2, from(1 = DepositedV1), aliases("Deposit"), retired)]
                Deposited { #[event(id)] account_id: String, #[serde(with = "hex")] amount: u64 },
                Closed(Closed),
            }
        };
        let out = derive(&input);
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        for piece in [
            "impl :: cim_events :: Event for AccountEvent",
            "impl :: cim_events :: __private :: EventSet for AccountEvent",
            "impl :: cim_events :: __private :: VariantOf < AccountEvent > for Closed",
            "struct __CimSer0 < '__cim >",
            "struct __CimDe1",
            "# [serde (rename_all = \"camelCase\")]",
            "# [serde (serialize_with = \"__cim_ser_1_1::<_>\")]",
            "# [serde (with = \"hex\")] amount : u64",
            "Self :: Opened { account_id : __f0 , owner : __f1 } =>",
            "\"MoneyDeposited\" | \"Deposit\" => match __schema { 2u32 =>",
            "let __cim_up1 = | __v : DepositedV1 |",
            "Self :: Deposited { .. } => true ,",
            "Self :: Closed (__e) => < Closed as :: cim_events :: __private :: SingleEvent > :: single_is_retired (__e)",
            "pub const FILTER_DEPOSITED : & 'static str = \"events.*.MoneyDeposited\"",
            "pub const FILTERS_DEPOSITED : & 'static [& 'static str] = & [\"events.*.MoneyDeposited\" , \"events.*.Deposit\"]",
            "pub fn filters_deposited",
            "pub const FILTERS_CLOSED : & 'static [& 'static str] = < Closed as :: cim_events :: __private :: SingleEvent > :: FILTERS",
            "pub const FILTERS : & 'static [& 'static str] = & :: cim_events :: __private :: concat",
            "pub fn filters (prefix : & str)",
            "pub fn filter_closed",
            "const _ : () = if :: cim_events :: __private :: contains",
            "else if :: cim_events :: __private :: clash",
        ] {
            assert!(text.contains(piece), "missing `{piece}` in {text}");
        }
    }

    #[test]
    fn struct_expansion() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "Account", name = "AccountClosed", schema = 3)]
            #[event(from(2 = ClosedV2<T>, 1 = ClosedV1), aliases("Closed"), retired)]
            pub struct Closed<T> { #[event(id)] account_id: String, data: T }
        };
        let out = derive(&input);
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        for piece in [
            "impl < T > :: cim_events :: Event for Closed < T >",
            "Closed < T > : :: cim_events :: __private :: serde :: Serialize",
            "fn event_type (& self) -> & str { \"AccountClosed\" }",
            "fn schema_version (& self) -> u32 { 3u32 }",
            ":: cim_events :: __private :: aggregate_id :: < String > (& self . account_id)",
            "const FILTER : & 'static str = \"events.*.AccountClosed\"",
            "const ALIASES : & 'static [& 'static str] = & [\"Closed\"]",
            "const FILTERS : & 'static [& 'static str] = & [\"events.*.AccountClosed\" , \"events.*.Closed\"]",
            "fn is_retired (& self) -> bool { true }",
            "let __cim_up2 = | __v : ClosedV2 < T > |",
            "__private :: unknown_schema (\"AccountClosed\" , __other , 3u32)",
        ] {
            assert!(text.contains(piece), "missing `{piece}` in {text}");
        }
    }

    #[test]
    fn every_mistake_is_reported_with_stubs_beside() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "bank.Account", nmae = "X")]
            enum AccountEvent {
                Opened { owner: String },
                #[event(name = "Opened")]
                Reopened { #[event(id)] account_id: u64 },
                Closed,
            }
        };
        let out = derive(&input);
        assert_eq!(
            errors(&out),
            [
                "unknown event attribute `nmae`; expected `aggregate`, `schema`",
                "aggregate type `bank.Account` is not a valid NATS subject token: `.` separates tokens; use letters, digits, `-` or `_`",
                "variant `Opened` has no `#[event(id)]` field, but `Reopened` has one: mark `Opened`'s id field `#[event(id)]` (add one if it has none), or remove the id from every variant: the block's envelope carries it",
                "variant `Closed` has no `#[event(id)]` field, but `Reopened` has one: mark `Closed`'s id field `#[event(id)]` (add one if it has none), or remove the id from every variant: the block's envelope carries it",
                "the `#[event(id)]` field has type `u64`, but an aggregate id is a string (a NATS subject token), not a number; use `String` or a newtype that implements `AsRef<str>`",
                "duplicate event name `Opened`: variant `Opened` already has it; give this variant another `#[event(name = \"…\")]`",
            ]
        );
        let text = out.to_string();
        assert!(text.contains("impl :: cim_events :: Event for AccountEvent"));
        assert!(text.contains(
            "const VARIANTS : & 'static [:: cim_events :: __private :: VariantInfo] = & []"
        ));
    }

    #[test]
    fn every_upcast_and_alias_mistake_is_reported() {
        let input: DeriveInput = parse_quote! {
            #[event(schema = 2, from(1 = A), retired, aliases("Old"))]
            enum AccountEvent {
                #[event(schema = 4, from(3 = C, 3 = D, 4 = E, 0 = F), aliases("Opened", "Was.Opened"))]
                Opened { #[event(id)] account_id: String },
                #[event(aliases("Renamed", "Prev", "Prev", "Opened"))]
                Renamed { #[event(id)] account_id: String },
                #[event(from(1 = B), aliases("X"), retired)]
                Closed(Closed),
            }
        };
        let out = derive(&input);
        assert_eq!(
            errors(&out),
            [
                "upcasts belong on the event whose payload they convert: put `from(…)` on a variant with named fields or on an event struct, next to its `schema`",
                "`retired` marks one event type as no longer produced; put `#[event(retired)]` on a variant",
                "`aliases` are the earlier names of one event type; put `#[event(aliases(…))]` on a variant",
                "upcasts belong on the event whose payload they convert: this variant wraps `Closed`; put `from(…)` in `#[event(…)]` on `Closed`",
                "this variant wraps the event `Closed`, which sets its own `aliases`; put `#[event(aliases(…))]` on `Closed`",
                "this variant wraps the event `Closed`, which sets its own `retired`; put `#[event(retired)]` on `Closed`",
                "event alias `Opened` is this event's own name; an alias is an earlier name: remove it",
                "event alias `Was.Opened` is not a valid NATS subject token: `.` separates tokens; use letters, digits, `-` or `_`",
                "duplicate upcast from schema 3: `3 = C` already converts it; remove one of them",
                "upcast from schema 4, which is not older than the current schema 4: an upcast converts an older payload; remove `4 = …`, or raise `schema` above 4",
                "there is no schema 0: versions start at 1; list each schema below the current one",
                "missing upcasts from schemas 1 and 2: add `2 = …, 1 = …` to `from(…)`",
                "event alias `Renamed` is this event's own name; an alias is an earlier name: remove it",
                "duplicate event alias `Prev`; remove one of them",
                "event alias `Opened` is the event type of variant `Opened`: stored events of that type could not tell which to become; remove the alias or rename that variant",
                "variant `Renamed` has the enum's schema 2, so it needs upcasts: missing upcast from schema 1: add `#[event(from(1 = …))]` to it, or `#[event(schema = 1)]` if it was never stored under an older schema",
            ]
        );
    }

    #[test]
    fn unions_are_rejected_without_stubs() {
        let input: DeriveInput = parse_quote!(union U { a: u8 });
        let out = derive(&input);
        assert_eq!(errors(&out).len(), 1);
        assert!(!out.to_string().contains("impl"));
    }

    #[test]
    fn odd_inputs_give_errors_not_panics() {
        let inputs: [DeriveInput; 5] = [
            parse_quote!(
                enum E<T> {
                    A(fn(T) -> T),
                    B(dyn Tr<T> + Send),
                    C(<T as Tr>::X),
                    D {
                        #[event(id)]
                        #[serde(with = "a b")]
                        x: T,
                    },
                    Ü {
                        #[event(id)]
                        x: &'static str,
                    },
                }
            ),
            parse_quote!(
                struct S<'a, T: 'a, const N: usize>
                where
                    T: Clone,
                {
                    #[event(id)]
                    x: &'a [T; N],
                }
            ),
            parse_quote!(
                #[event]
                #[event()]
                #[event(=)]
                struct S(#[event(id)] u8);
            ),
            parse_quote!(
                enum E {
                    #[event(name = "x", name(y), schema = 1 + 2)]
                    A {
                        #[event(id = 1, id)]
                        a: (),
                    },
                    B(#[event(id, name = "b")] B, u8),
                }
            ),
            parse_quote!(
                #[event(aggregate = "", schema = -0)]
                enum E {}
            ),
        ];
        for input in inputs {
            let out = derive(&input);
            assert!(!errors(&out).is_empty(), "no error for {}", input.ident);
        }
    }
}
