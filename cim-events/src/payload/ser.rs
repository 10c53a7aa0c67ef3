//! The serde `Serializer` behind [`to_ipld`](super::to_ipld): builds [`Ipld`] directly and
//! rejects what a DAG-CBOR block cannot hold exactly. Each container wraps a failing
//! child's error with its own path segment on the way out.

use std::collections::BTreeMap;

use cid::Cid;
use cid::serde::CID_SERDE_PRIVATE_IDENTIFIER;
use ipld_core::ipld::Ipld;
use serde::ser::{self, Serialize};

use crate::crypto::pii::{PII_TOKEN, SHREDDED_TOKEN};
use crate::crypto::{RESERVED_PREFIX, pii_marker, shredded_marker};

use super::{
    Failure, JSON_NUMBER_TOKEN, JSON_RAW_VALUE_TOKEN, MAX_DEPTH, MAX_WRAPPERS, PayloadProblem,
    Segment, WideInteger, integer_in_range, json_number_to_ipld,
};

mod key;

use key::KeySerializer;

type Result<T> = std::result::Result<T, Failure>;

/// Serializes any value into [`Ipld`], counting how deep it is so that a value nested too
/// deeply is refused before the recursion (ours and the user's `Serialize` impl's) can
/// exhaust the stack.
#[derive(Clone, Copy)]
pub(super) struct Serializer {
    /// Lists and maps around the value being serialized.
    depth: usize,
    /// `Some`s and newtype structs since the innermost list or map.
    wrappers: usize,
}

impl Serializer {
    /// The serializer of a whole payload.
    pub(super) fn root() -> Self {
        Serializer {
            depth: 0,
            wrappers: 0,
        }
    }

    /// The serializer for the items of a list or map built here: one level deeper, or
    /// [`PayloadProblem::TooDeep`] past [`MAX_DEPTH`].
    fn enter(self) -> Result<Serializer> {
        match self.depth.checked_add(1) {
            Some(depth) if depth <= MAX_DEPTH => Ok(Serializer { depth, wrappers: 0 }),
            _ => Err(Failure::new(PayloadProblem::TooDeep { max: MAX_DEPTH })),
        }
    }

    /// The serializer for the value inside a `Some` or a newtype struct.
    fn unwrap_one(self) -> Result<Serializer> {
        match self.wrappers.checked_add(1) {
            Some(wrappers) if wrappers <= MAX_WRAPPERS => Ok(Serializer { wrappers, ..self }),
            _ => Err(Failure::new(PayloadProblem::TooDeep { max: MAX_WRAPPERS })),
        }
    }
}

fn float(value: f64) -> Result<Ipld> {
    if value.is_finite() {
        Ok(Ipld::Float(value))
    } else {
        Err(Failure::new(PayloadProblem::NonFiniteFloat(value)))
    }
}

fn integer(value: i128) -> Result<Ipld> {
    if integer_in_range(value) {
        Ok(Ipld::Integer(value))
    } else {
        Err(Failure::new(PayloadProblem::IntegerOutOfRange(
            WideInteger::from(value),
        )))
    }
}

/// Serializes `value` with `serializer` as the child `segment` of the container being built.
fn child<T: Serialize + ?Sized>(
    value: &T,
    serializer: Serializer,
    segment: impl FnOnce() -> Segment,
) -> Result<Ipld> {
    value
        .serialize(serializer)
        .map_err(|failure| failure.within(segment()))
}

/// `{variant: value}`: serde's externally tagged enum shape.
fn tagged(variant: &'static str, value: Ipld) -> Ipld {
    Ipld::Map(BTreeMap::from([(variant.to_owned(), value)]))
}

