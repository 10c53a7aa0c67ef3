//! The macros' own attributes, parsed by hand with `parse_nested_meta`: `#[event(...)]`,
//! the arguments of `#[aggregate(...)]`, `#[command]` and `#[apply(...)]`.
//!
//! Parsing goes on after a bad key or value, so one pass reports every mistake.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token, Type};

use crate::ctxt::Ctxt;
use crate::names::{did_you_mean, pretty};

/// Where an `#[event(...)]` attribute sits; each place accepts different keys.
#[derive(Clone, Copy)]
pub enum EventPlace<'a> {
    Struct,
    Enum,
    /// A variant with named fields.
    Variant,
    /// A one-field tuple variant wrapping another event (the wrapped type).
    NewtypeVariant(&'a Type),
    /// A unit variant or a tuple variant: rejected elsewhere, attributes still parsed.
    OtherVariant,
    Field,
    /// The field of a newtype variant (the wrapped type).
    NewtypeField(&'a Type),
}

const EVENT_KEYS: &[&str] = &[
    "aggregate",
    "name",
    "schema",
    "id",
    "from",
    "aliases",
    "retired",
    "data_subject",
];

/// How each key is written, for messages that say where it goes.
fn key_example(key: &str) -> &'static str {
    match key {
        "from" => "from(…)",
        "aliases" => "aliases(…)",
        "retired" => "retired",
        "name" => "name = …",
        "schema" => "schema = …",
        _ => "…",
    }
}

impl EventPlace<'_> {
    fn keys(self) -> &'static [&'static str] {
        match self {
            EventPlace::Struct => &["aggregate", "name", "schema", "from", "aliases", "retired"],
            EventPlace::Enum => &["aggregate", "schema"],
            EventPlace::Variant => &["name", "schema", "from", "aliases", "retired"],
            // Tuple variants are rejected; their other keys are still read, so that they
            // add no second error.
            EventPlace::OtherVariant => &["name", "schema", "aliases", "retired"],
            EventPlace::NewtypeVariant(_) | EventPlace::NewtypeField(_) => &[],
            EventPlace::Field => &["id", "data_subject"],
        }
    }

    /// Why `key` (a known key) does not belong here, with where it goes instead.
    fn misplaced(self, key: &str) -> Option<String> {
        if self.keys().contains(&key) {
            return None;
        }
        Some(match (self, key) {
            (EventPlace::NewtypeVariant(inner), "from") => format!(
                "upcasts belong on the event whose payload they convert: this variant wraps `{}`; put `from(…)` in `#[event(…)]` on `{}`",
                pretty(inner),
                pretty(inner)
            ),
            (EventPlace::Enum | EventPlace::OtherVariant, "from") => "upcasts belong on the event whose payload they convert: put `from(…)` on a variant with named fields or on an event struct, next to its `schema`".to_owned(),
            (EventPlace::NewtypeVariant(inner), "name" | "schema" | "aliases" | "retired") => format!(
                "this variant wraps the event `{}`, which sets its own `{key}`; put `#[event({})]` on `{}`",
                pretty(inner),
                key_example(key),
                pretty(inner)
            ),
            (EventPlace::NewtypeField(inner), "id") => format!(
                "the aggregate id of a newtype variant is the id of the event it wraps; mark the id field inside `{}`",
                pretty(inner)
            ),
            (_, "id") => "`#[event(id)]` marks the field that holds the aggregate id; put it on a field".to_owned(),
            (_, "data_subject") => "`#[event(data_subject)]` marks the field whose value names the data subject (whose key encrypts the `Pii` fields); put it on a field".to_owned(),
            (EventPlace::Enum, "name") => "`name` sets the event type of one event; put `#[event(name = \"…\")]` on a variant".to_owned(),
            (_, "aggregate") => "the aggregate type is set once, on the event type: put `#[event(aggregate = \"…\")]` on the struct or enum".to_owned(),
            (EventPlace::Enum, "aliases") => "`aliases` are the earlier names of one event type; put `#[event(aliases(…))]` on a variant".to_owned(),
            (EventPlace::Enum, "retired") => "`retired` marks one event type as no longer produced; put `#[event(retired)]` on a variant".to_owned(),
            (_, key @ ("from" | "aliases" | "retired")) => format!(
                "`{key}` describes an event, not a field; put `#[event({})]` on the struct or variant",
                key_example(key)
            ),
            (_, key) => format!(
                "`{key}` describes an event, not a field; put `#[event({})]` on the struct, enum or variant",
                key_example(key)
            ),
        })
    }
}

