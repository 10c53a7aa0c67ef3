//! The block writer: canonical DAG-CBOR written directly, with no intermediate IPLD map
//! and no sorting of the envelope.
//!
//! The 13 envelope keys are fixed, so they are emitted as constant bytes in DAG-CBOR's
//! canonical key order (shorter keys first, then bytewise). Only the payload and `meta` are
//! general values; they go through [`write_ipld`], a small recursive encoder that applies the
//! same rules as `serde_ipld_dagcbor`: map keys in canonical order, integers and lengths in
//! their shortest form, floats always 64-bit (and -0.0 as 0.0), links as tag 42 around `0x00 ‖ binary CID`.
//! The output is byte-identical to `serde_ipld_dagcbor::to_vec(&block.to_ipld())` (the golden
//! test and the tests in `encode_tests.rs` hold it to that), except that what the block
//! decoder would refuse (integers outside `i64::MIN..=u64::MAX`, non-finite floats, nesting
//! deeper than [`MAX_DEPTH`]) is refused here too rather than written.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::{EventBlock, FORMAT_VERSION};
use crate::payload::{
    Failure, MAX_DEPTH, PayloadError, PayloadProblem, Segment, WideInteger, integer_in_range,
};

/// CBOR major types, shifted into the initial byte.
const UNSIGNED: u8 = 0x00;
const NEGATIVE: u8 = 0x20;
const BYTES: u8 = 0x40;
const TEXT: u8 = 0x60;
const ARRAY: u8 = 0x80;
const MAP: u8 = 0xa0;
/// Tag 42 (a CID link), in its shortest form.
const TAG_42: [u8; 2] = [0xd8, 0x2a];
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;
/// A 64-bit float follows.
const FLOAT_64: u8 = 0xfb;

/// Each envelope key, as its CBOR text-string item. The names are spelled out (rather than
/// built at run time) so that the order below can be read and checked against the table of
/// wire format v1.
const KEY_V: &[u8] = b"\x61v";
const KEY_ID: &[u8] = b"\x62id";
const KEY_SEQ: &[u8] = b"\x63seq";
const KEY_META: &[u8] = b"\x64meta";
const KEY_PREV: &[u8] = b"\x64prev";
const KEY_TIME: &[u8] = b"\x64time";
const KEY_SCHEMA: &[u8] = b"\x66schema";
const KEY_PAYLOAD: &[u8] = b"\x67payload";
const KEY_EVENT_TYPE: &[u8] = b"\x6aevent_type";
const KEY_AGGREGATE_ID: &[u8] = b"\x6caggregate_id";
const KEY_CAUSATION_ID: &[u8] = b"\x6ccausation_id";
const KEY_AGGREGATE_TYPE: &[u8] = b"\x6eaggregate_type";
const KEY_CORRELATION_ID: &[u8] = b"\x6ecorrelation_id";
/// A map of 13 entries: the envelope.
const ENVELOPE_HEAD: u8 = MAP | 13;

/// Writes `block` as canonical DAG-CBOR.
pub(super) fn write_block(block: &EventBlock) -> Result<Vec<u8>, PayloadError> {
    // Room for the envelope and its strings; the payload grows the buffer if it must.
    let strings = block.aggregate_type.len()
        + block.aggregate_id.len()
        + block.event_type.len()
        + block.id.len()
        + block.correlation_id.len()
        + block.causation_id.as_ref().map_or(0, String::len);
    let mut out = Vec::with_capacity(256 + strings);
    out.push(ENVELOPE_HEAD);
    out.extend_from_slice(KEY_V);
    head(&mut out, UNSIGNED, FORMAT_VERSION);
    out.extend_from_slice(KEY_ID);
    text(&mut out, &block.id);
    out.extend_from_slice(KEY_SEQ);
    head(&mut out, UNSIGNED, block.seq);
    out.extend_from_slice(KEY_META);
    write_meta(&mut out, &block.meta);
    out.extend_from_slice(KEY_PREV);
    match &block.prev {
        Some(cid) => link(&mut out, cid),
        None => out.push(NULL),
    }
    out.extend_from_slice(KEY_TIME);
    head(&mut out, UNSIGNED, block.time);
    out.extend_from_slice(KEY_SCHEMA);
    head(&mut out, UNSIGNED, u64::from(block.schema));
    out.extend_from_slice(KEY_PAYLOAD);
    write_ipld(&mut out, &block.payload, 0).map_err(Failure::into_error)?;
    out.extend_from_slice(KEY_EVENT_TYPE);
    text(&mut out, &block.event_type);
    out.extend_from_slice(KEY_AGGREGATE_ID);
    text(&mut out, &block.aggregate_id);
    out.extend_from_slice(KEY_CAUSATION_ID);
    match &block.causation_id {
        Some(causation) => text(&mut out, causation),
        None => out.push(NULL),
    }
    out.extend_from_slice(KEY_AGGREGATE_TYPE);
    text(&mut out, &block.aggregate_type);
    out.extend_from_slice(KEY_CORRELATION_ID);
    text(&mut out, &block.correlation_id);
    Ok(out)
}

