//! What the macros emit next to their errors: stub impls with the right shape, so code
//! that uses the type still compiles and one mistake gives one error, not ten.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Type;

use crate::aggregate::Impls;
use crate::ast::{AggregateInput, Body, EventInput, Shape, strip_markers};
use crate::event::{derived_where, event_where};
use crate::names::pretty;

/// Stubs for `#[derive(Event)]`: the trait impls `#[aggregate]` and the stores rely on.
pub fn event(model: &EventInput<'_>) -> TokenStream {
    let ident = model.ident();
    let generics = &model.original.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let event = event_where(generics, ident);
    let event_clause = &event.where_clause;
    let derived = derived_where(generics, ident);
    let derived_clause = &derived.where_clause;
    let mut extra = TokenStream::new();
    match &model.body {
        Body::Struct(_) => extra.extend(quote! {
            #[automatically_derived]
            impl #impl_generics ::cim_events::__private::SingleEvent for #ident #ty_generics #derived_clause {
                const EVENT_TYPE: &'static str = "";
                const FILTER: &'static str = "";
                const ALIASES: &'static [&'static str] = &[];
                const FILTERS: &'static [&'static str] = &[];
            }
        }),
        Body::Enum { variants, .. } => {
            let mut seen = Vec::new();
            for variant in variants {
                let Shape::Newtype(inner) = variant.shape else {
                    continue;
                };
                if seen.contains(&pretty(inner)) {
                    continue;
                }
                seen.push(pretty(inner));
                extra.extend(quote! {
                    #[automatically_derived]
                    impl #impl_generics ::cim_events::__private::VariantOf<#ident #ty_generics> for #inner #derived_clause {
                        const VARIANT: &'static str = "";
                        fn get(_: &#ident #ty_generics) -> ::core::option::Option<&Self> {
                            ::core::option::Option::None
                        }
                    }
                });
            }
        }
    }
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::cim_events::Event for #ident #ty_generics #event_clause {
                fn event_type(&self) -> &str {
                    ::core::unreachable!()
                }
                fn aggregate_id(&self) -> &str {
                    ::core::unreachable!()
                }
            }
            #[automatically_derived]
            impl #impl_generics ::cim_events::__private::EventSet for #ident #ty_generics #derived_clause {
                const AGGREGATE_TYPE: &'static str = "";
                const VARIANTS: &'static [::cim_events::__private::VariantInfo] = &[];
            }
            #extra
        };
    }
}

/// Stubs for `#[aggregate]`: the impl block itself (markers removed), an `Aggregate` impl
/// and one `Handle` impl per command whose type is known.
pub fn aggregate(input: &AggregateInput<'_>) -> TokenStream {
    let stripped = strip_markers(input.original, true);
    let Some(events) = &input.args.events else {
        return stripped.to_token_stream();
    };
    if input.original.trait_.is_some() {
        return stripped.to_token_stream();
    }
    let impls = Impls::new(input, events);
    let mut seen = Vec::new();
    let generics = crate::valid::generic_names(&input.original.generics);
    let handles = input.commands.iter().filter_map(|command| {
        if let crate::command::Form::Generated { params, .. } = &command.form {
            if !crate::command::is_sound(params, &generics) {
                return None;
            }
        }
        let ty = command.command_ty(&input.module);
        if matches!(ty, Type::Reference(_) | Type::ImplTrait(_)) || seen.contains(&pretty(&ty)) {
            return None;
        }
        seen.push(pretty(&ty));
        Some(impls.handle(&ty, quote!(::core::unreachable!())))
    });
    let aggregate = impls.aggregate("", TokenStream::new());
    let name = crate::valid::aggregate_type_name(input).unwrap_or_default();
    let module = crate::aggregate::generated_commands(input, &name, true);
    quote! {
        #stripped
        #aggregate
        #(#handles)*
        #module
    }
}

/// `#[command]` or `#[apply]` outside an `#[aggregate]` impl: an error, and the item
/// unchanged.
pub fn misplaced_marker(name: &str, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{name}]` works only on a method of an impl block marked `#[aggregate(…)]`, which reads it; mark the impl block, or remove `#[{name}]`"
    );
    let mut out = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    out.extend(item);
    out
}
