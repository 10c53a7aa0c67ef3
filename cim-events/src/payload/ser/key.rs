//! The serializer of map keys: only what is a string on the wire and reads back as the
//! same key is accepted.

use cid::serde::CID_SERDE_PRIVATE_IDENTIFIER;
use serde::ser::{self, Serialize};

use super::Result;
use crate::payload::{Failure, PayloadProblem};

/// Serializes a map key: only what is a string on the wire and reads back as the same
/// key is accepted.
pub(super) struct KeySerializer;

fn non_string_key<T>() -> Result<T> {
    Err(Failure::new(PayloadProblem::NonStringKey))
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = Failure;
    type SerializeSeq = ser::Impossible<String, Failure>;
    type SerializeTuple = ser::Impossible<String, Failure>;
    type SerializeTupleStruct = ser::Impossible<String, Failure>;
    type SerializeTupleVariant = ser::Impossible<String, Failure>;
    type SerializeMap = ser::Impossible<String, Failure>;
    type SerializeStruct = ser::Impossible<String, Failure>;
    type SerializeStructVariant = ser::Impossible<String, Failure>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }

    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<String> {
        if name == CID_SERDE_PRIVATE_IDENTIFIER {
            return non_string_key();
        }
        if name == crate::crypto::pii::PII_TOKEN {
            return Err(Failure::new(PayloadProblem::Unsupported(
                "personal data (`Pii`) cannot be a map key: keys are stored in clear",
            )));
        }
        value.serialize(self)
    }

    fn serialize_bool(self, _: bool) -> Result<String> {
        non_string_key()
    }

    fn serialize_i8(self, _: i8) -> Result<String> {
        non_string_key()
    }

    fn serialize_i16(self, _: i16) -> Result<String> {
        non_string_key()
    }

    fn serialize_i32(self, _: i32) -> Result<String> {
        non_string_key()
    }

    fn serialize_i64(self, _: i64) -> Result<String> {
        non_string_key()
    }

    fn serialize_i128(self, _: i128) -> Result<String> {
        non_string_key()
    }

    fn serialize_u8(self, _: u8) -> Result<String> {
        non_string_key()
    }

    fn serialize_u16(self, _: u16) -> Result<String> {
        non_string_key()
    }

    fn serialize_u32(self, _: u32) -> Result<String> {
        non_string_key()
    }

    fn serialize_u64(self, _: u64) -> Result<String> {
        non_string_key()
    }

    fn serialize_u128(self, _: u128) -> Result<String> {
        non_string_key()
    }

    fn serialize_f32(self, _: f32) -> Result<String> {
        non_string_key()
    }

    fn serialize_f64(self, _: f64) -> Result<String> {
        non_string_key()
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<String> {
        non_string_key()
    }

    fn serialize_none(self) -> Result<String> {
        non_string_key()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String> {
        non_string_key()
    }

    fn serialize_unit(self) -> Result<String> {
        non_string_key()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<String> {
        non_string_key()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String> {
        non_string_key()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        non_string_key()
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        non_string_key()
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        non_string_key()
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        non_string_key()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        non_string_key()
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        non_string_key()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        non_string_key()
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
