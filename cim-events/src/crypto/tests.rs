//! Payload-level tests: the golden vector, round trips, the plaintext never stored, each
//! typed error of a read, and how `Pii` meets the payload (de)serializer and serde_json.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};

use super::*;
use crate::Pii;
use crate::block::encode_ipld;
use crate::payload::{MAX_DEPTH, PayloadProblem, from_ipld, to_ipld};

/// The fixed data key of the golden vector: bytes 0, 1, …, 31.
const TEST_KEY: [u8; 32] = {
    let mut key = [0; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = i as u8;
        i += 1;
    }
    key
};
/// The fixed nonce of the golden vector: 24 bytes of 0x24.
const TEST_NONCE: [u8; 24] = [0x24; 24];
const EVENT_ID: &str = "0190f1b2-7c1a-7d4e-8f00-000000000001";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum CustomerEvent {
    Registered {
        customer: String,
        email: Pii<String>,
        phones: Vec<Pii<String>>,
        age: Option<Pii<u8>>,
    },
    Renamed {
        customer: String,
        name: Pii<String>,
    },
}

fn registered(email: &str) -> CustomerEvent {
    CustomerEvent::Registered {
        customer: "c-7".into(),
        email: Pii::Clear(email.into()),
        phones: vec![Pii::Clear("+44 20 7946 0000".into())],
        age: Some(Pii::Clear(42)),
    }
}

fn place(event_id: &str) -> Place<'_> {
    Place::new("Customer", "c-7", "Registered", event_id)
}

fn kek(id: &str, byte: u8) -> Kek {
    Kek::from_bytes(id, [byte; 32]).expect("a valid KEK id")
}

fn crypto() -> (Crypto, MemoryKeyStore) {
    let keys = MemoryKeyStore::new();
    (Crypto::new(keys.clone(), kek("kek-1", 1)), keys)
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The content map of the encrypted node at `$.Registered.email`.
fn email_node(payload: &mut Ipld) -> &mut BTreeMap<String, Ipld> {
    let Ipld::Map(root) = payload else {
        panic!("a map")
    };
    let Some(Ipld::Map(fields)) = root.get_mut("Registered") else {
        panic!("the variant")
    };
    let Some(Ipld::Map(node)) = fields.get_mut("email") else {
        panic!("the field")
    };
    let Some(Ipld::Map(content)) = node.get_mut("/cim-enc") else {
        panic!("an encrypted node")
    };
    content
}

/// One encrypted value with a fixed data key and nonce, pinned as its DAG-CBOR bytes. The
/// `at`, `ct`, `key` and `kid` fields were checked against an independent computation:
/// Python's `cryptography` ChaCha20-Poly1305 under an HChaCha20 subkey (HChaCha20 written
/// out and checked against the test vector of draft-irtf-cfrg-xchacha), with the
/// associated data built by hand as DAG-CBOR.
#[tokio::test]
async fn golden_vector() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::with_fixed_nonce(keys, kek("kek-1", 1), TEST_NONCE);
    crypto
        .create_key_from_bytes("customer-1", TEST_KEY)
        .await
        .expect("create the test key");
    let payload = to_ipld(&Pii::Clear("ann@example.com")).expect("to IPLD");
    let place = Place::new("Customer", "customer-1", "Registered", EVENT_ID);
    let node = crypto
        .encrypt_payload(payload, &place, "customer-1")
        .await
        .expect("encrypt");
    let bytes = encode_ipld(&node).expect("encode");
    assert_eq!(
        crate::crypto::key_id::hex(&bytes),
        "a1682f63696d2d656e63a6626174487287e22e2d5bfd9f6263745820c4a43610d1c815051932fe922d17e9c758a23ce8bcddc888fc0e01bbf0d13b0763616c6771786368616368613230706f6c7931333035636b657948ac6e6476fe1e574b636b6964784065383366313064636432633638373437633366336261313461353432353864356331383433613864373562306635636235326336663364663035326137326431656e6f6e63655818242424242424242424242424242424242424242424242424",
        "the wire form of an encrypted value changed"
    );
}

