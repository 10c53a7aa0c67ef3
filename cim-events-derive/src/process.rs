//! `#[process]`: an impl block of `#[on(Enum::Variant)]` and `#[on_timer("name")]`
//! handlers becomes `impl Process`: the selector (the union of the handlers' events),
//! `react` (dispatch by the trigger's event type, decode, call) and `wake` (dispatch by
//! timer name).
//!
//! Like `#[aggregate]`, the macro cannot see the event enums. Whether `Enum::Variant`
//! exists is checked by a pattern the compiler resolves at the user's path; the variant's
//! stored names come from `EventSet` at run time, so a typo is one error, not two. The
//! parameter and return types are checked through traits with their own messages.
//!
//! This file parses and checks; `process_expand.rs` writes the code.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, PatType, Path, Type};

use crate::attr::unknown_key;
use crate::ctxt::Ctxt;
use crate::names::{pretty, unraw};
use crate::process_expand::{expand, fallback};

const PROCESS_KEYS: &[&str] = &["instance", "on"];

/// The arguments of `#[process(…)]`.
#[derive(Default)]
pub struct ProcessArgs {
    /// `instance = path`: a `fn(&RecordedEvent) -> Option<String>` naming the instance.
    pub instance: Option<Path>,
    /// `on = [Enum::Variant, …]`: the events the process subscribes to, each of which
    /// must have a handler.
    pub on: Option<Vec<Path>>,
}

/// An `#[on(Enum::Variant)]` handler.
pub struct On<'a> {
    pub method: &'a ImplItemFn,
    /// `Enum::Variant`, as written.
    pub path: Path,
    /// `Enum`: the path without its last segment.
    pub events: Path,
    pub variant: Ident,
    pub event: Option<&'a PatType>,
    pub trigger: Option<&'a PatType>,
    pub reaction: Option<&'a PatType>,
}

/// An `#[on_timer("name")]` handler.
pub struct Timer<'a> {
    pub method: &'a ImplItemFn,
    pub name: LitStr,
    pub timer: Option<&'a PatType>,
    pub reaction: Option<&'a PatType>,
}

/// The input of `#[process]`.
pub struct ProcessInput<'a> {
    pub original: &'a ItemImpl,
    pub args: ProcessArgs,
    pub on: Vec<On<'a>>,
    pub timers: Vec<Timer<'a>>,
    /// Whether a marker's argument did not parse (then no other error is about it).
    pub broken: bool,
}

/// Parses, checks and expands `#[process(args)] item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = process_args(&cx, args);
    let original: ItemImpl = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(original) if original.trait_.is_none() => original,
        _ => {
            cx.error_span(
                Span::call_site(),
                "`#[process]` goes on an impl block of the process: `#[process] impl Checkout { #[on(OrderEvent::Placed)] fn placed(…) … }`",
            );
            let mut out = cx
                .check()
                .map_or_else(|e| e.to_compile_error(), |()| TokenStream::new());
            out.extend(item);
            return out;
        }
    };
    let input = ProcessInput::from_syn(&cx, args, &original);
    check(&cx, &input);
    match cx.check() {
        Ok(()) => expand(&input),
        Err(errors) => {
            let mut out = errors.to_compile_error();
            out.extend(fallback(&input));
            out
        }
    }
}

/// `#[on]` or `#[on_timer]` outside a `#[process]` impl: an error, and the item unchanged.
pub fn misplaced_marker(name: &str, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{name}]` works only on a method of an impl block marked `#[process]`, which reads it; mark the impl block, or remove `#[{name}]`"
    );
    let mut out = syn::Error::new(Span::call_site(), message).to_compile_error();
    out.extend(item);
    out
}

fn process_args(cx: &Ctxt, args: TokenStream) -> ProcessArgs {
    let mut out = ProcessArgs::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map_or_else(|| pretty(&meta.path), ToString::to_string);
        match key.as_str() {
            "instance" => {
                let path: Path = meta.value()?.parse()?;
                if out.instance.replace(path).is_some() {
                    cx.error_at(&meta.path, "`instance` is given twice; keep one");
                }
            }
            "on" => {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let list = Punctuated::<Path, syn::Token![,]>::parse_terminated(&content)?;
                if out.on.replace(list.into_iter().collect()).is_some() {
                    cx.error_at(&meta.path, "`on` is given twice; keep one list");
                }
            }
            _ => {
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                }
                cx.error_at(&meta.path, unknown_key("process", &key, PROCESS_KEYS));
            }
        }
        Ok(())
    });
    if let Err(err) = syn::parse::Parser::parse2(parser, args) {
        cx.push(err);
    }
    out
}

