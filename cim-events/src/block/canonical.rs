//! The canonical form check: one pass over block bytes that refuses anything a strict
//! DAG-CBOR reader would refuse or that would not re-encode to the same bytes.
//!
//! Hashing what is stored only proves integrity if the stored bytes are the one encoding
//! of their content: a block with, say, trailing bytes inside a CID link decodes to the
//! same event as the canonical block but has another CID, so two "equal" events would be
//! two different chain links, and other IPLD tools would refuse the block outright. The
//! check walks the bytes once, without building anything and without re-encoding, and
//! names the byte offset of the first fault.

use std::fmt;

use cid::Cid;

/// What makes bytes not canonical DAG-CBOR (or not CBOR at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalProblem {
    /// The bytes end inside an item.
    Truncated,
    /// A reserved additional-information value (28–30), or 31 (indefinite) on a major
    /// type that has no indefinite form.
    Reserved,
    /// An indefinite-length string, list or map; DAG-CBOR allows definite lengths only.
    IndefiniteLength,
    /// A "break" byte (0xff) outside any indefinite-length item.
    UnexpectedBreak,
    /// An integer, length or tag not written in its shortest form.
    NonMinimalHeader,
    /// A negative integer below `i64::MIN`, which IPLD readers refuse.
    IntegerOutOfRange,
    /// A text string (or map key) that is not UTF-8.
    InvalidUtf8,
    /// A map key that is not a text string.
    NonStringKey,
    /// A map key that does not come after the previous key in canonical order (shorter
    /// first, then bytewise).
    KeyOrder,
    /// A map key equal to the previous one.
    DuplicateKey,
    /// A tag other than 42 (CID link).
    UnsupportedTag(u64),
    /// Tag 42 around something that is not a byte string starting with 0x00.
    LinkNotPrefixedBytes,
    /// Tag 42 around bytes that are not a binary CID.
    InvalidCid,
    /// Tag 42 around a CID followed by more bytes (the offset is the first of them), or a
    /// CID whose varints are not written in their shortest form.
    LinkTrailingBytes,
    /// A half (16-bit) or single (32-bit) float; DAG-CBOR floats are always 64-bit.
    ShortFloat,
    /// NaN or an infinity, which IPLD does not have.
    NonFiniteFloat,
    /// The float -0.0, which DAG-CBOR encoders write as 0.0: it would not re-encode to the
    /// same bytes.
    NegativeZero,
    /// A simple value other than false, true and null (the byte after 0xf8, or the low
    /// five bits of the initial byte); 23 is `undefined`.
    SimpleValue(u8),
    /// Lists and maps nested deeper than `max`, the block's own map included.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Bytes after the single top-level item.
    TrailingBytes,
}

impl fmt::Display for CanonicalProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanonicalProblem::Truncated => f.write_str("the bytes end inside an item"),
            CanonicalProblem::Reserved => f.write_str("reserved additional information"),
            CanonicalProblem::IndefiniteLength => f.write_str("indefinite length"),
            CanonicalProblem::UnexpectedBreak => f.write_str("unexpected break byte"),
            CanonicalProblem::NonMinimalHeader => {
                f.write_str("integer, length or tag not in its shortest form")
            }
            CanonicalProblem::IntegerOutOfRange => f.write_str("integer below i64::MIN"),
            CanonicalProblem::InvalidUtf8 => f.write_str("text string is not UTF-8"),
            CanonicalProblem::NonStringKey => f.write_str("map key is not a text string"),
            CanonicalProblem::KeyOrder => f.write_str("map key out of canonical order"),
            CanonicalProblem::DuplicateKey => f.write_str("duplicate map key"),
            CanonicalProblem::UnsupportedTag(tag) => {
                write!(f, "tag {tag}; DAG-CBOR allows only tag 42")
            }
            CanonicalProblem::LinkNotPrefixedBytes => {
                f.write_str("tag 42 does not hold a byte string starting with 0x00")
            }
            CanonicalProblem::InvalidCid => f.write_str("tag 42 does not hold a valid CID"),
            CanonicalProblem::LinkTrailingBytes => {
                f.write_str("tag 42 holds a CID followed by other bytes, or not in shortest form")
            }
            CanonicalProblem::ShortFloat => f.write_str("float shorter than 64 bits"),
            CanonicalProblem::NonFiniteFloat => f.write_str("NaN or infinite float"),
            CanonicalProblem::NegativeZero => f.write_str("the float -0.0, written as 0.0"),
            CanonicalProblem::SimpleValue(v) => {
                write!(f, "simple value {v}; only false, true and null are allowed")
            }
            CanonicalProblem::TooDeep { max } => {
                write!(f, "lists and maps nested deeper than {max}")
            }
            CanonicalProblem::TrailingBytes => f.write_str("bytes after the top-level item"),
        }
    }
}

