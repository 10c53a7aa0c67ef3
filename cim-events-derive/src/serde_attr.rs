//! The `#[serde(...)]` attributes that shape an enum variant's payload.
//!
//! `#[derive(Event)]` stores each variant's fields as a map of their own, through hidden
//! helper structs. For the stored payload to match what the user's serde attributes say,
//! the helpers carry the same field attributes, and the container attributes that rename
//! fields (`rename_all` on the variant, `rename_all_fields` on the enum) are resolved the
//! way serde resolves them: per direction, the variant's rule first.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Attribute, ExprPath, LitStr, Meta, Token};

/// A field-renaming rule per direction.
#[derive(Default, Clone)]
pub struct Rules {
    pub serialize: Option<LitStr>,
    pub deserialize: Option<LitStr>,
}

impl Rules {
    /// `self`'s rule where set, `other`'s otherwise (serde's `RenameAllRules::or`).
    pub fn or(&self, other: &Rules) -> Rules {
        Rules {
            serialize: self.serialize.clone().or_else(|| other.serialize.clone()),
            deserialize: self
                .deserialize
                .clone()
                .or_else(|| other.deserialize.clone()),
        }
    }
}

/// What an event enum's serde attributes say about its variants' fields.
#[derive(Default)]
pub struct SerdeContainer {
    pub rename_all_fields: Rules,
    pub deny_unknown_fields: bool,
    /// `bound = …` metas, copied onto the helpers.
    pub bounds: Vec<Meta>,
}

/// What a variant's serde attributes say about its fields.
#[derive(Default)]
pub struct SerdeVariant {
    pub rename_all: Rules,
    pub bounds: Vec<Meta>,
    /// A `with`/`serialize_with`/`deserialize_with` on the whole variant.
    pub whole_with: Option<Meta>,
}

/// One meta of a field's `#[serde(...)]`, sorted by what the serialize helper must do
/// with it (its fields are references, so functions taking `&T` need an adapter).
#[derive(Clone)]
pub enum FieldMeta {
    /// `with = "module"`
    With(ExprPath, Meta),
    /// `serialize_with = "path"`
    SerializeWith(ExprPath, Meta),
    /// `skip_serializing_if = "path"`
    SkipSerializingIf(ExprPath, Meta),
    /// Anything else, copied as is.
    Other(Meta),
}

impl FieldMeta {
    pub fn meta(&self) -> &Meta {
        match self {
            FieldMeta::With(_, m)
            | FieldMeta::SerializeWith(_, m)
            | FieldMeta::SkipSerializingIf(_, m)
            | FieldMeta::Other(m) => m,
        }
    }
}

/// A field's serde attributes.
#[derive(Default, Clone)]
pub struct SerdeField {
    pub metas: Vec<FieldMeta>,
    /// `#[serde(...)]` attributes that did not parse: copied verbatim, for serde to report.
    pub verbatim: Vec<Attribute>,
}

impl SerdeField {
    /// The `skip`-like meta that keeps this field out of the payload, if any.
    pub fn skipped(&self) -> Option<&Meta> {
        self.metas.iter().map(FieldMeta::meta).find(|m| {
            matches!(m, Meta::Path(p) if p.is_ident("skip") || p.is_ident("skip_serializing") || p.is_ident("skip_deserializing"))
        })
    }

    /// The attributes for the deserialize helper: all of them, unchanged.
    pub fn de_attrs(&self) -> TokenStream {
        let metas = self.metas.iter().map(FieldMeta::meta);
        let verbatim = &self.verbatim;
        quote!(#(#[serde(#metas)])* #(#verbatim)*)
    }
}

/// Splits every `#[serde(...)]` in `attrs` into its metas; `Err` holds the attributes
/// that did not parse.
fn metas(attrs: &[Attribute]) -> (Vec<Meta>, Vec<Attribute>) {
    let mut metas = Vec::new();
    let mut verbatim = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            Ok(list) => metas.extend(list),
            Err(_) => verbatim.push(attr.clone()),
        }
    }
    (metas, verbatim)
}