impl ser::Serializer for Serializer {
    type Ok = Ipld;
    type Error = Failure;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = StructBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    fn serialize_bool(self, v: bool) -> Result<Ipld> {
        Ok(Ipld::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_i16(self, v: i16) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_i32(self, v: i32) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_i64(self, v: i64) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_i128(self, v: i128) -> Result<Ipld> {
        integer(v)
    }

    fn serialize_u8(self, v: u8) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_u16(self, v: u16) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_u32(self, v: u32) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_u64(self, v: u64) -> Result<Ipld> {
        Ok(Ipld::Integer(v.into()))
    }

    fn serialize_u128(self, v: u128) -> Result<Ipld> {
        // Checked as u128 first: values above i128::MAX must not wrap into range.
        match u64::try_from(v) {
            Ok(v) => Ok(Ipld::Integer(v.into())),
            Err(_) => Err(Failure::new(PayloadProblem::IntegerOutOfRange(
                WideInteger::from(v),
            ))),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<Ipld> {
        // Widening is exact, and DAG-CBOR stores every float as 64-bit.
        float(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<Ipld> {
        float(v)
    }

    fn serialize_char(self, v: char) -> Result<Ipld> {
        Ok(Ipld::String(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Ipld> {
        Ok(Ipld::String(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Ipld> {
        Ok(Ipld::Bytes(v.to_vec()))
    }

    fn serialize_none(self) -> Result<Ipld> {
        Ok(Ipld::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Ipld> {
        value.serialize(self.unwrap_one()?)
    }

    fn serialize_unit(self) -> Result<Ipld> {
        Ok(Ipld::Null)
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<Ipld> {
        if name == SHREDDED_TOKEN {
            // `Pii::Shredded`: the one-entry map `{"/cim-shredded": null}`.
            self.enter()?;
            return Ok(shredded_marker());
        }
        Ok(Ipld::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Ipld> {
        Ok(Ipld::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Ipld> {
        if name == PII_TOKEN {
            // `Pii::Clear`: the marker `{"/cim-pii": value}`, which encryption replaces with
            // a node two levels deep (a map in a map), and decryption with the value itself
            // at this depth.
            self.enter()?.enter()?;
            return Ok(pii_marker(value.serialize(self.unwrap_one()?)?));
        }
        if name != CID_SERDE_PRIVATE_IDENTIFIER {
            return value.serialize(self.unwrap_one()?);
        }
        // `cid::Cid` serializes as this newtype around its binary form; IPLD makes it a
        // link, exactly as ipld-core does.
        match value.serialize(self)? {
            Ipld::Bytes(bytes) => Cid::try_from(bytes.as_slice())
                .map(Ipld::Link)
                .map_err(|e| Failure::new(PayloadProblem::Malformed(format!("invalid CID: {e}")))),
            _ => Err(Failure::new(PayloadProblem::Malformed(
                "a CID must serialize as bytes".to_owned(),
            ))),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Ipld> {
        let value = child(value, self.enter()?, || Segment::Key(variant.to_owned()))?;
        Ok(tagged(variant, value))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        SeqBuilder::new(self, len.unwrap_or(0))
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        SeqBuilder::new(self, len)
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder> {
        SeqBuilder::new(self, len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>> {
        // `{variant: [..]}`: the list is one level inside the map.
        let inner = SeqBuilder::new(self.enter()?, len)
            .map_err(|f| f.within(Segment::Key(variant.to_owned())))?;
        Ok(VariantBuilder { variant, inner })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder> {
        MapBuilder::new(self)
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<StructBuilder> {
        match name {
            // Not a level: it becomes a plain number.
            JSON_NUMBER_TOKEN => Ok(StructBuilder::JsonNumber(None)),
            JSON_RAW_VALUE_TOKEN => Err(Failure::new(PayloadProblem::Unsupported(
                "a serde_json RawValue is unparsed JSON text; convert it to a serde_json::Value",
            ))),
            _ => Ok(StructBuilder::Map(MapBuilder::new(self)?)),
        }
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantBuilder<MapBuilder>> {
        // `{variant: {..}}`: the inner map is one level inside the outer one.
        let inner = MapBuilder::new(self.enter()?)
            .map_err(|f| f.within(Segment::Key(variant.to_owned())))?;
        Ok(VariantBuilder { variant, inner })
    }

    /// Binary, as ipld-core's serializer says: types with two forms (e.g. `uuid::Uuid`)
    /// pick the compact one, and [`from_ipld`](super::from_ipld) reads it back the same way.
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Builds a list.
pub(super) struct SeqBuilder {
    items: Vec<Ipld>,
    /// The serializer of the items: one level below the list.
    items_serializer: Serializer,
}

impl SeqBuilder {
    /// A list built by `serializer`, for about `len` items.
    fn new(serializer: Serializer, len: usize) -> Result<Self> {
        // A size hint comes from the user's type; don't let it reserve unbounded memory.
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.min(4096)),
            items_serializer: serializer.enter()?,
        })
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let index = self.items.len();
        let item = child(value, self.items_serializer, || Segment::Index(index))?;
        self.items.push(item);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Ipld> {
        Ok(Ipld::List(self.items))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Ipld> {
        Ok(Ipld::List(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Ipld> {
        Ok(Ipld::List(self.items))
    }
}

/// Builds a map, checking that every key is a string and appears once.
pub(super) struct MapBuilder {
    map: BTreeMap<String, Ipld>,
    next_key: Option<String>,
    /// The serializer of the values: one level below the map.
    values_serializer: Serializer,
}

impl MapBuilder {
    /// A map built by `serializer`.
    fn new(serializer: Serializer) -> Result<Self> {
        Ok(MapBuilder {
            map: BTreeMap::new(),
            next_key: None,
            values_serializer: serializer.enter()?,
        })
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let key = key.serialize(KeySerializer)?;
        if key.starts_with(RESERVED_PREFIX) {
            // Only encryption writes these (see `crypto`): a user's map holding one could
            // be taken for an encrypted value.
            return Err(Failure::new(PayloadProblem::Unsupported(
                "map keys starting with `/cim-` are reserved for encrypted values",
            )));
        }
        if self.map.contains_key(&key) {
            return Err(Failure::new(PayloadProblem::DuplicateKey(key)));
        }
        self.next_key = Some(key);
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let Some(key) = self.next_key.take() else {
            return Err(Failure::new(PayloadProblem::Serde(
                "the Serialize impl wrote a map value before its key".to_owned(),
            )));
        };
        let value = child(value, self.values_serializer, || Segment::Key(key.clone()))?;
        self.map.insert(key, value);
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.key(key)?;
        self.value(value)
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.value(value)
    }

    fn end(self) -> Result<Ipld> {
        Ok(Ipld::Map(self.map))
    }
}

/// Builds a struct: a map, or the number inside serde_json's `arbitrary_precision` marker.
pub(super) enum StructBuilder {
    Map(MapBuilder),
    /// The number's text, once its one field has been seen.
    JsonNumber(Option<String>),
}

impl ser::SerializeStruct for StructBuilder {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        match self {
            StructBuilder::Map(map) => map.field(key, value),
            StructBuilder::JsonNumber(text @ None) if key == JSON_NUMBER_TOKEN => {
                match value.serialize(Serializer::root())? {
                    Ipld::String(s) => {
                        *text = Some(s);
                        Ok(())
                    }
                    _ => Err(malformed_json_number()),
                }
            }
            StructBuilder::JsonNumber(_) => Err(malformed_json_number()),
        }
    }

    fn end(self) -> Result<Ipld> {
        match self {
            StructBuilder::Map(map) => Ok(Ipld::Map(map.map)),
            StructBuilder::JsonNumber(Some(text)) => {
                json_number_to_ipld(&text).map_err(Failure::new)
            }
            StructBuilder::JsonNumber(None) => Err(malformed_json_number()),
        }
    }
}

fn malformed_json_number() -> Failure {
    Failure::new(PayloadProblem::Malformed(format!(
        "`{JSON_NUMBER_TOKEN}` must hold exactly one string field of that name"
    )))
}

/// Builds the value of a tuple or struct variant, then wraps it as `{variant: value}`.
pub(super) struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl<B> VariantBuilder<B> {
    fn within(&self, failure: Failure) -> Failure {
        failure.within(Segment::Key(self.variant.to_owned()))
    }
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.inner.push(value).map_err(|f| self.within(f))
    }

    fn end(self) -> Result<Ipld> {
        Ok(tagged(self.variant, Ipld::List(self.inner.items)))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Ipld;
    type Error = Failure;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.inner.field(key, value).map_err(|f| self.within(f))
    }

    fn end(self) -> Result<Ipld> {
        Ok(tagged(self.variant, Ipld::Map(self.inner.map)))
    }
}
