//! Turning user event data into IPLD and back, explicitly and strictly.
//!
//! [`to_ipld`] runs the user's `Serialize` impl against our own serde `Serializer`, which
//! builds [`Ipld`] directly and refuses, with the path to the offending value, anything a
//! DAG-CBOR block cannot hold exactly:
//!
//! | serde value | IPLD |
//! |---|---|
//! | `bool` | `Bool` |
//! | any integer, `i128`/`u128` included, within `i64::MIN..=u64::MAX` | `Integer` |
//! | an integer outside that range | [`PayloadProblem::IntegerOutOfRange`] |
//! | finite `f32`/`f64` | `Float` (always 64-bit on the wire) |
//! | NaN, ±infinity | [`PayloadProblem::NonFiniteFloat`] |
//! | `char`, `str` | `String` |
//! | bytes (`serde_bytes`) | `Bytes` |
//! | `None`, `()`, unit struct | `Null` |
//! | `Some(v)`, newtype struct | `v` |
//! | sequence, tuple, tuple struct | `List` |
//! | map, struct | `Map` |
//! | unit variant | `String` of the variant name |
//! | newtype/tuple/struct variant | one-entry `Map` `{variant: value}` (serde's externally tagged shape) |
//! | [`cid::Cid`] | `Link` (DAG-CBOR tag 42) |
//! | serde_json `Number` under `arbitrary_precision` | the plain number (see below) |
//!
//! Map keys must be strings, as DAG-CBOR requires: `String`/`&str`, a `char` (a one-character
//! string on the wire, read back as a `char`), a unit enum variant (its name) and newtypes
//! around those. Integer, bool, float, byte, option and compound keys are
//! [`PayloadProblem::NonStringKey`]: serde_json would silently turn `1` into `"1"`, but the
//! payload could then not be read back into the same Rust type, so we refuse it up front. A
//! key that appears twice is [`PayloadProblem::DuplicateKey`].
//!
//! serde_json's `arbitrary_precision` feature makes its `Number` serialize as a private
//! one-field struct holding the number's text. The serializer turns it back into the number
//! serde_json would have produced without the feature — `u64`, then `i64`, then a finite
//! `f64`; `-0` is the float `-0.0` — so turning the feature on anywhere in a program does not
//! change a block (tests/tests/arbitrary_precision.rs and the detached crate
//! tests/arbitrary-precision prove it with pinned CIDs). Floats are parsed correctly
//! rounded: that is exactly the `f64` a number built in Rust had (serde_json keeps its
//! shortest round-trip text) and what serde_json's own `as_f64` returns under the feature.
//! One difference is serde_json's, not ours: without its `float_roundtrip` feature, its
//! default parser is not always correctly rounded for JSON text with more than 15
//! significant digits or an exponent beyond ±22, so for such text the two builds of
//! serde_json hold neighbouring `f64`s, and each block records the value its program holds.
//!
//! [`from_ipld`] is the matching `Deserializer`, so everything [`to_ipld`] accepts reads back
//! (including `i128`/`u128` fields and unit structs, which the generic `ipld-core`
//! deserializer cannot read), and a mismatch also names its path.

mod de;
mod ser;

use std::collections::BTreeMap;
use std::fmt;

use ipld_core::ipld::Ipld;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The struct (and field) name serde_json gives its `Number` under `arbitrary_precision`.
pub(crate) const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";
/// The struct name serde_json gives `RawValue` (feature `raw_value`).
pub(crate) const JSON_RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The deepest nesting of lists and maps a payload may have: a scalar has depth 0, `[1]`
/// and `{"a": 1}` depth 1, `[[1]]` depth 2. An enum variant with data counts as the
/// one-entry map it is stored as.
///
/// Everything that writes a payload ([`to_ipld`], [`normalize`], the block encoder) refuses
/// a deeper one with [`PayloadProblem::TooDeep`], and the block decoder refuses deeper bytes,
/// so a payload accepted on write is always read back. The value leaves room for the readers
/// of the stored block: `serde_ipld_dagcbor` (used by the block decoder and by other IPLD
/// tools built on it) stops at 256 recursion steps, and spends two per list or map (one to
/// look at the item, one to enter it) plus one for the block's own map and one for the
/// innermost scalar; 100 levels cost 202 of them. It is also below serde_json's own default
/// limit of 128, so any payload that came from JSON text fits, and the recursion it allows
/// stays far from the end of a 2 MiB thread stack in every (de)serializer on the path.
pub const MAX_DEPTH: usize = 100;

