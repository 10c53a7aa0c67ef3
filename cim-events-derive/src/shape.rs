//! Code generation for `Event::event_shapes`: the shape of each event type, for the schema
//! lock and the drift check.
//!
//! A shape lists the payload's fields under the names serde writes them with (after
//! `rename`, `rename_all`, `rename_all_fields`; `skip*` fields left out; a `flatten` field
//! listed as `..`), each with its Rust type as written but normalised (see [`normalise`]),
//! so two crates that spell one type differently get one fingerprint.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    GenericArgument, LitStr, Member, Meta, PathArguments, PathSegment, ReturnType, Type,
    TypeParamBound,
};

use crate::ast::{EventInput, Field, Shape, Variant};
use crate::attr::EventAttrs;
use crate::names::unraw;
use crate::serde_attr::{self, Rules, SerdeContainer};
use crate::valid::{aggregate_name, event_name};

/// The name a `#[serde(flatten)]` field is listed under: its own name is not stored, its
/// fields are, at the level of the payload.
pub const FLATTEN: &str = "..";

/// One event type's shape, as the derive sees it.
#[derive(Debug, PartialEq)]
struct Model {
    event_type: String,
    schema: u32,
    /// `(serde name, normalised type)` in declaration order.
    fields: Vec<(String, String)>,
}