/// A schema version.
#[derive(Clone)]
pub struct Schema {
    pub value: u32,
    /// The integer as written, for errors about the version.
    pub span: Span,
}

/// `from(2 = DepositedV2, 1 = DepositedV1)`: the types older payloads are stored as.
#[derive(Clone)]
pub struct Upcasts {
    /// The `from` key itself, for errors about the whole list.
    pub key: syn::Path,
    pub steps: Vec<UpcastStep>,
    /// The list could not be read and an error says so: checking what was read of it
    /// would report the same mistake twice.
    pub broken: bool,
}

/// One `version = Type` of `from(…)`.
#[derive(Clone)]
pub struct UpcastStep {
    pub version: u32,
    pub version_lit: LitInt,
    pub ty: Type,
}

/// `aliases("MoneyDeposited", "Deposit")`: earlier event types, still read.
#[derive(Clone)]
pub struct Aliases {
    pub names: Vec<LitStr>,
}

/// The keys of the `#[event(...)]` attributes at one place.
#[derive(Default, Clone)]
pub struct EventAttrs {
    pub aggregate: Option<LitStr>,
    pub name: Option<LitStr>,
    pub schema: Option<Schema>,
    /// The `id` key itself, for spans.
    pub id: Option<syn::Path>,
    pub from: Option<Upcasts>,
    pub aliases: Option<Aliases>,
    /// The `retired` key itself.
    pub retired: Option<syn::Path>,
    /// The `data_subject` key itself.
    pub data_subject: Option<syn::Path>,
}

impl EventAttrs {
    /// Each alias's value, in order.
    pub fn alias_names(&self) -> Vec<String> {
        self.aliases
            .iter()
            .flat_map(|a| a.names.iter().map(LitStr::value))
            .collect()
    }
}

/// Parses every `#[event(...)]` in `attrs`, reporting bad and misplaced keys.
pub fn event_attrs(cx: &Ctxt, attrs: &[Attribute], place: EventPlace<'_>) -> EventAttrs {
    let mut out = EventAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = key_of(&meta.path);
            let value = RawValue::parse(&meta)?;
            if !EVENT_KEYS.contains(&key.as_str()) {
                cx.error_at(&meta.path, unknown_key("event", &key, place.keys()));
                return Ok(());
            }
            if let Some(message) = place.misplaced(&key) {
                cx.error_at(&meta.path, message);
                return Ok(());
            }
            match key.as_str() {
                "aggregate" => {
                    let lit = value.string(cx, &meta.path, "aggregate", "Account");
                    set_once(cx, &mut out.aggregate, lit, &meta.path, "event");
                }
                "name" => {
                    let lit = value.string(cx, &meta.path, "name", "Opened");
                    set_once(cx, &mut out.name, lit, &meta.path, "event");
                }
                "schema" => {
                    let schema = value.schema(cx, &meta.path);
                    set_once(cx, &mut out.schema, schema, &meta.path, "event");
                }
                "from" => {
                    let from = value.upcasts(cx, &meta.path);
                    set_once(cx, &mut out.from, Some(from), &meta.path, "event");
                }
                "aliases" => {
                    let aliases = value.aliases(cx, &meta.path);
                    set_once(cx, &mut out.aliases, aliases, &meta.path, "event");
                }
                "retired" => {
                    if value.is_present() {
                        cx.error_at(
                            &meta.path,
                            "`retired` takes no value: write `#[event(retired)]`",
                        );
                    }
                    let path = Some(meta.path.clone());
                    set_once(cx, &mut out.retired, path, &meta.path, "event");
                }
                "data_subject" => {
                    if value.is_present() {
                        cx.error_at(
                            &meta.path,
                            "`data_subject` takes no value: write `#[event(data_subject)]`",
                        );
                    }
                    let path = Some(meta.path.clone());
                    set_once(cx, &mut out.data_subject, path, &meta.path, "event");
                }
                _ => {
                    if value.is_present() {
                        cx.error_at(&meta.path, "`id` takes no value: write `#[event(id)]`");
                    }
                    let path = Some(meta.path.clone());
                    set_once(cx, &mut out.id, path, &meta.path, "event");
                }
            }
            Ok(())
        });
        if let Err(err) = parsed {
            cx.push(err);
        }
    }
    out
}