enum Marker {
    On(Path),
    Timer(LitStr),
    /// A marker whose argument did not parse (already reported).
    Broken,
}

/// `on` or `on_timer`, bare or as `cim_events::…`.
pub(crate) fn marker_name(attr: &Attribute) -> Option<&'static str> {
    let path = attr.path();
    let root_ok = path.segments.len() == 1
        || (path.segments.len() == 2 && path.segments[0].ident == "cim_events");
    let last = path.segments.last()?;
    if !root_ok {
        None
    } else if last.ident == "on" {
        Some("on")
    } else if last.ident == "on_timer" {
        Some("on_timer")
    } else {
        None
    }
}

fn marker(cx: &Ctxt, attr: &Attribute) -> Option<Marker> {
    let name = marker_name(attr)?;
    let tokens = match &attr.meta {
        syn::Meta::List(list) => Some(&list.tokens),
        _ => None,
    };
    if name == "on" {
        let example =
            "`#[on(…)]` takes the event variant it reacts to: `#[on(OrderEvent::Placed)]`";
        let Some(path) = tokens.and_then(|t| syn::parse2::<Path>(t.clone()).ok()) else {
            cx.error_at(&attr.meta, example);
            return Some(Marker::Broken);
        };
        let last = path.segments.last().map(|s| &s.ident);
        if path.segments.len() < 2 {
            cx.error_at(
                &path,
                format!(
                    "`{}` is not a path to an enum variant: write the enum too, `#[on(OrderEvent::{})]`",
                    pretty(&path),
                    last.map_or_else(String::new, unraw)
                ),
            );
            return Some(Marker::Broken);
        }
        if let Some(last) = path.segments.last() {
            if !last.arguments.is_none() {
                cx.error_at(
                    &last.arguments,
                    "a variant takes no generic arguments: put them on the enum, `#[on(OrderEvent::<T>::Placed)]`",
                );
                return Some(Marker::Broken);
            }
        }
        Some(Marker::On(path))
    } else {
        match tokens.and_then(|t| syn::parse2::<LitStr>(t.clone()).ok()) {
            Some(lit) => Some(Marker::Timer(lit)),
            None => {
                cx.error_at(
                    tokens.map_or_else(|| attr.meta.to_token_stream(), ToTokens::to_token_stream),
                    "`#[on_timer(…)]` takes the timer's name as a string literal: `#[on_timer(\"payment-timeout\")]`",
                );
                Some(Marker::Broken)
            }
        }
    }
}

fn item_attrs(item: &ImplItem) -> &[Attribute] {
    match item {
        ImplItem::Const(c) => &c.attrs,
        ImplItem::Fn(f) => &f.attrs,
        ImplItem::Type(t) => &t.attrs,
        ImplItem::Macro(m) => &m.attrs,
        _ => &[],
    }
}

impl<'a> ProcessInput<'a> {
    pub fn from_syn(cx: &Ctxt, args: ProcessArgs, original: &'a ItemImpl) -> Self {
        let mut on = Vec::new();
        let mut timers = Vec::new();
        let mut broken = false;
        for item in &original.items {
            let mut marked = item_attrs(item)
                .iter()
                .filter_map(|a| marker(cx, a).map(|m| (a, m)));
            let Some((first_attr, first)) = marked.next() else {
                continue;
            };
            for (extra, _) in marked {
                cx.error_at(
                    extra,
                    "a method is one `#[on(…)]` or one `#[on_timer(…)]` handler; remove this attribute",
                );
            }
            let ImplItem::Fn(method) = item else {
                cx.error_at(
                    first_attr,
                    "`#[on(…)]` and `#[on_timer(…)]` go on a method of the `#[process]` impl: `#[on(OrderEvent::Placed)] fn placed(&self, event: &OrderEvent, out: &mut Reaction<Self>)`",
                );
                continue;
            };
            let params: Vec<&PatType> = method
                .sig
                .inputs
                .iter()
                .filter_map(|input| match input {
                    FnArg::Typed(p) => Some(p),
                    FnArg::Receiver(_) => None,
                })
                .collect();
            match first {
                Marker::On(path) => {
                    let mut events = path.clone();
                    let variant = events
                        .segments
                        .pop()
                        .map(syn::punctuated::Pair::into_value)
                        .map(|s| s.ident);
                    let Some(variant) = variant else { continue };
                    // The pair popped left its `::` behind.
                    events.segments.pop_punct();
                    let (event, trigger, reaction) = on_params(cx, method, &params, &events);
                    on.push(On {
                        method,
                        path,
                        events,
                        variant,
                        event,
                        trigger,
                        reaction,
                    });
                }
                Marker::Timer(name) => {
                    let (timer, reaction) = timer_params(cx, method, &params);
                    timers.push(Timer {
                        method,
                        name,
                        timer,
                        reaction,
                    });
                }
                Marker::Broken => broken = true,
            }
        }
        ProcessInput {
            original,
            args,
            on,
            timers,
            broken,
        }
    }
}

