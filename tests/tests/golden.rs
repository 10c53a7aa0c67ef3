//! The golden test: a fixed three-event chain must encode to exactly these bytes and CIDs.
//! Any drift in the block codec, the payload conversion or the CID computation fails here
//! — change the pinned values only with a wire format version bump (DESIGN.md §3).

mod common;

use cim_events::block::{DAG_CBOR, EventBlock, FORMAT_VERSION, SHA2_256, cid_of};
use cim_events::{Cid, EventStore, Ipld, MemoryEventStore};

use common::{AGGREGATE, PREFIX, canonical_top_level_keys, golden_chain, hex, insert_sealed};

/// The first block of the golden chain, byte for byte, annotated.
#[rustfmt::skip]
const FIRST_BLOCK_HEX: &str = concat!(
    "ad", // map of 13 entries, keys in canonical order
    "6176", "01", // "v": 1
    "626964", "7824", // "id": text(36)
    "30313930623661302d303030302d373030302d383030302d303030303030303030303031",
    "63736571", "01", // "seq": 1
    "646d657461", "a0", // "meta": {}
    "6470726576", "f6", // "prev": null
    "6474696d65", "1b17a610173cffca00", // "time": 1704067201000000000
    "66736368656d61", "01", // "schema": 1
    "677061796c6f6164", "a4", // "payload": map of 4
    "6474616773", "82", "6672657461696c", "63657572", // "tags": ["retail", "eur"]
    "656f776e6572", "65416c696365", // "owner": "Alice"
    "666c696d697473", "a2", // "limits": {
    "656461696c79", "1903e8", // "daily": 1000,
    "676d6f6e74686c79", "194e20", // "monthly": 20000 }
    "6a6163636f756e745f6964", "6a6163632d676f6c64656e", // "account_id": "acc-golden"
    "6a6576656e745f74797065", "664f70656e6564", // "event_type": "Opened"
    "6c6167677265676174655f6964", "6a6163632d676f6c64656e", // "aggregate_id": "acc-golden"
    "6c636175736174696f6e5f6964", "f6", // "causation_id": null
    "6e6167677265676174655f74797065", "674163636f756e74", // "aggregate_type": "Account"
    "6e636f7272656c6174696f6e5f6964", "7824", // "correlation_id": text(36)
    "30313930623661302d303030302d373030302d383030302d303030303030303063306465",
);

/// The CIDs of the golden chain, genesis first.
const CIDS: [&str; 3] = [
    "bafyreia62ksnd5qcircvkduw2sf6xx22yvxjwmdkyqv7vkepnge3w3lhpe",
    "bafyreiapjdpzp6lafl4l6t7mnzhsfexiqrsorqtb7km2e4fmfw4qruywoi",
    "bafyreid2gfaf6optd5cq6sptjbf4topo5xpjwkvdgbv7kkjqu2fmshg3sq",
];

/// Every key of a v1 block, in DAG-CBOR canonical order: shorter keys first, then
/// bytewise.
const CANONICAL_KEYS: [&str; 13] = [
    "v",
    "id",
    "seq",
    "meta",
    "prev",
    "time",
    "schema",
    "payload",
    "event_type",
    "aggregate_id",
    "causation_id",
    "aggregate_type",
    "correlation_id",
];

#[test]
fn first_block_bytes_are_pinned() {
    let chain = golden_chain();
    assert_eq!(hex(&chain[0].bytes), FIRST_BLOCK_HEX);
}

#[test]
fn chain_cids_are_pinned() {
    let chain = golden_chain();
    let cids: Vec<String> = chain.iter().map(|e| e.cid.to_string()).collect();
    assert_eq!(cids, CIDS);
    for event in &chain {
        assert_eq!(event.cid, cid_of(&event.bytes));
        assert_eq!(u64::from(event.cid.version()), 1);
        assert_eq!(event.cid.codec(), DAG_CBOR);
        assert_eq!(event.cid.hash().code(), SHA2_256);
        assert_eq!(event.cid.hash().size(), 32);
    }
}

