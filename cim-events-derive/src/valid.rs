//! Rules that span several items: names and aliases are subject tokens and unique, every
//! event has exactly one usable id, an upcast chain lists each older schema once,
//! handler signatures have the right shape, nothing is handled or applied twice.

use std::collections::BTreeMap;

use quote::ToTokens;
use syn::{Ident, LitStr, Pat, ReturnType, Type};

use crate::ast::{AggregateInput, Apply, Body, Command, EventInput, Field, Shape, Variant};
use crate::attr::{EventAttrs, Schema, UpcastStep};
use crate::command::{FieldProblem, Form, Param, field_problems};
use crate::ctxt::Ctxt;
use crate::names::{borrowed, pretty, shorten, snake_case, token_error, token_problem, unraw};

/// The event type of a variant or struct: its `name` or its Rust name.
pub fn event_name(explicit: Option<&LitStr>, ident: &Ident) -> String {
    explicit.map_or_else(|| unraw(ident), LitStr::value)
}

/// The aggregate type of an event type: its `aggregate` or its Rust name.
pub fn aggregate_name(input: &EventInput<'_>) -> String {
    event_name(input.attrs.aggregate.as_ref(), input.ident())
}

pub fn check_event(cx: &Ctxt, input: &EventInput<'_>) {
    let ident = input.ident();
    let is_struct = matches!(input.body, Body::Struct(_));
    match &input.attrs.aggregate {
        Some(lit) => check_token(cx, "aggregate type", lit),
        // A struct whose name is also its default event name gets one error for both.
        None if is_struct && input.attrs.name.is_none() => {
            check_default_token(
                cx,
                ident,
                "event name and aggregate type",
                "name = \"…\", aggregate = \"…\"",
            );
        }
        None => check_default_token(cx, ident, "aggregate type", "aggregate = \"…\""),
    }
    match &input.body {
        Body::Struct(fields) => {
            match &input.attrs.name {
                Some(lit) => check_token(cx, "event name", lit),
                None if input.attrs.aggregate.is_some() => {
                    check_default_token(cx, ident, "event name", "name = \"…\"");
                }
                None => {}
            }
            check_id(cx, fields, &input.ident().to_token_stream());
            check_upcasts(cx, &input.attrs, None, input.ident());
            let name = event_name(input.attrs.name.as_ref(), input.ident());
            let mut names = BTreeMap::from([(name, Taken::Name(input.ident()))]);
            check_aliases(cx, &input.attrs, input.ident(), &mut names);
        }
        Body::Enum { variants, .. } => {
            if variants.is_empty() {
                cx.error_at(
                    input.ident(),
                    format!(
                        "`{}` has no variants: an event enum needs at least one",
                        input.ident()
                    ),
                );
            }
            check_ids_agree(cx, variants);
            let mut names: BTreeMap<String, &Ident> = BTreeMap::new();
            let mut filters: BTreeMap<String, &Ident> = BTreeMap::new();
            let mut wrapped: BTreeMap<String, &Ident> = BTreeMap::new();
            for variant in variants {
                check_variant(cx, variant);
                let ident = &variant.original.ident;
                if let Shape::Newtype(ty) = variant.shape {
                    if let Some(first) = wrapped.insert(pretty(ty), ident) {
                        cx.error_at(
                            ty,
                            format!(
                                "variant `{first}` already wraps `{}`: an `#[apply]` taking `&{}` could not tell them apart; wrap a distinct type",
                                pretty(ty),
                                pretty(ty)
                            ),
                        );
                    }
                } else {
                    let name = event_name(variant.attrs.name.as_ref(), ident);
                    if let Some(first) = names.get(&name) {
                        let message = format!(
                            "duplicate event name `{name}`: variant `{first}` already has it; give this variant another `#[event(name = \"…\")]`"
                        );
                        match &variant.attrs.name {
                            Some(lit) => cx.error_at(lit, message),
                            None => cx.error_at(ident, message),
                        }
                    } else {
                        names.insert(name, ident);
                    }
                }
                let filter = snake_case(&unraw(ident));
                if let Some(first) = filters.insert(filter.clone(), ident) {
                    cx.error_at(
                        ident,
                        format!(
                            "variants `{first}` and `{ident}` both make the helper `filter_{filter}`; rename one of them"
                        ),
                    );
                }
            }
            // Aliases after every name, so that a clash is reported at the alias.
            let mut taken: BTreeMap<String, Taken<'_>> = names
                .into_iter()
                .map(|(name, ident)| (name, Taken::Name(ident)))
                .collect();
            for variant in variants {
                check_aliases(cx, &variant.attrs, &variant.original.ident, &mut taken);
                if let Shape::Named(_) = variant.shape {
                    check_upcasts(
                        cx,
                        &variant.attrs,
                        input.attrs.schema.as_ref(),
                        &variant.original.ident,
                    );
                }
            }
        }
    }
}

