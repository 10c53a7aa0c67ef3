//! The parts of the client that read a node's answers, without a node.

use cid::Cid;
use cid::multibase::Base;
use serde_json::json;

use super::{IpfsError, cid_field, expect_cid, same_block};
use crate::block::cid_of;

#[test]
fn a_cid_answered_in_another_base_is_the_same_cid() {
    let ours = cid_of(&[0xa0]);
    let base58 = ours.to_string_of_base(Base::Base58Btc).expect("encode");
    assert!(base58.starts_with('z'));
    let answer = json!({ "/": base58 });
    let parsed = cid_field("dag/put", Some(&answer)).expect("parse");
    assert_eq!(parsed, ours);
    assert_eq!(expect_cid("dag/put", &ours, parsed), Ok(()));
}

#[test]
fn a_cid_of_another_codec_is_a_mismatch() {
    let ours = cid_of(&[0xa0]);
    let raw = Cid::new_v1(0x55, *ours.hash());
    assert!(!same_block(&ours, &raw));
    assert!(matches!(
        expect_cid("dag/put", &ours, raw),
        Err(IpfsError::CidMismatch {
            operation: "dag/put",
            ..
        })
    ));
    // A CIDv0 is dag-pb: never one of our blocks.
    let v0 = Cid::new_v0(*ours.hash()).expect("sha2-256 makes a CIDv0");
    assert!(!same_block(&ours, &v0));
}

#[test]
fn an_unreadable_answer_is_malformed_not_a_panic() {
    for answer in [
        json!(42),
        json!({ "/": 1 }),
        json!({ "/": "not a cid" }),
        json!({}),
    ] {
        assert!(matches!(
            cid_field("dag/put", Some(&answer)),
            Err(IpfsError::Malformed {
                operation: "dag/put",
                ..
            })
        ));
    }
    assert!(matches!(
        cid_field("dag/put", None),
        Err(IpfsError::Malformed { .. })
    ));
}

#[test]
fn transient_kinds_are_the_ones_worth_waiting_out() {
    let unreachable = IpfsError::Unreachable {
        operation: "version",
        url: "http://127.0.0.1:1".to_owned(),
        message: "connection refused".to_owned(),
    };
    let refused = IpfsError::Refused {
        operation: "block/get",
        status: 500,
        message: "not found".to_owned(),
    };
    assert!(unreachable.is_transient());
    assert!(!refused.is_transient());
    assert_eq!(refused.operation(), "block/get");
    let error: crate::Error = unreachable.into();
    assert!(error.is_transient());
}

#[test]
fn only_http_addresses_without_the_tls_feature() {
    assert!(super::KuboClient::new("http://127.0.0.1:5001/api/v0/").is_ok());
    assert_eq!(
        super::KuboClient::new("http://127.0.0.1:5001/api/v0/")
            .expect("an http address")
            .api(),
        "http://127.0.0.1:5001"
    );
    assert!(matches!(
        super::KuboClient::new("ftp://127.0.0.1"),
        Err(IpfsError::InvalidAddress { .. })
    ));
    assert_eq!(
        super::KuboClient::new("https://127.0.0.1:5001").is_ok(),
        cfg!(feature = "ipfs-tls")
    );
}