#[test]
fn blocks_link_to_their_parent_with_tag_42() {
    let chain = golden_chain();
    assert_eq!(chain[0].block.prev, None);
    for pair in chain.windows(2) {
        assert_eq!(pair[1].block.prev, Some(pair[0].cid));
        // DAG-CBOR link: tag 42 (d8 2a) around bytes(37) = 0x00 ‖ binary CID.
        let link = format!("6470726576d82a582500{}", hex(&pair[0].cid.to_bytes()));
        assert!(
            hex(&pair[1].bytes).contains(&link),
            "prev is not a tag-42 link"
        );
    }
    let seqs: Vec<u64> = chain.iter().map(|e| e.block.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn blocks_decode_back_and_reencode_to_identical_bytes() {
    for event in golden_chain() {
        let decoded = EventBlock::decode(&event.bytes).expect("decode");
        assert_eq!(decoded, event.block);
        assert_eq!(decoded.encode().expect("re-encode"), event.bytes);
    }
}

#[test]
fn blocks_are_canonical_dag_cbor_with_exactly_the_v1_keys() {
    for event in golden_chain() {
        let keys = canonical_top_level_keys(&event.bytes).expect("canonical DAG-CBOR");
        assert_eq!(keys, CANONICAL_KEYS);
    }
}

#[test]
fn floats_are_64_bit_and_integers_shortest() {
    let chain = golden_chain();
    let deposited = hex(&chain[1].bytes);
    // rate: 1.5 as an IEEE 754 double (fb), never a half or single float.
    assert!(deposited.contains("6472617465fb3ff8000000000000"));
    // amount: u64::MAX in 8 bytes; delta: -42 as major type 1 in one byte.
    assert!(deposited.contains("66616d6f756e741bffffffffffffffff"));
    assert!(deposited.contains("6564656c74613829"));
    let Ipld::Map(payload) = &chain[1].block.payload else {
        panic!("payload is a map");
    };
    assert_eq!(payload["delta"], Ipld::Integer(-42));
    assert_eq!(payload["memo"], Ipld::Null);
}

#[test]
fn block_fields_are_the_fixed_inputs() {
    let chain = golden_chain();
    let second = &chain[1].block;
    assert_eq!(second.aggregate_type, "Account");
    assert_eq!(second.aggregate_id, AGGREGATE);
    assert_eq!(second.event_type, "Deposited");
    assert_eq!(second.id, "0190b6a0-0000-7000-8000-000000000002");
    assert_eq!(second.time, 1_704_067_202_000_000_000);
    assert_eq!(second.schema, 1);
    assert_eq!(
        second.causation_id.as_deref(),
        Some("0190b6a0-0000-7000-8000-000000000001")
    );
    assert_eq!(second.meta["user"], "alice");
    assert_eq!(chain[1].subject, "events.acc-golden.Deposited");
    assert_eq!(FORMAT_VERSION, 1);
}

#[tokio::test]
async fn a_store_holding_the_golden_chain_verifies_and_loads_it() {
    let store = MemoryEventStore::new();
    let chain = golden_chain();
    insert_sealed(&store, &chain);
    let report = store.verify_chain(AGGREGATE).await.expect("verify");
    assert!(report.is_valid(), "{:?}", report.faults);
    assert_eq!(report.events, 3);
    let head: Cid = CIDS[2].parse().expect("pinned CID parses");
    assert_eq!(report.head, Some(head));
    let loaded = store.load(AGGREGATE).await.expect("load");
    let loaded: Vec<String> = loaded.iter().map(|e| e.cid.to_string()).collect();
    assert_eq!(loaded, CIDS);
    assert_eq!(store.subject_prefix(), PREFIX);
}

/// The checker above must itself catch what it is there to catch.
#[test]
fn the_canonical_checker_rejects_non_canonical_bytes() {
    let cases: [(&str, &[u8]); 7] = [
        (
            "keys out of order",
            &[0xa2, 0x61, b'b', 0x01, 0x61, b'a', 0x02],
        ),
        (
            "longer key first",
            &[0xa2, 0x62, b'a', b'a', 0x01, 0x61, b'b', 0x02],
        ),
        ("duplicate key", &[0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]),
        ("non-shortest integer", &[0xa1, 0x61, b'a', 0x18, 0x01]),
        ("half float", &[0xa1, 0x61, b'a', 0xf9, 0x3c, 0x00]),
        ("indefinite map", &[0xbf, 0x61, b'a', 0x01, 0xff]),
        ("trailing byte", &[0xa0, 0x00]),
    ];
    for (what, bytes) in cases {
        assert!(canonical_top_level_keys(bytes).is_err(), "{what} passed");
    }
    assert_eq!(
        canonical_top_level_keys(&[0xa2, 0x61, b'b', 0x01, 0x62, b'a', b'a', 0x02]),
        Ok(vec!["b".to_owned(), "aa".to_owned()])
    );
}