/// How many serde wrappers (`Some`, newtype structs) may sit between two lists or maps.
/// They add no IPLD level, but each is a recursive call into the user's `Serialize` impl,
/// so a chain of them (`struct Node(Option<Box<Node>>)`) must be cut off too.
pub(crate) const MAX_WRAPPERS: usize = MAX_DEPTH;

/// A payload that cannot be stored as IPLD, or stored IPLD that does not fit the requested
/// Rust type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("payload value at `{path}` {problem}")]
pub struct PayloadError {
    /// Where in the payload: `$` is the root, then `.field` and `[index]`; a map key that is
    /// not a plain identifier is quoted, as in `$.prices["EUR/USD"]`. Enum variants appear as
    /// the one-entry map they are stored as: `$.Deposited.amount`.
    pub path: String,
    /// What is wrong there.
    pub problem: PayloadProblem,
}

/// What is wrong with a payload value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PayloadProblem {
    /// A float that is NaN or infinite.
    NonFiniteFloat(f64),
    /// An integer outside the `i64::MIN..=u64::MAX` range every IPLD reader accepts.
    IntegerOutOfRange(WideInteger),
    /// A map key that is not a string (the path names the map).
    NonStringKey,
    /// A map key that appears twice (the path names the map); DAG-CBOR maps have unique
    /// keys.
    DuplicateKey(String),
    /// A value in one of serde's private shapes (a CID, a serde_json number) whose content
    /// is not valid.
    Malformed(String),
    /// A value serde can express but a block cannot hold faithfully.
    Unsupported(&'static str),
    /// serde refused the value (custom serializer error, …).
    Serde(String),
    /// The stored payload does not match the Rust type it is decoded into.
    Mismatch(String),
    /// Lists and maps nested deeper than `max` ([`MAX_DEPTH`]), or more than `max` serde
    /// wrappers (`Some`, newtype structs) in a row; the path names the first value too deep.
    TooDeep {
        /// The limit that was exceeded.
        max: usize,
    },
    /// The payload was stored under a schema version this code cannot read: newer than
    /// the event's current schema, or older with no upcast listed in its
    /// `#[event(from(…))]`.
    UnknownSchema {
        /// The event type, as the code names it now.
        event_type: String,
        /// The schema version the payload was stored under.
        stored: u32,
        /// The event's current schema version in this code.
        current: u32,
    },
    /// A [`Pii`](crate::Pii) value that is still encrypted: the store that read the event
    /// has no [encryption](crate::EventStore::encryption) configured to decrypt it.
    StillEncrypted,
}

/// An integer exactly as serde handed it over, wide enough for any `i128` or `u128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WideInteger {
    /// Whether the value is below zero.
    pub negative: bool,
    /// The absolute value.
    pub magnitude: u128,
}

impl From<i128> for WideInteger {
    fn from(value: i128) -> Self {
        WideInteger {
            negative: value < 0,
            magnitude: value.unsigned_abs(),
        }
    }
}

impl From<u128> for WideInteger {
    fn from(value: u128) -> Self {
        WideInteger {
            negative: false,
            magnitude: value,
        }
    }
}

impl fmt::Display for WideInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{sign}{}", self.magnitude)
    }
}