/// The `event_shapes` method of a struct event's `Event` impl.
pub fn struct_shapes(input: &EventInput<'_>, fields: &[Field<'_>]) -> TokenStream {
    let model = struct_model(input, fields);
    let shape = shape_tokens(&aggregate_name(input), &model, &input.attrs);
    quote! {
        fn event_shapes() -> ::cim_events::__private::Vec<::cim_events::schema::EventShape> {
            ::cim_events::__private::Vec::from([#shape])
        }
    }
}

/// The `event_shapes` method of an event enum's `Event` impl: one shape per variant, in
/// declaration order; a newtype variant takes the wrapped event's shape.
pub fn enum_shapes(
    input: &EventInput<'_>,
    serde: &SerdeContainer,
    variants: &[Variant<'_>],
) -> TokenStream {
    let aggregate = aggregate_name(input);
    let default_schema = input.attrs.schema.as_ref().map_or(1, |s| s.value);
    let pushes = variants.iter().filter_map(|variant| match &variant.shape {
        Shape::Named(fields) => {
            let model = variant_model(serde, variant, fields, default_schema);
            let shape = shape_tokens(&aggregate, &model, &variant.attrs);
            Some(quote!(__shapes.push(#shape);))
        }
        // Through `SingleEvent`, like the rest of the enum's code: a wrapped type that is
        // no event struct gets that trait's one message, not a second error.
        Shape::Newtype(inner) => Some(quote_spanned! {inner.span()=>
            for mut __shape in <#inner as ::cim_events::__private::SingleEvent>::single_event_shapes() {
                __shape.aggregate_type = #aggregate;
                __shapes.push(__shape);
            }
        }),
        // Rejected by validation before expansion.
        Shape::Tuple => None,
    });
    quote! {
        fn event_shapes() -> ::cim_events::__private::Vec<::cim_events::schema::EventShape> {
            let mut __shapes = ::cim_events::__private::Vec::new();
            #(#pushes)*
            __shapes
        }
    }
}

fn struct_model(input: &EventInput<'_>, fields: &[Field<'_>]) -> Model {
    // A struct's `rename_all` is a container attribute, read like a variant's.
    let rules = serde_attr::variant(&input.original.attrs).rename_all;
    Model {
        event_type: event_name(input.attrs.name.as_ref(), input.ident()),
        schema: input.attrs.schema.as_ref().map_or(1, |s| s.value),
        fields: field_shapes(fields, &rules),
    }
}

fn variant_model(
    serde: &SerdeContainer,
    variant: &Variant<'_>,
    fields: &[Field<'_>],
    default_schema: u32,
) -> Model {
    let rules = variant.serde.rename_all.or(&serde.rename_all_fields);
    Model {
        event_type: event_name(variant.attrs.name.as_ref(), &variant.original.ident),
        schema: variant
            .attrs
            .schema
            .as_ref()
            .map_or(default_schema, |s| s.value),
        fields: field_shapes(fields, &rules),
    }
}

fn shape_tokens(aggregate: &str, model: &Model, attrs: &EventAttrs) -> TokenStream {
    let Model {
        event_type,
        schema,
        fields,
    } = model;
    let aliases = aliases(attrs);
    let fields = fields
        .iter()
        .map(|(name, ty)| quote!(::cim_events::schema::FieldShape { name: #name, ty: #ty }));
    quote! {
        ::cim_events::schema::EventShape {
            aggregate_type: #aggregate,
            event_type: #event_type,
            aliases: #aliases,
            schema: #schema,
            fields: &[#(#fields),*],
        }
    }
}

/// The earlier names of an event type, from `aliases(...)`: `&["OldName", …]`.
fn aliases(attrs: &EventAttrs) -> TokenStream {
    let names = attrs.alias_names();
    quote!(&[#(#names),*])
}

/// The stored fields, each with its serde name (serialize side: the name the payload is
/// written with) and normalised type.
fn field_shapes(fields: &[Field<'_>], rules: &Rules) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| f.serde.skipped().is_none())
        .map(|f| (serde_name(f, rules), normalise(f.ty)))
        .collect()
}

fn serde_name(field: &Field<'_>, rules: &Rules) -> String {
    let mut renamed = None;
    for meta in field.serde.metas.iter().map(|m| m.meta()) {
        if meta.path().is_ident("flatten") {
            return FLATTEN.to_owned();
        }
        if meta.path().is_ident("rename") {
            if let Some(name) = serialize_rename(meta) {
                renamed = Some(name);
            }
        }
    }
    if let Some(name) = renamed {
        return name;
    }
    match &field.member {
        Member::Named(ident) => {
            let name = unraw(ident);
            match &rules.serialize {
                Some(rule) => apply_rule(&rule.value(), &name),
                None => name,
            }
        }
        Member::Unnamed(index) => index.index.to_string(),
    }
}

/// `rename = "x"` or the `serialize` half of `rename(serialize = "x", deserialize = "y")`.
fn serialize_rename(meta: &Meta) -> Option<String> {
    match meta {
        Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        Meta::List(list) => {
            let mut out = None;
            list.parse_nested_meta(|inner| {
                let value = inner.value().and_then(|v| v.parse::<LitStr>());
                if inner.path.is_ident("serialize") {
                    out = value.ok().map(|lit| lit.value());
                }
                Ok(())
            })
            .ok()?;
            out
        }
        Meta::Path(_) => None,
    }
}

/// serde's `RenameRule::apply_to_field`: field names are taken to be snake_case. An
/// unknown rule leaves the name alone (serde reports it).
fn apply_rule(rule: &str, field: &str) -> String {
    match rule {
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(field),
        "camelCase" => {
            let pascal = pascal(field);
            let mut chars = pascal.chars();
            match chars.next() {
                Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                None => pascal,
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        _ => field.to_owned(),
    }
}

fn pascal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut capitalize = true;
    for c in field.chars() {
        if c == '_' {
            capitalize = true;
        } else if capitalize {
            out.push(c.to_ascii_uppercase());
            capitalize = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A type as written, normalised so that spelling does not matter: every path reduced to
/// its last segment with its generic arguments (`::std::option::Option<alloc::string::String>`
/// → `Option<String>`), lifetimes and `mut` dropped from references (`&'a mut str` →
/// `&str`), no whitespace except where two words meet (`dyn Trait`).
pub fn normalise(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty);
    out
}

fn write_type(out: &mut String, ty: &Type) {
    match ty {
        Type::Path(path) => match &path.qself {
            None => {
                if let Some(last) = path.path.segments.last() {
                    write_segment(out, last);
                }
            }
            Some(qself) => {
                out.push('<');
                write_type(out, &qself.ty);
                let segments: Vec<&PathSegment> = path.path.segments.iter().collect();
                let (trait_part, rest) = segments.split_at(qself.position.min(segments.len()));
                if let Some(last) = trait_part.last() {
                    out.push_str(" as ");
                    write_segment(out, last);
                }
                out.push('>');
                for segment in rest {
                    out.push_str("::");
                    write_segment(out, segment);
                }
            }
        },
        Type::Reference(reference) => {
            out.push('&');
            write_type(out, &reference.elem);
        }
        Type::Slice(slice) => {
            out.push('[');
            write_type(out, &slice.elem);
            out.push(']');
        }
        Type::Array(array) => {
            out.push('[');
            write_type(out, &array.elem);
            out.push(';');
            out.push_str(&compact(&array.len));
            out.push(']');
        }
        Type::Tuple(tuple) => {
            out.push('(');
            for (i, elem) in tuple.elems.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_type(out, elem);
            }
            if tuple.elems.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Type::Paren(paren) => write_type(out, &paren.elem),
        Type::Group(group) => write_type(out, &group.elem),
        Type::Ptr(ptr) => {
            out.push_str(if ptr.mutability.is_some() {
                "*mut "
            } else {
                "*const "
            });
            write_type(out, &ptr.elem);
        }
        Type::TraitObject(object) => {
            out.push_str("dyn ");
            write_bounds(out, object.bounds.iter());
        }
        Type::ImplTrait(implementation) => {
            out.push_str("impl ");
            write_bounds(out, implementation.bounds.iter());
        }
        other => out.push_str(&compact(other)),
    }
}

fn write_segment(out: &mut String, segment: &PathSegment) {
    out.push_str(&unraw(&segment.ident));
    match &segment.arguments {
        PathArguments::None => {}
        PathArguments::AngleBracketed(args) => {
            let args: Vec<&GenericArgument> = args
                .args
                .iter()
                .filter(|a| !matches!(a, GenericArgument::Lifetime(_)))
                .collect();
            if args.is_empty() {
                return;
            }
            out.push('<');
            for (i, arg) in args.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match arg {
                    GenericArgument::Type(ty) => write_type(out, ty),
                    GenericArgument::AssocType(assoc) => {
                        out.push_str(&unraw(&assoc.ident));
                        out.push('=');
                        write_type(out, &assoc.ty);
                    }
                    other => out.push_str(&compact(other)),
                }
            }
            out.push('>');
        }
        PathArguments::Parenthesized(args) => {
            out.push('(');
            for (i, input) in args.inputs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_type(out, input);
            }
            out.push(')');
            if let ReturnType::Type(_, output) = &args.output {
                out.push_str("->");
                write_type(out, output);
            }
        }
    }
}

fn write_bounds<'a>(out: &mut String, bounds: impl Iterator<Item = &'a TypeParamBound>) {
    let mut first = true;
    for bound in bounds {
        let text = match bound {
            TypeParamBound::Lifetime(_) => continue,
            TypeParamBound::Trait(bound) => {
                let mut text = String::new();
                if let syn::TraitBoundModifier::Maybe(_) = bound.modifier {
                    text.push('?');
                }
                if let Some(last) = bound.path.segments.last() {
                    write_segment(&mut text, last);
                }
                text
            }
            other => compact(other),
        };
        if !first {
            out.push('+');
        }
        first = false;
        out.push_str(&text);
    }
}

/// Tokens printed without whitespace, except one space where two words would merge.
fn compact<T: ToTokens>(tokens: &T) -> String {
    let raw = tokens.to_token_stream().to_string();
    let chars: Vec<char> = raw.chars().collect();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut out = String::with_capacity(raw.len());
    for (i, c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p));
            if word(prev) && word(chars.get(i + 1)) && !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        out.push(*c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Body;
    use crate::ctxt::Ctxt;
    use syn::{DeriveInput, parse_quote};

    fn models(input: &DeriveInput) -> Vec<Result<Model, String>> {
        let cx = Ctxt::new();
        let model = EventInput::from_syn(&cx, input).expect("a struct or enum");
        let out = match &model.body {
            Body::Struct(fields) => vec![Ok(struct_model(&model, fields))],
            Body::Enum { serde, variants } => {
                let default = model.attrs.schema.as_ref().map_or(1, |s| s.value);
                variants
                    .iter()
                    .filter_map(|v| match &v.shape {
                        Shape::Named(fields) => Some(Ok(variant_model(serde, v, fields, default))),
                        Shape::Newtype(inner) => Some(Err(normalise(inner))),
                        _ => None,
                    })
                    .collect()
            }
        };
        assert!(cx.check().is_ok());
        out
    }

    fn model(event_type: &str, schema: u32, fields: &[(&str, &str)]) -> Model {
        Model {
            event_type: event_type.to_owned(),
            schema,
            fields: fields
                .iter()
                .map(|&(n, t)| (n.to_owned(), t.to_owned()))
                .collect(),
        }
    }

    #[test]
    fn types_are_normalised() {
        for (ty, expected) in [
            (quote!(std::string::String), "String"),
            (
                quote!(::std::option::Option<alloc::string::String>),
                "Option<String>",
            ),
            (quote!(Vec<u8>), "Vec<u8>"),
            (quote!(Vec::<u8>), "Vec<u8>"),
            (
                quote!(std::collections::HashMap<String, ::std::vec::Vec<(u8, bool)>>),
                "HashMap<String,Vec<(u8,bool)>>",
            ),
            (quote!(&'static str), "&str"),
            (quote!(&'a mut [u8]), "&[u8]"),
            (quote!(std::borrow::Cow<'a, str>), "Cow<str>"),
            (quote!([u8; 4 * N]), "[u8;4*N]"),
            (quote!((u8,)), "(u8,)"),
            (quote!(()), "()"),
            (quote!((String)), "String"),
            (quote!(T), "T"),
            (
                quote!(Box<dyn std::error::Error + Send + 'static>),
                "Box<dyn Error+Send>",
            ),
            (quote!(<T as std::str::FromStr>::Err), "<T as FromStr>::Err"),
            (
                quote!(Box<dyn Fn(std::string::String) -> u8>),
                "Box<dyn Fn(String)->u8>",
            ),
            (quote!(r#type::r#Ident), "Ident"),
            (quote!(*const u8), "*const u8"),
            (quote!(fn(u8) -> u16), "fn(u8)->u16"),
        ] {
            let ty: Type = syn::parse2(ty).expect("a type");
            assert_eq!(normalise(&ty), expected, "{}", ty.to_token_stream());
        }
    }

    #[test]
    fn struct_fields_use_serde_names() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "Account", name = "MoneyDeposited", schema = 3)]
            #[serde(rename_all = "camelCase")]
            struct Deposited {
                #[event(id)]
                account_id: std::string::String,
                #[serde(rename = "amt")]
                amount: u64,
                #[serde(rename(serialize = "memoText", deserialize = "memo"))]
                memo: Option<String>,
                #[serde(skip)]
                cached: u8,
                #[serde(skip_serializing)]
                transient: u8,
                #[serde(skip_deserializing, default)]
                derived: u8,
                #[serde(flatten)]
                extra: ::std::collections::BTreeMap<String, String>,
                #[serde(skip_serializing_if = "Option::is_none", default)]
                r#type: Option<u8>,
            }
        };
        assert_eq!(
            models(&input),
            [Ok(model(
                "MoneyDeposited",
                3,
                &[
                    ("accountId", "String"),
                    ("amt", "u64"),
                    ("memoText", "Option<String>"),
                    ("..", "BTreeMap<String,String>"),
                    ("type", "Option<u8>"),
                ]
            ))]
        );
    }

    #[test]
    fn enum_variants_follow_the_enum_and_variant_rules() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "Account", schema = 2)]
            #[serde(rename_all_fields = "SCREAMING-KEBAB-CASE")]
            enum AccountEvent {
                Opened { #[event(id)] account_id: String, owner_name: String },
                #[event(name = "Renamed", schema = 5)]
                #[serde(rename_all = "PascalCase")]
                OwnerChanged { #[event(id)] account_id: String, new_owner: String },
                #[serde(rename_all(deserialize = "camelCase"))]
                Noted { #[event(id)] account_id: String },
                Closed(crate::events::Closed),
            }
        };
        assert_eq!(
            models(&input),
            [
                Ok(model(
                    "Opened",
                    2,
                    &[("ACCOUNT-ID", "String"), ("OWNER-NAME", "String")]
                )),
                Ok(model(
                    "Renamed",
                    5,
                    &[("AccountId", "String"), ("NewOwner", "String")]
                )),
                // The variant sets only the deserialize rule: the enum's serialize rule stays.
                Ok(model("Noted", 2, &[("ACCOUNT-ID", "String")])),
                Err("Closed".to_owned()),
            ]
        );
    }

    #[test]
    fn rules_match_serde() {
        for (rule, expected) in [
            ("lowercase", "owner_name2"),
            ("UPPERCASE", "OWNER_NAME2"),
            ("PascalCase", "OwnerName2"),
            ("camelCase", "ownerName2"),
            ("snake_case", "owner_name2"),
            ("SCREAMING_SNAKE_CASE", "OWNER_NAME2"),
            ("kebab-case", "owner-name2"),
            ("SCREAMING-KEBAB-CASE", "OWNER-NAME2"),
        ] {
            assert_eq!(apply_rule(rule, "owner_name2"), expected, "{rule}");
        }
    }

    #[test]
    fn generated_methods_delegate_newtype_variants() {
        let input: DeriveInput = parse_quote! {
            #[event(aggregate = "Account")]
            enum AccountEvent {
                Opened { #[event(id)] account_id: String },
                Closed(Closed),
            }
        };
        let cx = Ctxt::new();
        let model = EventInput::from_syn(&cx, &input).expect("an enum");
        let Body::Enum { serde, variants } = &model.body else {
            unreachable!()
        };
        let text = enum_shapes(&model, serde, variants).to_string();
        for piece in [
            "fn event_shapes () -> :: cim_events :: __private :: Vec < :: cim_events :: schema :: EventShape >",
            "event_type : \"Opened\"",
            "aliases : & []",
            "schema : 1u32",
            ":: cim_events :: schema :: FieldShape { name : \"account_id\" , ty : \"String\" }",
            "< Closed as :: cim_events :: __private :: SingleEvent > :: single_event_shapes ()",
            "__shape . aggregate_type = \"Account\"",
        ] {
            assert!(text.contains(piece), "missing `{piece}` in {text}");
        }
    }
}