/// The arguments of `#[aggregate(...)]`.
#[derive(Default)]
pub struct AggregateArgs {
    pub events: Option<Type>,
    /// An error already points at an attempt to give `events` (a misspelled key, a
    /// value of the wrong kind): "missing `events`" would say it twice.
    pub events_reported: bool,
    pub error: Option<Type>,
    pub name: Option<LitStr>,
    /// `state = N`: the version of the state's shape (`Aggregate::STATE_VERSION`).
    pub state: Option<u32>,
    /// `commands = module`: where generated command types go.
    pub commands: Option<syn::Ident>,
}

const AGGREGATE_KEYS: &[&str] = &["events", "error", "name", "state", "commands"];

/// Parses `events = Type, error = Type, name = "…", state = N`.
pub fn aggregate_args(cx: &Ctxt, args: proc_macro2::TokenStream) -> AggregateArgs {
    let mut out = AggregateArgs::default();
    let parser = syn::meta::parser(|meta| {
        let key = key_of(&meta.path);
        match key.as_str() {
            "events" | "error" => {
                let ty = type_value(cx, &meta, &key)?;
                out.events_reported |= key == "events" && ty.is_none();
                let slot = if key == "events" {
                    &mut out.events
                } else {
                    &mut out.error
                };
                set_once(cx, slot, ty, &meta.path, "aggregate");
            }
            "name" => {
                let value = RawValue::parse(&meta)?;
                let lit = value.string(cx, &meta.path, "name", "Account");
                set_once(cx, &mut out.name, lit, &meta.path, "aggregate");
            }
            "state" => {
                let value = RawValue::parse(&meta)?;
                let state = state_value(cx, &meta.path, &value);
                set_once(cx, &mut out.state, state, &meta.path, "aggregate");
            }
            "commands" => {
                let value = RawValue::parse(&meta)?;
                let module = module_value(cx, &meta.path, &value);
                set_once(cx, &mut out.commands, module, &meta.path, "aggregate");
            }
            _ => {
                RawValue::parse(&meta)?;
                out.events_reported |= did_you_mean(&key, AGGREGATE_KEYS) == Some("events");
                let message = if key == "aggregate" || key == "aggregate_type" {
                    format!(
                        "unknown aggregate attribute `{key}`; the aggregate type is `name = \"…\"`"
                    )
                } else {
                    unknown_key("aggregate", &key, AGGREGATE_KEYS)
                };
                cx.error_at(&meta.path, message);
            }
        }
        Ok(())
    });
    if let Err(err) = syn::parse::Parser::parse2(parser, args) {
        cx.push(err);
    }
    out
}

/// The value of `commands`: a module name.
fn module_value(cx: &Ctxt, key: &syn::Path, value: &RawValue) -> Option<syn::Ident> {
    const TAKES: &str = "`commands` takes the name of the module for generated commands: write `commands = account_commands`";
    match value {
        RawValue::Expr(syn::Expr::Path(p)) if p.qself.is_none() => {
            if let Some(ident) = p.path.get_ident() {
                return Some(ident.clone());
            }
            cx.error_at(p, TAKES);
        }
        RawValue::Expr(expr) => cx.error_at(expr, TAKES),
        RawValue::List(span, _) => cx.error_span(*span, TAKES),
        RawValue::None => cx.error_at(key, TAKES),
    }
    None
}

/// The value of `state`: a positive integer literal that fits in `u32`, as `schema` of
/// `#[event]` takes.
fn state_value(cx: &Ctxt, key: &syn::Path, value: &RawValue) -> Option<u32> {
    const TAKES: &str =
        "`state` takes the version of the state's shape, an integer: write `state = 2`";
    let expr = match value {
        RawValue::Expr(expr) => expr,
        RawValue::List(span, _) => {
            cx.error_span(*span, TAKES);
            return None;
        }
        RawValue::None => {
            cx.error_at(key, TAKES);
            return None;
        }
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u32>() {
            Ok(0) => cx.error_at(
                int,
                "state version 0 is not allowed: versions start at 1, the default",
            ),
            Ok(value) => return Some(value),
            Err(_) => cx.error_at(
                int,
                format!(
                    "state version `{}` does not fit in `u32`",
                    int.base10_digits()
                ),
            ),
        },
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let text = lit.value();
            let example = match text.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => 2,
            };
            cx.error_at(
                lit,
                format!(
                    "`state` takes an integer literal, not a string: write `state = {example}`"
                ),
            );
        }
        other => cx.error_at(
            other,
            format!(
                "state version `{}` is not a positive integer literal: write e.g. `state = 2`",
                pretty(other).replacen("- ", "-", 1)
            ),
        ),
    }
    None
}