/// Who already reads an event type: a variant (or struct) under its name, or one under
/// an alias.
#[derive(Clone, Copy)]
enum Taken<'a> {
    Name(&'a Ident),
    Alias(&'a Ident),
}

/// Each alias is a subject token, not the event's own name, and read by one event only.
fn check_aliases<'a>(
    cx: &Ctxt,
    attrs: &EventAttrs,
    owner: &'a Ident,
    taken: &mut BTreeMap<String, Taken<'a>>,
) {
    let Some(aliases) = &attrs.aliases else {
        return;
    };
    for lit in &aliases.names {
        if let Some(problem) = token_problem(&lit.value()) {
            cx.error_at(lit, token_error("event alias", &lit.value(), &problem));
            continue;
        }
        let alias = lit.value();
        let message = match taken.get(&alias) {
            None => {
                taken.insert(alias, Taken::Alias(owner));
                continue;
            }
            Some(Taken::Name(first)) if *first == owner => format!(
                "event alias `{alias}` is this event's own name; an alias is an earlier name: remove it"
            ),
            Some(Taken::Alias(first)) if *first == owner => {
                format!("duplicate event alias `{alias}`; remove one of them")
            }
            Some(Taken::Name(first)) => format!(
                "event alias `{alias}` is the event type of variant `{first}`: stored events of that type could not tell which to become; remove the alias or rename that variant"
            ),
            Some(Taken::Alias(first)) => format!(
                "event alias `{alias}` is already an alias of variant `{first}`: stored events of that type could not tell which to become; keep it on one variant"
            ),
        };
        cx.error_at(lit, message);
    }
}

