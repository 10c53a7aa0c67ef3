//! The golden encrypted block: one event whose payload holds two `Pii` values, encrypted
//! under a fixed data key with a fixed nonce and sealed with a fixed id and time, must
//! encode to exactly these bytes and this CID. Any change to the encrypted wire shape (the
//! node's keys, the associated data, the key version, the nonce sequence, the cipher)
//! fails here; so does a reader that can no longer decrypt these bytes. A second block
//! pins whole-payload encryption. Change the pinned values only with a wire format
//! version bump.
//!
//! The `at` and `ct` values of both blocks were checked against an independent
//! computation: Python's `cryptography` ChaCha20-Poly1305 under an HChaCha20 subkey
//! (HChaCha20 written out and checked against the test vector of
//! draft-irtf-cfrg-xchacha §2.2.1), with the associated data and the place list built by
//! hand as DAG-CBOR from the wire-format documentation of `cim_events::crypto`.

mod common;

use cim_events::block::{DAG_CBOR, EventBlock, SHA2_256, cid_of};
use cim_events::crypto::{Crypto, Kek, KeyIdHash, MemoryKeyStore, Place};
use cim_events::test_util::{NewEvent, headers_of, seal};
use cim_events::{Event, EventStore, Ipld, MemoryEventStore, Pii, SealedEvent};
use serde::{Deserialize, Serialize};

use common::{AGGREGATE, PREFIX, canonical_top_level_keys, hex, new_event};

/// The data subject whose key encrypts the values: not the aggregate id, so that the
/// block shows the key id is the subject's.
const SUBJECT: &str = "customer-7";
/// The fixed data key: bytes 0, 1, …, 31.
const DATA_KEY: [u8; 32] = {
    let mut key = [0; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = i as u8;
        i += 1;
    }
    key
};
/// The fixed nonce of the first value; the second gets it plus one (in its last 8 bytes,
/// little-endian).
const NONCE: [u8; 24] = [0x24; 24];

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Registered {
        #[event(id)]
        account_id: String,
        email: Pii<String>,
        age: Pii<u8>,
        plan: String,
    },
}

fn clear() -> AccountEvent {
    AccountEvent::Registered {
        account_id: AGGREGATE.into(),
        email: Pii::Clear("ann@example.com".into()),
        age: Pii::Clear(42),
        plan: "gold".into(),
    }
}

/// A handle with the fixed data key for `SUBJECT` and fixed nonces. The KEK is not in
/// any block: it only wraps the data key in the key store.
async fn fixed_crypto() -> Crypto {
    let kek = Kek::from_bytes("kek-golden", [0x4b; 32]).expect("a valid KEK");
    let crypto = Crypto::with_fixed_nonce(MemoryKeyStore::new(), kek, NONCE);
    let kid = crypto
        .create_key_from_bytes(SUBJECT, DATA_KEY)
        .await
        .expect("create the fixed key");
    assert_eq!(kid, KeyIdHash::of(SUBJECT));
    crypto
}

/// The golden event, fixed id and time (version 1 of `acc-golden`), with its payload
/// encrypted by `crypto`, sealed as a new aggregate.
async fn sealed(crypto: &Crypto, whole: bool) -> SealedEvent {
    let payload = clear().to_payload().expect("payload");
    let event: NewEvent = new_event("Registered", 1, payload);
    let place = Place::new(
        &event.aggregate_type,
        AGGREGATE,
        &event.event_type,
        &event.id,
    );
    let payload = if whole {
        crypto
            .encrypt_whole_payload(event.payload.clone(), &place, SUBJECT)
            .await
    } else {
        crypto
            .encrypt_payload(event.payload.clone(), &place, SUBJECT)
            .await
    }
    .expect("encrypt");
    let mut chain = seal(PREFIX, AGGREGATE, None, &[NewEvent { payload, ..event }])
        .expect("seal the golden event");
    chain.remove(0)
}

/// `kid`: the SHA-256 of `customer-7`, as 64 hex digits of text.
macro_rules! kid {
    () => {
        concat!(
            "636b6964",
            "7840", // "kid": text(64)
            "61636164653566653538643062356138303561303262386233613534366438",
            "656464313730656237386238656337623263626665306239656265663265366531",
        )
    };
}

/// The fields every encrypted node of the golden blocks shares.
macro_rules! alg_key_kid {
    () => {
        concat!(
            "63616c67",
            "71",
            "786368616368613230706f6c7931333035", // "alg": "xchacha20poly1305"
            "636b6579",
            "48",
            "ac6e6476fe1e574b", // "key": bytes(8), the data key's version
            kid!(),
        )
    };
}