/// What an `#[aggregate]` method is marked as.
pub enum Role {
    Command,
    /// An `#[apply]`, with the variant it names, if any.
    Apply(Option<Ident>),
}

/// A `#[command]` or `#[apply]` attribute found on an item of the impl block.
pub struct Marker {
    pub role: Role,
    /// The attribute itself, for spans.
    pub attr: Attribute,
}

/// Whether `attr` is `#[command]`/`#[apply]` (also spelled `#[cim_events::command]`).
pub fn marker_name(attr: &Attribute) -> Option<&'static str> {
    let path = attr.path();
    let last = path.segments.last()?;
    let root_ok = path.segments.len() == 1
        || (path.segments.len() == 2 && path.segments[0].ident == "cim_events");
    if !root_ok {
        return None;
    }
    if last.ident == "command" {
        Some("command")
    } else if last.ident == "apply" {
        Some("apply")
    } else {
        None
    }
}

/// Parses a `#[command]` or `#[apply(...)]` attribute.
pub fn marker(cx: &Ctxt, attr: &Attribute) -> Option<Marker> {
    let role = match marker_name(attr)? {
        "command" => {
            if let syn::Meta::List(_) | syn::Meta::NameValue(_) = &attr.meta {
                cx.error_at(
                    &attr.meta,
                    "`#[command]` takes no arguments: the command is the method's parameter type",
                );
            }
            Role::Command
        }
        _ => match &attr.meta {
            syn::Meta::Path(_) => Role::Apply(None),
            syn::Meta::List(list) => match list.parse_args::<Ident>() {
                Ok(ident) => Role::Apply(Some(ident)),
                Err(_) => {
                    cx.error_at(
                        &list.tokens,
                        "`#[apply(…)]` takes the name of one variant, e.g. `#[apply(Opened)]`",
                    );
                    Role::Apply(None)
                }
            },
            syn::Meta::NameValue(nv) => {
                cx.error_at(
                    nv,
                    "`#[apply(…)]` takes the name of one variant, e.g. `#[apply(Opened)]`",
                );
                Role::Apply(None)
            }
        },
    };
    Some(Marker {
        role,
        attr: attr.clone(),
    })
}

fn key_of(path: &syn::Path) -> String {
    match path.get_ident() {
        Some(ident) => ident.to_string(),
        None => pretty(path),
    }
}

pub fn unknown_key(what: &str, key: &str, expected: &[&str]) -> String {
    if let Some(guess) = did_you_mean(key, expected) {
        return format!("unknown {what} attribute `{key}`; did you mean `{guess}`?");
    }
    match expected {
        [] => format!("unknown {what} attribute `{key}`; no `#[{what}(...)]` keys belong here"),
        keys => {
            let list: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            format!(
                "unknown {what} attribute `{key}`; expected {}",
                list.join(", ")
            )
        }
    }
}

fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: Option<T>, key: &syn::Path, what: &str) {
    let Some(value) = value else { return };
    if slot.is_some() {
        cx.error_at(
            key,
            format!(
                "duplicate {what} attribute `{}`; remove one of them",
                key_of(key)
            ),
        );
    } else {
        *slot = Some(value);
    }
}

/// A key's value as written, before it is checked against what the key takes.
enum RawValue {
    None,
    /// `key = expr`
    Expr(Expr),
    /// `key(...)`: the parentheses' span and what they hold.
    List(Span, proc_macro2::TokenStream),
}

