//! W3C Trace Context: the `traceparent` value that carries a distributed trace from a
//! command to the events it causes.
//!
//! It travels as a message header (`traceparent`, the W3C name), never in the block: the
//! block is content-addressed, and a trace context differs on each attempt of a command,
//! so putting it in the block would change the CID of the same event on every retry.

use std::fmt;
use std::str::FromStr;

/// A validated W3C `traceparent` value, version `00`:
/// `00-<trace-id: 32 lowercase hex>-<parent-id: 16 lowercase hex>-<flags: 2 lowercase hex>`,
/// with neither id all zeros.
///
/// ```
/// use cim_events::Traceparent;
/// let tp: Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert_eq!(tp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.parent_id(), "00f067aa0ba902b7");
/// assert!(tp.sampled());
/// assert!("00-xyz-00f067aa0ba902b7-01".parse::<Traceparent>().is_err());
/// # Ok::<(), cim_events::TraceparentError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Traceparent(String);

/// Why a string is not a valid `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent {value:?}: {problem}")]
pub struct TraceparentError {
    /// The rejected value.
    pub value: String,
    /// What is wrong with it.
    pub problem: TraceparentProblem,
}

/// What is wrong with a rejected `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceparentProblem {
    /// Not four `-`-separated fields of 2, 32, 16 and 2 characters (55 in all).
    #[error("expected `00-<32 hex>-<16 hex>-<2 hex>`")]
    Shape,
    /// A version other than `00` (the only one this crate writes and reads).
    #[error("unsupported version (only `00`)")]
    Version,
    /// A field holds something other than lowercase hexadecimal digits.
    #[error("the {0} is not lowercase hexadecimal")]
    NotHex(&'static str),
    /// The trace id or parent id is all zeros, which W3C forbids.
    #[error("the {0} is all zeros")]
    Zero(&'static str),
}

/// The length of a version-00 `traceparent`.
const LEN: usize = 55;

impl Traceparent {
    /// Validates `value` as a version-00 `traceparent`.
    pub fn parse(value: &str) -> Result<Traceparent, TraceparentError> {
        check(value)
            .map(|()| Traceparent(value.to_owned()))
            .map_err(|problem| TraceparentError {
                value: value.to_owned(),
                problem,
            })
    }

    /// The value, as written in the header.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        self.0.get(3..35).unwrap_or_default()
    }

    /// The parent (span) id: 16 lowercase hex digits.
    pub fn parent_id(&self) -> &str {
        self.0.get(36..52).unwrap_or_default()
    }

    /// Whether the `sampled` flag is set.
    pub fn sampled(&self) -> bool {
        self.0
            .get(53..55)
            .and_then(|flags| u8::from_str_radix(flags, 16).ok())
            .is_some_and(|flags| flags & 1 == 1)
    }
}

fn check(value: &str) -> Result<(), TraceparentProblem> {
    let fields: Vec<&str> = value.split('-').collect();
    let [version, trace_id, parent_id, flags] = fields.as_slice() else {
        return Err(TraceparentProblem::Shape);
    };
    if value.len() != LEN
        || version.len() != 2
        || trace_id.len() != 32
        || parent_id.len() != 16
        || flags.len() != 2
    {
        return Err(TraceparentProblem::Shape);
    }
    for (name, field) in [
        ("version", version),
        ("trace id", trace_id),
        ("parent id", parent_id),
        ("flags", flags),
    ] {
        if !field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(TraceparentProblem::NotHex(name));
        }
    }
    if *version != "00" {
        return Err(TraceparentProblem::Version);
    }
    for (name, field) in [("trace id", trace_id), ("parent id", parent_id)] {
        if field.bytes().all(|b| b == b'0') {
            return Err(TraceparentProblem::Zero(name));
        }
    }
    Ok(())
}

impl FromStr for Traceparent {
    type Err = TraceparentError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Traceparent::parse(value)
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Traceparent {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn accepts_the_w3c_example() {
        let tp = Traceparent::parse(VALID).expect("valid");
        assert_eq!(tp.as_str(), VALID);
        assert_eq!(tp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id(), "00f067aa0ba902b7");
        assert!(tp.sampled());
        let unsampled = Traceparent::parse(&VALID.replace("-01", "-00")).expect("valid");
        assert!(!unsampled.sampled());
    }

    #[test]
    fn rejects_each_kind_of_mistake_with_its_problem() {
        let cases = [
            ("", TraceparentProblem::Shape),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                TraceparentProblem::Shape,
            ),
            (&VALID[..54], TraceparentProblem::Shape),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                TraceparentProblem::Shape,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceparentProblem::Version,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceparentProblem::NotHex("trace id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
                TraceparentProblem::NotHex("parent id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                TraceparentProblem::NotHex("flags"),
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                TraceparentProblem::Zero("trace id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                TraceparentProblem::Zero("parent id"),
            ),
        ];
        for (value, problem) in cases {
            let error = Traceparent::parse(value).expect_err(value);
            assert_eq!((error.value.as_str(), error.problem), (value, problem));
        }
    }

    /// A multi-byte character cannot make the length check pass with fields misplaced.
    #[test]
    fn non_ascii_is_rejected_not_sliced() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01";
        assert!(Traceparent::parse(value).is_err());
    }
}
