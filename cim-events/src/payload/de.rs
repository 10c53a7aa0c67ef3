//! The serde `Deserializer` behind [`from_ipld`](super::from_ipld): reads [`Ipld`] into any
//! type [`to_ipld`](super::to_ipld) accepted, `i128`/`u128` and unit structs included, and
//! names the path of a mismatch. It mirrors ipld-core's deserializer otherwise (links as
//! serde's private CID newtype, enums in the externally tagged shape, not human-readable).

use std::collections::btree_map;

use cid::Cid;
use cid::serde::CID_SERDE_PRIVATE_IDENTIFIER;
use ipld_core::ipld::Ipld;
use serde::de::{self, Error as _, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;

use super::{Failure, MAX_DEPTH, MAX_WRAPPERS, PayloadProblem, Segment};
use crate::crypto::pii::PII_TOKEN;
use crate::crypto::{Mark, mark_of};

type Result<T> = std::result::Result<T, Failure>;

/// Deserializes one IPLD value, inside `.1` lists and maps and `.2` serde wrappers
/// (`Some`, newtype structs) since the innermost of those.
pub(super) struct Deserializer(Ipld, usize, usize);

impl Deserializer {
    /// The deserializer of a whole payload.
    pub(super) fn root(value: Ipld) -> Self {
        Deserializer(value, 0, 0)
    }

    /// The same value, one serde wrapper further in. Wrappers take no IPLD level, so only
    /// this count stops a type that wraps itself (`struct Node(Option<Box<Node>>)`) from
    /// recursing without end on a value that is not null.
    fn unwrap_one(self) -> Result<Self> {
        match self.2.checked_add(1) {
            Some(wrappers) if wrappers <= MAX_WRAPPERS => {
                Ok(Deserializer(self.0, self.1, wrappers))
            }
            _ => Err(Failure::new(PayloadProblem::TooDeep { max: MAX_WRAPPERS })),
        }
    }
}

impl Deserializer {
    /// A `Pii` (see `crypto::pii`): the shredded marker is `visit_unit`; a value, bare or
    /// in its `{"/cim-pii": v}` marker, is handed over as a one-element sequence; an
    /// encrypted node is an error, since decryption comes before decoding.
    fn pii<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let Deserializer(value, depth, wrappers) = self;
        let value = match value {
            Ipld::Map(map) => match mark_of(&map) {
                Some(Mark::Shredded) => return visitor.visit_unit(),
                Some(Mark::Encrypted) => {
                    return Err(Failure::new(PayloadProblem::StillEncrypted));
                }
                Some(Mark::Pii) => map.into_values().next().unwrap_or(Ipld::Null),
                None => Ipld::Map(map),
            },
            other => other,
        };
        let inner = Deserializer(value, depth, wrappers).unwrap_one()?;
        visitor.visit_seq(OneValue(Some(inner)))
    }
}

/// The single element of the sequence a `Pii` value is handed over as.
struct OneValue(Option<Deserializer>);

impl<'de> de::SeqAccess<'de> for OneValue {
    type Error = Failure;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>> {
        self.0.take().map(|d| seed.deserialize(d)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.0.is_some()))
    }
}

/// The depth of the items of a list or map that sits inside `depth` others, or
/// [`PayloadProblem::TooDeep`] past [`MAX_DEPTH`]: [`from_ipld`](super::from_ipld) takes any
/// IPLD, not only what the block decoder (which has the same limit) produced, and must not
/// recurse without bound.
fn enter(depth: usize) -> Result<usize> {
    match depth.checked_add(1) {
        Some(inner) if inner <= MAX_DEPTH => Ok(inner),
        _ => Err(Failure::new(PayloadProblem::TooDeep { max: MAX_DEPTH })),
    }
}