/// `&self` receiver and no `async`, as every handler needs.
fn check_shape(cx: &Ctxt, method: &ImplItemFn, what: &str) {
    let sig = &method.sig;
    if let Some(asyncness) = &sig.asyncness {
        cx.error_at(
            asyncness,
            format!(
                "an `{what}` handler is not `async`: it decides from the state and the trigger only; the runtime sends the commands and sets the timers it leaves in the reaction"
            ),
        );
    }
    match sig.receiver() {
        Some(r) if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() => {}
        Some(r) => cx.error_at(
            r,
            format!(
                "an `{what}` handler takes `&self`: reacting must not change the state; the events it records change it through `#[apply]`"
            ),
        ),
        None => cx.error_at(
            &sig.ident,
            format!("an `{what}` handler is a method: it takes `&self`, the process's state"),
        ),
    }
}

fn is_mut_ref(param: &PatType) -> bool {
    matches!(&*param.ty, Type::Reference(r) if r.mutability.is_some())
}

/// The event, trigger and reaction parameters of an `#[on]` handler.
fn on_params<'a>(
    cx: &Ctxt,
    method: &ImplItemFn,
    params: &[&'a PatType],
    events: &Path,
) -> (
    Option<&'a PatType>,
    Option<&'a PatType>,
    Option<&'a PatType>,
) {
    check_shape(cx, method, "#[on]");
    let name = &method.sig.ident;
    let events = pretty(events);
    let expected = format!(
        "`fn {name}(&self, event: &{events}, out: &mut Reaction<Self>)`, with `trigger: &RecordedEvent` before `out` if it needs the stored event"
    );
    let Some((last, rest)) = params.split_last().filter(|(last, _)| is_mut_ref(last)) else {
        let at = params
            .last()
            .map_or_else(|| method.sig.to_token_stream(), |p| p.to_token_stream());
        cx.error_at(
            at,
            format!(
                "an `#[on]` handler takes the reaction it fills last, `out: &mut Reaction<Self>`: {expected}"
            ),
        );
        return (None, None, None);
    };
    match rest {
        [] => {
            cx.error_at(
                &method.sig,
                format!("an `#[on]` handler takes the event it reacts to: {expected}"),
            );
            (None, None, Some(last))
        }
        [event] => (Some(event), None, Some(last)),
        [event, trigger] => (Some(event), Some(trigger), Some(last)),
        [_, _, extra @ ..] => {
            for param in extra {
                cx.error_at(
                    param,
                    format!("an `#[on]` handler takes no other parameter: {expected}"),
                );
            }
            (None, None, None)
        }
    }
}

/// The timer and reaction parameters of an `#[on_timer]` handler.
fn timer_params<'a>(
    cx: &Ctxt,
    method: &ImplItemFn,
    params: &[&'a PatType],
) -> (Option<&'a PatType>, Option<&'a PatType>) {
    check_shape(cx, method, "#[on_timer]");
    let name = &method.sig.ident;
    let expected =
        format!("`fn {name}(&self, timer: &Wakeup, out: &mut Reaction<Self>)`, or without `timer`");
    let Some((last, rest)) = params.split_last().filter(|(last, _)| is_mut_ref(last)) else {
        let at = params
            .last()
            .map_or_else(|| method.sig.to_token_stream(), |p| p.to_token_stream());
        cx.error_at(
            at,
            format!(
                "an `#[on_timer]` handler takes the reaction it fills last, `out: &mut Reaction<Self>`: {expected}"
            ),
        );
        return (None, None);
    };
    match rest {
        [] => (None, Some(last)),
        [timer] => (Some(timer), Some(last)),
        [_, extra @ ..] => {
            for param in extra {
                cx.error_at(
                    param,
                    format!("an `#[on_timer]` handler takes no other parameter: {expected}"),
                );
            }
            (None, None)
        }
    }
}

