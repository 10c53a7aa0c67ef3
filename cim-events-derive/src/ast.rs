//! The typed models the macros work on. Each keeps a reference to the syn node it was
//! read from, so errors and generated code can point at the user's tokens.

use syn::{
    Attribute, Data, DeriveInput, Fields, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Member,
    PatType, Receiver, Type,
};

use crate::attr::{self, AggregateArgs, EventAttrs, EventPlace, Marker, Role};
use crate::command::{self, Form};
use crate::ctxt::Ctxt;
use crate::serde_attr::{self, SerdeContainer, SerdeField, SerdeVariant};

/// The input of `#[derive(Event)]`.
pub struct EventInput<'a> {
    pub original: &'a DeriveInput,
    pub attrs: EventAttrs,
    pub body: Body<'a>,
}

pub enum Body<'a> {
    Struct(Vec<Field<'a>>),
    Enum {
        serde: SerdeContainer,
        variants: Vec<Variant<'a>>,
    },
}

pub struct Variant<'a> {
    pub original: &'a syn::Variant,
    pub attrs: EventAttrs,
    pub serde: SerdeVariant,
    pub shape: Shape<'a>,
}

/// What a variant looks like, which decides how its payload is stored.
pub enum Shape<'a> {
    /// `Opened { … }`: the fields are the payload.
    Named(Vec<Field<'a>>),
    /// `Closed(Closed)`: wraps a struct event and delegates to it.
    Newtype(&'a Type),
    /// `Closed(A, B)`: unnamed fields.
    Tuple,
}

pub struct Field<'a> {
    pub member: Member,
    pub ty: &'a Type,
    /// The `id` key of `#[event(id)]`, if the field has it.
    pub id: Option<syn::Path>,
    /// The `data_subject` key of `#[event(data_subject)]`, if the field has it.
    pub data_subject: Option<syn::Path>,
    pub serde: SerdeField,
}

impl<'a> EventInput<'a> {
    /// Reads the input; `None` (with an error recorded) for a union.
    pub fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let (attrs, body) = match &input.data {
            Data::Struct(data) => (
                attr::event_attrs(cx, &input.attrs, EventPlace::Struct),
                Body::Struct(fields(cx, &data.fields, EventPlace::Field)),
            ),
            Data::Enum(data) => (
                attr::event_attrs(cx, &input.attrs, EventPlace::Enum),
                Body::Enum {
                    serde: serde_attr::container(&input.attrs),
                    variants: data.variants.iter().map(|v| variant(cx, v)).collect(),
                },
            ),
            Data::Union(data) => {
                cx.error_at(
                    data.union_token,
                    "`#[derive(Event)]` works on structs and enums, not unions: an event is stored as its serde payload",
                );
                return None;
            }
        };
        Some(EventInput {
            original: input,
            attrs,
            body,
        })
    }

    pub fn ident(&self) -> &'a Ident {
        &self.original.ident
    }
}

fn variant<'a>(cx: &Ctxt, original: &'a syn::Variant) -> Variant<'a> {
    let (place, shape) = match &original.fields {
        // A unit variant is an event without fields: its id is in the envelope.
        Fields::Named(_) | Fields::Unit => (EventPlace::Variant, None),
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
            let ty = &unnamed.unnamed[0].ty;
            (EventPlace::NewtypeVariant(ty), Some(Shape::Newtype(ty)))
        }
        Fields::Unnamed(_) => (EventPlace::OtherVariant, Some(Shape::Tuple)),
    };
    let attrs = attr::event_attrs(cx, &original.attrs, place);
    let shape = match shape {
        Some(Shape::Newtype(ty)) => {
            // Parsed only to report misplaced keys on the wrapped field.
            fields(cx, &original.fields, EventPlace::NewtypeField(ty));
            Shape::Newtype(ty)
        }
        Some(other) => {
            fields(cx, &original.fields, EventPlace::Field);
            other
        }
        None => Shape::Named(fields(cx, &original.fields, EventPlace::Field)),
    };
    Variant {
        original,
        attrs,
        serde: serde_attr::variant(&original.attrs),
        shape,
    }
}

