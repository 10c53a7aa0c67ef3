//! Defect 8: the decoder accepted blocks that are not canonical DAG-CBOR (1055 mutants of
//! valid blocks, e.g. a CID link with trailing bytes). Every block this crate writes passes
//! the canonical check, and any mutant the decoder still accepts is canonical: it
//! re-encodes to exactly its own bytes, so it has exactly one CID.

mod common;

use cim_events::block::{
    BLOCK_MAX_DEPTH, CanonicalProblem, DecodeError, EventBlock, check_canonical,
};

use common::{canonical_top_level_keys, golden_chain, simple_chain};

#[test]
fn every_golden_and_written_block_is_canonical() {
    let blocks = golden_chain()
        .into_iter()
        .chain(simple_chain("acc-1", 5))
        .map(|sealed| sealed.bytes);
    for bytes in blocks {
        assert_eq!(check_canonical(&bytes, BLOCK_MAX_DEPTH), Ok(()));
        assert!(EventBlock::decode(&bytes).is_ok());
    }
}

/// Bytes that change the shape of CBOR where they land: heads of every width, indefinite
/// and reserved forms, tags, simple values and floats of every size.
const PROBES: [u8; 16] = [
    0x00, 0x17, 0x18, 0x19, 0x1b, 0x1c, 0x3b, 0x40, 0x5f, 0x7f, 0x9f, 0xbf, 0xc2, 0xd8, 0xf7, 0xfa,
];

fn mutants(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..bytes.len() {
        for probe in PROBES {
            let mut replaced = bytes.to_vec();
            replaced[i] = probe;
            out.push(replaced);
            let mut inserted = bytes.to_vec();
            inserted.insert(i, probe);
            out.push(inserted);
        }
        let mut deleted = bytes.to_vec();
        deleted.remove(i);
        out.push(deleted);
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x01;
        out.push(flipped);
    }
    let mut appended = bytes.to_vec();
    appended.push(0x00);
    out.push(appended);
    out
}

#[test]
fn every_mutant_the_decoder_accepts_re_encodes_to_its_own_bytes() {
    let (mut accepted, mut refused) = (0, 0);
    for sealed in golden_chain() {
        for mutant in mutants(&sealed.bytes) {
            match EventBlock::decode(&mutant) {
                Ok(block) => {
                    accepted += 1;
                    assert_eq!(block.encode().as_ref(), Ok(&mutant), "{mutant:02x?}");
                    // The independent checker of the golden test agrees.
                    assert!(canonical_top_level_keys(&mutant).is_ok(), "{mutant:02x?}");
                }
                Err(DecodeError::NotCanonical { offset, .. }) => {
                    refused += 1;
                    assert!(offset <= mutant.len());
                }
                Err(_) => refused += 1,
            }
        }
    }
    // Both outcomes are exercised: changes inside strings still make valid blocks.
    assert!(accepted > 100 && refused > 1000, "{accepted} / {refused}");
}

#[test]
fn a_link_with_trailing_bytes_is_refused_where_they_start() {
    let chain = golden_chain();
    let bytes = &chain[1].bytes;
    // `prev`: tag 42, bytes(37) = 0x00 ‖ 36-byte CID. Make it bytes(38) with one more byte.
    let prev = bytes
        .windows(9)
        .position(|w| w == b"prev\xd8\x2a\x58\x25\x00")
        .expect("a prev link")
        + 4;
    let mut mutant = bytes.to_vec();
    mutant[prev + 3] = 0x26;
    mutant.insert(prev + 5 + 36, 0x00);
    assert_eq!(
        EventBlock::decode(&mutant),
        Err(DecodeError::NotCanonical {
            offset: prev + 5 + 36,
            problem: CanonicalProblem::LinkTrailingBytes,
        })
    );
}