/// The block's fields before `payload`, in canonical order.
macro_rules! head_fields {
    () => {
        concat!(
            "ad", // map of 13 entries
            "6176",
            "01", // "v": 1
            "626964",
            "7824", // "id": text(36)
            "30313930623661302d303030302d373030302d383030302d303030303030303030303031",
            "63736571",
            "01", // "seq": 1
            "646d657461",
            "a0", // "meta": {}
            "6470726576",
            "f6", // "prev": null
            "6474696d65",
            "1b17a610173cffca00", // "time": 1704067201000000000
            "66736368656d61",
            "01", // "schema": 1
        )
    };
}

/// The block's fields after `payload`, in canonical order.
macro_rules! tail_fields {
    () => {
        concat!(
            "6a6576656e745f74797065",
            "6a52656769737465726564", // "event_type": "Registered"
            "6c6167677265676174655f6964",
            "6a6163632d676f6c64656e", // "aggregate_id": "acc-golden"
            "6c636175736174696f6e5f6964",
            "f6", // "causation_id": null
            "6e6167677265676174655f74797065",
            "674163636f756e74", // "aggregate_type": "Account"
            "6e636f7272656c6174696f6e5f6964",
            "7824", // "correlation_id": text(36)
            "30313930623661302d303030302d373030302d383030302d303030303030303063306465",
        )
    };
}

/// The golden block with its two `Pii` values encrypted, byte for byte, annotated. The
/// payload's keys are in canonical order (`age` before `plan` before `email`), which is
/// also the order the values are encrypted in: `age` gets the fixed nonce, `email` the
/// next one.
#[rustfmt::skip]
const FIELD_BLOCK_HEX: &str = concat!(
    head_fields!(),
    "677061796c6f6164", "a4", // "payload": map of 4
    "63616765", "a1", "682f63696d2d656e63", "a6", // "age": {"/cim-enc": map of 6
    "626174", "48", "0a7784c1c026d9e4", // "at": bytes(8), the place's hash
    "626374", "52", // "ct": bytes(18): 42 (18 2a) encrypted, and the 16-byte tag
    "b3effdc65efdab4f92e0d052599fe0201f16",
    alg_key_kid!(),
    "656e6f6e6365", "5818", "242424242424242424242424242424242424242424242424", // "nonce"
    "64706c616e", "64676f6c64", // "plan": "gold" (not personal data: in clear)
    "65656d61696c", "a1", "682f63696d2d656e63", "a6", // "email": {"/cim-enc": map of 6
    "626174", "48", "b5d1f98186513ae5", // "at"
    "626374", "5820", // "ct": bytes(32): "ann@example.com" (6f + 15 bytes) and the tag
    "a6ddeece90b565c1ce49c5081e4014112899faf671464d8f0938a905a630bd5d",
    alg_key_kid!(),
    // "nonce": the fixed nonce plus one, little-endian in its last 8 bytes
    "656e6f6e6365", "5818", "242424242424242424242424242424242524242424242424",
    "6a6163636f756e745f6964", "6a6163632d676f6c64656e", // "account_id": "acc-golden"
    tail_fields!(),
);

/// The golden block with its whole payload encrypted: the payload is one encrypted node
/// of the plaintext payload (path `[]`).
#[rustfmt::skip]
const WHOLE_BLOCK_HEX: &str = concat!(
    head_fields!(),
    "677061796c6f6164", "a1", "682f63696d2d656e63", "a6", // "payload": {"/cim-enc": map of 6
    "626174", "48", "c0dfd057eeec4ce0", // "at"
    "626374", "584d", // "ct": bytes(77): the 61-byte payload map encrypted, and the tag
    "0fa63919f4b54700042ef3996713e9c68f902290ef13cea7f38369b254c2f63336b525e30f49c94cf7",
    "6749db99ba3a579724a6c45e68e9996089afc086188fc32cd2ccebde74782b97354d09ee",
    alg_key_kid!(),
    "656e6f6e6365", "5818", "242424242424242424242424242424242424242424242424", // "nonce"
    tail_fields!(),
);

const FIELD_CID: &str = "bafyreiczh5cbh252ihzgtlak4nsapt4mfs4cv4bl67dkxiry3yn7n7vldq";
const WHOLE_CID: &str = "bafyreia6wlc2je2i22zqrr2tqnoq2lpkfe5irwbl5nzdrpqlkaixxfaws4";

/// Every key of a v1 block, in DAG-CBOR canonical order: encryption adds none.
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

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test]
async fn encrypted_block_bytes_are_pinned() {
    let crypto = fixed_crypto().await;
    assert_eq!(
        hex(&sealed(&crypto, false).await.bytes),
        FIELD_BLOCK_HEX,
        "the wire form of an encrypted block changed"
    );
    assert_eq!(
        hex(&sealed(&crypto, true).await.bytes),
        WHOLE_BLOCK_HEX,
        "the wire form of a whole-payload encrypted block changed"
    );
}

