//! Code generation for `#[aggregate(...)]`: the `Aggregate` impl (apply dispatch, type
//! name), one `Handle<C>` impl per `#[command]`, and the compile-time checks that every
//! event has exactly one `#[apply]`.
//!
//! The macro cannot see the event enum. What it needs of it comes from the derive through
//! hidden traits: `EventSet` lists the variants (with the error to show when one has no
//! apply), `VariantOf` maps a wrapped type to its variant. The checks are constants that
//! panic with those messages, spanned at the user's tokens.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemImpl, Pat, Type};

use crate::ast::{AggregateInput, Apply, strip_markers};
use crate::attr;
use crate::command::{self, Form};
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::names::{pretty, unraw};
use crate::valid::{self, aggregate_type_name, generic_names, mentions};

/// Parses, checks and expands `#[aggregate(args)] item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let parsed_args = attr::aggregate_args(&cx, args);
    let original: ItemImpl = match syn::parse2(item.clone()) {
        Ok(original) => original,
        Err(_) => {
            cx.error_span(
                proc_macro2::Span::call_site(),
                "`#[aggregate]` goes on the impl block of the aggregate: `#[aggregate(events = AccountEvent)] impl Account { … }`",
            );
            // The arguments' errors too: fixing the item should not reveal new ones.
            let mut out = cx
                .check()
                .map_or_else(|e| e.to_compile_error(), |()| TokenStream::new());
            out.extend(item);
            return out;
        }
    };
    let input = AggregateInput::from_syn(&cx, parsed_args, &original);
    valid::check_aggregate(&cx, &input);
    match cx.check() {
        Ok(()) => expand(&input),
        Err(errors) => {
            let mut out = errors.to_compile_error();
            out.extend(fallback::aggregate(&input));
            out
        }
    }
}

/// The trait impls `#[aggregate]` writes, shared by the expansion and the fallback, which
/// differ only in the method bodies.
pub struct Impls<'a> {
    self_ty: &'a Type,
    events: &'a Type,
    error: TokenStream,
    generics: syn::Generics,
    /// `const STATE_VERSION`, when `state = N` sets it.
    state: Option<TokenStream>,
}

impl<'a> Impls<'a> {
    pub fn new(input: &'a AggregateInput<'_>, events: &'a Type) -> Self {
        Impls {
            self_ty: &input.original.self_ty,
            events,
            error: error_type(input),
            generics: aggregate_generics(input),
            state: input
                .args
                .state
                .map(|n| quote!(const STATE_VERSION: u32 = #n;)),
        }
    }

    /// `impl Aggregate`; `apply` sees the event as `__event`.
    pub fn aggregate(&self, name: &str, apply: TokenStream) -> TokenStream {
        let Impls {
            self_ty,
            events,
            error,
            state,
            ..
        } = self;
        let (impl_generics, _, where_clause) = self.generics.split_for_impl();
        quote! {
            #[automatically_derived]
            impl #impl_generics ::cim_events::Aggregate for #self_ty #where_clause {
                type Event = #events;
                type Error = #error;
                const AGGREGATE_TYPE: &'static str = #name;
                #state

                fn apply(&mut self, __event: &#events) {
                    #apply
                }
            }
        }
    }

    /// `impl Handle<C>`; `handle` sees the command as `__command`, the context as `__ctx`.
    pub fn handle(&self, command_ty: &Type, body: TokenStream) -> TokenStream {
        let Impls {
            self_ty,
            events,
            error,
            ..
        } = self;
        let (impl_generics, _, where_clause) = self.generics.split_for_impl();
        quote! {
            #[automatically_derived]
            impl #impl_generics ::cim_events::Handle<#command_ty> for #self_ty #where_clause {
                fn handle(
                    &self,
                    __command: #command_ty,
                    __ctx: &::cim_events::CommandContext<'_>,
                ) -> ::core::result::Result<::cim_events::__private::Vec<#events>, #error> {
                    #body
                }
            }
        }
    }
}