/// How serde names an IPLD value in "invalid type" messages.
fn unexpected(value: &Ipld) -> Unexpected<'_> {
    match value {
        Ipld::Null => Unexpected::Unit,
        Ipld::Bool(b) => Unexpected::Bool(*b),
        Ipld::Integer(i) => match (u64::try_from(*i), i64::try_from(*i)) {
            (Ok(u), _) => Unexpected::Unsigned(u),
            (_, Ok(i)) => Unexpected::Signed(i),
            _ => Unexpected::Other("a 128-bit integer"),
        },
        Ipld::Float(f) => Unexpected::Float(*f),
        Ipld::String(s) => Unexpected::Str(s),
        Ipld::Bytes(b) => Unexpected::Bytes(b),
        Ipld::List(_) => Unexpected::Seq,
        Ipld::Map(_) => Unexpected::Map,
        Ipld::Link(_) => Unexpected::Other("a CID link"),
    }
}

impl<'de> de::Deserializer<'de> for Deserializer {
    type Error = Failure;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Ipld::Null => visitor.visit_unit(),
            Ipld::Bool(b) => visitor.visit_bool(b),
            // The narrowest visit first: many visitors (serde_json's `Value`, for one) only
            // implement the 64-bit ones.
            Ipld::Integer(i) => match (u64::try_from(i), i64::try_from(i)) {
                (Ok(u), _) => visitor.visit_u64(u),
                (_, Ok(i)) => visitor.visit_i64(i),
                _ => visitor.visit_i128(i),
            },
            Ipld::Float(f) => visitor.visit_f64(f),
            Ipld::String(s) => visitor.visit_string(s),
            Ipld::Bytes(b) => visitor.visit_byte_buf(b),
            Ipld::List(items) => visit_seq(items, enter(self.1)?, visitor),
            Ipld::Map(map) => visit_map(map, enter(self.1)?, visitor),
            Ipld::Link(cid) => visitor.visit_newtype_struct(CidDeserializer(cid)),
        }
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Ipld::Integer(i) => visitor.visit_i128(i),
            other => Err(Failure::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Ipld::Integer(i) => match u128::try_from(i) {
                Ok(u) => visitor.visit_u128(u),
                Err(_) => Err(Failure::invalid_value(
                    unexpected(&Ipld::Integer(i)),
                    &visitor,
                )),
            },
            other => Err(Failure::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            // serde's own f32 visitor would round silently; a stored value that is not an
            // f32 is a mismatch, as in ipld-core.
            Ipld::Float(f) if f64::from(f as f32) != f => Err(Failure::invalid_value(
                Unexpected::Float(f),
                &"a float that fits an f32 exactly",
            )),
            other => Deserializer(other, self.1, self.2).deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Ipld::Null => visitor.visit_none(),
            other => visitor.visit_some(Deserializer(other, self.1, self.2).unwrap_one()?),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            Ipld::Null => visitor.visit_unit(),
            other => Err(Failure::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == PII_TOKEN {
            return self.pii(visitor);
        }
        if name != CID_SERDE_PRIVATE_IDENTIFIER {
            return visitor.visit_newtype_struct(self.unwrap_one()?);
        }
        match self.0 {
            Ipld::Link(cid) => visitor.visit_newtype_struct(CidDeserializer(cid)),
            other => Err(Failure::invalid_type(unexpected(&other), &"a CID link")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let expected = "a variant name or a one-entry map {variant: value}";
        let depth = self.1;
        let (variant, value) = match self.0 {
            Ipld::String(variant) => (variant, None),
            Ipld::Map(map) => {
                let depth = enter(depth)?;
                let len = map.len();
                let mut entries = map.into_iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, value)), None) => (variant, Some((value, depth))),
                    _ => return Err(Failure::invalid_length(len, &expected)),
                }
            }
            other => return Err(Failure::invalid_type(unexpected(&other), &expected)),
        };
        visitor.visit_enum(EnumAccess { variant, value })
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f64 char str string bytes byte_buf unit
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// Visits a list whose items are at `depth`.
fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Ipld>, depth: usize, visitor: V) -> Result<V::Value> {
    let len = items.len();
    let mut access = SeqAccess {
        items: items.into_iter(),
        index: 0,
        depth,
    };
    let value = visitor.visit_seq(&mut access)?;
    match access.items.len() {
        0 => Ok(value),
        _ => Err(Failure::invalid_length(len, &"fewer elements")),
    }
}

