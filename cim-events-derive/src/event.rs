//! Code generation for `#[derive(Event)]`.
//!
//! A struct event stores its own serde form. An enum stores each variant on its own: the
//! event type names the variant, and the payload is the variant's fields as a map (or the
//! wrapped event's payload, for a newtype variant), never wrapped in an enum tag. Hidden
//! helper structs, one borrowed (serialize) and one owned (deserialize) per variant, carry
//! the fields' serde attributes, so the payload follows them exactly.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, Ident, Type};

use crate::ast::{Body, EventInput, Field, Shape, Variant};
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::names::{DEFAULT_PREFIX, borrowed, pretty, snake_case, unraw};
use crate::payload::{generic_args, helper_names, helper_structs};
use crate::serde_attr::SerdeContainer;
use crate::shape;
use crate::upcast;
use crate::valid::{aggregate_name, check_event, event_name, generic_names, mentions};

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
fn common_helpers(carries_id: bool) -> TokenStream {
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

/// What the generated code needs of one enum variant.
struct VariantCode<'a> {
    ident: Ident,
    /// The struct event a newtype variant wraps (its event type is known only to rustc).
    wrapped: Option<&'a Type>,
    /// The event type: a string literal, or the wrapped event's constant.
    event_type: TokenStream,
    /// The match arms of each generated method.
    event_type_arm: TokenStream,
    aggregate_id_arm: TokenStream,
    carried_id_arm: TokenStream,
    /// Whether the variant's events hold their aggregate id (a wrapped struct: maybe).
    carries_id: bool,
    schema_arm: TokenStream,
    data_subject_arm: TokenStream,
    is_retired_arm: TokenStream,
    to_payload_arm: TokenStream,
    from_payload_arm: TokenStream,
    filter_const: TokenStream,
    /// Its event type and aliases, as `&[&str]` expressions usable in constants.
    names: Vec<TokenStream>,
    /// The filters of `names` under the default prefix, likewise.
    filters: Vec<TokenStream>,
    /// Items inside the `const _` block: helper structs, adapters, trait impls.
    items: TokenStream,
    info: TokenStream,
}

