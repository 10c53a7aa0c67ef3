//! `JetStreamKeyStore` under `Crypto` on a real nats-server (one shared R1 server, each
//! case its own bucket): round trips, what the bucket holds (only key id hashes and
//! wrapped keys), shredding (no revision of the key left, checked with the key-value
//! history), explicit re-creation, KEK rotation, and racing first writers.

use async_nats::jetstream::kv::Operation;
use cim_events::crypto::{
    Crypto, CryptoError, Kek, KeyIdHash, KeyRecord, KeyState, KeyStore, MemoryKeyStore, Place,
    WrappedKey,
};
use cim_events::jetstream::JetStreamKeyStore;
use cim_events::payload::{from_ipld, to_ipld};
use cim_events::{Ipld, Pii};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tests::nats::{NatsServer, connect, unique_names};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Registered {
    customer: String,
    email: Pii<String>,
}

/// Key ids are e-mail addresses here: not valid key-value keys, and personal data.
fn registered(email: &str) -> Registered {
    Registered {
        customer: format!("c-{}", email.len()),
        email: Pii::Clear(email.to_owned()),
    }
}

fn place(event_id: &str) -> Place<'_> {
    Place::new("Customer", "c-1", "Registered", event_id)
}

fn kek(id: &str, byte: u8) -> Kek {
    Kek::from_bytes(id, [byte; 32]).expect("a valid KEK id")
}

/// A new handle on a fresh bucket, and the bucket's name.
async fn fresh() -> (JetStreamKeyStore, String) {
    let (stream, _) = unique_names();
    let bucket = format!("KEYS_{stream}");
    (open(&bucket).await, bucket)
}

/// A handle on `bucket` over its own connection, as another process would open it.
async fn open(bucket: &str) -> JetStreamKeyStore {
    let context = connect(vec![NatsServer::shared().await.addr()]).await;
    JetStreamKeyStore::new(context, bucket)
        .await
        .expect("open the key bucket")
}

async fn encrypt(crypto: &Crypto, email: &str, event_id: &str) -> Ipld {
    crypto
        .encrypt_payload(
            to_ipld(&registered(email)).expect("to IPLD"),
            &place(event_id),
            email,
        )
        .await
        .expect("encrypt")
}

async fn decrypt(
    crypto: &Crypto,
    payload: Ipld,
    event_id: &str,
) -> Result<Registered, CryptoError> {
    let plain = crypto.decrypt_payload(payload, &place(event_id)).await?;
    Ok(from_ipld(plain).expect("decode"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const E1: &str = "0190f1b2-7c1a-7d4e-8f00-000000000001";
const E2: &str = "0190f1b2-7c1a-7d4e-8f00-000000000002";

#[tokio::test]
async fn round_trip_and_what_the_bucket_holds() {
    let (keys, bucket) = fresh().await;
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let stored = encrypt(&crypto, "ann@example.com", E1).await;
    // Another process reads it through the bucket.
    let reader = Crypto::new(open(&bucket).await, kek("kek-1", 1));
    assert_eq!(
        decrypt(&reader, stored, E1).await.expect("decrypt"),
        registered("ann@example.com")
    );

    // The bucket holds the key id's hash and a wrapped key; never the key id itself.
    let kid = KeyIdHash::of("ann@example.com");
    let names: Vec<String> = keys
        .kv()
        .keys()
        .await
        .expect("keys")
        .try_collect()
        .await
        .expect("keys");
    assert_eq!(names, vec![kid.to_string()]);
    let value = keys
        .kv()
        .get(kid.as_str())
        .await
        .expect("get")
        .expect("a value");
    assert!(!contains(&value, b"ann@example.com"));
    assert_eq!(
        WrappedKey::decode(&value).expect("a wrapped key").kek_id(),
        "kek-1"
    );
}

#[tokio::test]
async fn shred_leaves_no_revision_of_the_key() {
    let (keys, bucket) = fresh().await;
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let ann = encrypt(&crypto, "ann@example.com", E1).await;
    let bob = encrypt(&crypto, "bob@example.com", E2).await;
    let ann_kid = KeyIdHash::of("ann@example.com");
    let bob_kid = KeyIdHash::of("bob@example.com");
    let KeyRecord::Live { key: ann_key, .. } = keys.get(&ann_kid).await.expect("get") else {
        panic!("live")
    };

    let report = crypto
        .shred("ann@example.com", &kek("kek-2", 2))
        .await
        .expect("shred");
    assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 1));
    // Listing the keys to re-wrap left no consumer behind.
    let info = keys.kv().stream.get_info().await.expect("stream info");
    assert_eq!(info.state.consumer_count, 0);

    // The key-value history of Ann's key holds only the purge marker: no revision with
    // her wrapped key (or any value) is left.
    let history: Vec<_> = keys
        .kv()
        .history(ann_kid.as_str())
        .await
        .expect("history")
        .try_collect()
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].operation, Operation::Purge);
    assert!(history[0].value.is_empty());
    assert!(!contains(&history[0].value, &ann_key.encode()));
    // Bob's key is re-wrapped under the new KEK, its old revision gone (history 1).
    let history: Vec<_> = keys
        .kv()
        .history(bob_kid.as_str())
        .await
        .expect("history")
        .try_collect()
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(
        WrappedKey::decode(&history[0].value)
            .expect("wrapped")
            .kek_id(),
        "kek-2"
    );

    // Ann's data reads as shredded, Bob's as before, in another process with the new KEK.
    let reader = Crypto::new(open(&bucket).await, kek("kek-2", 2));
    let after = decrypt(&reader, ann, E1).await.expect("decrypt");
    assert_eq!(after.email, Pii::Shredded);
    assert_eq!(after.customer, registered("ann@example.com").customer);
    assert_eq!(
        decrypt(&reader, bob, E2).await.expect("decrypt"),
        registered("bob@example.com")
    );
    assert_eq!(
        reader.key_state("ann@example.com").await.expect("state"),
        KeyState::Shredded
    );
    // Listing (for the next rotation) needs no consumer; it may name the tombstone.
    let mut listed = keys.list().await.expect("list");
    listed.sort();
    let mut both = vec![ann_kid, bob_kid];
    both.sort();
    assert_eq!(listed, both);
}