/// The where clause of the generated impls: what the `Aggregate` supertraits need, stated
/// for generic aggregates so the user writes no extra bounds.
fn aggregate_generics(input: &AggregateInput<'_>) -> syn::Generics {
    let item = input.original;
    let mut generics = item.generics.clone();
    if generics.params.is_empty() {
        return generics;
    }
    let names = generic_names(&item.generics);
    let lifetimes: Vec<syn::Lifetime> = generics.lifetimes().map(|l| l.lifetime.clone()).collect();
    let self_ty = &item.self_ty;
    let clause = generics.make_where_clause();
    for lifetime in lifetimes {
        clause
            .predicates
            .push(syn::parse_quote!(#lifetime: 'static));
    }
    clause.predicates.push(syn::parse_quote!(
        #self_ty: ::core::default::Default + ::core::marker::Send + ::core::marker::Sync + 'static
    ));
    if let Some(events) = &input.args.events {
        if mentions(&events.to_token_stream(), &names) {
            clause.predicates.push(syn::parse_quote!(
                #events: ::cim_events::Event + ::cim_events::__private::EventSet
            ));
        }
    }
    if let Some(error) = &input.args.error {
        if mentions(&error.to_token_stream(), &names) {
            clause.predicates.push(syn::parse_quote!(
                #error: ::core::error::Error + ::core::marker::Send + ::core::marker::Sync + 'static
            ));
        }
    }
    generics
}

/// The aggregate's error type: `error = …`, or `Infallible` for aggregates that never
/// reject a command.
fn error_type(input: &AggregateInput<'_>) -> TokenStream {
    match &input.args.error {
        Some(error) => error.to_token_stream(),
        None => quote!(::core::convert::Infallible),
    }
}

fn expand(input: &AggregateInput<'_>) -> TokenStream {
    let item = input.original;
    let mut stripped = strip_markers(item, false);
    allow_forced_wraps(&mut stripped, input);
    let Some(events) = &input.args.events else {
        return stripped.to_token_stream();
    };
    let impls = Impls::new(input, events);
    let name = aggregate_type_name(input).unwrap_or_default();
    let names = generic_names(&item.generics);

    // Compile-time checks: constants when they name no generic parameter of the impl,
    // otherwise inline constants in `apply`, evaluated when the aggregate is used.
    let mut eager = TokenStream::new();
    let mut deferred = TokenStream::new();
    for (check, tokens) in checks(input, events, &name) {
        if mentions(&tokens, &names) {
            deferred.extend(quote!(const { #check };));
        } else {
            eager.extend(quote!(const _: () = #check;));
        }
    }

    let dispatch = dispatch(input, events);
    let handles = input.commands.iter().filter_map(|command| {
        let method = &command.method.sig.ident;
        let command_ty = command.command_ty(&input.module);
        let ret = match &command.method.sig.output {
            syn::ReturnType::Type(_, ty) => ty,
            syn::ReturnType::Default => return None,
        };
        let output = quote_spanned! {ret.span()=>
            <#ret as ::cim_events::__private::CommandOutput<Self>>::into_events
        };
        let call = match &command.form {
            Form::Written { ctx, .. } => {
                // Spanned at the parameter, so a wrong context type is reported there.
                let ctx = ctx.map(|param| {
                    let ty = &param.ty;
                    quote_spanned!(ty.span()=> , <#ty as ::cim_events::__private::ContextParam<'_>>::from_context(__ctx))
                });
                quote!(Self::#method(self, __command #ctx))
            }
            Form::Generated { params, .. } => {
                let call = command::call(method, &command_ty, params);
                quote!({ #call })
            }
        };
        Some(impls.handle(&command_ty, quote!(#output(#call))))
    });
    let module = generated_commands(input, &name, false);
    let aggregate = impls.aggregate(&name, quote!(#deferred #dispatch));

    quote! {
        #stripped
        #aggregate
        #(#handles)*
        #module

        const _: () = {
            #eager
        };
    }
}

/// The module of command types generated from handler parameters. With `only_sound`
/// (the fallback, next to errors), only the commands that can be written, each name once.
pub fn generated_commands(
    input: &AggregateInput<'_>,
    aggregate: &str,
    only_sound: bool,
) -> TokenStream {
    let generics = generic_names(&input.original.generics);
    let mut names = Vec::new();
    let generated: Vec<command::Generated<'_>> = input
        .commands
        .iter()
        .filter_map(|c| match &c.form {
            Form::Generated { name, params } => Some(command::Generated {
                method: c.method,
                name,
                params,
            }),
            Form::Written { .. } => None,
        })
        .filter(|c| {
            !only_sound
                || (command::is_sound(c.params, &generics) && {
                    let fresh = !names.contains(c.name);
                    names.push(c.name.clone());
                    fresh
                })
        })
        .collect();
    command::module(&input.module, aggregate, &generated)
}

/// A `#[command]` must return `Result` even when it never rejects, so clippy's pedantic
/// `unnecessary_wraps` would fire on a signature the user cannot change: allow it there.
fn allow_forced_wraps(stripped: &mut ItemImpl, input: &AggregateInput<'_>) {
    for impl_item in &mut stripped.items {
        let syn::ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if input
            .commands
            .iter()
            .any(|c| c.method.sig.ident == method.sig.ident)
        {
            method
                .attrs
                .push(syn::parse_quote!(#[allow(clippy::unnecessary_wraps)]));
        }
    }
}

/// The compile-time checks, each an expression of type `()` that panics with the message
/// the user sees, and the tokens that decide whether it can run before monomorphization.
fn checks(
    input: &AggregateInput<'_>,
    events: &Type,
    name: &str,
) -> Vec<(TokenStream, TokenStream)> {
    let mut out = Vec::new();
    let span = events.span();
    let event_set = quote_spanned!(span=> <#events as ::cim_events::__private::EventSet>);
    let events_tokens = events.to_token_stream();

    let self_name = pretty(&input.original.self_ty);
    let mismatch = format!(
        "`{self_name}` has aggregate type `{name}`, but its events `{}` belong to another aggregate type: put `#[event(aggregate = \"{name}\")]` on `{}`, or `name = \"…\"` in `#[aggregate(…)]`",
        pretty(events),
        pretty(events)
    );
    out.push((
        quote_spanned! {span=>
            if !::cim_events::__private::str_eq(#event_set::AGGREGATE_TYPE, #name) {
                ::core::panic!("{}", #mismatch)
            }
        },
        events_tokens.clone(),
    ));

    let applied: Vec<(TokenStream, TokenStream)> = input
        .applies
        .iter()
        .filter_map(|apply| applied_name(apply, events))
        .collect();
    let names = applied.iter().map(|(name, _)| name);
    let mut tokens = events_tokens.clone();
    for (_, t) in &applied {
        tokens.extend(t.clone());
    }
    out.push((
        quote_spanned! {span=>
            if let ::core::option::Option::Some(__message) =
                ::cim_events::__private::missing_apply(#event_set::VARIANTS, &[#(#names),*])
            {
                ::core::panic!("{}", __message)
            }
        },
        tokens,
    ));

    // Two `#[apply]`s taking differently spelled types may still name one variant.
    for (index, apply) in input.applies.iter().enumerate() {
        if apply.variant.is_some() || index == 0 {
            continue;
        }
        let Some((this, this_tokens)) = applied_name(apply, events) else {
            continue;
        };
        let earlier = applied[..]
            .iter()
            .take(position_in_applied(input, index))
            .map(|(n, _)| n);
        let message = format!(
            "`{}` applies the same event as an earlier `#[apply]`; each event has exactly one, remove one of them",
            apply.method.sig.ident
        );
        let span = this_tokens.span();
        let mut tokens = events_tokens.clone();
        tokens.extend(this_tokens.clone());
        for (_, t) in &applied {
            tokens.extend(t.clone());
        }
        out.push((
            quote_spanned! {span=>
                if ::cim_events::__private::contains(&[#(#earlier),*], #this) {
                    ::core::panic!("{}", #message)
                }
            },
            tokens,
        ));
    }
    out
}

/// How many of the applies before `index` have a name in `applied_name`.
fn position_in_applied(input: &AggregateInput<'_>, index: usize) -> usize {
    input.applies[..index]
        .iter()
        .filter(|a| {
            a.variant.is_some()
                || matches!(a.params.first().map(|p| &*p.ty), Some(Type::Reference(_)))
        })
        .count()
}

/// The variant an `#[apply]` handles, as a `&str` constant expression, and the type
/// tokens it depends on.
fn applied_name(apply: &Apply<'_>, events: &Type) -> Option<(TokenStream, TokenStream)> {
    if let Some(variant) = &apply.variant {
        let name = unraw(variant);
        return Some((quote!(#name), TokenStream::new()));
    }
    let Type::Reference(reference) = &*apply.params.first()?.ty else {
        return None;
    };
    let ty = &reference.elem;
    Some((
        quote_spanned!(ty.span()=> <#ty as ::cim_events::__private::VariantOf<#events>>::VARIANT),
        ty.to_token_stream(),
    ))
}

/// The body of `Aggregate::apply`: one branch per `#[apply]`.
fn dispatch(input: &AggregateInput<'_>, events: &Type) -> TokenStream {
    let path = events_path(events);
    let branches: Vec<TokenStream> = input
        .applies
        .iter()
        .filter_map(|apply| {
            let method = &apply.method.sig.ident;
            match &apply.variant {
                Some(variant) => {
                    let fields: Vec<&syn::Ident> = apply
                        .params
                        .iter()
                        .filter_map(|p| match &*p.pat {
                            Pat::Ident(i) => Some(&i.ident),
                            _ => None,
                        })
                        .collect();
                    Some(quote! {
                        if let #path::#variant { #(#fields,)* .. } = __event {
                            Self::#method(self, #(#fields),*)
                        }
                    })
                }
                None => {
                    let Type::Reference(reference) = &*apply.params.first()?.ty else {
                        return None;
                    };
                    let ty = &reference.elem;
                    let get = quote_spanned!(ty.span()=> <#ty as ::cim_events::__private::VariantOf<#events>>::get);
                    Some(quote! {
                        if let ::core::option::Option::Some(__e) = #get(__event) {
                            Self::#method(self, __e)
                        }
                    })
                }
            }
        })
        .collect();
    if branches.is_empty() {
        return quote!(let _ = __event;);
    }
    quote!(#(#branches)else*)
}

/// The events type as a path usable in a pattern: generic arguments dropped (the
/// scrutinee's type supplies them).
fn events_path(events: &Type) -> TokenStream {
    match events {
        Type::Path(p) if p.qself.is_none() => {
            let mut path = p.path.clone();
            if let Some(last) = path.segments.last_mut() {
                last.arguments = syn::PathArguments::None;
            }
            path.to_token_stream()
        }
        other => other.to_token_stream(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::compile_errors as errors;
    use syn::parse_quote;

    fn account() -> ItemImpl {
        parse_quote! {
            impl Account {
                #[command]
                fn open(&self, cmd: Open, ctx: &CommandContext<'_>) -> Result<AccountEvent, BankError> { unreachable!() }
                #[command]
                fn deposit(&self, cmd: Deposit) -> Result<Vec<AccountEvent>, BankError> { unreachable!() }
                #[apply(Opened)]
                fn opened(&mut self, owner: &str) {}
                #[apply]
                fn closed(&mut self, event: &Closed) {}
                fn helper(&self) {}
            }
        }
    }

    #[test]
    fn expansion_writes_aggregate_and_handle_impls() {
        let out = attribute(
            quote!(events = AccountEvent, error = BankError),
            account().to_token_stream(),
        );
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        for piece in [
            "impl :: cim_events :: Aggregate for Account",
            "type Event = AccountEvent ;",
            "type Error = BankError ;",
            "const AGGREGATE_TYPE : & 'static str = \"Account\" ;",
            "impl :: cim_events :: Handle < Open > for Account",
            "impl :: cim_events :: Handle < Deposit > for Account",
            "Self :: open (self , __command , < & CommandContext < '_ > as :: cim_events :: __private :: ContextParam < '_ >> :: from_context (__ctx))",
            "Self :: deposit (self , __command)",
            "if let AccountEvent :: Opened { owner , .. } = __event { Self :: opened (self , owner) }",
            "else if let :: core :: option :: Option :: Some (__e) = < Closed as :: cim_events :: __private :: VariantOf < AccountEvent >> :: get (__event)",
            "missing_apply (< AccountEvent as :: cim_events :: __private :: EventSet > :: VARIANTS , & [\"Opened\" , < Closed as",
            "fn helper (& self) { }",
        ] {
            assert!(text.contains(piece), "missing `{piece}` in {text}");
        }
        assert!(!text.contains("# [command]"));
        // Commands must return `Result`: pedantic clippy may not blame them for it.
        assert_eq!(
            text.matches("# [allow (clippy :: unnecessary_wraps)]")
                .count(),
            2
        );
        assert!(!text.contains("# [apply"));
        // Without `state = N` the trait's default (1) stands.
        assert!(!text.contains("STATE_VERSION"));
    }

    #[test]
    fn state_version_is_declared() {
        let out = attribute(
            quote!(events = AccountEvent, state = 3),
            account().to_token_stream(),
        );
        assert_eq!(errors(&out), Vec::<String>::new());
        assert!(
            out.to_string()
                .contains("const STATE_VERSION : u32 = 3u32 ;")
        );
    }

    #[test]
    fn generic_aggregates_defer_their_checks() {
        let item: ItemImpl = parse_quote! {
            impl<T: Clone> Inventory<T> {
                #[apply(Added)]
                fn added(&mut self, item: &T) {}
            }
        };
        let out = attribute(quote!(events = InventoryEvent<T>), item.to_token_stream());
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        assert!(text.contains("impl < T : Clone > :: cim_events :: Aggregate for Inventory < T >"));
        assert!(text.contains(
            "InventoryEvent < T > : :: cim_events :: Event + :: cim_events :: __private :: EventSet"
        ));
        assert!(text.contains("const { if ! :: cim_events :: __private :: str_eq"));
        assert!(text.contains("if let InventoryEvent :: Added { item , .. } = __event"));
    }

    #[test]
    fn every_mistake_is_reported_with_stubs_beside() {
        let item: ItemImpl = parse_quote! {
            impl Account {
                #[command]
                fn open(&mut self, cmd: Open) -> Result<AccountEvent, BankError> { unreachable!() }
                #[command]
                fn again(&self, cmd: Open) -> Result<AccountEvent, BankError> { unreachable!() }
                #[apply(Opened)]
                fn opened(&self) {}
                #[apply]
                const X: u8 = 1;
            }
        };
        let out = attribute(
            quote!(events = AccountEvent, nmae = "A"),
            item.to_token_stream(),
        );
        assert_eq!(
            errors(&out),
            [
                "unknown aggregate attribute `nmae`; did you mean `name`?",
                "`#[apply]` goes on a method of the `#[aggregate]` impl: `#[apply] fn closed(&mut self, event: &Closed)`",
                "a `#[command]` takes `&self`, not `&mut self`: deciding must not change the state; the events it returns change it through `#[apply]`",
                "a second `#[command]` for `Open`: `open` already handles it; each command has one handler",
                "an `#[apply]` takes `&mut self`, not `&self`: applying an event changes the state",
            ]
        );
        let text = out.to_string();
        assert!(text.contains("impl :: cim_events :: Aggregate for Account"));
        assert_eq!(
            text.matches("impl :: cim_events :: Handle < Open > for Account")
                .count(),
            1
        );
        assert!(text.contains("# [allow (dead_code)] fn opened"));
    }

    #[test]
    fn not_an_impl_block() {
        let out = attribute(
            quote!(events = E),
            quote!(
                struct Account;
            ),
        );
        assert_eq!(errors(&out).len(), 1);
        assert!(out.to_string().contains("struct Account ;"));

        // A mistake in the arguments is reported as well, not only once the item is fixed.
        let out = attribute(
            quote!(evnets = E),
            quote!(
                struct Account;
            ),
        );
        assert_eq!(
            errors(&out),
            [
                "unknown aggregate attribute `evnets`; did you mean `events`?",
                "`#[aggregate]` goes on the impl block of the aggregate: `#[aggregate(events = AccountEvent)] impl Account { … }`",
            ]
        );
    }

    #[test]
    fn odd_inputs_give_errors_not_panics() {
        for (args, item) in [
            (
                quote!(events = fn(T) -> E<T>, error = dyn Fn(T) -> X + Send),
                quote!(
                    impl<T> dyn Tr<T> + Send {
                        #[command]
                        fn f(&self, c: C) -> R {
                            x
                        }
                    }
                ),
            ),
            (
                quote!(events = impl Tr<T>, error = [T; 2]),
                quote!(
                    impl<'a, T, const N: usize> [T; N] {}
                ),
            ),
            (
                quote!(events = <T as Tr>::E),
                quote!(
                    impl<T> (T,) {
                        #[apply]
                        fn a(&mut self, e: &<T as Tr>::X) {}
                    }
                ),
            ),
            (
                quote!(events = E, events),
                quote!(impl X {
                    #[apply(A, B)] fn a() {}
                    #[command] fn b(self: Box<Self>, (a, b): (A, B), c: u8, d: u8);
                    #[apply(A)] fn c(&mut self, (x, y): &u8, ref z: &u8) {}
                }),
            ),
            (quote!(,,), quote!(impl X {})),
            (quote!(events =), quote!(impl X {})),
            (quote!(events = E), quote!(impl !Send for X {})),
            (
                quote!(name = "a.b", events = E),
                quote!(
                    impl<T: ?Sized> X<T> {
                        #[command]
                        #[command]
                        fn f(&self, _: &dyn C) {}
                        #[apply]
                        type T = u8;
                        #[cim_events::apply]
                        m!();
                    }
                ),
            ),
        ] {
            let out = attribute(args.clone(), item.clone());
            assert!(!errors(&out).is_empty(), "no error for {args} / {item}");
        }
    }
}
