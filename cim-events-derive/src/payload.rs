//! The hidden helper structs that store an enum variant's fields as a payload of their
//! own: one borrowing the fields (serialize), one owning them (deserialize), with the
//! fields' serde attributes copied so the stored payload follows them exactly.
//!
//! The borrowing helper holds `&T` where the enum holds `T`, so functions that serde
//! calls with `&T` (`with`, `serialize_with`, `skip_serializing_if`) get adapters taking
//! `&&T`. The adapters are generic over the enum's parameters and named with a turbofish,
//! because serde expands these paths where the enum's parameter names are in scope.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{GenericParam, Generics, Ident, LitStr};

use crate::ast::{EventInput, Field, Variant};
use crate::serde_attr::{FieldMeta, SerdeContainer};

fn lit(value: &str) -> LitStr {
    LitStr::new(value, Span::call_site())
}

/// The names of a variant's serialize and deserialize helper structs.
pub fn helper_names(index: usize) -> (Ident, Ident) {
    (
        format_ident!("__CimSer{}", index),
        format_ident!("__CimDe{}", index),
    )
}

/// The enum's generic parameters as arguments: `'a, T, N`.
pub fn generic_args(generics: &Generics) -> Vec<TokenStream> {
    generics
        .params
        .iter()
        .map(|p| match p {
            GenericParam::Lifetime(l) => {
                let l = &l.lifetime;
                quote!(#l)
            }
            GenericParam::Type(t) => {
                let i = &t.ident;
                quote!(#i)
            }
            GenericParam::Const(c) => {
                let i = &c.ident;
                quote!(#i)
            }
        })
        .collect()
}

/// The serialize helper (borrowing the fields) and deserialize helper (owning them) of
/// one variant, with the adapters the borrowed fields need.
pub fn helper_structs(
    input: &EventInput<'_>,
    serde: &SerdeContainer,
    variant: &Variant<'_>,
    fields: &[Field<'_>],
    index: usize,
) -> TokenStream {
    let enum_ident = input.ident();
    let generics = &input.original.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let (ser, de) = helper_names(index);
    let rules = variant.serde.rename_all.or(&serde.rename_all_fields);
    let ser_rename = rules.serialize.map(|r| quote!(#[serde(rename_all = #r)]));
    let de_rename = rules.deserialize.map(|r| quote!(#[serde(rename_all = #r)]));
    let deny = serde
        .deny_unknown_fields
        .then(|| quote!(#[serde(deny_unknown_fields)]));
    let bounds = if variant.serde.bounds.is_empty() {
        &serde.bounds
    } else {
        &variant.serde.bounds
    };
    let bounds = quote!(#(#[serde(#bounds)])*);

    // Generic parameters with `'__cim` first, for the borrowed helper.
    let mut ser_generics = generics.clone();
    ser_generics.params.insert(0, syn::parse_quote!('__cim));
    let (ser_impl_generics, _, _) = ser_generics.split_for_impl();

    // Turbofish arguments naming the enum's type and const parameters, for adapters.
    let type_args: Vec<String> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.to_string()),
            GenericParam::Const(c) => Some(c.ident.to_string()),
            GenericParam::Lifetime(_) => None,
        })
        .collect();

    let mut adapters = TokenStream::new();
    let mut ser_fields = Vec::new();
    let mut de_fields = Vec::new();
    for (field_index, field) in fields.iter().enumerate() {
        let name = &field.member;
        let ty = field.ty;
        let mut ser_attrs = TokenStream::new();
        for meta in &field.serde.metas {
            match meta {
                FieldMeta::With(path, _) | FieldMeta::SerializeWith(path, _) => {
                    let function = match meta {
                        FieldMeta::With(..) => quote!(#path::serialize),
                        _ => quote!(#path),
                    };
                    let adapter = format_ident!("__cim_ser_{}_{}", index, field_index);
                    let mut fn_generics = generics.clone();
                    fn_generics.params.push(syn::parse_quote!(
                        __S: ::cim_events::__private::serde::Serializer
                    ));
                    let (fn_impl_generics, _, fn_where) = fn_generics.split_for_impl();
                    adapters.extend(quote! {
                        fn #adapter #fn_impl_generics (
                            __value: &&#ty,
                            __serializer: __S,
                        ) -> ::core::result::Result<__S::Ok, __S::Error> #fn_where {
                            #function(*__value, __serializer)
                        }
                    });
                    let mut turbofish = type_args.clone();
                    turbofish.push("_".to_owned());
                    let path = lit(&format!("{adapter}::<{}>", turbofish.join(", ")));
                    ser_attrs.extend(quote!(#[serde(serialize_with = #path)]));
                }
                FieldMeta::SkipSerializingIf(path, _) => {
                    let adapter = format_ident!("__cim_skip_{}_{}", index, field_index);
                    adapters.extend(quote! {
                        fn #adapter #impl_generics (__value: &&#ty) -> bool #where_clause {
                            #path(*__value)
                        }
                    });
                    let path = if type_args.is_empty() {
                        lit(&adapter.to_string())
                    } else {
                        lit(&format!("{adapter}::<{}>", type_args.join(", ")))
                    };
                    ser_attrs.extend(quote!(#[serde(skip_serializing_if = #path)]));
                }
                FieldMeta::Other(meta) => ser_attrs.extend(quote!(#[serde(#meta)])),
            }
        }
        let verbatim = &field.serde.verbatim;
        ser_fields.push(quote!(#ser_attrs #(#verbatim)* #name: &'__cim #ty));
        let de_attrs = field.serde.de_attrs();
        de_fields.push(quote!(#de_attrs #name: #ty));
    }
    // The serialize helper needs its lifetime used: by the fields, or by a marker when
    // there are none (a unit variant). Generic parameters always need the marker.
    let ser_phantom = if generics.params.is_empty() && !fields.is_empty() {
        quote!()
    } else {
        quote!(#[serde(skip)] __cim_phantom: ::core::marker::PhantomData<&'__cim #enum_ident #ty_generics>,)
    };
    let de_phantom = if generics.params.is_empty() {
        quote!()
    } else {
        quote!(#[serde(skip)] __cim_phantom: ::core::marker::PhantomData<#enum_ident #ty_generics>,)
    };

    quote! {
        #[derive(::cim_events::__private::serde::Serialize)]
        #[serde(crate = "::cim_events::__private::serde")]
        #ser_rename
        #bounds
        #[allow(non_camel_case_types, dead_code)]
        struct #ser #ser_impl_generics #where_clause {
            #(#ser_fields,)*
            #ser_phantom
        }

        #[derive(::cim_events::__private::serde::Deserialize)]
        #[serde(crate = "::cim_events::__private::serde")]
        #de_rename
        #deny
        #bounds
        #[allow(non_camel_case_types, dead_code)]
        struct #de #impl_generics #where_clause {
            #(#de_fields,)*
            #de_phantom
        }

        #adapters
    }
}