fn expand_enum(
    input: &EventInput<'_>,
    serde: &SerdeContainer,
    variants: &[Variant<'_>],
) -> TokenStream {
    let ident = input.ident();
    let generics = &input.original.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let aggregate = aggregate_name(input);
    let default_schema = input.attrs.schema.as_ref().map_or(1, |s| s.value);

    let codes: Vec<VariantCode<'_>> = variants
        .iter()
        .enumerate()
        .filter_map(|(index, v)| variant_code(input, serde, v, index, default_schema))
        .collect();

    // The `Event` impl also needs the helpers to be serde types, for generic enums.
    let mut event = event_where(generics, ident);
    if !generics.params.is_empty() {
        let args = generic_args(generics);
        for (index, variant) in variants.iter().enumerate() {
            if let Shape::Named(_) = variant.shape {
                let (ser, de) = helper_names(index);
                let clause = event.make_where_clause();
                clause.predicates.push(syn::parse_quote!(
                    for<'__cim> #ser<'__cim, #(#args),*>: ::cim_events::__private::serde::Serialize
                ));
                clause.predicates.push(syn::parse_quote!(
                    #de<#(#args),*>: ::cim_events::__private::serde::de::DeserializeOwned
                ));
            }
        }
    }
    let mut derived = derived_where(generics, ident);
    // A wrapped event that depends on the enum's parameters is an event struct only
    // under bounds the impls cannot guess; state it.
    let names = generic_names(generics);
    for variant in variants {
        if let Shape::Newtype(inner) = variant.shape {
            if mentions(&inner.to_token_stream(), &names) {
                let bound: syn::WherePredicate =
                    syn::parse_quote!(#inner: ::cim_events::__private::SingleEvent);
                event.make_where_clause().predicates.push(bound.clone());
                derived.make_where_clause().predicates.push(bound);
            }
        }
    }
    let target = quote!(#ident #ty_generics);
    for variant in variants {
        for bound in upcast::bounds(variant.attrs.from.as_ref(), &target, &names) {
            event.make_where_clause().predicates.push(bound);
        }
    }
    let event_clause = &event.where_clause;
    let derived_clause = &derived.where_clause;

    let event_types: Vec<&TokenStream> = codes.iter().map(|c| &c.event_type).collect();
    let event_type_arms = codes.iter().map(|c| &c.event_type_arm);
    let aggregate_id_arms = codes.iter().map(|c| &c.aggregate_id_arm);
    let carried_id_arms = codes.iter().map(|c| &c.carried_id_arm);
    let schema_arms = codes.iter().map(|c| &c.schema_arm);
    let data_subject_arms = codes.iter().map(|c| &c.data_subject_arm);
    let is_retired_arms = codes.iter().map(|c| &c.is_retired_arm);
    let all_names: Vec<&TokenStream> = codes.iter().flat_map(|c| &c.names).collect();
    // A constant can hold the filters of a wrapped event only if its type does not
    // depend on the enum's parameters; otherwise `filters(prefix)` alone lists them.
    let filters_const = if variants.iter().any(
        |v| matches!(v.shape, Shape::Newtype(inner) if mentions(&inner.to_token_stream(), &names)),
    ) {
        TokenStream::new()
    } else {
        let parts: Vec<&TokenStream> = codes.iter().flat_map(|c| &c.filters).collect();
        quote! {
            #[doc = "The subscription filters for every event of this enum under its current name and each of its aliases, default prefix: the subjects its history may be stored under."]
            pub const FILTERS: &'static [&'static str] = &::cim_events::__private::concat::<
                { ::cim_events::__private::total_len(&[#(#parts),*]) },
            >(&[#(#parts),*]);
        }
    };
    let to_payload_arms = codes.iter().map(|c| &c.to_payload_arm);
    let from_payload_arms = codes.iter().map(|c| &c.from_payload_arm);
    let filter_consts = codes.iter().map(|c| &c.filter_const);
    let items = codes.iter().map(|c| &c.items);
    let infos = codes.iter().map(|c| &c.info);
    let type_name = unraw(ident);
    let duplicate_checks = if generics.params.is_empty() {
        newtype_duplicate_checks(ident, &codes)
    } else {
        TokenStream::new()
    };
    // Id-less only when no variant may hold an id: `aggregate_id()` is then never right.
    let common = common_helpers(codes.iter().any(|c| c.carries_id));
    let shapes = shape::enum_shapes(input, serde, variants);

    quote! {
        const _: () = {
            #(#items)*

            #[automatically_derived]
            impl #impl_generics ::cim_events::Event for #ident #ty_generics #event_clause {
                #shapes
                fn event_type(&self) -> &str {
                    match self { #(#event_type_arms)* }
                }
                fn aggregate_id(&self) -> &str {
                    match self { #(#aggregate_id_arms)* }
                }
                fn carried_id(&self) -> ::core::option::Option<&str> {
                    match self { #(#carried_id_arms)* }
                }
                fn aggregate_type(&self) -> &str {
                    #aggregate
                }
                fn schema_version(&self) -> u32 {
                    match self { #(#schema_arms)* }
                }
                fn data_subject(&self) -> ::core::option::Option<&str> {
                    match self { #(#data_subject_arms)* }
                }
                fn is_retired(&self) -> bool {
                    match self { #(#is_retired_arms)* }
                }
                fn to_payload(&self) -> ::core::result::Result<::cim_events::Ipld, ::cim_events::__private::PayloadError> {
                    match self { #(#to_payload_arms)* }
                }
                fn from_payload(
                    __event_type: &str,
                    __schema: u32,
                    __payload: ::cim_events::Ipld,
                ) -> ::core::result::Result<Self, ::cim_events::__private::PayloadError> {
                    match __event_type {
                        #(#from_payload_arms)*
                        __other => ::core::result::Result::Err(::cim_events::__private::unknown_event_type(
                            #type_name,
                            __other,
                            &[#(#event_types),*],
                        )),
                    }
                }
            }

            #[automatically_derived]
            impl #impl_generics ::cim_events::__private::EventSet for #ident #ty_generics #derived_clause {
                const AGGREGATE_TYPE: &'static str = #aggregate;
                const VARIANTS: &'static [::cim_events::__private::VariantInfo] = &[#(#infos),*];
            }

            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #derived_clause {
                #[doc = "Every event type of this enum, one per variant, as stored in `event_type`."]
                pub const EVENT_TYPES: &'static [&'static str] = &[#(#event_types),*];
                #[doc = "The aggregate type these events belong to."]
                pub const AGGREGATE_TYPE: &'static str = #aggregate;
                #(#filter_consts)*
                #filters_const
                #[doc = "The subscription filters for every event of this enum under its current name and each of its aliases, under `prefix`."]
                pub fn filters(prefix: &str) -> ::cim_events::__private::Vec<::cim_events::__private::String> {
                    ::cim_events::__private::filters(prefix, &[#(#all_names),*])
                }
                #[doc = "The stored events of this enum: its event types, current names and aliases, of its aggregate type (see `cim_events::EventSelector`)."]
                pub fn selector() -> ::cim_events::EventSelector {
                    ::cim_events::__private::selector(#aggregate, &[#(#all_names),*])
                }
                #common
            }

            #duplicate_checks
        };
    }
}

/// The code of one variant; `None` for tuple variants, which validation rejects before
/// expansion (unit variants are read as variants without fields).
fn variant_code<'a>(
    input: &EventInput<'_>,
    serde: &SerdeContainer,
    variant: &Variant<'a>,
    index: usize,
    default_schema: u32,
) -> Option<VariantCode<'a>> {
    let enum_ident = input.ident();
    let ident = variant.original.ident.clone();
    let enum_name = unraw(enum_ident);
    let variant_name = unraw(&ident);
    let snake = snake_case(&variant_name);
    let filter_const = format_ident!("FILTER_{}", snake.to_uppercase());
    let filter_fn = format_ident!("filter_{}", snake);
    let generics = &input.original.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let derived = derived_where(generics, enum_ident);
    let derived_clause = &derived.where_clause;

    match &variant.shape {
        Shape::Newtype(inner) => {
            let inner = *inner;
            let span = inner.span();
            let single = quote_spanned!(span=> ::cim_events::__private::SingleEvent);
            let event_type = quote_spanned!(span=> <#inner as #single>::EVENT_TYPE);
            let missing = format!(
                "no `#[apply]` for the event `{enum_name}::{variant_name}`: add `#[apply] fn {snake}(&mut self, event: &{})` to the `#[aggregate]` impl",
                pretty(inner)
            );
            let doc_const = format!(
                "The subscription filter for every `{enum_name}::{variant_name}` event under the default prefix."
            );
            let doc_fn = format!(
                "The subscription filter for every `{enum_name}::{variant_name}` event under `prefix`."
            );
            let doc_consts = format!(
                "The subscription filters for every `{enum_name}::{variant_name}` event under its current name and its aliases, default prefix."
            );
            let doc_fns = format!(
                "The subscription filters for every `{enum_name}::{variant_name}` event under its current name and its aliases, under `prefix`."
            );
            let (filters_const, filters_fn) = plural(&filter_const, &filter_fn);
            let selector_fn = selector_fn(&filter_fn);
            let aggregate = aggregate_name(input);
            let doc_selector = format!(
                "The stored `{enum_name}::{variant_name}` events, under its current name and its aliases, of this aggregate type (see `cim_events::EventSelector`)."
            );
            let names = vec![
                quote_spanned!(span=> &[#event_type]),
                quote_spanned!(span=> <#inner as #single>::ALIASES),
            ];
            Some(VariantCode {
                event_type_arm: quote!(Self::#ident(_) => #event_type,),
                aggregate_id_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_aggregate_id(__e),),
                carried_id_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_carried_id(__e),),
                carries_id: true,
                schema_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_schema_version(__e),),
                data_subject_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_data_subject(__e),),
                is_retired_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_is_retired(__e),),
                to_payload_arm: quote_spanned!(span=> Self::#ident(__e) => <#inner as #single>::single_to_payload(__e),),
                from_payload_arm: quote_spanned! {span=>
                    __t if __t == #event_type || ::cim_events::__private::contains(<#inner as #single>::ALIASES, __t) => ::core::result::Result::map(
                        <#inner as #single>::single_from_payload(__t, __schema, __payload),
                        Self::#ident,
                    ),
                },
                filter_const: quote! {
                    #[doc = #doc_const]
                    pub const #filter_const: &'static str = <#inner as #single>::FILTER;
                    #[doc = #doc_fn]
                    pub fn #filter_fn(prefix: &str) -> ::cim_events::__private::String {
                        ::cim_events::__private::format!("{}.*.{}", prefix, #event_type)
                    }
                    #[doc = #doc_consts]
                    pub const #filters_const: &'static [&'static str] = <#inner as #single>::FILTERS;
                    #[doc = #doc_fns]
                    pub fn #filters_fn(prefix: &str) -> ::cim_events::__private::Vec<::cim_events::__private::String> {
                        ::cim_events::__private::filters(prefix, &[#(#names),*])
                    }
                    #[doc = #doc_selector]
                    pub fn #selector_fn() -> ::cim_events::EventSelector {
                        ::cim_events::__private::selector(#aggregate, &[#(#names),*])
                    }
                },
                filters: vec![quote_spanned!(span=> <#inner as #single>::FILTERS)],
                names,
                items: quote! {
                    #[automatically_derived]
                    impl #impl_generics ::cim_events::__private::VariantOf<#enum_ident #ty_generics> for #inner #derived_clause {
                        const VARIANT: &'static str = #variant_name;
                        fn get(__event: &#enum_ident #ty_generics) -> ::core::option::Option<&Self> {
                            #[allow(unreachable_patterns)]
                            match __event {
                                #enum_ident::#ident(__e) => ::core::option::Option::Some(__e),
                                _ => ::core::option::Option::None,
                            }
                        }
                    }
                },
                info: quote!(::cim_events::__private::VariantInfo { name: #variant_name, missing_apply: #missing }),
                event_type,
                wrapped: Some(inner),
                ident,
            })
        }
        Shape::Named(fields) => Some(named_variant_code(
            input,
            serde,
            variant,
            fields,
            index,
            default_schema,
            (filter_const, filter_fn),
        )),
        Shape::Tuple => None,
    }
}

fn named_variant_code(
    input: &EventInput<'_>,
    serde: &SerdeContainer,
    variant: &Variant<'_>,
    fields: &[Field<'_>],
    index: usize,
    default_schema: u32,
    (filter_const, filter_fn): (Ident, Ident),
) -> VariantCode<'static> {
    let enum_ident = input.ident();
    let ident = variant.original.ident.clone();
    let enum_name = unraw(enum_ident);
    let variant_name = unraw(&ident);
    let generics = &input.original.generics;
    let args = generic_args(generics);
    let name = event_name(variant.attrs.name.as_ref(), &ident);
    let schema = variant
        .attrs
        .schema
        .as_ref()
        .map_or(default_schema, |s| s.value);
    let filter = format!("{DEFAULT_PREFIX}.*.{name}");
    let (ser, de) = helper_names(index);

    let members: Vec<&syn::Member> = fields.iter().map(|f| &f.member).collect();
    // `__f0`, not the field's own name: a constant of that name would turn the binding
    // into a constant pattern.
    let bindings: Vec<Ident> = (0..fields.len())
        .map(|i| format_ident!("__f{}", i))
        .collect();

    let carries_id = fields.iter().any(|f| f.id.is_some());
    let (aggregate_id_arm, carried_id_arm) = match fields.iter().find(|f| f.id.is_some()) {
        Some(field) => {
            let member = &field.member;
            let ty = field.ty;
            (
                quote_spanned! {ty.span()=>
                    Self::#ident { #member: __id, .. } => ::cim_events::__private::aggregate_id::<#ty>(__id),
                },
                quote_spanned! {ty.span()=>
                    Self::#ident { #member: __id, .. } => ::core::option::Option::Some(
                        ::cim_events::__private::aggregate_id::<#ty>(__id),
                    ),
                },
            )
        }
        None => (
            quote!(Self::#ident { .. } => "",),
            quote!(Self::#ident { .. } => ::core::option::Option::None,),
        ),
    };

    let data_subject_arm = match fields.iter().find(|f| f.data_subject.is_some()) {
        Some(field) => {
            let member = &field.member;
            let ty = field.ty;
            quote_spanned! {ty.span()=>
                Self::#ident { #member: __subject, .. } => ::core::option::Option::Some(
                    ::cim_events::__private::data_subject::<#ty>(__subject),
                ),
            }
        }
        None => quote!(Self::#ident { .. } => ::core::option::Option::None,),
    };
    let helpers = helper_structs(input, serde, variant, fields, index);
    // As the serialize helper has it (`payload::helper_structs`).
    let phantom = if generics.params.is_empty() && !fields.is_empty() {
        quote!()
    } else {
        quote!(__cim_phantom: ::core::marker::PhantomData,)
    };
    let missing = {
        let params: Vec<String> = fields
            .iter()
            .filter_map(|f| match &f.member {
                syn::Member::Named(n) => Some(format!("{}: {}", unraw(n), borrowed(f.ty))),
                syn::Member::Unnamed(_) => None,
            })
            .collect();
        let params: String = params.iter().map(|p| format!(", {p}")).collect();
        format!(
            "no `#[apply]` for the event `{enum_name}::{variant_name}`: add `#[apply({variant_name})] fn {}(&mut self{params})` to the `#[aggregate]` impl",
            snake_case(&variant_name),
        )
    };
    let doc_const = format!(
        "The subscription filter for every `{name}` event under the default prefix: `{filter}`."
    );
    let doc_fn = format!(
        "The subscription filter for every `{name}` event under `prefix`: `{{prefix}}.*.{name}`."
    );
    let aliases = variant.attrs.alias_names();
    let filters: Vec<String> = std::iter::once(&name)
        .chain(&aliases)
        .map(|n| format!("{DEFAULT_PREFIX}.*.{n}"))
        .collect();
    let doc_consts = format!(
        "The subscription filters for every `{name}` event under its current name and its aliases, default prefix."
    );
    let doc_fns = format!(
        "The subscription filters for every `{name}` event under its current name and its aliases, under `prefix`."
    );
    let (filters_const, filters_fn) = plural(&filter_const, &filter_fn);
    let selector_fn = selector_fn(&filter_fn);
    let aggregate = aggregate_name(input);
    let doc_selector = format!(
        "The stored `{name}` events, under its current name and its aliases, of this aggregate type (see `cim_events::EventSelector`)."
    );
    let current = quote! {{
        let __helper: #de<#(#args),*> = ::cim_events::__private::from_ipld(__payload)?;
        ::core::result::Result::Ok(Self::#ident { #(#members: __helper.#members),* })
    }};
    let decode = upcast::decode(&name, schema, variant.attrs.from.as_ref(), current);
    let retired = variant.attrs.retired.is_some();

    VariantCode {
        event_type: quote!(#name),
        event_type_arm: quote!(Self::#ident { .. } => #name,),
        aggregate_id_arm,
        carried_id_arm,
        carries_id,
        schema_arm: quote!(Self::#ident { .. } => #schema,),
        data_subject_arm,
        is_retired_arm: quote!(Self::#ident { .. } => #retired,),
        to_payload_arm: quote! {
            Self::#ident { #(#members: #bindings),* } => ::cim_events::__private::to_ipld(
                &#ser::<'_, #(#args),*> { #(#members: #bindings,)* #phantom }
            ),
        },
        from_payload_arm: quote! {
            #name #(| #aliases)* => #decode,
        },
        filter_const: quote! {
            #[doc = #doc_const]
            pub const #filter_const: &'static str = #filter;
            #[doc = #doc_fn]
            pub fn #filter_fn(prefix: &str) -> ::cim_events::__private::String {
                ::cim_events::__private::format!("{}.*.{}", prefix, #name)
            }
            #[doc = #doc_consts]
            pub const #filters_const: &'static [&'static str] = &[#(#filters),*];
            #[doc = #doc_fns]
            pub fn #filters_fn(prefix: &str) -> ::cim_events::__private::Vec<::cim_events::__private::String> {
                ::cim_events::__private::filters(prefix, &[&[#name #(, #aliases)*]])
            }
            #[doc = #doc_selector]
            pub fn #selector_fn() -> ::cim_events::EventSelector {
                ::cim_events::__private::selector(#aggregate, &[&[#name #(, #aliases)*]])
            }
        },
        names: vec![quote!(&[#name #(, #aliases)*])],
        filters: vec![quote!(&[#(#filters),*])],
        items: helpers,
        info: quote!(::cim_events::__private::VariantInfo { name: #variant_name, missing_apply: #missing }),
        wrapped: None,
        ident,
    }
}

/// `filter_opened` → `selector_opened`.
fn selector_fn(filter_fn: &Ident) -> Ident {
    format_ident!("selector{}", &filter_fn.to_string()["filter".len()..])
}

/// `FILTER_OPENED`, `filter_opened` → `FILTERS_OPENED`, `filters_opened`.
fn plural(filter_const: &Ident, filter_fn: &Ident) -> (Ident, Ident) {
    let rest_const = filter_const.to_string()["FILTER".len()..].to_owned();
    let rest_fn = filter_fn.to_string()["filter".len()..].to_owned();
    (
        format_ident!("FILTERS{}", rest_const),
        format_ident!("filters{}", rest_fn),
    )
}

/// Compile-time checks that the event types and aliases taken from wrapped structs clash
/// with no other variant's (the macro cannot see those names).
fn newtype_duplicate_checks(ident: &Ident, codes: &[VariantCode<'_>]) -> TokenStream {
    let mut checks = TokenStream::new();
    for (index, code) in codes.iter().enumerate() {
        let Some(inner) = code.wrapped else {
            continue;
        };
        // Named variants all, wrapped ones only before this one: each pair checked once.
        let others = codes
            .iter()
            .enumerate()
            .filter(|&(i, c)| c.wrapped.is_none() || i < index)
            .map(|(_, c)| &c.event_type);
        let event_type = &code.event_type;
        let message = format!(
            "the event type of `{}::{}`, taken from `{}`, is also the event type of another variant; give one of them another `#[event(name = \"…\")]`",
            unraw(ident),
            unraw(&code.ident),
            pretty(inner)
        );
        // Aliases: checked only when the event types themselves do not clash, so that
        // one clash is one error.
        let ours = &code.names;
        let theirs = codes
            .iter()
            .enumerate()
            .filter(|&(i, c)| c.wrapped.is_none() || i < index)
            .flat_map(|(_, c)| &c.names);
        let alias_message = format!(
            "the event type and aliases of `{}::{}`, taken from `{}`, overlap those of another variant: stored events under a shared name could not tell which to become; remove the alias or rename the event",
            unraw(ident),
            unraw(&code.ident),
            pretty(inner)
        );
        checks.extend(quote_spanned! {inner.span()=>
            const _: () = if ::cim_events::__private::contains(&[#(#others),*], #event_type) {
                ::core::panic!("{}", #message)
            } else if ::cim_events::__private::clash(&[#(#ours),*], &[#(#theirs),*]) {
                ::core::panic!("{}", #alias_message)
            };
        });
    }
    checks
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
                "variant `Opened` has no `#[event(id)]` field: mark the field that holds the aggregate id",
                "the `#[event(id)]` field has type `u64`, but an aggregate id is a string (a NATS subject token), not a number; use `String` or a newtype that implements `AsRef<str>`",
                "duplicate event name `Opened`: variant `Opened` already has it; give this variant another `#[event(name = \"…\")]`",
                "unit variant `Closed` has no aggregate id: give it named fields, one of them marked `#[event(id)]`",
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
