//! Code generation for `#[derive(Event)]` on an enum: each variant is stored on its own.
//! The event type names the variant, and the payload is the variant's fields as a map
//! (through the hidden helper structs of [`crate::payload`]) or the wrapped event's
//! payload, for a newtype variant; never an enum tag.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use crate::ast::{EventInput, Field, Shape, Variant};
use crate::event::{common_helpers, derived_where, event_where};
use crate::names::{DEFAULT_PREFIX, borrowed, pretty, snake_case, unraw};
use crate::payload::{generic_args, helper_names, helper_structs};
use crate::serde_attr::SerdeContainer;
use crate::shape;
use crate::upcast;
use crate::valid::{aggregate_name, event_name, generic_names, mentions};

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

pub(crate) fn expand_enum(
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
            let info = quote!(::cim_events::__private::VariantInfo { name: #variant_name, missing_apply: #missing, event_types: &[#(#names),*] });
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
                info,
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
        info: quote!(::cim_events::__private::VariantInfo { name: #variant_name, missing_apply: #missing, event_types: &[&[#name #(, #aliases)*]] }),
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