/// `from(…)` lists exactly one type for each schema below the current one.
///
/// `inherited` is the enum's `schema`, the default of its variants.
fn check_upcasts(cx: &Ctxt, attrs: &EventAttrs, inherited: Option<&Schema>, owner: &Ident) {
    let own = attrs.schema.as_ref();
    let current = own.or(inherited).map_or(1, |s| s.value);
    let Some(from) = &attrs.from else {
        if current > 1 {
            let missing = missing_list(&(1..current).collect::<Vec<_>>());
            let slots = (1..current)
                .rev()
                .map(|v| format!("{v} = …"))
                .collect::<Vec<_>>()
                .join(", ");
            match own {
                Some(schema) => cx.error_span(
                    schema.span,
                    format!(
                        "{missing}: add `from({slots})` to `#[event(…)]`, naming the type each older schema was stored as"
                    ),
                ),
                None => cx.error_at(
                    owner,
                    format!(
                        "variant `{owner}` has the enum's schema {current}, so it needs upcasts: {missing}: add `#[event(from({slots}))]` to it, or `#[event(schema = 1)]` if it was never stored under an older schema"
                    ),
                ),
            }
        }
        return;
    };
    if from.broken {
        return;
    }
    if current == 1 {
        cx.error_at(
            &from.key,
            "`from(…)` lists upcasts from older schemas, but this event is at schema 1, the first: raise it with `schema = 2` when its payload changes",
        );
        return;
    }
    let mut seen: BTreeMap<u32, &UpcastStep> = BTreeMap::new();
    for step in &from.steps {
        let v = step.version;
        if v == 0 {
            cx.error_at(
                &step.version_lit,
                "there is no schema 0: versions start at 1; list each schema below the current one",
            );
        } else if v >= current {
            cx.error_at(
                &step.version_lit,
                format!(
                    "upcast from schema {v}, which is not older than the current schema {current}: an upcast converts an older payload; remove `{v} = …`, or raise `schema` above {v}"
                ),
            );
        } else if let Some(first) = seen.get(&v) {
            cx.error_at(
                &step.version_lit,
                format!(
                    "duplicate upcast from schema {v}: `{v} = {}` already converts it; remove one of them",
                    pretty(&first.ty)
                ),
            );
        } else {
            seen.insert(v, step);
        }
    }
    let missing: Vec<u32> = (1..current).filter(|v| !seen.contains_key(v)).collect();
    if !missing.is_empty() {
        let slots = missing
            .iter()
            .rev()
            .map(|v| format!("{v} = …"))
            .collect::<Vec<_>>()
            .join(", ");
        cx.error_at(
            &from.key,
            format!("{}: add `{slots}` to `from(…)`", missing_list(&missing)),
        );
    }
}

/// "missing upcast from schema 1", "missing upcasts from schemas 1 and 2".
fn missing_list(versions: &[u32]) -> String {
    match versions {
        [one] => format!("missing upcast from schema {one}"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(u32::to_string).collect();
            format!(
                "missing upcasts from schemas {} and {last}",
                init.join(", ")
            )
        }
        [] => String::new(),
    }
}