#[tokio::test]
async fn round_trip_field_mode() {
    let (crypto, _) = crypto();
    let event = registered("ann@example.com");
    let stored = crypto
        .encrypt_payload(to_ipld(&event).expect("to IPLD"), &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    assert_eq!(marks(&stored).encrypted, 3);
    assert_eq!(marks(&stored).pii, 0);
    // What is not personal data stays readable to anyone.
    let Ipld::Map(root) = &stored else {
        panic!("a map")
    };
    let Some(Ipld::Map(fields)) = root.get("Registered") else {
        panic!("the variant")
    };
    assert_eq!(fields.get("customer"), Some(&Ipld::String("c-7".into())));

    let read = crypto
        .decrypt_payload(stored, &place(EVENT_ID))
        .await
        .expect("decrypt");
    assert_eq!(from_ipld::<CustomerEvent>(read).expect("decode"), event);
}

#[tokio::test]
async fn round_trip_whole_payload() {
    let (crypto, _) = crypto();
    let event = registered("ann@example.com");
    let stored = crypto
        .encrypt_whole_payload(to_ipld(&event).expect("to IPLD"), &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    let Ipld::Map(root) = &stored else {
        panic!("a map")
    };
    assert_eq!(root.keys().collect::<Vec<_>>(), ["/cim-enc"]);
    let bytes = encode_ipld(&stored).expect("encode");
    assert!(!contains(&bytes, b"customer"), "field names are hidden too");
    let read = crypto
        .decrypt_payload(stored, &place(EVENT_ID))
        .await
        .expect("decrypt");
    assert_eq!(from_ipld::<CustomerEvent>(read).expect("decode"), event);
}

#[tokio::test]
async fn plaintext_never_in_the_stored_bytes() {
    let (crypto, _) = crypto();
    let secret = "ann.secret@example.com";
    let event = registered(secret);
    let plain = encode_ipld(&to_ipld(&event).expect("to IPLD")).expect("encode");
    assert!(
        contains(&plain, secret.as_bytes()),
        "the test looks for the right bytes"
    );
    for whole in [false, true] {
        let payload = to_ipld(&event).expect("to IPLD");
        let stored = if whole {
            crypto
                .encrypt_whole_payload(payload, &place(EVENT_ID), "c-7")
                .await
        } else {
            crypto
                .encrypt_payload(payload, &place(EVENT_ID), "c-7")
                .await
        }
        .expect("encrypt");
        let bytes = encode_ipld(&stored).expect("encode");
        assert!(!contains(&bytes, secret.as_bytes()));
        assert!(!contains(&bytes, b"+44 20 7946 0000"));
        // Nor the key id: only its hash.
        assert!(contains(&bytes, KeyIdHash::of("c-7").as_str().as_bytes()));
    }
}

#[tokio::test]
async fn a_payload_without_pii_is_left_alone() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let payload = to_ipld(&("plain", 1, true)).expect("to IPLD");
    let out = crypto
        .encrypt_payload(payload.clone(), &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    assert_eq!(out, payload);
    assert_eq!(
        keys.list().await.expect("list"),
        vec![],
        "no key was created"
    );
    let out = crypto
        .decrypt_payload(payload.clone(), &place(EVENT_ID))
        .await
        .expect("decrypt");
    assert_eq!(out, payload);
}

#[tokio::test]
async fn fixed_nonces_make_encryption_repeatable() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::with_fixed_nonce(keys, kek("kek-1", 1), TEST_NONCE);
    let payload = to_ipld(&registered("ann@example.com")).expect("to IPLD");
    let once = crypto
        .encrypt_payload(payload.clone(), &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    let twice = crypto
        .encrypt_payload(payload, &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    assert_eq!(once, twice);
    // Each value of one payload still gets its own nonce: `email` is the second in key
    // order (after `age`).
    let mut once = once;
    let mut second = TEST_NONCE;
    second[16] += 1;
    let nonce = email_node(&mut once).get("nonce").cloned();
    assert_eq!(nonce, Some(Ipld::Bytes(second.to_vec())));
}

#[tokio::test]
async fn missing_key_store_is_refused() {
    let payload = to_ipld(&registered("ann@example.com")).expect("to IPLD");
    assert_eq!(
        check_no_pii(&payload),
        Err(CryptoError::MissingKeyStore {
            // The first in key order.
            path: "$.Registered.age".into()
        })
    );
    let shredded_only = to_ipld(&CustomerEvent::Renamed {
        customer: "c-7".into(),
        name: Pii::Shredded,
    })
    .expect("to IPLD");
    assert_eq!(check_no_pii(&shredded_only), Ok(()));
}

#[tokio::test]
async fn wrong_kek() {
    let (crypto, keys) = crypto();
    let stored = crypto
        .encrypt_payload(
            to_ipld(&registered("ann@example.com")).expect("to IPLD"),
            &place(EVENT_ID),
            "c-7",
        )
        .await
        .expect("encrypt");
    // Another id.
    let other = Crypto::new(keys.clone(), kek("kek-9", 9));
    let err = other
        .decrypt_payload(stored.clone(), &place(EVENT_ID))
        .await
        .expect_err("another KEK");
    assert_eq!(
        err,
        CryptoError::WrongKek {
            kid: KeyIdHash::of("c-7"),
            wrapped_with: "kek-1".into(),
            held: "kek-9".into()
        }
    );
    // The same id with other bytes.
    let other = Crypto::new(keys, kek("kek-1", 9));
    let err = other
        .decrypt_payload(stored, &place(EVENT_ID))
        .await
        .expect_err("other bytes");
    assert!(
        matches!(&err, CryptoError::WrongKek { wrapped_with, held, .. } if wrapped_with == held),
        "{err:?}"
    );
    assert!(err.to_string().contains("other bytes"), "{err}");
}

#[tokio::test]
async fn tampered_ciphertext() {
    let (crypto, _) = crypto();
    let mut stored = crypto
        .encrypt_payload(
            to_ipld(&registered("ann@example.com")).expect("to IPLD"),
            &place(EVENT_ID),
            "c-7",
        )
        .await
        .expect("encrypt");
    if let Some(Ipld::Bytes(ct)) = email_node(&mut stored).get_mut("ct") {
        ct[0] ^= 1;
    }
    let err = crypto
        .decrypt_payload(stored.clone(), &place(EVENT_ID))
        .await
        .expect_err("tampered");
    assert!(
        matches!(&err, CryptoError::Tampered { path, .. } if path == "$.Registered.email"),
        "{err:?}"
    );
    // A damaged shape is told apart too.
    email_node(&mut stored).insert("nonce".into(), Ipld::Bytes(vec![0; 12]));
    let err = crypto
        .decrypt_payload(stored.clone(), &place(EVENT_ID))
        .await
        .expect_err("short nonce");
    assert!(
        matches!(&err, CryptoError::Tampered { problem, .. } if problem.contains("nonce")),
        "{err:?}"
    );
    email_node(&mut stored).insert("alg".into(), Ipld::String("rot13".into()));
    let err = crypto
        .decrypt_payload(stored, &place(EVENT_ID))
        .await
        .expect_err("unknown algorithm");
    assert!(
        matches!(&err, CryptoError::UnsupportedAlgorithm { alg, .. } if alg == "rot13"),
        "{err:?}"
    );
}

#[tokio::test]
async fn ciphertext_moved_to_another_place() {
    let (crypto, _) = crypto();
    let renamed = CustomerEvent::Renamed {
        customer: "c-7".into(),
        name: Pii::Clear("Ann".into()),
    };
    let stored = crypto
        .encrypt_payload(to_ipld(&renamed).expect("to IPLD"), &place(EVENT_ID), "c-7")
        .await
        .expect("encrypt");
    let misplaced = |path: &str| CryptoError::Misplaced {
        kid: KeyIdHash::of("c-7"),
        path: path.into(),
    };
    // Another event, aggregate, event type, aggregate type.
    for other in [
        place("0190f1b2-7c1a-7d4e-8f00-000000000002"),
        Place::new("Customer", "c-8", "Registered", EVENT_ID),
        Place::new("Customer", "c-7", "Renamed", EVENT_ID),
        Place::new("Supplier", "c-7", "Registered", EVENT_ID),
    ] {
        let err = crypto
            .decrypt_payload(stored.clone(), &other)
            .await
            .expect_err("moved");
        assert_eq!(err, misplaced("$.Renamed.name"), "{other:?}");
    }
    // Another field of the same event.
    let Ipld::Map(mut root) = stored else {
        panic!("a map")
    };
    let Some(Ipld::Map(mut fields)) = root.remove("Renamed") else {
        panic!("the variant")
    };
    let name = fields.remove("name").expect("the field");
    fields.insert("customer".into(), name);
    fields.insert("name".into(), Ipld::String("Bob".into()));
    let moved = Ipld::Map(BTreeMap::from([("Renamed".into(), Ipld::Map(fields))]));
    let err = crypto
        .decrypt_payload(moved, &place(EVENT_ID))
        .await
        .expect_err("moved to another field");
    assert_eq!(err, misplaced("$.Renamed.customer"));
}

#[tokio::test]
async fn unknown_key_id() {
    let (crypto, _) = crypto();
    let stored = crypto
        .encrypt_payload(
            to_ipld(&registered("ann@example.com")).expect("to IPLD"),
            &place(EVENT_ID),
            "c-7",
        )
        .await
        .expect("encrypt");
    let elsewhere = Crypto::new(MemoryKeyStore::new(), kek("kek-1", 1));
    let err = elsewhere
        .decrypt_payload(stored, &place(EVENT_ID))
        .await
        .expect_err("unknown key");
    assert!(
        matches!(&err, CryptoError::UnknownKey { kid, path } if *kid == KeyIdHash::of("c-7") && path.starts_with("$.Registered")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_encrypted_node_is_not_decoded_before_decryption() {
    let (crypto, _) = crypto();
    let stored = crypto
        .encrypt_payload(
            to_ipld(&registered("ann@example.com")).expect("to IPLD"),
            &place(EVENT_ID),
            "c-7",
        )
        .await
        .expect("encrypt");
    let err = from_ipld::<CustomerEvent>(stored.clone()).expect_err("still encrypted");
    assert!(
        matches!(err.problem, PayloadProblem::StillEncrypted),
        "{err}"
    );
    assert!(err.to_string().contains("still encrypted"), "{err}");
    // Nor encrypted twice.
    let err = crypto
        .encrypt_payload(stored.clone(), &place(EVENT_ID), "c-7")
        .await
        .expect_err("already encrypted");
    assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
    let err = crypto
        .encrypt_whole_payload(stored, &place(EVENT_ID), "c-7")
        .await
        .expect_err("already encrypted");
    assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
}

#[test]
fn pii_in_the_payload_serializer() {
    // A shredded value writes the shredded marker and reads back.
    let renamed = CustomerEvent::Renamed {
        customer: "c-7".into(),
        name: Pii::Shredded,
    };
    let ipld = to_ipld(&renamed).expect("to IPLD");
    assert_eq!(marks(&ipld).shredded, 1);
    assert_eq!(from_ipld::<CustomerEvent>(ipld).expect("decode"), renamed);
    // A plain value (written before the field became `Pii`) reads as clear.
    let old = to_ipld(&("ann",)).expect("to IPLD");
    assert_eq!(
        from_ipld::<(Pii<String>,)>(old).expect("decode"),
        (Pii::Clear("ann".to_owned()),)
    );
    // `Pii<Option<_>>`: a clear `None` is not shredded.
    let none: Pii<Option<u8>> = Pii::Clear(None);
    let ipld = to_ipld(&none).expect("to IPLD");
    assert_eq!(from_ipld::<Pii<Option<u8>>>(ipld).expect("decode"), none);
    // Not a map key.
    let keyed = BTreeMap::from([(Pii::Clear("ann".to_owned()), 1)]);
    let err = to_ipld(&keyed).expect_err("a Pii key");
    assert!(
        matches!(err.problem, PayloadProblem::Unsupported(_)),
        "{err}"
    );
    // Reserved keys cannot come from user data.
    let forged = BTreeMap::from([("/cim-enc".to_owned(), 1)]);
    let err = to_ipld(&forged).expect_err("a reserved key");
    assert!(
        matches!(err.problem, PayloadProblem::Unsupported(_)),
        "{err}"
    );
    let forged = serde_json::json!({ "a": { "/cim-shredded": null } });
    assert!(to_ipld(&forged).is_err());
}

/// `.0` lists around a `Pii<u8>`.
struct Nested(usize);

impl Serialize for Nested {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            0 => Pii::Clear(1u8).serialize(s),
            n => [Nested(n - 1)].serialize(s),
        }
    }
}

#[test]
fn pii_depth_leaves_room_for_the_encrypted_node() {
    // The node is a map in a map: two levels on top of where the `Pii` is.
    assert!(to_ipld(&Nested(MAX_DEPTH - 2)).is_ok());
    let err = to_ipld(&Nested(MAX_DEPTH - 1)).expect_err("too deep");
    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
}

#[test]
fn pii_with_serde_json() {
    let clear = Pii::Clear("ann@example.com".to_owned());
    assert_eq!(
        serde_json::to_string(&clear).expect("json"),
        r#""ann@example.com""#
    );
    assert_eq!(
        serde_json::to_string(&Pii::<String>::Shredded).expect("json"),
        "null"
    );
    assert_eq!(
        serde_json::from_str::<Pii<String>>(r#""ann@example.com""#).expect("json"),
        clear
    );
    assert_eq!(
        serde_json::from_str::<Pii<String>>("null").expect("json"),
        Pii::Shredded
    );
    let event = registered("ann@example.com");
    let json = serde_json::to_string(&event).expect("json");
    assert_eq!(
        serde_json::from_str::<CustomerEvent>(&json).expect("json"),
        event
    );
}