fn fields<'a>(cx: &Ctxt, fields: &'a Fields, place: EventPlace<'_>) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| (index, field, attr::event_attrs(cx, &field.attrs, place)))
        .map(|(index, field, attrs)| Field {
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(index.into()),
            },
            ty: &field.ty,
            id: attrs.id,
            data_subject: attrs.data_subject,
            serde: serde_attr::field(&field.attrs),
        })
        .collect()
}

/// The input of `#[aggregate(...)]`: the impl block and its marked methods.
pub struct AggregateInput<'a> {
    pub original: &'a ItemImpl,
    pub args: AggregateArgs,
    /// The module generated command types go in.
    pub module: Ident,
    pub commands: Vec<Command<'a>>,
    pub applies: Vec<Apply<'a>>,
}

pub struct Command<'a> {
    pub method: &'a ImplItemFn,
    pub receiver: Option<&'a Receiver>,
    /// The parameters after the receiver.
    pub params: Vec<&'a PatType>,
    /// Whether the command type is the user's or generated from the parameters.
    pub form: Form<'a>,
}

impl Command<'_> {
    /// The command type, as the generated impls name it.
    pub fn command_ty(&self, module: &Ident) -> Type {
        self.form.command_ty(module)
    }
}

pub struct Apply<'a> {
    pub method: &'a ImplItemFn,
    /// The variant named by `#[apply(Variant)]`.
    pub variant: Option<Ident>,
    pub receiver: Option<&'a Receiver>,
    pub params: Vec<&'a PatType>,
}

impl<'a> AggregateInput<'a> {
    pub fn from_syn(cx: &Ctxt, args: AggregateArgs, original: &'a ItemImpl) -> Self {
        let mut commands = Vec::new();
        let mut applies = Vec::new();
        for item in &original.items {
            let markers: Vec<Marker> = item_attrs(item)
                .iter()
                .filter_map(|a| attr::marker(cx, a))
                .collect();
            let mut markers = markers.into_iter();
            let Some(first) = markers.next() else {
                continue;
            };
            for extra in markers {
                cx.error_at(
                    &extra.attr,
                    "a method is one `#[command]` or one `#[apply]`; remove this attribute",
                );
            }
            let ImplItem::Fn(method) = item else {
                cx.error_at(&first.attr, misplaced_marker(&first));
                continue;
            };
            let (receiver, params) = split_inputs(method);
            match first.role {
                Role::Command => commands.push(Command {
                    method,
                    receiver,
                    form: Form::of(method, &params),
                    params,
                }),
                Role::Apply(variant) => applies.push(Apply {
                    method,
                    variant,
                    receiver,
                    params,
                }),
            }
        }
        AggregateInput {
            original,
            module: command::module_name(args.commands.as_ref(), &original.self_ty),
            args,
            commands,
            applies,
        }
    }
}

fn misplaced_marker(marker: &Marker) -> &'static str {
    match marker.role {
        Role::Command => {
            "`#[command]` goes on a method of the `#[aggregate]` impl: `#[command] fn open(&self, command: OpenAccount) -> Result<…>`"
        }
        Role::Apply(_) => {
            "`#[apply]` goes on a method of the `#[aggregate]` impl: `#[apply] fn closed(&mut self, event: &Closed)`"
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

fn split_inputs(method: &ImplItemFn) -> (Option<&Receiver>, Vec<&PatType>) {
    let mut receiver = None;
    let mut params = Vec::new();
    for input in &method.sig.inputs {
        match input {
            FnArg::Receiver(r) => receiver = Some(r),
            FnArg::Typed(p) => params.push(p),
        }
    }
    (receiver, params)
}

/// Removes `#[command]` and `#[apply]` from the impl block's items; with `allow_unused`,
/// marks the methods that had them `#[allow(dead_code)]` (their callers are not generated
/// when the input has errors).
pub fn strip_markers(item: &ItemImpl, allow_unused: bool) -> ItemImpl {
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
        attrs.retain(|a| attr::marker_name(a).is_none());
        if allow_unused && attrs.len() != before {
            attrs.push(syn::parse_quote!(#[allow(dead_code)]));
        }
    }
    item
}
