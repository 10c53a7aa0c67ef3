//! The canonical check: each way bytes can fail to be canonical DAG-CBOR is refused, at
//! the right byte, with the right problem; blocks the writer produces all pass.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use super::*;
use CanonicalProblem as P;

fn check(bytes: &[u8]) -> Result<(), (usize, CanonicalProblem)> {
    check_canonical(bytes, 8)
}

/// A link to `cid_of(b"x")`: tag 42, bytes(37) = 0x00 ‖ 36-byte CIDv1.
fn link_bytes() -> Vec<u8> {
    let mut bytes = vec![0xd8, 0x2a, 0x58, 0x25, 0x00];
    bytes.extend_from_slice(&cid_of(b"x").to_bytes());
    bytes
}

#[test]
fn canonical_items_pass() {
    let i64_min = [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let u64_max = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let cases: [&[u8]; 12] = [
        &[0x00],
        &[0x17],
        &[0x18, 0x18],
        &[0x19, 0x01, 0x00],
        &u64_max,
        &i64_min,
        &[0xf4],
        &[0xf6],
        &[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
        &[0xa2, 0x61, b'b', 0x01, 0x62, b'a', b'a', 0x02],
        &[0x82, 0x40, 0x60],
        &link_bytes(),
    ];
    for bytes in cases {
        assert_eq!(check(bytes), Ok(()), "{bytes:02x?}");
    }
}

#[test]
fn each_non_canonical_form_is_refused_where_it_is() {
    let mut link_with_trailing = link_bytes();
    link_with_trailing[3] = 0x26;
    link_with_trailing.push(0xff);
    let below_i64_min = [0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0];
    let padded_max = [0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    let nan = [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0];
    let cases: Vec<(&str, &[u8], (usize, CanonicalProblem))> = vec![
        (
            "non-minimal int",
            &[0xa1, 0x61, b'a', 0x18, 0x01],
            (3, P::NonMinimalHeader),
        ),
        (
            "non-minimal negative",
            &[0x38, 0x00],
            (0, P::NonMinimalHeader),
        ),
        ("u32 in 8 bytes", &padded_max, (0, P::NonMinimalHeader)),
        (
            "non-minimal length",
            &[0x78, 0x01, b'a'],
            (0, P::NonMinimalHeader),
        ),
        (
            "non-minimal tag",
            &[0xd9, 0x00, 0x2a, 0x41, 0x00],
            (0, P::NonMinimalHeader),
        ),
        (
            "unsorted keys",
            &[0xa2, 0x61, b'b', 0x01, 0x61, b'a', 0x02],
            (4, P::KeyOrder),
        ),
        (
            "longer key first",
            &[0xa2, 0x62, b'a', b'a', 0x01, 0x61, b'b', 0x02],
            (5, P::KeyOrder),
        ),
        (
            "duplicate key",
            &[0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02],
            (4, P::DuplicateKey),
        ),
        ("integer key", &[0xa1, 0x01, 0x01], (1, P::NonStringKey)),
        (
            "indefinite map",
            &[0xbf, 0x61, b'a', 0x01, 0xff],
            (0, P::IndefiniteLength),
        ),
        (
            "indefinite list",
            &[0x81, 0x9f, 0x01, 0xff],
            (1, P::IndefiniteLength),
        ),
        (
            "indefinite text",
            &[0x7f, 0x61, b'a', 0xff],
            (0, P::IndefiniteLength),
        ),
        ("trailing bytes", &[0xa0, 0x00], (1, P::TrailingBytes)),
        (
            "link with trailing bytes",
            &link_with_trailing,
            (41, P::LinkTrailingBytes),
        ),
        (
            "link on text",
            &[0xd8, 0x2a, 0x61, 0x00],
            (2, P::LinkNotPrefixedBytes),
        ),
        (
            "link without 0x00",
            &[0xd8, 0x2a, 0x41, 0x01],
            (2, P::LinkNotPrefixedBytes),
        ),
        (
            "empty link",
            &[0xd8, 0x2a, 0x40],
            (2, P::LinkNotPrefixedBytes),
        ),
        (
            "link to garbage",
            &[0xd8, 0x2a, 0x42, 0x00, 0x01],
            (4, P::InvalidCid),
        ),
        ("other tag", &[0xc1, 0x01], (0, P::UnsupportedTag(1))),
        (
            "32-bit float",
            &[0xfa, 0x3f, 0xc0, 0, 0],
            (0, P::ShortFloat),
        ),
        ("16-bit float", &[0xf9, 0x3c, 0x00], (0, P::ShortFloat)),
        ("NaN", &nan, (0, P::NonFiniteFloat)),
        (
            "negative zero",
            &[0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0],
            (0, P::NegativeZero),
        ),
        ("undefined", &[0xf7], (0, P::SimpleValue(23))),
        ("simple 0", &[0x81, 0xe0], (1, P::SimpleValue(0))),
        ("one-byte simple", &[0xf8, 0xff], (0, P::SimpleValue(255))),
        ("below i64::MIN", &below_i64_min, (0, P::IntegerOutOfRange)),
        ("invalid UTF-8", &[0x62, 0xc3, 0x28], (0, P::InvalidUtf8)),
        (
            "invalid UTF-8 key",
            &[0xa1, 0x61, 0xff, 0x01],
            (1, P::InvalidUtf8),
        ),
        ("truncated text", &[0x62, b'a'], (0, P::Truncated)),
        ("truncated head", &[0x19, 0x01], (0, P::Truncated)),
        ("truncated list", &[0x82, 0x01], (2, P::Truncated)),
        ("empty", &[], (0, P::Truncated)),
        (
            "huge length",
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            (0, P::Truncated),
        ),
        ("reserved", &[0x1c], (0, P::Reserved)),
        ("indefinite integer", &[0x1f], (0, P::Reserved)),
        ("stray break", &[0xff], (0, P::UnexpectedBreak)),
    ];
    for (what, bytes, expected) in cases {
        assert_eq!(check(bytes), Err(expected), "{what}");
    }
}

#[test]
fn nesting_is_limited_to_max_depth() {
    let nested = |depth: usize| {
        let mut bytes = vec![0x81; depth];
        bytes.push(0x01);
        bytes
    };
    assert_eq!(check_canonical(&nested(3), 3), Ok(()));
    assert_eq!(
        check_canonical(&nested(4), 3),
        Err((3, P::TooDeep { max: 3 }))
    );
    // Maps count too: {"a": {"a": [..]}}.
    let maps = [0xa1, 0x61, b'a', 0xa1, 0x61, b'a', 0x81, 0x01];
    assert_eq!(check_canonical(&maps, 3), Ok(()));
    assert_eq!(check_canonical(&maps, 2), Err((6, P::TooDeep { max: 2 })));
}

fn sample() -> EventBlock {
    super::tests::block_with(Ipld::Map(BTreeMap::from([
        ("amount".into(), Ipld::Integer(5)),
        ("rate".into(), Ipld::Float(1.5)),
        ("link".into(), Ipld::Link(cid_of(b"x"))),
    ])))
}

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

fn not_canonical(offset: usize, problem: CanonicalProblem) -> Result<EventBlock, DecodeError> {
    Err(DecodeError::NotCanonical { offset, problem })
}

#[test]
fn decode_refuses_non_canonical_blocks_with_the_offset() {
    let bytes = sample().encode().expect("encode");
    assert_eq!(EventBlock::decode(&bytes), Ok(sample()));

    let mut trailing = bytes.clone();
    trailing.push(0x00);
    assert_eq!(
        EventBlock::decode(&trailing),
        not_canonical(bytes.len(), P::TrailingBytes)
    );

    // `prev` with one byte after the CID: serde_ipld_dagcbor reads it as the same link.
    let prev = position(&bytes, b"prev\xd8\x2a\x58\x25\x00") + 4;
    let mut long_link = bytes.clone();
    long_link[prev + 3] = 0x26;
    long_link.insert(prev + 5 + 36, 0x00);
    assert_eq!(
        EventBlock::decode(&long_link),
        not_canonical(prev + 5 + 36, P::LinkTrailingBytes)
    );

    // `seq: 2` written in two bytes.
    let seq = position(&bytes, b"seq\x02") + 3;
    let mut padded = bytes.clone();
    padded.splice(seq..=seq, [0x18, 0x02]);
    assert_eq!(
        EventBlock::decode(&padded),
        not_canonical(seq, P::NonMinimalHeader)
    );

    // `rate: 1.5` as a 32-bit float; the map header's count is unchanged.
    let rate = position(&bytes, b"rate\xfb") + 4;
    let mut short = bytes.clone();
    short.splice(rate..rate + 9, [0xfa, 0x3f, 0xc0, 0x00, 0x00]);
    assert_eq!(
        EventBlock::decode(&short),
        not_canonical(rate, P::ShortFloat)
    );
}

/// The property the defect broke: whatever decode accepts re-encodes to exactly the bytes
/// it was given, so an accepted block has one CID. Every single-byte change, insertion and
/// deletion of a sample block is tried.
#[test]
fn every_accepted_mutant_re_encodes_to_its_own_bytes() {
    let mut genesis = sample();
    genesis.seq = 1;
    genesis.prev = None;
    let mut accepted = 0;
    for block in [sample(), genesis] {
        let bytes = block.encode().expect("encode");
        let mut mutants = Vec::new();
        for i in 0..bytes.len() {
            for flip in [0x01, 0x02, 0x20, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= flip;
                mutants.push(m);
            }
            let mut deleted = bytes.clone();
            deleted.remove(i);
            mutants.push(deleted);
            let mut inserted = bytes.clone();
            inserted.insert(i, bytes[i]);
            mutants.push(inserted);
        }
        for mutant in mutants {
            if let Ok(decoded) = EventBlock::decode(&mutant) {
                accepted += 1;
                assert_eq!(decoded.encode().as_ref(), Ok(&mutant), "{mutant:02x?}");
            }
        }
    }
    // Changes inside strings and numbers are still valid blocks: the property is exercised.
    assert!(accepted > 100, "only {accepted} mutants were accepted");
}
