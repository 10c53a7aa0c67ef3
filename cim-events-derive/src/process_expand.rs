//! Code generation of `#[process]`: the `impl Process` of a checked input, or, when the
//! input has errors, a stub that keeps them the only errors.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ImplItemFn, ItemImpl, PatType};

use crate::names::unraw;
use crate::process::{On, ProcessInput, marker_name};

/// The impl block without its markers; with `allow_unused`, the handlers marked
/// `#[allow(dead_code)]` (nothing calls them when the input has errors).
fn strip_markers(item: &ItemImpl, allow_unused: bool) -> ItemImpl {
    let mut item = item.clone();
    for impl_item in &mut item.items {
        let attrs = match impl_item {
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Fn(f) => &mut f.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        let before = attrs.len();
        attrs.retain(|a| marker_name(a).is_none());
        if allow_unused && attrs.len() != before {
            attrs.push(syn::parse_quote!(#[allow(dead_code)]));
        }
    }
    item
}

/// What the handler's return type is turned into: `Result<(), Self::Error>`.
fn output(method: &ImplItemFn, call: TokenStream) -> TokenStream {
    let ret = match &method.sig.output {
        syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
        syn::ReturnType::Default => quote!(()),
    };
    let span = method.sig.output.span();
    quote_spanned! {span=>
        <#ret as ::cim_events::__private::HandlerOutput<<Self as ::cim_events::Aggregate>::Error>>::into_result(#call)
    }
}

/// An argument passed as `value`, spanned at the parameter's type so a mismatch is
/// reported there.
fn arg(param: Option<&PatType>, value: TokenStream) -> Option<TokenStream> {
    param.map(|p| {
        let span = p.ty.span();
        quote_spanned!(span=> #value)
    })
}

pub(crate) fn expand(input: &ProcessInput<'_>) -> TokenStream {
    let item = input.original;
    let stripped = strip_markers(item, false);
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();

    let selectors = input.on.iter().map(|on| {
        let events = &on.events;
        let variant = unraw(&on.variant);
        quote_spanned!(on.path.span()=> ::cim_events::__private::on_variant::<#events>(#variant).selector())
    });
    let mut selectors = selectors.collect::<Vec<_>>().into_iter();
    let first = selectors.next();
    let selector = quote!(#first #(.or(#selectors))*);

    let branches = input.on.iter().map(|on| {
        let On { method, path, events, variant, .. } = on;
        let name = &method.sig.ident;
        let variant = unraw(variant);
        let event = on.event.map(|p| {
            let ty = &p.ty;
            quote_spanned!(ty.span()=> <#ty as ::cim_events::__private::OnEvent<'_, #events>>::from_event(&__event))
        });
        let trigger = arg(on.trigger, quote!(__trigger));
        let reaction = arg(on.reaction, quote!(__reaction));
        let args = event.into_iter().chain(trigger).chain(reaction);
        let call = output(method, quote!(Self::#name(self, #(#args),*)));
        let span = path.span();
        let on = quote_spanned!(span=> ::cim_events::__private::on_variant::<#events>(#variant));
        quote! {
            let __on = #on;
            if __on.matches(__trigger) {
                let __event = match __on.decode(__trigger) {
                    ::core::result::Result::Ok(__event) => __event,
                    ::core::result::Result::Err(__error) => {
                        __reaction.fail(__error);
                        return ::core::result::Result::Ok(());
                    }
                };
                // The compiler resolves the variant here, at the user's path.
                let _ = ::core::matches!(__event, #path { .. });
                return #call;
            }
        }
    });

    let wake = (!input.timers.is_empty()).then(|| {
        let arms = input.timers.iter().map(|timer| {
            let name = &timer.method.sig.ident;
            let lit = &timer.name;
            let args = arg(timer.timer, quote!(__timer))
                .into_iter()
                .chain(arg(timer.reaction, quote!(__reaction)));
            let call = output(timer.method, quote!(Self::#name(self, #(#args),*)));
            quote!(#lit => #call,)
        });
        quote! {
            fn wake(
                &self,
                __timer: &::cim_events::process::Wakeup,
                __reaction: &mut ::cim_events::process::Reaction<Self>,
            ) -> ::core::result::Result<(), <Self as ::cim_events::Aggregate>::Error> {
                match __timer.name.as_str() {
                    #(#arms)*
                    // A timer no handler knows any more: it no longer matters.
                    _ => ::core::result::Result::Ok(()),
                }
            }
        }
    });

    let instance = input.args.instance.as_ref().map(|f| {
        quote! {
            fn instance(__trigger: &::cim_events::RecordedEvent) -> ::core::option::Option<::cim_events::__private::String> {
                #f(__trigger)
            }
        }
    });

    quote! {
        #stripped

        #[automatically_derived]
        impl #impl_generics ::cim_events::process::Process for #self_ty #where_clause {
            fn selector() -> ::cim_events::EventSelector {
                #selector
            }

            #instance

            fn react(
                &self,
                __trigger: &::cim_events::RecordedEvent,
                __reaction: &mut ::cim_events::process::Reaction<Self>,
            ) -> ::core::result::Result<(), <Self as ::cim_events::Aggregate>::Error> {
                #(#branches)*
                // An event no handler takes (the selector let it through): ignored.
                let _ = (__trigger, __reaction);
                ::core::result::Result::Ok(())
            }

            #wake
        }
    }
}

/// The impl block (markers removed) and a stub `impl Process`, so that code using the
/// process compiles and the user sees only the macro's errors.
pub(crate) fn fallback(input: &ProcessInput<'_>) -> TokenStream {
    let item = input.original;
    let stripped = strip_markers(item, true);
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    quote! {
        #stripped

        #[automatically_derived]
        impl #impl_generics ::cim_events::process::Process for #self_ty #where_clause {
            fn selector() -> ::cim_events::EventSelector {
                ::core::unreachable!()
            }
            fn react(
                &self,
                _: &::cim_events::RecordedEvent,
                _: &mut ::cim_events::process::Reaction<Self>,
            ) -> ::core::result::Result<(), <Self as ::cim_events::Aggregate>::Error> {
                ::core::unreachable!()
            }
        }
    }
}