impl fmt::Display for PayloadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadProblem::NonFiniteFloat(v) => {
                write!(f, "is the float {v}; IPLD has no NaN or infinity")
            }
            PayloadProblem::IntegerOutOfRange(v) => write!(
                f,
                "is the integer {v}, outside the i64/u64 range IPLD readers accept"
            ),
            PayloadProblem::NonStringKey => f.write_str("is a map with a key that is not a string"),
            PayloadProblem::DuplicateKey(k) => write!(f, "is a map with the key {k:?} twice"),
            PayloadProblem::Malformed(m) => write!(f, "is malformed: {m}"),
            PayloadProblem::Unsupported(m) => write!(f, "cannot be stored: {m}"),
            PayloadProblem::Serde(m) => write!(f, "cannot be serialized: {m}"),
            PayloadProblem::Mismatch(m) => write!(f, "does not match the target type: {m}"),
            PayloadProblem::StillEncrypted => f.write_str(
                "is still encrypted: the store that read it has no encryption configured to decrypt it",
            ),
            PayloadProblem::TooDeep { max } => write!(
                f,
                "is nested too deeply: more than {max} levels of lists and maps (or serde wrappers)"
            ),
            PayloadProblem::UnknownSchema {
                event_type,
                stored,
                current,
            } if stored > current => write!(
                f,
                "was stored under schema {stored} of event type `{event_type}`, newer than schema {current} that this code reads; read it with code that knows schema {stored}"
            ),
            PayloadProblem::UnknownSchema {
                event_type,
                stored,
                current,
            } => write!(
                f,
                "was stored under schema {stored} of event type `{event_type}`, which has no upcast to schema {current}"
            ),
        }
    }
}

/// Serializes `value` into IPLD, rejecting anything DAG-CBOR cannot hold exactly.
///
/// ```
/// use cim_events::payload::{to_ipld, PayloadProblem};
/// #[derive(serde::Serialize)]
/// struct Reading { celsius: f64 }
/// assert!(to_ipld(&Reading { celsius: 21.5 }).is_ok());
/// let err = to_ipld(&Reading { celsius: f64::NAN }).unwrap_err();
/// assert_eq!(err.path, "$.celsius");
/// assert!(matches!(err.problem, PayloadProblem::NonFiniteFloat(_)));
/// ```
pub fn to_ipld<T: Serialize + ?Sized>(value: &T) -> Result<Ipld, PayloadError> {
    value
        .serialize(ser::Serializer::root())
        .map_err(Failure::into_error)
}

/// Deserializes IPLD into `T`; a mismatch names the path where it happened.
///
/// ```
/// use cim_events::payload::{from_ipld, to_ipld, PayloadProblem};
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Wide { big: u128 }
/// let ipld = to_ipld(&Wide { big: 7 }).unwrap();
/// assert_eq!(from_ipld::<Wide>(ipld).unwrap(), Wide { big: 7 });
/// let err = from_ipld::<Wide>(to_ipld(&serde_json::json!({"big": "x"})).unwrap()).unwrap_err();
/// assert_eq!(err.path, "$.big");
/// assert!(matches!(err.problem, PayloadProblem::Mismatch(_)));
/// ```
pub fn from_ipld<T: DeserializeOwned>(ipld: Ipld) -> Result<T, PayloadError> {
    T::deserialize(de::Deserializer::root(ipld)).map_err(Failure::into_error)
}

/// Checks an IPLD value (already in memory) for values DAG-CBOR cannot hold exactly, and
/// turns serde_json `arbitrary_precision` numbers (as the generic `ipld-core` serializer
/// leaves them: a one-entry map) into plain numbers. `path` is where `value` sits; pass
/// `"$"` for a whole payload.
pub fn normalize(value: Ipld, path: &mut String) -> Result<Ipld, PayloadError> {
    normalize_at(value, path, 0)
}