/// Encodes any IPLD value as canonical DAG-CBOR, with the limits of a payload: integers
/// within `i64::MIN..=u64::MAX`, finite floats, at most [`MAX_DEPTH`] levels of lists and
/// maps. Errors name the path of the offending value from `$`.
///
/// The result is byte-identical to `serde_ipld_dagcbor::to_vec` for every value it accepts.
///
/// ```
/// use cim_events::Ipld;
/// use cim_events::block::encode_ipld;
/// let value = Ipld::List(vec![Ipld::Integer(-1), Ipld::Float(1.5)]);
/// assert_eq!(encode_ipld(&value).unwrap(), [0x82, 0x20, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
/// ```
pub fn encode_ipld(value: &Ipld) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity(64);
    write_ipld(&mut out, value, 0).map_err(Failure::into_error)?;
    Ok(out)
}

/// Writes a CBOR head: `major` and its argument in the shortest form, as DAG-CBOR requires.
#[inline]
fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    // Each arm's range guarantees the narrowing cast is exact.
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// A length as a CBOR argument. `usize` is at most 64 bits on every target Rust supports,
/// so this never saturates in practice; saturating keeps it total without a panic.
#[inline]
fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[inline]
fn text(out: &mut Vec<u8>, s: &str) {
    head(out, TEXT, len(s.len()));
    out.extend_from_slice(s.as_bytes());
}

/// Tag 42 around a byte string holding the multibase identity prefix 0x00 and the binary
/// CID, written straight into `out`.
fn link(out: &mut Vec<u8>, cid: &Cid) {
    out.extend_from_slice(&TAG_42);
    head(out, BYTES, len(cid.encoded_len() + 1));
    out.push(0x00);
    // Writing into a Vec cannot fail; the fallback keeps the writer total without a panic,
    // and yields the very same bytes.
    if cid.write_bytes(&mut *out).is_err() {
        out.extend_from_slice(&cid.to_bytes());
    }
}

/// `meta`: strings only, written in canonical key order.
fn write_meta(out: &mut Vec<u8>, meta: &BTreeMap<String, String>) {
    head(out, MAP, len(meta.len()));
    let written: Result<(), std::convert::Infallible> = for_each_canonical(meta, |key, value| {
        text(out, key);
        text(out, value);
        Ok(())
    });
    // Nothing above can fail.
    let Ok(()) = written;
}