/// Checks that `bytes` are exactly one item of canonical DAG-CBOR with lists and maps
/// nested at most `max_depth` deep (a top-level map is depth 1). On failure, returns the
/// byte offset of the first fault and what it is.
///
/// ```
/// use cim_events::block::{CanonicalProblem, check_canonical};
/// assert_eq!(check_canonical(&[0xa1, 0x61, b'a', 0x01], 8), Ok(()));
/// // 1 written in two bytes instead of one.
/// assert_eq!(
///     check_canonical(&[0xa1, 0x61, b'a', 0x18, 0x01], 8),
///     Err((3, CanonicalProblem::NonMinimalHeader))
/// );
/// ```
pub fn check_canonical(bytes: &[u8], max_depth: usize) -> Result<(), (usize, CanonicalProblem)> {
    let mut reader = Reader {
        bytes,
        at: 0,
        max_depth,
    };
    reader.item(0)?;
    if reader.at < bytes.len() {
        return Err((reader.at, CanonicalProblem::TrailingBytes));
    }
    Ok(())
}

/// A fault and where it is.
type Fault = (usize, CanonicalProblem);

/// The smallest argument each long form may hold; anything smaller has a shorter form.
const MIN_FOR_INFO: [u64; 4] = [24, 1 << 8, 1 << 16, 1 << 32];

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes; `item_at` is where the item they belong to starts.
    #[inline]
    fn take(&mut self, n: u64, item_at: usize) -> Result<&'a [u8], Fault> {
        let bytes: &'a [u8] = self.bytes;
        let rest = &bytes[self.at..];
        match usize::try_from(n) {
            Ok(n) if n <= rest.len() => {
                self.at += n;
                Ok(&rest[..n])
            }
            _ => Err((item_at, CanonicalProblem::Truncated)),
        }
    }

    /// Reads an item's head: its major type, additional information and argument (the
    /// raw bits for floats). Checks the shortest form for every major type but 7.
    #[inline]
    fn head(&mut self) -> Result<(u8, u8, u64), Fault> {
        let at = self.at;
        let initial = *self
            .bytes
            .get(at)
            .ok_or((at, CanonicalProblem::Truncated))?;
        self.at += 1;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => return Ok((major, info, u64::from(info))),
            24..=27 => {
                let width = 1u64 << (info - 24);
                let raw = self.take(width, at)?;
                raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
            }
            28..=30 => return Err((at, CanonicalProblem::Reserved)),
            _ => {
                return Err((
                    at,
                    match major {
                        2..=5 => CanonicalProblem::IndefiniteLength,
                        7 => CanonicalProblem::UnexpectedBreak,
                        _ => CanonicalProblem::Reserved,
                    },
                ));
            }
        };
        if major != 7 && arg < MIN_FOR_INFO[usize::from(info - 24)] {
            return Err((at, CanonicalProblem::NonMinimalHeader));
        }
        Ok((major, info, arg))
    }

    /// Checks one item that sits inside `depth` lists and maps.
    fn item(&mut self, depth: usize) -> Result<(), Fault> {
        let at = self.at;
        let (major, info, arg) = self.head()?;
        match major {
            0 => Ok(()),
            1 if arg > i64::MAX as u64 => Err((at, CanonicalProblem::IntegerOutOfRange)),
            1 => Ok(()),
            2 => self.take(arg, at).map(drop),
            3 => {
                let text = self.take(arg, at)?;
                utf8(text, at)
            }
            4 => {
                let inner = self.enter(depth, at)?;
                for _ in 0..arg {
                    self.item(inner)?;
                }
                Ok(())
            }
            5 => {
                let inner = self.enter(depth, at)?;
                self.map_entries(arg, inner)
            }
            6 if arg == 42 => self.link(),
            6 => Err((at, CanonicalProblem::UnsupportedTag(arg))),
            _ => simple_or_float(info, arg, at),
        }
    }

    /// The depth of the items of a list or map at `at` inside `depth` others.
    #[inline]
    fn enter(&self, depth: usize, at: usize) -> Result<usize, Fault> {
        match depth.checked_add(1) {
            Some(inner) if inner <= self.max_depth => Ok(inner),
            _ => Err((
                at,
                CanonicalProblem::TooDeep {
                    max: self.max_depth,
                },
            )),
        }
    }

    /// `count` entries whose values are at `depth`: text keys, strictly increasing in
    /// canonical order (so no duplicates either).
    fn map_entries(&mut self, count: u64, depth: usize) -> Result<(), Fault> {
        let mut previous: Option<&[u8]> = None;
        for _ in 0..count {
            let key_at = self.at;
            let (major, _, len) = self.head()?;
            if major != 3 {
                return Err((key_at, CanonicalProblem::NonStringKey));
            }
            let key = self.take(len, key_at)?;
            utf8(key, key_at)?;
            if let Some(previous) = previous {
                // Length first, then bytewise: the order every DAG-CBOR encoder writes.
                match (previous.len(), previous).cmp(&(key.len(), key)) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err((key_at, CanonicalProblem::DuplicateKey));
                    }
                    std::cmp::Ordering::Greater => {
                        return Err((key_at, CanonicalProblem::KeyOrder));
                    }
                }
            }
            previous = Some(key);
            self.item(depth)?;
        }
        Ok(())
    }

    /// The content of tag 42: a byte string holding 0x00 and exactly one binary CID in
    /// its shortest form.
    fn link(&mut self) -> Result<(), Fault> {
        let at = self.at;
        let (major, _, len) = self.head()?;
        let content = if major == 2 {
            self.take(len, at)?
        } else {
            return Err((at, CanonicalProblem::LinkNotPrefixedBytes));
        };
        let Some((0x00, binary)) = content.split_first() else {
            return Err((at, CanonicalProblem::LinkNotPrefixedBytes));
        };
        // Where the CID's bytes start: after the byte string's head and the 0x00.
        let cid_at = self.at - binary.len();
        let mut rest = binary;
        let cid = Cid::read_bytes(&mut rest).map_err(|_| (cid_at, CanonicalProblem::InvalidCid))?;
        let read = binary.len() - rest.len();
        if !rest.is_empty() {
            return Err((cid_at + read, CanonicalProblem::LinkTrailingBytes));
        }
        // A CID read from more bytes than it writes had a padded varint: another encoding
        // of the same link, so not canonical.
        if cid.encoded_len() != read {
            return Err((cid_at, CanonicalProblem::LinkTrailingBytes));
        }
        Ok(())
    }
}

#[inline]
fn utf8(text: &[u8], at: usize) -> Result<(), Fault> {
    std::str::from_utf8(text)
        .map(drop)
        .map_err(|_| (at, CanonicalProblem::InvalidUtf8))
}

/// Major type 7: only false, true, null and finite 64-bit floats other than -0.0.
fn simple_or_float(info: u8, arg: u64, at: usize) -> Result<(), Fault> {
    match info {
        20..=22 => Ok(()),
        0..=19 | 23 => Err((at, CanonicalProblem::SimpleValue(info))),
        // One-byte simple value; `arg` is that byte.
        24 => Err((at, CanonicalProblem::SimpleValue(arg as u8))),
        25 | 26 => Err((at, CanonicalProblem::ShortFloat)),
        _ if arg == (-0.0f64).to_bits() => Err((at, CanonicalProblem::NegativeZero)),
        _ if f64::from_bits(arg).is_finite() => Ok(()),
        _ => Err((at, CanonicalProblem::NonFiniteFloat)),
    }
}
