use super::*;

/// A block of version 2 of `acc-1` with every envelope key set, holding `payload`: the
/// sample the block tests (this file, the writer's and the canonical check's) build on.
pub(super) fn block_with(payload: Ipld) -> EventBlock {
    EventBlock {
        aggregate_type: "Account".into(),
        aggregate_id: "acc-1".into(),
        seq: 2,
        event_type: "Deposited".into(),
        schema: 1,
        id: "0190b6a0-0000-7000-8000-000000000001".into(),
        time: 1_700_000_000_000_000_000,
        correlation_id: "corr".into(),
        causation_id: Some("cause".into()),
        prev: Some(cid_of(b"previous")),
        payload,
        meta: BTreeMap::from([("user".into(), "alice".into())]),
    }
}

fn sample() -> EventBlock {
    block_with(Ipld::Map(BTreeMap::from([(
        "amount".into(),
        Ipld::Integer(5),
    )])))
}

fn encode_map(map: BTreeMap<String, Ipld>) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).expect("encodes")
}

#[test]
fn both_paths_agree_on_a_valid_block() {
    let block = sample();
    let bytes = block.encode().expect("encode");
    assert_eq!(EventBlock::decode(&bytes), Ok(block.clone()));
    assert_eq!(EventBlock::decode_strict(&bytes), Ok(block));
}

#[test]
fn every_key_is_required_even_the_nullable_ones() {
    let Ipld::Map(full) = sample().to_ipld() else {
        panic!("a block is a map")
    };
    for key in full.keys() {
        let mut map = full.clone();
        map.remove(key);
        let bytes = encode_map(map);
        // The fast path itself must refuse it: a missing `prev` is not `None`.
        assert!(
            serde_ipld_dagcbor::from_slice::<WireBlock>(&bytes).is_err(),
            "{key}"
        );
        let err = EventBlock::decode(&bytes).expect_err(key);
        assert_eq!(err, DecodeError::MissingKey(leak(key)), "{key}");
    }
}

#[test]
fn refusals_of_the_fast_path_get_the_strict_error() {
    let Ipld::Map(full) = sample().to_ipld() else {
        panic!("a block is a map")
    };
    let mut extra = full.clone();
    extra.insert("extra".into(), Ipld::Null);
    assert_eq!(
        EventBlock::decode(&encode_map(extra)),
        Err(DecodeError::UnknownKey("extra".into()))
    );
    let mut v2 = full.clone();
    v2.insert("v".into(), Ipld::Integer(2));
    assert_eq!(
        EventBlock::decode(&encode_map(v2)),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let mut big_schema = full;
    big_schema.insert("schema".into(), Ipld::Integer(1 << 40));
    assert!(matches!(
        EventBlock::decode(&encode_map(big_schema)),
        Err(DecodeError::WrongType { key: "schema", .. })
    ));
}

/// The key names of wire format v1 as `&'static str`, as `MissingKey` holds them.
fn leak(key: &str) -> &'static str {
    [
        "v",
        "aggregate_type",
        "aggregate_id",
        "seq",
        "event_type",
        "schema",
        "id",
        "time",
        "correlation_id",
        "causation_id",
        "prev",
        "payload",
        "meta",
    ]
    .into_iter()
    .find(|k| *k == key)
    .expect("a v1 key")
}