/// Writes `value`, which sits inside `level` lists and maps of the payload.
fn write_ipld(out: &mut Vec<u8>, value: &Ipld, level: usize) -> Result<(), Failure> {
    match value {
        Ipld::Null => out.push(NULL),
        Ipld::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Ipld::Integer(i) => integer(out, *i)?,
        Ipld::Float(f) => {
            if !f.is_finite() {
                return Err(Failure::new(PayloadProblem::NonFiniteFloat(*f)));
            }
            // -0.0 equals 0.0 and is written as 0.0, as serde_ipld_dagcbor (the encoder of
            // every block so far) does: one value, one encoding.
            let f = if *f == 0.0 { 0.0 } else { *f };
            out.push(FLOAT_64);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Ipld::String(s) => text(out, s),
        Ipld::Bytes(b) => {
            head(out, BYTES, len(b.len()));
            out.extend_from_slice(b);
        }
        Ipld::Link(cid) => link(out, cid),
        Ipld::List(items) => {
            let inner = enter(level)?;
            head(out, ARRAY, len(items.len()));
            for (index, item) in items.iter().enumerate() {
                write_ipld(out, item, inner).map_err(|f| f.within(Segment::Index(index)))?;
            }
        }
        Ipld::Map(map) => {
            let inner = enter(level)?;
            head(out, MAP, len(map.len()));
            for_each_canonical(map, |key, item| {
                text(out, key);
                write_ipld(out, item, inner).map_err(|f| f.within(Segment::Key(key.clone())))
            })?;
        }
    }
    Ok(())
}

/// The level of the items of a list or map inside `level` others, or
/// [`PayloadProblem::TooDeep`] past [`MAX_DEPTH`]. Checked here as well as in
/// [`crate::payload::to_ipld`] because a block's payload is a public field anyone can fill.
fn enter(level: usize) -> Result<usize, Failure> {
    match level.checked_add(1) {
        Some(inner) if inner <= MAX_DEPTH => Ok(inner),
        _ => Err(Failure::new(PayloadProblem::TooDeep { max: MAX_DEPTH })),
    }
}

/// An integer in major type 0 or 1, refusing what IPLD readers refuse.
fn integer(out: &mut Vec<u8>, i: i128) -> Result<(), Failure> {
    if !integer_in_range(i) {
        return Err(Failure::new(PayloadProblem::IntegerOutOfRange(
            WideInteger::from(i),
        )));
    }
    // In range, so a non-negative value fits u64 and a negative one's argument
    // `-1 - i` fits u64 too.
    match u64::try_from(i) {
        Ok(u) => head(out, UNSIGNED, u),
        Err(_) => {
            let arg = u64::try_from(-1 - i).unwrap_or(u64::MAX);
            head(out, NEGATIVE, arg);
        }
    }
    Ok(())
}

/// Calls `write` on the entries of a string-keyed map in DAG-CBOR canonical order: shorter
/// keys first, then bytewise.
///
/// A `BTreeMap` already iterates bytewise, so when key lengths never decrease along it
/// (every map of one entry, many small ones) its own order is canonical. Otherwise small
/// maps, the common case in event payloads, are walked by repeated selection of the next
/// key, which needs no allocation; larger ones are sorted by length with a stable sort,
/// which keeps the bytewise order among keys of equal length.
fn for_each_canonical<V, E>(
    map: &BTreeMap<String, V>,
    mut write: impl FnMut(&String, &V) -> Result<(), E>,
) -> Result<(), E> {
    let mut last = 0;
    let ordered = map.keys().all(|k| {
        let longer = k.len() >= last;
        last = k.len();
        longer
    });
    if ordered {
        return map.iter().try_for_each(|(k, v)| write(k, v));
    }
    if map.len() <= SELECTION_MAX {
        let mut previous: Option<(usize, &[u8])> = None;
        for _ in 0..map.len() {
            let next = map
                .iter()
                .filter(|(k, _)| previous.is_none_or(|p| canonical(k) > p))
                .min_by(|(a, _), (b, _)| canonical(a).cmp(&canonical(b)));
            // Keys are unique, so there is always a next one until all are written.
            let Some((key, value)) = next else { break };
            write(key, value)?;
            previous = Some(canonical(key));
        }
        return Ok(());
    }
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_by_key(|(k, _)| k.len());
    entries.into_iter().try_for_each(|(k, v)| write(k, v))
}

/// A key's place in canonical order: its length, then its bytes.
fn canonical(key: &str) -> (usize, &[u8]) {
    (key.len(), key.as_bytes())
}

/// The largest map ordered by repeated selection (quadratic, but allocation-free).
const SELECTION_MAX: usize = 16;