/// [`normalize`] for a value inside `level` lists and maps.
fn normalize_at(value: Ipld, path: &mut String, level: usize) -> Result<Ipld, PayloadError> {
    let at = |path: &str, problem| PayloadError {
        path: path.to_owned(),
        problem,
    };
    match value {
        Ipld::Float(f) if !f.is_finite() => Err(at(path, PayloadProblem::NonFiniteFloat(f))),
        Ipld::Integer(i) if !integer_in_range(i) => Err(at(
            path,
            PayloadProblem::IntegerOutOfRange(WideInteger::from(i)),
        )),
        Ipld::List(_) if level >= MAX_DEPTH => {
            Err(at(path, PayloadProblem::TooDeep { max: MAX_DEPTH }))
        }
        Ipld::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let len = path.len();
                Segment::Index(index).render(path);
                out.push(normalize_at(item, path, level + 1)?);
                path.truncate(len);
            }
            Ok(Ipld::List(out))
        }
        Ipld::Map(map) => {
            if let (1, Some(Ipld::String(number))) = (map.len(), map.get(JSON_NUMBER_TOKEN)) {
                return json_number_to_ipld(number).map_err(|problem| at(path, problem));
            }
            if level >= MAX_DEPTH {
                return Err(at(path, PayloadProblem::TooDeep { max: MAX_DEPTH }));
            }
            let mut out = BTreeMap::new();
            for (key, item) in map {
                let len = path.len();
                Segment::Key(key.clone()).render(path);
                out.insert(key, normalize_at(item, path, level + 1)?);
                path.truncate(len);
            }
            Ok(Ipld::Map(out))
        }
        other => Ok(other),
    }
}

/// Whether an integer is within the range every IPLD implementation reads.
pub(crate) fn integer_in_range(i: i128) -> bool {
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&i)
}

/// The number serde_json would have produced from `text` without `arbitrary_precision`:
/// an integer that fits `u64`, else one that fits `i64`, else an `f64` (its parser turns
/// `-0` and out-of-range integers into floats too). Only JSON number syntax is accepted,
/// since that is all serde_json puts there.
fn json_number_to_ipld(text: &str) -> Result<Ipld, PayloadProblem> {
    let Some(is_integer) = json_number_syntax(text) else {
        return Err(PayloadProblem::Malformed(format!(
            "serde_json number {text:?} is not JSON number syntax"
        )));
    };
    if is_integer {
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Ipld::Integer(u.into()));
        }
        // serde_json reads `-0` as the float -0.0, not the integer 0.
        let negative_zero = text.starts_with('-') && text[1..].bytes().all(|b| b == b'0');
        if !negative_zero {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Ipld::Integer(i.into()));
            }
        }
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Ipld::Float(f)),
        Ok(f) => Err(PayloadProblem::NonFiniteFloat(f)),
        Err(e) => Err(PayloadProblem::Malformed(format!(
            "serde_json number {text:?}: {e}"
        ))),
    }
}

/// `Some(is_integer)` when `text` is a JSON number:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn json_number_syntax(text: &str) -> Option<bool> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return None,
    }
    let mut is_integer = true;
    if b.get(i) == Some(&b'.') {
        i += 1;
        is_integer = false;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        is_integer = false;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    (i == b.len()).then_some(is_integer)
}

/// A step in a payload path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// A list index.
    Index(usize),
    /// A map key, struct field or enum variant.
    Key(String),
}

impl Segment {
    fn render(&self, path: &mut String) {
        match self {
            Segment::Index(i) => path.push_str(&format!("[{i}]")),
            Segment::Key(k) if is_plain_key(k) => {
                path.push('.');
                path.push_str(k);
            }
            Segment::Key(k) => path.push_str(&format!("[{k:?}]")),
        }
    }
}

/// Keys that read unambiguously after a `.`.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// A rejection on its way out of the (de)serializer: each container it passes through
/// adds its segment, so the success path never builds a path at all.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Innermost segment first.
    segments: Vec<Segment>,
    problem: PayloadProblem,
}

impl Failure {
    pub(crate) fn new(problem: PayloadProblem) -> Self {
        Failure {
            segments: Vec::new(),
            problem,
        }
    }

    /// The same failure, one container further out.
    pub(crate) fn within(mut self, segment: Segment) -> Self {
        self.segments.push(segment);
        self
    }

    pub(crate) fn into_error(self) -> PayloadError {
        let mut path = String::from("$");
        for segment in self.segments.iter().rev() {
            segment.render(&mut path);
        }
        PayloadError {
            path,
            problem: self.problem,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for Failure {}

impl serde::ser::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Failure::new(PayloadProblem::Serde(msg.to_string()))
    }
}

impl serde::de::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Failure::new(PayloadProblem::Mismatch(msg.to_string()))
    }
}

#[cfg(test)]
mod depth_tests;
#[cfg(test)]
mod tests;
