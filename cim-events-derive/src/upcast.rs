//! Code generation for reading older schemas. `from_payload` reads the current schema
//! as before and each older one as the type `#[event(from(…))]` lists for it, then
//! converts that value up the chain with `From`, one step per version. A current event
//! pays one integer comparison; the conversions are closures that only older payloads
//! reach.
//!
//! Each listed type appears once in the output, as the parameter of its step, and the
//! step's call is spanned at it: a missing `From` or an unknown type is one error, at
//! the type the user wrote.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::{UpcastStep, Upcasts};
use crate::valid::mentions;

/// An expression of type `Result<T, PayloadError>` that decodes `__payload` stored
/// under `__schema`: `current` (an expression reading the current schema) when the
/// versions match, the upcast chain for a listed older one, an error otherwise.
///
/// `from` is validated: its versions are exactly `1..schema`.
pub fn decode(
    event_type: &str,
    schema: u32,
    from: Option<&Upcasts>,
    current: TokenStream,
) -> TokenStream {
    let unknown = quote! {
        ::core::result::Result::Err(::cim_events::__private::unknown_schema(#event_type, __other, #schema))
    };
    let Some(from) = from.filter(|f| !f.steps.is_empty()) else {
        return quote! {
            match __schema {
                #schema => #current,
                __other => #unknown,
            }
        };
    };
    let mut steps: Vec<&UpcastStep> = from.steps.iter().collect();
    steps.sort_by_key(|s| s.version);
    let name = |step: &UpcastStep| format_ident!("__cim_up{}", step.version);
    let closures = steps.iter().map(|step| {
        let ty = &step.ty;
        let closure = name(step);
        let call = quote_spanned!(ty.span()=> ::cim_events::__private::upcast(__v));
        quote!(let #closure = |__v: #ty| #call;)
    });
    let arms = steps.iter().enumerate().map(|(index, step)| {
        let version = step.version;
        let mut value = quote_spanned! {step.ty.span()=>
            ::cim_events::__private::from_stored(__payload)?
        };
        for later in &steps[index..] {
            let closure = name(later);
            value = quote!(#closure(#value));
        }
        quote!(#version => ::core::result::Result::Ok(#value),)
    });
    quote! {
        match __schema {
            #schema => #current,
            __schema => {
                #(#closures)*
                match __schema {
                    #(#arms)*
                    __other => #unknown,
                }
            }
        }
    }
}

/// The bounds a generic event's `Event` impl needs for its upcasts: each listed type
/// that depends on the event's parameters decodes, and each step whose types depend on
/// them converts. (For other types the compiler checks the steps where they are written.)
///
/// `target` is the type the last step converts into: the struct, or the enum.
pub fn bounds(
    from: Option<&Upcasts>,
    target: &TokenStream,
    generic_names: &[String],
) -> Vec<syn::WherePredicate> {
    let Some(from) = from else {
        return Vec::new();
    };
    if generic_names.is_empty() {
        return Vec::new();
    }
    let mut steps: Vec<&UpcastStep> = from.steps.iter().collect();
    steps.sort_by_key(|s| s.version);
    let mut out = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let old = &step.ty;
        let next = match steps.get(index + 1) {
            Some(next) => next.ty.to_token_stream(),
            None => target.clone(),
        };
        let old_generic = mentions(&old.to_token_stream(), generic_names);
        if old_generic {
            out.push(syn::parse_quote!(#old: ::cim_events::__private::StoredPayload));
        }
        if old_generic || mentions(&next, generic_names) {
            out.push(syn::parse_quote!(#next: ::cim_events::__private::Upcast<#old>));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Upcasts;
    use syn::parse_quote;

    fn step(version: u32, ty: syn::Type) -> UpcastStep {
        UpcastStep {
            version,
            version_lit: syn::LitInt::new(&version.to_string(), proc_macro2::Span::call_site()),
            ty,
        }
    }

    #[test]
    fn generic_events_state_their_upcast_bounds() {
        let from = Upcasts {
            key: parse_quote!(from),
            steps: vec![step(2, parse_quote!(V2)), step(1, parse_quote!(V1<T>))],
            broken: false,
        };
        let names = vec!["T".to_owned()];
        let written: Vec<String> = bounds(Some(&from), &quote!(Tagged<T>), &names)
            .iter()
            .map(|b| b.to_token_stream().to_string())
            .collect();
        assert_eq!(
            written,
            [
                "V1 < T > : :: cim_events :: __private :: StoredPayload",
                "V2 : :: cim_events :: __private :: Upcast < V1 < T > >",
                "Tagged < T > : :: cim_events :: __private :: Upcast < V2 >",
            ]
        );
        // A type without parameters: the compiler checks the steps where they are written.
        assert!(bounds(Some(&from), &quote!(Plain), &[]).is_empty());
    }

    #[test]
    fn current_schema_reads_directly() {
        let out = decode("Opened", 1, None, quote!(current())).to_string();
        assert_eq!(
            out,
            "match __schema { 1u32 => current () , __other => :: core :: result :: Result :: Err (:: cim_events :: __private :: unknown_schema (\"Opened\" , __other , 1u32)) , }"
        );
    }

    #[test]
    fn older_schemas_go_up_the_chain_in_order() {
        let from = Upcasts {
            key: parse_quote!(from),
            // Written newest first, as in the docs; the chain is built oldest first.
            steps: vec![step(2, parse_quote!(V2)), step(1, parse_quote!(V1))],
            broken: false,
        };
        let out = decode("Deposited", 3, Some(&from), quote!(current())).to_string();
        for piece in [
            "3u32 => current ()",
            "let __cim_up1 = | __v : V1 | :: cim_events :: __private :: upcast (__v) ;",
            "let __cim_up2 = | __v : V2 |",
            "2u32 => :: core :: result :: Result :: Ok (__cim_up2 (:: cim_events :: __private :: from_stored (__payload) ?))",
            "1u32 => :: core :: result :: Result :: Ok (__cim_up2 (__cim_up1 (:: cim_events :: __private :: from_stored (__payload) ?)))",
        ] {
            assert!(out.contains(piece), "missing `{piece}` in {out}");
        }
    }
}
