//! The real serde_json `arbitrary_precision` feature, against the CIDs the workspace pins
//! with the feature off (tests/fixtures/arbitrary_precision.rs, shared by `include!`).

use cim_events::Ipld;
use cim_events::payload::to_ipld;

include!("../../fixtures/arbitrary_precision.rs");

#[test]
fn the_feature_is_on_in_this_crate() {
    // Without the feature serde_json would print 1.5.
    let value: serde_json::Value = serde_json::from_str("1.50").expect("JSON");
    assert_eq!(value.to_string(), "1.50");
}

#[test]
fn documents_seal_to_the_cids_pinned_without_the_feature() {
    let cids: Vec<String> = sealed_documents()
        .iter()
        .map(|e| e.cid.to_string())
        .collect();
    assert_eq!(cids, CIDS);
}

#[test]
fn numbers_built_in_rust_store_the_same_value() {
    for f in sample_floats(20_000) {
        match to_ipld(&serde_json::json!(f)).expect("storable") {
            Ipld::Float(stored) => assert_eq!(stored.to_bits(), f.to_bits(), "{f:e}"),
            other => panic!("{f:e} became {other:?}"),
        }
    }
    assert_eq!(
        to_ipld(&serde_json::json!([u64::MAX, i64::MIN, 0])).expect("storable"),
        Ipld::List(vec![
            Ipld::Integer(u64::MAX.into()),
            Ipld::Integer(i64::MIN.into()),
            Ipld::Integer(0),
        ])
    );
}

#[test]
fn text_serde_json_parses_lossily_without_the_feature_is_stored_correctly_rounded() {
    let value: serde_json::Value = serde_json::from_str(LOSSY_IN_SERDE_JSON).expect("JSON");
    let correctly_rounded: f64 = LOSSY_IN_SERDE_JSON.parse().expect("f64");
    assert_eq!(
        value.as_f64().map(f64::to_bits),
        Some(correctly_rounded.to_bits())
    );
    match to_ipld(&value).expect("storable") {
        Ipld::Float(stored) => assert_eq!(stored.to_bits(), correctly_rounded.to_bits()),
        other => panic!("became {other:?}"),
    }
}