impl RawValue {
    /// Consumes whatever follows the key: `= expr`, `(...)` or nothing.
    fn parse(meta: &ParseNestedMeta<'_>) -> syn::Result<RawValue> {
        if meta.input.peek(Token![=]) {
            return Ok(RawValue::Expr(meta.value()?.parse()?));
        }
        if meta.input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in meta.input);
            let tokens = content.parse::<proc_macro2::TokenStream>()?;
            return Ok(RawValue::List(paren.span.join(), tokens));
        }
        Ok(RawValue::None)
    }

    fn is_present(&self) -> bool {
        !matches!(self, RawValue::None)
    }

    /// The value of a key that takes a string literal.
    fn string(&self, cx: &Ctxt, key: &syn::Path, name: &str, example: &str) -> Option<LitStr> {
        let message =
            format!("`{name}` takes a string literal: write `#[…({name} = \"{example}\")]`");
        match self {
            RawValue::Expr(Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            })) => return Some(lit.clone()),
            RawValue::Expr(expr) => cx.error_at(expr, message),
            RawValue::List(span, _) => cx.error_span(*span, message),
            RawValue::None => cx.error_at(key, message),
        }
        None
    }

    /// The value of `schema`: a positive integer literal that fits in `u32`.
    fn schema(&self, cx: &Ctxt, key: &syn::Path) -> Option<Schema> {
        let expr = match self {
            RawValue::Expr(expr) => expr,
            RawValue::List(span, _) => {
                cx.error_span(*span, "`schema` takes an integer: write `schema = 2`");
                return None;
            }
            RawValue::None => {
                cx.error_at(key, "`schema` takes an integer: write `schema = 2`");
                return None;
            }
        };
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => match int.base10_parse::<u32>() {
                Ok(0) => cx.error_at(
                    int,
                    "schema version 0 is not allowed: versions start at 1, the default",
                ),
                Ok(value) => {
                    return Some(Schema {
                        value,
                        span: int.span(),
                    });
                }
                Err(_) => cx.error_at(
                    int,
                    format!(
                        "schema version `{}` does not fit in `u32`",
                        int.base10_digits()
                    ),
                ),
            },
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                ..
            }) => cx.error_at(
                expr,
                format!(
                    "schema version `{}` is negative: versions are positive integers starting at 1",
                    pretty(expr).replacen("- ", "-", 1)
                ),
            ),
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => match lit.value().trim().parse::<u32>() {
                // Suggest the contents bare only when they are a schema version.
                Ok(n) if n > 0 => cx.error_at(
                    lit,
                    format!("`schema` takes an integer literal, not a string: write `schema = {n}`"),
                ),
                _ => cx.error_at(
                    lit,
                    "`schema` takes the version of the payload's shape, a positive integer literal, not a string: write e.g. `schema = 2`",
                ),
            },
            other => cx.error_at(
                other,
                format!(
                    "schema version `{}` is not a positive integer literal: write e.g. `schema = 2`",
                    pretty(other)
                ),
            ),
        }
        None
    }
}

impl RawValue {
    /// The value of `from`: `(2 = DepositedV2, 1 = DepositedV1)`. Versions are checked
    /// against the schema later, where the enum's default schema is known.
    fn upcasts(&self, cx: &Ctxt, key: &syn::Path) -> Upcasts {
        const USAGE: &str = "`from` lists the types older schemas were stored as: write `from(2 = DepositedV2, 1 = DepositedV1)`";
        let broken = Upcasts {
            key: key.clone(),
            steps: Vec::new(),
            broken: true,
        };
        let tokens = match self {
            RawValue::List(_, tokens) => tokens.clone(),
            RawValue::Expr(expr) => {
                cx.error_at(expr, USAGE);
                return broken;
            }
            RawValue::None => {
                cx.error_at(key, USAGE);
                return broken;
            }
        };
        let reported = std::cell::RefCell::new(false);
        let parser = |input: syn::parse::ParseStream<'_>| {
            let mut steps = Vec::new();
            while !input.is_empty() {
                let version_lit = match input.parse::<Lit>() {
                    Ok(Lit::Int(int)) => int,
                    Ok(other) => {
                        return Err(syn::Error::new_spanned(
                            other,
                            format!("{USAGE}; the schema version is an integer"),
                        ));
                    }
                    Err(_) => return Err(input.error(USAGE)),
                };
                input.parse::<Token![=]>()?;
                let ty: Type = input.parse()?;
                match version_lit.base10_parse::<u32>() {
                    Ok(version) => steps.push(UpcastStep {
                        version,
                        version_lit,
                        ty,
                    }),
                    Err(_) => {
                        cx.error_at(
                            &version_lit,
                            format!(
                                "schema version `{}` does not fit in `u32`",
                                version_lit.base10_digits()
                            ),
                        );
                        *reported.borrow_mut() = true;
                    }
                }
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(steps)
        };
        match syn::parse::Parser::parse2(parser, tokens) {
            Ok(steps) => Upcasts {
                key: key.clone(),
                steps,
                broken: reported.into_inner(),
            },
            Err(err) => {
                cx.push(err);
                broken
            }
        }
    }

