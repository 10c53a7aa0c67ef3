//! Turning user event data into IPLD and back, explicitly and strictly.
//!
//! DAG-CBOR has no NaN or infinity, only string map keys, and integers within
//! `-(2^64)..2^64`; we narrow that to the `i64`/`u64` range every IPLD implementation
//! reads. Anything else is a [`PayloadError`] before a single byte is stored, with the path
//! to the offending value.
//!
//! serde_json's `arbitrary_precision` feature serializes numbers as a private one-field map.
//! Such maps are turned back into the number serde_json would have produced without the
//! feature, so enabling the feature anywhere in a program cannot change a block.

use std::collections::BTreeMap;
use std::fmt;

use ipld_core::ipld::Ipld;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The key serde_json uses for numbers when `arbitrary_precision` is enabled.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A payload that cannot be stored as IPLD, or stored IPLD that does not fit the requested
/// Rust type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("payload value at `{path}` {problem}")]
pub struct PayloadError {
    /// Where in the payload: `$` is the root, then `.field` and `[index]`.
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
    /// An integer outside the `i64`/`u64` range.
    IntegerOutOfRange(i128),
    /// A map key that is not a string.
    NonStringKey,
    /// serde refused the value (custom serializer error, unsupported type, …).
    Serde(String),
    /// The stored payload does not match the Rust type it is decoded into.
    Mismatch(String),
}

impl fmt::Display for PayloadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadProblem::NonFiniteFloat(v) => {
                write!(f, "is the float {v}; IPLD has no NaN or infinity")
            }
            PayloadProblem::IntegerOutOfRange(v) => {
                write!(
                    f,
                    "is the integer {v}, outside the i64/u64 range IPLD readers accept"
                )
            }
            PayloadProblem::NonStringKey => f.write_str("is a map with a key that is not a string"),
            PayloadProblem::Serde(m) => write!(f, "cannot be serialized: {m}"),
            PayloadProblem::Mismatch(m) => write!(f, "does not match the target type: {m}"),
        }
    }
}

impl PayloadError {
    fn at(path: &str, problem: PayloadProblem) -> Self {
        PayloadError {
            path: path.to_owned(),
            problem,
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
    let raw = ipld_core::serde::to_ipld(value).map_err(|e| {
        let message = e.to_string();
        let problem = if message.contains("Map keys must be strings") {
            PayloadProblem::NonStringKey
        } else {
            PayloadProblem::Serde(message)
        };
        PayloadError::at("$", problem)
    })?;
    normalize(raw, &mut String::from("$"))
}

/// Deserializes IPLD into `T`.
pub fn from_ipld<T: DeserializeOwned>(ipld: Ipld) -> Result<T, PayloadError> {
    ipld_core::serde::from_ipld(ipld)
        .map_err(|e| PayloadError::at("$", PayloadProblem::Mismatch(e.to_string())))
}

/// Checks an IPLD value (already in memory) for values DAG-CBOR cannot hold exactly, and
/// turns serde_json `arbitrary_precision` numbers into plain numbers.
pub fn normalize(value: Ipld, path: &mut String) -> Result<Ipld, PayloadError> {
    match value {
        Ipld::Float(f) if !f.is_finite() => {
            Err(PayloadError::at(path, PayloadProblem::NonFiniteFloat(f)))
        }
        Ipld::Integer(i) if i < i128::from(i64::MIN) || i > i128::from(u64::MAX) => {
            Err(PayloadError::at(path, PayloadProblem::IntegerOutOfRange(i)))
        }
        Ipld::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                out.push(normalize(item, path)?);
                path.truncate(len);
            }
            Ok(Ipld::List(out))
        }
        Ipld::Map(map) => {
            if let Some(number) = json_number(&map) {
                return json_number_to_ipld(number, path);
            }
            let mut out = BTreeMap::new();
            for (key, item) in map {
                let len = path.len();
                path.push('.');
                path.push_str(&key);
                out.insert(key, normalize(item, path)?);
                path.truncate(len);
            }
            Ok(Ipld::Map(out))
        }
        other => Ok(other),
    }
}

fn json_number(map: &BTreeMap<String, Ipld>) -> Option<&str> {
    match (map.len(), map.get(JSON_NUMBER_TOKEN)) {
        (1, Some(Ipld::String(number))) => Some(number),
        _ => None,
    }
}

/// The number serde_json would have parsed without `arbitrary_precision`: `u64`, then
/// `i64`, then `f64`.
fn json_number_to_ipld(number: &str, path: &str) -> Result<Ipld, PayloadError> {
    if let Ok(u) = number.parse::<u64>() {
        return Ok(Ipld::Integer(u.into()));
    }
    if let Ok(i) = number.parse::<i64>() {
        return Ok(Ipld::Integer(i.into()));
    }
    match number.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Ipld::Float(f)),
        Ok(f) => Err(PayloadError::at(path, PayloadProblem::NonFiniteFloat(f))),
        Err(e) => Err(PayloadError::at(path, PayloadProblem::Serde(e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::ser::SerializeStruct;
    use std::collections::HashMap;

    #[test]
    fn rejects_infinity_with_a_path() {
        #[derive(Serialize)]
        struct Inner {
            values: Vec<f64>,
        }
        #[derive(Serialize)]
        struct Outer {
            inner: Inner,
        }
        let err = to_ipld(&Outer {
            inner: Inner {
                values: vec![1.0, f64::INFINITY],
            },
        })
        .unwrap_err();
        assert_eq!(err.path, "$.inner.values[1]");
        assert_eq!(err.problem, PayloadProblem::NonFiniteFloat(f64::INFINITY));
    }

    #[test]
    fn rejects_non_string_keys() {
        let map: HashMap<u32, u32> = [(1, 2)].into();
        let err = to_ipld(&map).unwrap_err();
        assert_eq!(err.problem, PayloadProblem::NonStringKey);
    }

    #[test]
    fn rejects_integers_beyond_u64_and_i64() {
        assert!(to_ipld(&(u128::from(u64::MAX) + 1)).is_err());
        let err = to_ipld(&(i128::from(i64::MIN) - 1)).unwrap_err();
        assert!(matches!(err.problem, PayloadProblem::IntegerOutOfRange(_)));
        assert_eq!(to_ipld(&u64::MAX).unwrap(), Ipld::Integer(u64::MAX.into()));
        assert_eq!(to_ipld(&i64::MIN).unwrap(), Ipld::Integer(i64::MIN.into()));
    }

    /// Serializes exactly as serde_json's `Number` does with `arbitrary_precision` on.
    struct ArbitraryPrecision(&'static str);
    impl Serialize for ArbitraryPrecision {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct(JSON_NUMBER_TOKEN, 1)?;
            st.serialize_field(JSON_NUMBER_TOKEN, self.0)?;
            st.end()
        }
    }

    #[test]
    fn arbitrary_precision_numbers_become_plain_numbers() {
        assert_eq!(
            to_ipld(&ArbitraryPrecision("42")).unwrap(),
            to_ipld(&42u64).unwrap()
        );
        assert_eq!(
            to_ipld(&ArbitraryPrecision("-7")).unwrap(),
            to_ipld(&-7i64).unwrap()
        );
        assert_eq!(
            to_ipld(&ArbitraryPrecision("1.5")).unwrap(),
            to_ipld(&1.5f64).unwrap()
        );
        // Beyond u64, serde_json without the feature parses an f64.
        assert_eq!(
            to_ipld(&ArbitraryPrecision("18446744073709551616")).unwrap(),
            Ipld::Float(18446744073709551616.0)
        );
        assert!(to_ipld(&ArbitraryPrecision("1e999")).is_err());
    }
}