/// Visits a map whose values are at `depth`.
fn visit_map<'de, V: Visitor<'de>>(
    map: std::collections::BTreeMap<String, Ipld>,
    depth: usize,
    visitor: V,
) -> Result<V::Value> {
    let len = map.len();
    let mut access = MapAccess {
        entries: map.into_iter(),
        value: None,
        depth,
    };
    let value = visitor.visit_map(&mut access)?;
    match access.entries.len() {
        0 => Ok(value),
        _ => Err(Failure::invalid_length(len, &"fewer entries")),
    }
}

struct SeqAccess {
    items: std::vec::IntoIter<Ipld>,
    index: usize,
    /// Lists and maps around the items.
    depth: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess {
    type Error = Failure;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(Deserializer(item, self.depth, 0))
            .map(Some)
            .map_err(|f| f.within(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess {
    entries: btree_map::IntoIter<String, Ipld>,
    /// The value of the key just handed out, and that key for error paths.
    value: Option<(String, Ipld)>,
    /// Lists and maps around the values.
    depth: usize,
}

impl<'de> de::MapAccess<'de> for MapAccess {
    type Error = Failure;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let parsed = seed
            .deserialize(Deserializer(Ipld::String(key.clone()), self.depth, 0))
            .map_err(|f| f.within(Segment::Key(key.clone())))?;
        self.value = Some((key, value));
        Ok(Some(parsed))
    }

    fn next_value_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        let Some((key, value)) = self.value.take() else {
            return Err(Failure::custom("a map value was read before its key"));
        };
        seed.deserialize(Deserializer(value, self.depth, 0))
            .map_err(|f| f.within(Segment::Key(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess {
    variant: String,
    /// The variant's value and the lists and maps around it.
    value: Option<(Ipld, usize)>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = Failure;
    type Variant = VariantAccess;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAccess)> {
        let name: de::value::StringDeserializer<Failure> = self.variant.clone().into_deserializer();
        let tag = seed.deserialize(name)?;
        Ok((
            tag,
            VariantAccess {
                variant: self.variant,
                value: self.value,
            },
        ))
    }
}

struct VariantAccess {
    variant: String,
    /// The variant's value and the lists and maps around it.
    value: Option<(Ipld, usize)>,
}

impl VariantAccess {
    /// The variant's value as a deserializer, or an error naming what the type expected
    /// instead.
    fn value(self, expected: &str) -> Result<(String, Deserializer)> {
        match self.value {
            Some((value, depth)) => Ok((self.variant, Deserializer(value, depth, 0))),
            None => Err(Failure::invalid_type(Unexpected::UnitVariant, &expected)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess {
    type Error = Failure;

    fn unit_variant(self) -> Result<()> {
        match self.value {
            None | Some((Ipld::Null, _)) => Ok(()),
            Some((other, _)) => Err(Failure::invalid_type(unexpected(&other), &"a unit variant")
                .within(Segment::Key(self.variant))),
        }
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        let (variant, value) = self.value("a newtype variant")?;
        seed.deserialize(value)
            .map_err(|f| f.within(Segment::Key(variant)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        let (variant, value) = self.value("a tuple variant")?;
        de::Deserializer::deserialize_seq(value, visitor)
            .map_err(|f| f.within(Segment::Key(variant)))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let (variant, value) = self.value("a struct variant")?;
        de::Deserializer::deserialize_map(value, visitor)
            .map_err(|f| f.within(Segment::Key(variant)))
    }
}

/// Hands a link to `cid::Cid`'s visitor as the bytes it expects, and to nothing else, so
/// plain bytes never pass for a link.
struct CidDeserializer(Cid);

impl<'de> de::Deserializer<'de> for CidDeserializer {
    type Error = Failure;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        Err(Failure::invalid_type(
            Unexpected::Other("a CID link"),
            &visitor,
        ))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_bytes(&self.0.to_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_byte_buf(self.0.to_bytes())
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}