    /// The value of `aliases`: `("MoneyDeposited", "Deposit")`.
    fn aliases(&self, cx: &Ctxt, key: &syn::Path) -> Option<Aliases> {
        const USAGE: &str =
            "`aliases` lists earlier event types as strings: write `aliases(\"MoneyDeposited\")`";
        let tokens = match self {
            RawValue::List(_, tokens) => tokens.clone(),
            RawValue::Expr(expr) => {
                cx.error_at(expr, USAGE);
                return None;
            }
            RawValue::None => {
                cx.error_at(key, USAGE);
                return None;
            }
        };
        let parser = |input: syn::parse::ParseStream<'_>| {
            let mut names = Vec::new();
            while !input.is_empty() {
                match input.parse::<Lit>() {
                    Ok(Lit::Str(lit)) => names.push(lit),
                    Ok(other) => return Err(syn::Error::new_spanned(other, USAGE)),
                    Err(_) => return Err(input.error(USAGE)),
                }
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(names)
        };
        match syn::parse::Parser::parse2(parser, tokens) {
            Ok(names) if names.is_empty() => {
                cx.error_at(key, USAGE);
                None
            }
            Ok(names) => Some(Aliases { names }),
            Err(err) => {
                cx.push(err);
                None
            }
        }
    }
}

/// The value of a key that takes a type: `events = AccountEvent`.
fn type_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<Type>> {
    if !meta.input.peek(Token![=]) {
        RawValue::parse(meta)?;
        cx.error_at(
            &meta.path,
            format!(
                "`{key}` takes a type: write `{key} = {}`",
                example_type(key)
            ),
        );
        return Ok(None);
    }
    let value = meta.value()?;
    if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        // Suggest the string's contents only when they are a type.
        let written = lit.value();
        let suggestion = match syn::parse_str::<Type>(written.trim()) {
            Ok(ty) => crate::names::pretty(&ty),
            Err(_) => example_type(key).to_owned(),
        };
        cx.error_at(
            &lit,
            format!("`{key}` takes a type, not a string: write `{key} = {suggestion}`"),
        );
        return Ok(None);
    }
    if value.peek(Lit) {
        let lit: Lit = value.parse()?;
        cx.error_at(
            lit,
            format!(
                "`{key}` takes a type: write `{key} = {}`",
                example_type(key)
            ),
        );
        return Ok(None);
    }
    Ok(Some(value.parse()?))
}