#[tokio::test]
async fn encrypted_block_cids_are_pinned() {
    let crypto = fixed_crypto().await;
    for (whole, pinned) in [(false, FIELD_CID), (true, WHOLE_CID)] {
        let event = sealed(&crypto, whole).await;
        assert_eq!(event.cid.to_string(), pinned);
        assert_eq!(event.cid, cid_of(&event.bytes));
        assert_eq!(event.cid.codec(), DAG_CBOR);
        assert_eq!(event.cid.hash().code(), SHA2_256);
    }
}

/// Encrypted blocks are ordinary canonical v1 blocks: the same keys, and they decode and
/// re-encode to the same bytes.
#[test]
fn encrypted_blocks_are_canonical_v1_blocks() {
    for pinned in [FIELD_BLOCK_HEX, WHOLE_BLOCK_HEX] {
        let bytes = unhex(pinned);
        let keys = canonical_top_level_keys(&bytes).expect("canonical DAG-CBOR");
        assert_eq!(keys, CANONICAL_KEYS);
        let block = EventBlock::decode(&bytes).expect("decode");
        assert_eq!(block.encode().expect("re-encode"), bytes);
    }
}

/// The node is the documented shape: a one-entry map `{"/cim-enc": {…}}` of exactly six
/// fields, naming the subject's key id hash, never the aggregate id's.
#[test]
fn encrypted_nodes_are_the_documented_shape() {
    let block = EventBlock::decode(&unhex(FIELD_BLOCK_HEX)).expect("decode");
    let Ipld::Map(payload) = &block.payload else {
        panic!("a map payload")
    };
    assert_eq!(payload["plan"], Ipld::String("gold".into()));
    assert_eq!(payload["account_id"], Ipld::String(AGGREGATE.into()));
    for field in ["age", "email"] {
        let Ipld::Map(node) = &payload[field] else {
            panic!("a map")
        };
        assert_eq!(node.keys().collect::<Vec<_>>(), ["/cim-enc"]);
        let Ipld::Map(content) = &node["/cim-enc"] else {
            panic!("the node's content")
        };
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            ["alg", "at", "ct", "key", "kid", "nonce"]
        );
        assert_eq!(
            content["kid"],
            Ipld::String(KeyIdHash::of(SUBJECT).as_str().into())
        );
        assert_ne!(
            content["kid"],
            Ipld::String(KeyIdHash::of(AGGREGATE).as_str().into())
        );
    }
}

/// A store holding a pinned block: today's reader decrypts it with the fixed key, the
/// chain verifies, and after a shred the values read as shredded (field mode) or the
/// event fails with `Shredded` (whole-payload mode), with the block unchanged.
#[tokio::test]
async fn pinned_blocks_read_back_and_shred() {
    for (pinned, whole) in [(FIELD_BLOCK_HEX, false), (WHOLE_BLOCK_HEX, true)] {
        let bytes = unhex(pinned);
        let block = EventBlock::decode(&bytes).expect("decode");
        let event = SealedEvent {
            cid: cid_of(&bytes),
            subject: format!("{PREFIX}.{AGGREGATE}.Registered"),
            bytes: bytes.into(),
            block,
            traceparent: None,
        };
        let crypto = fixed_crypto().await;
        let store = MemoryEventStore::builder()
            .encryption(crypto.clone())
            .build()
            .expect("store");
        store.insert_raw(&event.subject, headers_of(&event), event.bytes.clone());
        let report = store.verify_chain(AGGREGATE).await.expect("verify");
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.head, Some(event.cid));
        let records = store.load(AGGREGATE).await.expect("load");
        assert_eq!(
            records[0].decode::<AccountEvent>().expect("decode"),
            clear()
        );

        let kek = Kek::from_bytes("kek-golden-2", [0x4c; 32]).expect("a valid KEK");
        crypto.shred(SUBJECT, &kek).await.expect("shred");
        let records = store.load(AGGREGATE).await.expect("load");
        assert_eq!(records[0].bytes, event.bytes);
        let decoded = records[0].decode::<AccountEvent>();
        if whole {
            match decoded {
                Err(cim_events::Error::Crypto(e)) => assert_eq!(
                    *e,
                    cim_events::crypto::CryptoError::Shredded {
                        kid: KeyIdHash::of(SUBJECT)
                    }
                ),
                other => panic!("expected Shredded, got {other:?}"),
            }
        } else {
            assert_eq!(
                decoded.expect("decode"),
                AccountEvent::Registered {
                    account_id: AGGREGATE.into(),
                    email: Pii::Shredded,
                    age: Pii::Shredded,
                    plan: "gold".into(),
                }
            );
        }
        assert!(
            store
                .verify_chain(AGGREGATE)
                .await
                .expect("verify")
                .is_valid()
        );
    }
}