/// The variants of an enum agree on where the id is: in an `#[event(id)]` field of every
/// variant with fields, or in none (the envelope carries it). A variant without one next
/// to variants with one is most likely a forgotten marker.
fn check_ids_agree(cx: &Ctxt, variants: &[Variant<'_>]) {
    let named = variants.iter().filter_map(|v| match &v.shape {
        Shape::Named(fields) => Some((v, fields.iter().any(|f| f.id.is_some()))),
        _ => None,
    });
    let (with, without): (Vec<_>, Vec<_>) = named.partition(|(_, has)| *has);
    let Some((first, _)) = with.first() else {
        return;
    };
    for (variant, _) in without {
        let ident = &variant.original.ident;
        cx.error_at(
            ident,
            format!(
                "variant `{ident}` has no `#[event(id)]` field, but `{}` has one: mark `{ident}`'s id field `#[event(id)]` (add one if it has none), or remove the id from every variant: the block's envelope carries it",
                first.original.ident
            ),
        );
    }
}

fn check_variant(cx: &Ctxt, variant: &Variant<'_>) {
    let ident = &variant.original.ident;
    match &variant.attrs.name {
        Some(lit) => check_token(cx, "event name", lit),
        // A newtype variant takes the wrapped event's name, which its own derive checks.
        None if !matches!(variant.shape, Shape::Newtype(_)) => {
            check_default_token(cx, ident, "event name", "name = \"…\"");
        }
        None => {}
    }
    match &variant.shape {
        Shape::Named(fields) => {
            check_id(cx, fields, &ident.to_token_stream());
            if let Some(meta) = &variant.serde.whole_with {
                cx.error_at(
                    meta,
                    format!(
                        "`#[serde({})]` on an event variant is not supported: each variant's fields are stored as a map of their own; put it on the fields",
                        pretty(meta.path())
                    ),
                );
            }
        }
        Shape::Newtype(_) => {}
        Shape::Tuple => cx.error_at(
            &variant.original.fields,
            format!(
                "tuple variant `{ident}` is not supported: name its fields (one marked `#[event(id)]`), or wrap one event struct as `{ident}({ident})`"
            ),
        ),
    }
}

/// At most one `#[event(data_subject)]` field.
fn check_data_subject(cx: &Ctxt, fields: &[Field<'_>], owner: &proc_macro2::TokenStream) {
    let mut marked = fields.iter().filter(|f| f.data_subject.is_some());
    let Some(first) = marked.next() else {
        return;
    };
    for second in marked {
        let Some(key) = &second.data_subject else {
            continue;
        };
        cx.error_at(
            key,
            format!(
                "a second `#[event(data_subject)]` in `{owner}`: `{}` already names the data subject; keep one",
                pretty(&first.member)
            ),
        );
    }
}

/// At most one `#[event(id)]` field (none: the event takes its id from the envelope), of
/// a type that can be an aggregate id, and stored.
fn check_id(cx: &Ctxt, fields: &[Field<'_>], owner: &proc_macro2::TokenStream) {
    check_data_subject(cx, fields, owner);
    let mut ids = fields.iter().filter(|f| f.id.is_some());
    let Some(first) = ids.next() else {
        return;
    };
    for second in ids {
        let Some(key) = &second.id else { continue };
        cx.error_at(
            key,
            format!(
                "a second `#[event(id)]` in `{owner}`: `{}` is already the aggregate id; keep one",
                pretty(&first.member)
            ),
        );
    }
    if let Some(problem) = unusable_id_type(first.ty) {
        cx.error_at(
            first.ty,
            format!(
                "the `#[event(id)]` field has type `{}`, {problem}; use `String` or a newtype that implements `AsRef<str>`",
                pretty(first.ty)
            ),
        );
    }
    if let Some(skip) = first.serde.skipped() {
        cx.error_at(
            skip,
            format!(
                "the `#[event(id)]` field cannot be `#[serde({})]`: the aggregate id must survive a round trip through the store",
                pretty(skip)
            ),
        );
    }
}

/// Why a type, judged by its syntax, can never be an aggregate id. Types that pass are
/// checked by the compiler (`AsRef<str>`).
fn unusable_id_type(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Reference(r) if matches!(&*r.elem, Type::Path(p) if p.path.is_ident("str")) => {
            Some("but events are owned (`DeserializeOwned`) and cannot borrow")
        }
        Type::Reference(_) => Some("but events are owned (`DeserializeOwned`) and cannot borrow"),
        Type::Tuple(_) | Type::Array(_) | Type::Slice(_) => {
            Some("but an aggregate id is one string (a NATS subject token)")
        }
        Type::Paren(p) => unusable_id_type(&p.elem),
        Type::Group(g) => unusable_id_type(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let name = last.ident.to_string();
            match name.as_str() {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64"
                | "i128" | "isize" | "f32" | "f64" | "bool" | "char"
                    if p.path.segments.len() == 1 =>
                {
                    Some("but an aggregate id is a string (a NATS subject token), not a number")
                }
                "Option" => {
                    Some("but every event belongs to an aggregate: the id cannot be optional")
                }
                "Vec" | "HashSet" | "BTreeSet" | "HashMap" | "BTreeMap" => {
                    Some("but an aggregate id is one string (a NATS subject token)")
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn check_token(cx: &Ctxt, what: &str, lit: &LitStr) {
    if let Some(problem) = token_problem(&lit.value()) {
        cx.error_at(lit, token_error(what, &lit.value(), &problem));
    }
}

/// The rules of [`check_token`] for a name taken from a Rust identifier, which the user
/// did not write as a string: the fix is to write one (`keys` goes into `#[event(…)]`).
fn check_default_token(cx: &Ctxt, ident: &Ident, what: &str, keys: &str) {
    let name = unraw(ident);
    if let Some(problem) = token_problem(&name) {
        cx.error_at(
            ident,
            format!(
                "{what} `{}`, taken from this Rust name, is not a valid NATS subject token: {problem}; give it a shorter one: `#[event({keys})]`",
                shorten(&name)
            ),
        );
    }
}

/// The aggregate type name of an `#[aggregate]` impl: `name = "…"` or the type's name.
pub fn aggregate_type_name(input: &AggregateInput<'_>) -> Option<String> {
    if let Some(lit) = &input.args.name {
        return Some(lit.value());
    }
    match &*input.original.self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| unraw(&s.ident)),
        _ => None,
    }
}

pub fn check_aggregate(cx: &Ctxt, input: &AggregateInput<'_>) {
    let item = input.original;
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_at(
            path,
            "`#[aggregate]` goes on the inherent impl of the aggregate (`impl Account { … }`), not on a trait impl",
        );
    }
    if input.args.events.is_none() && !input.args.events_reported {
        cx.error_span(
            proc_macro2::Span::call_site(),
            "`#[aggregate]` needs the aggregate's events: write `#[aggregate(events = AccountEvent, error = BankError)]`",
        );
    }
    match (&input.args.name, aggregate_type_name(input)) {
        (Some(lit), _) => check_token(cx, "aggregate type", lit),
        (None, None) => cx.error_at(
            &item.self_ty,
            "cannot name this aggregate type: write `#[aggregate(name = \"…\", …)]`",
        ),
        (None, Some(name)) => {
            if let Some(problem) = token_problem(&name) {
                cx.error_at(
                    &item.self_ty,
                    format!(
                        "aggregate type `{}`, taken from this Rust name, is not a valid NATS subject token: {problem}; give it one: `#[aggregate(name = \"…\", …)]` (the same as the events' `#[event(aggregate = \"…\")]`)",
                        shorten(&name)
                    ),
                );
            }
        }
    }
    let mut handled: BTreeMap<String, &Ident> = BTreeMap::new();
    for command in &input.commands {
        check_command(cx, input, command);
        let key = pretty(&command.command_ty(&input.module));
        if let Some(first) = handled.get(&key) {
            let message = match &command.form {
                Form::Written { .. } => format!(
                    "a second `#[command]` for `{key}`: `{first}` already handles it; each command has one handler"
                ),
                Form::Generated { name, .. } => format!(
                    "`{}` and `{first}` both generate the command `{key}`: rename one of them (the command is named after its handler, `{}` → `{name}`)",
                    command.method.sig.ident, command.method.sig.ident
                ),
            };
            match &command.form {
                Form::Written { ty, .. } => cx.error_at(ty, message),
                Form::Generated { .. } => cx.error_at(&command.method.sig.ident, message),
            }
        } else {
            handled.insert(key, &command.method.sig.ident);
        }
    }
    let mut applied: BTreeMap<String, &Ident> = BTreeMap::new();
    for apply in &input.applies {
        check_apply(cx, apply);
        let (key, at): (String, &dyn ToTokens) = match (&apply.variant, apply.params.first()) {
            (Some(variant), _) => (format!("variant {variant}"), variant),
            (None, Some(param)) => match &*param.ty {
                Type::Reference(r) => (format!("type {}", pretty(&r.elem)), &r.elem),
                _ => continue,
            },
            (None, None) => continue,
        };
        if let Some(first) = applied.get(&key) {
            let what = key.split_once(' ').map_or(key.as_str(), |(_, w)| w);
            cx.error_at(
                at,
                format!(
                    "a second `#[apply]` for `{what}`: `{first}` already applies it; each event has one `#[apply]`"
                ),
            );
        } else {
            applied.insert(key, &apply.method.sig.ident);
        }
    }
}

fn check_signature_basics(cx: &Ctxt, method: &syn::ImplItemFn, what: &str) {
    let sig = &method.sig;
    if let Some(token) = &sig.asyncness {
        cx.error_at(
            token,
            format!("{what} cannot be `async`: it decides or applies from state in memory"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_at(
            &sig.generics,
            format!("{what} cannot have generic parameters"),
        );
    }
}

fn check_command(cx: &Ctxt, input: &AggregateInput<'_>, command: &Command<'_>) {
    let sig = &command.method.sig;
    check_signature_basics(cx, command.method, "a `#[command]`");
    let why =
        "deciding must not change the state; the events it returns change it through `#[apply]`";
    match command.receiver {
        None => cx.error_at(
            &sig.ident,
            format!("a `#[command]` takes `&self`: {why}; add `&self`"),
        ),
        Some(r) if r.reference.is_none() => cx.error_at(
            r,
            format!("a `#[command]` takes `&self`, not `self`: {why}"),
        ),
        Some(r) if r.mutability.is_some() => cx.error_at(
            r,
            format!("a `#[command]` takes `&self`, not `&mut self`: {why}"),
        ),
        Some(r) if r.colon_token.is_some() => {
            cx.error_at(r, format!("a `#[command]` takes `&self`: {why}"))
        }
        Some(_) => {}
    }
    match &command.form {
        Form::Written { ty, .. } => {
            let first = command.params[0];
            match ty {
                Type::Reference(r) => cx.error_at(
                    r,
                    format!(
                        "a `#[command]` takes its command by value: `{}: {}`",
                        pretty(&first.pat),
                        pretty(&r.elem)
                    ),
                ),
                Type::ImplTrait(t) => cx.error_at(
                    t,
                    "a `#[command]` takes one concrete command type, not `impl Trait`",
                ),
                _ => {}
            }
            for extra in command.params.iter().skip(2) {
                cx.error_at(
                    extra,
                    "a `#[command]` takes the command and, optionally, `ctx: &CommandContext<'_>`; nothing more",
                );
            }
        }
        Form::Generated { name, params } => check_generated(cx, input, name, params),
    }
    if let ReturnType::Default = sig.output {
        let events = input.args.events.as_ref().map_or("E".to_owned(), pretty);
        let error = input
            .args
            .error
            .as_ref()
            .map_or("Infallible".to_owned(), pretty);
        cx.error_at(
            &sig.ident,
            format!(
                "a `#[command]` returns its events or a rejection: add `-> Result<{events}, {error}>` (or `Result<Vec<{events}>, {error}>`)"
            ),
        );
    }
}

/// The parameters of a handler whose command the macro writes: named, owned fields, and
/// at most one context.
fn check_generated(cx: &Ctxt, input: &AggregateInput<'_>, name: &Ident, params: &[Param<'_>]) {
    let generics = generic_names(&input.original.generics);
    let mut context = None;
    for param in params {
        match param {
            Param::Context(p) => {
                if context.is_some() {
                    cx.error_at(
                        p,
                        "a `#[command]` takes `ctx: &CommandContext<'_>` once; remove this one",
                    );
                }
                context = Some(p);
            }
            Param::Field(_, p) => {
                for problem in field_problems(p, &generics) {
                    match problem {
                        FieldProblem::Unnamed(pat) => cx.error_at(
                            pat,
                            format!(
                                "name this parameter: it becomes a field of the generated command `{name}` (`amount: u64`)"
                            ),
                        ),
                        FieldProblem::Borrowed(r) => cx.error_at(
                            r,
                            format!(
                                "`{name}` is a command the macro writes from these parameters, and a command owns its fields: write `{}: {}`",
                                pretty(&p.pat),
                                owned(&r.elem)
                            ),
                        ),
                        FieldProblem::ImplTrait(t) => cx.error_at(
                            t,
                            format!(
                                "`{name}` is a command the macro writes from these parameters: its fields need concrete types, not `impl Trait`"
                            ),
                        ),
                        FieldProblem::Generic(ty) => cx.error_at(
                            ty,
                            format!(
                                "the generated command `{name}` cannot use the aggregate's generic parameters: write the command type yourself and take it as the parameter (`command: {name}<…>`)"
                            ),
                        ),
                    }
                }
            }
        }
    }
}

/// The owned type to suggest for a borrowed `elem`: `String` for `str`, `Vec<T>` for
/// `[T]`, else `elem` itself.
fn owned(elem: &Type) -> String {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
        Type::Slice(s) => format!("Vec<{}>", pretty(&s.elem)),
        other => pretty(other),
    }
}

fn check_apply(cx: &Ctxt, apply: &Apply<'_>) {
    let sig = &apply.method.sig;
    check_signature_basics(cx, apply.method, "an `#[apply]`");
    let why = "applying an event changes the state";
    match apply.receiver {
        None => cx.error_at(
            &sig.ident,
            format!("an `#[apply]` takes `&mut self`: {why}; add `&mut self`"),
        ),
        Some(r) if r.reference.is_none() => cx.error_at(
            r,
            format!("an `#[apply]` takes `&mut self`, not `self`: {why}"),
        ),
        Some(r) if r.mutability.is_none() => cx.error_at(
            r,
            format!("an `#[apply]` takes `&mut self`, not `&self`: {why}"),
        ),
        Some(r) if r.colon_token.is_some() => {
            cx.error_at(r, format!("an `#[apply]` takes `&mut self`: {why}"))
        }
        Some(_) => {}
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if !matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()) {
            cx.error_at(
                ty,
                "an `#[apply]` returns nothing: events are facts, so applying one cannot fail or decide; remove the return type",
            );
        }
    }
    match &apply.variant {
        None => match apply.params.as_slice() {
            [] => cx.error_at(
                &sig.ident,
                "an `#[apply]` takes the event it applies, `fn closed(&mut self, event: &Closed)`, or names a variant and binds its fields: `#[apply(Opened)] fn opened(&mut self, owner: &String)`",
            ),
            [param] => match &*param.ty {
                Type::Reference(r) if r.mutability.is_none() => {}
                other => cx.error_at(
                    other,
                    format!(
                        "an `#[apply]` takes the event by shared reference: `{}: &{}`",
                        pretty(&param.pat),
                        pretty(&strip_reference(other))
                    ),
                ),
            },
            [_, second, ..] => cx.error_at(
                second,
                "an `#[apply]` without a variant name takes one parameter, the event; to bind the fields of a variant write `#[apply(Variant)]`",
            ),
        },
        Some(_) => {
            for param in &apply.params {
                let name = match &*param.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => &p.ident,
                    other => {
                        cx.error_at(
                            other,
                            "bind a field of the variant by its name: `amount: &u64`",
                        );
                        continue;
                    }
                };
                match &*param.ty {
                    Type::Reference(r) if r.mutability.is_none() => {}
                    other => cx.error_at(
                        other,
                        format!(
                            "bind field `{name}` by shared reference: `{name}: {}`",
                            borrowed(&strip_reference(other))
                        ),
                    ),
                }
            }
        }
    }
}

fn strip_reference(ty: &Type) -> Type {
    match ty {
        Type::Reference(r) => (*r.elem).clone(),
        other => other.clone(),
    }
}

/// Whether `tokens` mention any of `names` (generic parameters of an impl).
pub fn mentions(tokens: &proc_macro2::TokenStream, names: &[String]) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => names.contains(&ident.to_string()),
        proc_macro2::TokenTree::Group(group) => mentions(&group.stream(), names),
        proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Literal(_) => false,
    })
}

/// The names of a generics list's parameters (lifetimes without the `'`).
pub fn generic_names(generics: &syn::Generics) -> Vec<String> {
    generics
        .params
        .iter()
        .map(|p| match p {
            syn::GenericParam::Type(t) => t.ident.to_string(),
            syn::GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
            syn::GenericParam::Const(c) => c.ident.to_string(),
        })
        .collect()
}