fn example_type(key: &str) -> &'static str {
    if key == "events" {
        "AccountEvent"
    } else {
        "BankError"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors(cx: Ctxt) -> Vec<String> {
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn parses_every_key() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> =
            vec![parse_quote!(#[event(aggregate = "Account", name = "Opened", schema = 3)])];
        let parsed = event_attrs(&cx, &attrs, EventPlace::Struct);
        assert_eq!(errors(cx), Vec::<String>::new());
        assert_eq!(
            parsed.aggregate.map(|l| l.value()).as_deref(),
            Some("Account")
        );
        assert_eq!(parsed.name.map(|l| l.value()).as_deref(), Some("Opened"));
        assert_eq!(parsed.schema.map(|s| s.value), Some(3));
    }

    #[test]
    fn reports_all_mistakes_at_once() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[event(nmae = "X", schema = 0)]),
            parse_quote!(#[event(schema = "2", aggregate = Account, id)]),
            parse_quote!(#[event(schema = "v2")]),
            parse_quote!(#[event(schema = "0")]),
        ];
        event_attrs(&cx, &attrs, EventPlace::Struct);
        assert_eq!(
            errors(cx),
            [
                "unknown event attribute `nmae`; did you mean `name`?",
                "schema version 0 is not allowed: versions start at 1, the default",
                "`schema` takes an integer literal, not a string: write `schema = 2`",
                "`aggregate` takes a string literal: write `#[…(aggregate = \"Account\")]`",
                "`#[event(id)]` marks the field that holds the aggregate id; put it on a field",
                // Not a schema version: the bare contents would not compile, so no hint.
                "`schema` takes the version of the payload's shape, a positive integer literal, not a string: write e.g. `schema = 2`",
                "`schema` takes the version of the payload's shape, a positive integer literal, not a string: write e.g. `schema = 2`",
            ]
        );
    }

    #[test]
    fn duplicate_and_misplaced_keys() {
        let cx = Ctxt::new();
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[event(name = "A")]),
            parse_quote!(#[event(name = "B", aggregate = "X")]),
        ];
        event_attrs(&cx, &attrs, EventPlace::Variant);
        assert_eq!(
            errors(cx),
            [
                "duplicate event attribute `name`; remove one of them",
                "the aggregate type is set once, on the event type: put `#[event(aggregate = \"…\")]` on the struct or enum",
            ]
        );
    }

    #[test]
    fn schema_values() {
        for (attr, message) in [
            (
                quote::quote!(schema = -1),
                "schema version `-1` is negative: versions are positive integers starting at 1",
            ),
            (
                quote::quote!(schema = 1.5),
                "schema version `1.5` is not a positive integer literal: write e.g. `schema = 2`",
            ),
            (
                quote::quote!(schema = 4294967296),
                "schema version `4294967296` does not fit in `u32`",
            ),
            (
                quote::quote!(schema),
                "`schema` takes an integer: write `schema = 2`",
            ),
        ] {
            let cx = Ctxt::new();
            let attrs: Vec<Attribute> = vec![parse_quote!(#[event(#attr)])];
            event_attrs(&cx, &attrs, EventPlace::Enum);
            assert_eq!(errors(cx), [message]);
        }
    }

    #[test]
    fn aggregate_arguments() {
        let cx = Ctxt::new();
        let args = aggregate_args(
            &cx,
            quote::quote!(events = AccountEvent<T>, error = BankError, name = "Account"),
        );
        assert_eq!(errors(cx), Vec::<String>::new());
        assert_eq!(pretty(&args.events), "AccountEvent<T>");
        assert_eq!(args.name.map(|l| l.value()).as_deref(), Some("Account"));

        let cx = Ctxt::new();
        aggregate_args(
            &cx,
            quote::quote!(events = "AccountEvent", evnets = X, events = Y),
        );
        assert_eq!(
            errors(cx),
            [
                "`events` takes a type, not a string: write `events = AccountEvent`",
                "unknown aggregate attribute `evnets`; did you mean `events`?",
            ]
        );
    }

    #[test]
    fn aggregate_state_version() {
        let cx = Ctxt::new();
        let args = aggregate_args(&cx, quote::quote!(events = AccountEvent, state = 3));
        assert_eq!(errors(cx), Vec::<String>::new());
        assert_eq!(args.state, Some(3));

        let cx = Ctxt::new();
        assert_eq!(aggregate_args(&cx, quote::quote!(events = E)).state, None);

        for (arg, message) in [
            (
                quote::quote!(state = 0),
                "state version 0 is not allowed: versions start at 1, the default",
            ),
            (
                quote::quote!(state = "x"),
                "`state` takes an integer literal, not a string: write `state = 2`",
            ),
            (
                quote::quote!(state = "4"),
                "`state` takes an integer literal, not a string: write `state = 4`",
            ),
            (
                quote::quote!(state = -1),
                "state version `-1` is not a positive integer literal: write e.g. `state = 2`",
            ),
            (
                quote::quote!(state = 4294967296),
                "state version `4294967296` does not fit in `u32`",
            ),
            (
                quote::quote!(state),
                "`state` takes the version of the state's shape, an integer: write `state = 2`",
            ),
            (
                quote::quote!(state = 1, state = 2),
                "duplicate aggregate attribute `state`; remove one of them",
            ),
            (
                quote::quote!(stat = 2),
                "unknown aggregate attribute `stat`; did you mean `state`?",
            ),
        ] {
            let cx = Ctxt::new();
            aggregate_args(&cx, quote::quote!(events = E, #arg));
            assert_eq!(errors(cx), [message], "{arg}");
        }
    }

    #[test]
    fn markers() {
        let cx = Ctxt::new();
        let attr: Attribute = parse_quote!(#[apply(Opened)]);
        let marker = marker(&cx, &attr).expect("an apply marker");
        assert!(matches!(marker.role, Role::Apply(Some(ref v)) if v == "Opened"));
        let attr: Attribute = parse_quote!(#[command(x)]);
        assert!(marker_name(&attr).is_some());
        super::marker(&cx, &attr);
        assert_eq!(
            errors(cx),
            ["`#[command]` takes no arguments: the command is the method's parameter type"]
        );
        let other: Attribute = parse_quote!(#[other::apply]);
        assert!(marker_name(&other).is_none());
    }
}