/// The rules across handlers: each event and each timer has one handler, at least one
/// event has one, and an explicit `on = […]` list matches the handlers.
fn check(cx: &Ctxt, input: &ProcessInput<'_>) {
    if input.on.is_empty() && !input.broken && input.args.on.as_ref().is_none_or(Vec::is_empty) {
        cx.error_at(
            &input.original.self_ty,
            "a `#[process]` reacts to at least one event: add a handler, `#[on(OrderEvent::Placed)] fn placed(&self, event: &OrderEvent, out: &mut Reaction<Self>) -> Result<(), Self::Error>`",
        );
    }
    for (i, on) in input.on.iter().enumerate() {
        let key = pretty(&on.path);
        if let Some(first) = input.on[..i].iter().find(|o| pretty(&o.path) == key) {
            cx.error_at(
                &on.path,
                format!(
                    "a second handler for `{key}`: `{}` already handles it; each event has one handler",
                    first.method.sig.ident
                ),
            );
        }
    }
    for (i, timer) in input.timers.iter().enumerate() {
        let name = timer.name.value();
        if let Some(first) = input.timers[..i].iter().find(|t| t.name.value() == name) {
            cx.error_at(
                &timer.name,
                format!(
                    "a second handler for timer \"{name}\": `{}` already handles it; each timer has one handler",
                    first.method.sig.ident
                ),
            );
        }
    }
    let Some(listed) = &input.args.on else {
        return;
    };
    for (i, path) in listed.iter().enumerate() {
        let key = pretty(path);
        if listed[..i].iter().any(|p| pretty(p) == key) {
            cx.error_at(path, format!("`{key}` is listed twice in `on = […]`"));
        } else if !input.on.iter().any(|o| pretty(&o.path) == key) {
            cx.error_at(
                path,
                format!(
                    "the process subscribes to `{key}`, but no handler reacts to it: add `#[on({key})] fn …`, or remove it from `on = […]`"
                ),
            );
        }
    }
    for on in &input.on {
        let key = pretty(&on.path);
        if !listed.iter().any(|p| pretty(p) == key) {
            cx.error_at(
                &on.path,
                format!(
                    "`{}` handles `{key}`, which the process does not subscribe to: add it to `#[process(on = […])]`, or remove the handler",
                    on.method.sig.ident
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::compile_errors as errors;
    use quote::quote;

    fn checkout() -> TokenStream {
        quote! {
            impl Checkout {
                #[on(OrderEvent::Placed)]
                fn placed(&self, event: &OrderEvent, out: &mut Reaction<Self>) -> Result<(), CheckoutError> { Ok(()) }
                #[on(crate::PaymentEvent::Received)]
                fn paid(&self, event: &PaymentEvent, trigger: &RecordedEvent, out: &mut Reaction<Self>) {}
                #[on_timer("payment-timeout")]
                fn timed_out(&self, timer: &Wakeup, out: &mut Reaction<Self>) -> Result<(), CheckoutError> { Ok(()) }
                #[on_timer("reminder")]
                fn remind(&self, out: &mut Reaction<Self>) {}
                fn helper(&self) {}
            }
        }
    }

    #[test]
    fn expansion_writes_the_process_impl() {
        let out = attribute(quote!(instance = order_of), checkout());
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        for piece in [
            "impl :: cim_events :: process :: Process for Checkout",
            ":: cim_events :: __private :: on_variant :: < OrderEvent > (\"Placed\") . selector () . or (:: cim_events :: __private :: on_variant :: < crate :: PaymentEvent > (\"Received\") . selector ())",
            "let __on = :: cim_events :: __private :: on_variant :: < OrderEvent > (\"Placed\") ; if __on . matches (__trigger)",
            "match __on . decode (__trigger)",
            "__reaction . fail (__error) ; return :: core :: result :: Result :: Ok (()) ;",
            ":: core :: matches ! (__event , OrderEvent :: Placed { .. })",
            "Self :: placed (self , < & OrderEvent as :: cim_events :: __private :: OnEvent < '_ , OrderEvent >> :: from_event (& __event) , __reaction)",
            "Self :: paid (self , < & PaymentEvent as :: cim_events :: __private :: OnEvent < '_ , crate :: PaymentEvent >> :: from_event (& __event) , __trigger , __reaction)",
            "< () as :: cim_events :: __private :: HandlerOutput <",
            "\"payment-timeout\" => < Result < () , CheckoutError > as",
            "Self :: timed_out (self , __timer , __reaction)",
            "Self :: remind (self , __reaction)",
            "fn instance (__trigger : & :: cim_events :: RecordedEvent)",
            "order_of (__trigger)",
            "fn helper (& self) { }",
        ] {
            assert!(text.contains(piece), "missing `{piece}` in {text}");
        }
        assert!(!text.contains("# [on"));
    }

    #[test]
    fn without_timers_wake_is_the_default() {
        let out = attribute(
            TokenStream::new(),
            quote!(impl P {
                #[on(E::A)]
                fn a(&self, e: &E, out: &mut Reaction<Self>) {}
            }),
        );
        assert_eq!(errors(&out), Vec::<String>::new());
        let text = out.to_string();
        assert!(!text.contains("fn wake"));
        assert!(!text.contains("fn instance"));
    }

    #[test]
    fn every_mistake_is_reported_with_a_stub_beside() {
        let out = attribute(
            quote!(on = [E::A, E::Missing], instanse = f),
            quote!(impl P {
                #[on(E::A)]
                fn a(&self, e: &E, out: &mut Reaction<Self>) {}
                #[on(E::A)]
                fn again(&self, e: &E, out: &mut Reaction<Self>) {}
                #[on(E::Extra)]
                fn extra(&self, e: &E, out: &mut Reaction<Self>) {}
                #[on(A)]
                fn bare(&self, e: &E, out: &mut Reaction<Self>) {}
                #[on(E::B)]
                fn no_reaction(&self, e: &E) {}
                #[on(E::C)]
                fn mut_self(&mut self, e: &E, out: &mut Reaction<Self>) {}
                #[on_timer(late)]
                fn late(&self, out: &mut Reaction<Self>) {}
                #[on_timer("t")]
                fn t(&self, out: &mut Reaction<Self>) {}
                #[on_timer("t")]
                fn t2(&self, out: &mut Reaction<Self>) {}
            }),
        );
        assert_eq!(
            errors(&out),
            [
                "unknown process attribute `instanse`; did you mean `instance`?",
                "`A` is not a path to an enum variant: write the enum too, `#[on(OrderEvent::A)]`",
                "an `#[on]` handler takes the reaction it fills last, `out: &mut Reaction<Self>`: `fn no_reaction(&self, event: &E, out: &mut Reaction<Self>)`, with `trigger: &RecordedEvent` before `out` if it needs the stored event",
                "an `#[on]` handler takes `&self`: reacting must not change the state; the events it records change it through `#[apply]`",
                "`#[on_timer(…)]` takes the timer's name as a string literal: `#[on_timer(\"payment-timeout\")]`",
                "a second handler for `E::A`: `a` already handles it; each event has one handler",
                "a second handler for timer \"t\": `t` already handles it; each timer has one handler",
                "the process subscribes to `E::Missing`, but no handler reacts to it: add `#[on(E::Missing)] fn …`, or remove it from `on = […]`",
                "`extra` handles `E::Extra`, which the process does not subscribe to: add it to `#[process(on = […])]`, or remove the handler",
                "`no_reaction` handles `E::B`, which the process does not subscribe to: add it to `#[process(on = […])]`, or remove the handler",
                "`mut_self` handles `E::C`, which the process does not subscribe to: add it to `#[process(on = […])]`, or remove the handler",
            ]
        );
        let text = out.to_string();
        assert!(text.contains("impl :: cim_events :: process :: Process for P"));
        assert!(text.contains("# [allow (dead_code)] fn again"));
    }

    #[test]
    fn not_an_inherent_impl() {
        for item in [
            quote!(
                struct P;
            ),
            quote!(impl Tr for P {}),
        ] {
            let out = attribute(TokenStream::new(), item);
            assert_eq!(errors(&out).len(), 1);
        }
        let out = attribute(TokenStream::new(), quote!(impl P { fn f(&self) {} }));
        assert_eq!(errors(&out).len(), 1, "a process with no handler");
        // A handler whose marker is broken is not also "no handler".
        let out = attribute(
            TokenStream::new(),
            quote!(impl P { #[on(A)] fn a(&self, e: &E, out: &mut Reaction<Self>) {} }),
        );
        assert_eq!(errors(&out).len(), 1);
    }
}