/// A `key = "…"` string value.
fn str_value(meta: &Meta) -> Option<&LitStr> {
    match meta {
        Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// `rename_all = "x"` or `rename_all(serialize = "x", deserialize = "y")`.
fn rules(meta: &Meta) -> Rules {
    if let Some(lit) = str_value(meta) {
        return Rules {
            serialize: Some(lit.clone()),
            deserialize: Some(lit.clone()),
        };
    }
    let mut out = Rules::default();
    if let Meta::List(list) = meta {
        if let Ok(inner) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            for m in &inner {
                let slot = if m.path().is_ident("serialize") {
                    &mut out.serialize
                } else if m.path().is_ident("deserialize") {
                    &mut out.deserialize
                } else {
                    continue;
                };
                *slot = str_value(m).cloned();
            }
        }
    }
    out
}

pub fn container(attrs: &[Attribute]) -> SerdeContainer {
    let mut out = SerdeContainer::default();
    for meta in metas(attrs).0 {
        let path = meta.path();
        if path.is_ident("rename_all_fields") {
            out.rename_all_fields = rules(&meta);
        } else if path.is_ident("deny_unknown_fields") {
            out.deny_unknown_fields = true;
        } else if path.is_ident("bound") {
            out.bounds.push(meta);
        }
    }
    out
}

pub fn variant(attrs: &[Attribute]) -> SerdeVariant {
    let mut out = SerdeVariant::default();
    for meta in metas(attrs).0 {
        let path = meta.path();
        if path.is_ident("rename_all") {
            out.rename_all = rules(&meta);
        } else if path.is_ident("bound") {
            out.bounds.push(meta);
        } else if path.is_ident("with")
            || path.is_ident("serialize_with")
            || path.is_ident("deserialize_with")
        {
            out.whole_with = Some(meta);
        }
    }
    out
}

pub fn field(attrs: &[Attribute]) -> SerdeField {
    let (metas, verbatim) = metas(attrs);
    let metas = metas
        .into_iter()
        .map(|meta| {
            let path = str_value(&meta).and_then(|lit| lit.parse::<ExprPath>().ok());
            match path {
                Some(p) if meta.path().is_ident("with") => FieldMeta::With(p, meta),
                Some(p) if meta.path().is_ident("serialize_with") => {
                    FieldMeta::SerializeWith(p, meta)
                }
                Some(p) if meta.path().is_ident("skip_serializing_if") => {
                    FieldMeta::SkipSerializingIf(p, meta)
                }
                _ => FieldMeta::Other(meta),
            }
        })
        .collect();
    SerdeField { metas, verbatim }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn variant_rule_wins_per_direction() {
        let enum_attrs: Vec<Attribute> =
            vec![parse_quote!(#[serde(rename_all_fields = "camelCase", deny_unknown_fields)])];
        let variant_attrs: Vec<Attribute> =
            vec![parse_quote!(#[serde(rename_all(serialize = "SCREAMING_SNAKE_CASE"))])];
        let c = container(&enum_attrs);
        let v = variant(&variant_attrs);
        assert!(c.deny_unknown_fields);
        let rules = v.rename_all.or(&c.rename_all_fields);
        assert_eq!(
            rules.serialize.map(|l| l.value()).as_deref(),
            Some("SCREAMING_SNAKE_CASE")
        );
        assert_eq!(
            rules.deserialize.map(|l| l.value()).as_deref(),
            Some("camelCase")
        );
    }

    #[test]
    fn field_metas_are_sorted() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[serde(with = "my::module", rename = "x")]),
            parse_quote!(#[serde(skip_serializing_if = "Option::is_none")]),
            parse_quote!(#[serde(skip)]),
        ];
        let f = field(&attrs);
        assert!(matches!(f.metas[0], FieldMeta::With(..)));
        assert!(matches!(f.metas[1], FieldMeta::Other(..)));
        assert!(matches!(f.metas[2], FieldMeta::SkipSerializingIf(..)));
        assert!(f.skipped().is_some());
        let de = f.de_attrs().to_string();
        assert!(de.contains("with = \"my::module\""), "{de}");
    }
}