#[tokio::test]
async fn a_tombstone_is_replaced_only_on_request() {
    let (keys, bucket) = fresh().await;
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let before = encrypt(&crypto, "ann@example.com", E1).await;
    crypto
        .shred("ann@example.com", &kek("kek-2", 2))
        .await
        .expect("shred");

    // Another process, which never saw the key, cannot write under it...
    let other = Crypto::new(open(&bucket).await, kek("kek-2", 2));
    let err = other
        .encrypt_payload(
            to_ipld(&registered("ann@example.com")).expect("to IPLD"),
            &place(E2),
            "ann@example.com",
        )
        .await
        .expect_err("shredded");
    assert_eq!(
        err,
        CryptoError::Shredded {
            kid: KeyIdHash::of("ann@example.com")
        }
    );
    // ...and the store refuses a creation over the tombstone (a plain key-value `create`
    // would accept it).
    let memory = MemoryKeyStore::new();
    let scratch = Crypto::new(memory.clone(), kek("kek-2", 2));
    let KeyRecord::Live { key: wrapped, .. } = memory
        .get(&scratch.create_key("x").await.expect("create"))
        .await
        .expect("get")
    else {
        panic!("live")
    };
    assert!(matches!(
        keys.put(&KeyIdHash::of("ann@example.com"), &wrapped, None)
            .await,
        Err(CryptoError::Conflict { .. })
    ));

    other
        .recreate_key("ann@example.com")
        .await
        .expect("recreate");
    let after = encrypt(&other, "ann@example.com", E2).await;
    let reader = Crypto::new(open(&bucket).await, kek("kek-2", 2));
    assert_eq!(
        decrypt(&reader, after, E2).await.expect("decrypt"),
        registered("ann@example.com")
    );
    assert!(
        decrypt(&reader, before, E1)
            .await
            .expect("decrypt")
            .email
            .is_shredded()
    );
}

#[tokio::test]
async fn rotation_then_old_events_read() {
    let (keys, bucket) = fresh().await;
    let crypto = Crypto::new(keys, kek("kek-1", 1));
    let mut stored = Vec::new();
    for (n, email) in ["a@x.org", "b@x.org", "c@x.org"].into_iter().enumerate() {
        let event_id = format!("0190f1b2-7c1a-7d4e-8f00-00000000010{n}");
        stored.push((
            email,
            event_id.clone(),
            encrypt(&crypto, email, &event_id).await,
        ));
    }
    let report = crypto.rotate_kek(&kek("kek-2", 2)).await.expect("rotate");
    assert_eq!(report.rewrapped, 3);

    let reader = Crypto::new(open(&bucket).await, kek("kek-2", 2));
    let stale = Crypto::new(open(&bucket).await, kek("kek-1", 1));
    for (email, event_id, payload) in stored {
        assert_eq!(
            decrypt(&reader, payload.clone(), &event_id)
                .await
                .expect("decrypt"),
            registered(email)
        );
        assert!(matches!(
            decrypt(&stale, payload, &event_id).await,
            Err(CryptoError::WrongKek { .. })
        ));
    }
}

#[tokio::test]
async fn racing_first_writers_share_one_key() {
    let (_, bucket) = fresh().await;
    let a = Crypto::new(open(&bucket).await, kek("kek-1", 1));
    let b = Crypto::new(open(&bucket).await, kek("kek-1", 1));
    let (from_a, from_b) = tokio::join!(
        encrypt(&a, "ann@example.com", E1),
        encrypt(&b, "ann@example.com", E2)
    );
    let keys = open(&bucket).await;
    assert_eq!(keys.list().await.expect("list").len(), 1);
    assert!(decrypt(&b, from_a, E1).await.is_ok());
    assert!(decrypt(&a, from_b, E2).await.is_ok());
}

#[tokio::test]
async fn unknown_keys_and_foreign_values() {
    let (keys, bucket) = fresh().await;
    let writer = Crypto::new(open(&bucket).await, kek("kek-1", 1));
    let stored = encrypt(&writer, "ann@example.com", E1).await;
    // Read against another (empty) bucket: the key id was never there.
    let (elsewhere, _) = fresh().await;
    let reader = Crypto::new(elsewhere, kek("kek-1", 1));
    assert!(matches!(
        decrypt(&reader, stored, E1).await,
        Err(CryptoError::UnknownKey { kid, .. }) if kid == KeyIdHash::of("ann@example.com")
    ));
    // A value someone else wrote is reported, not misread.
    let kid = KeyIdHash::of("zed@example.com");
    keys.kv()
        .put(kid.as_str(), "not a key".into())
        .await
        .expect("put");
    let err = keys.get(&kid).await.expect_err("malformed");
    assert!(
        matches!(&err, CryptoError::Malformed { what, .. } if what.contains(&bucket)),
        "{err:?}"
    );
}
