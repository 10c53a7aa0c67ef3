//! Key management: KEK rotation, shredding (and what it rotates), explicit re-creation,
//! caches across handles, and a rotation that fails half-way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};

use super::*;
use crate::Pii;
use crate::payload::{from_ipld, to_ipld};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Registered {
    customer: String,
    email: Pii<String>,
}

fn registered(customer: &str) -> Registered {
    Registered {
        customer: customer.into(),
        email: Pii::Clear(format!("{customer}@example.com")),
    }
}

fn place(customer: &str) -> Place<'_> {
    Place::new(
        "Customer",
        customer,
        "Registered",
        "0190f1b2-7c1a-7d4e-8f00-000000000001",
    )
}

fn kek(id: &str, byte: u8) -> Kek {
    Kek::from_bytes(id, [byte; 32]).expect("a valid KEK id")
}

/// Encrypts `registered(customer)` under the key id `customer`.
async fn stored(crypto: &Crypto, customer: &str) -> Ipld {
    crypto
        .encrypt_payload(
            to_ipld(&registered(customer)).expect("to IPLD"),
            &place(customer),
            customer,
        )
        .await
        .expect("encrypt")
}

async fn read(crypto: &Crypto, customer: &str, payload: Ipld) -> Result<Registered, CryptoError> {
    let plain = crypto.decrypt_payload(payload, &place(customer)).await?;
    Ok(from_ipld(plain).expect("decode"))
}

#[tokio::test]
async fn rotation_keeps_old_events_readable() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let ann = stored(&crypto, "ann").await;
    let bob = stored(&crypto, "bob").await;

    let report = crypto.rotate_kek(&kek("kek-2", 2)).await.expect("rotate");
    assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 2));
    for kid in keys.list().await.expect("list") {
        let KeyRecord::Live { key, .. } = keys.get(&kid).await.expect("get") else {
            panic!("live")
        };
        assert_eq!(key.kek_id(), "kek-2");
    }
    // A new process with only the new KEK reads the old events; one with the old fails.
    let fresh = Crypto::new(keys.clone(), kek("kek-2", 2));
    assert_eq!(
        read(&fresh, "ann", ann.clone()).await.expect("read"),
        registered("ann")
    );
    assert_eq!(
        read(&fresh, "bob", bob).await.expect("read"),
        registered("bob")
    );
    let stale = Crypto::new(keys, kek("kek-1", 1));
    assert!(matches!(
        read(&stale, "ann", ann).await,
        Err(CryptoError::WrongKek { wrapped_with, held, .. }) if wrapped_with == "kek-2" && held == "kek-1"
    ));
    // Rotating to the KEK held, or to another KEK under its id, is refused.
    assert!(matches!(
        crypto.rotate_kek(&kek("kek-2", 2)).await,
        Err(CryptoError::Invalid { .. })
    ));
    assert!(matches!(
        crypto.rotate_kek(&kek("kek-2", 3)).await,
        Err(CryptoError::Invalid { .. })
    ));
}

#[tokio::test]
async fn shred_erases_one_subject_and_rotates_the_kek() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let ann = stored(&crypto, "ann").await;
    let bob = stored(&crypto, "bob").await;

    let report = crypto.shred("ann", &kek("kek-2", 2)).await.expect("shred");
    assert_eq!(report.kids, [KeyIdHash::of("ann")]);
    assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 1));
    assert_eq!(crypto.kek_id(), "kek-2");

    // Ann's data reads as shredded, the rest of her event still decodes.
    let after = read(&crypto, "ann", ann.clone()).await.expect("read");
    assert_eq!(after.email, Pii::Shredded);
    assert_eq!(after.customer, "ann");
    // Bob's still reads, here and in a new process holding only the new KEK.
    assert_eq!(
        read(&crypto, "bob", bob.clone()).await.expect("read"),
        registered("bob")
    );
    let fresh = Crypto::new(keys.clone(), kek("kek-2", 2));
    assert_eq!(
        read(&fresh, "bob", bob).await.expect("read"),
        registered("bob")
    );
    assert!(
        read(&fresh, "ann", ann)
            .await
            .expect("read")
            .email
            .is_shredded()
    );
    // The previous KEK unwraps nothing any more.
    let old = Crypto::new(keys.clone(), kek("kek-1", 1));
    assert!(matches!(
        old.create_key("bob").await,
        Err(CryptoError::WrongKek { .. })
    ));

    // Nothing is written under a shredded key id.
    let err = crypto
        .encrypt_payload(
            to_ipld(&registered("ann")).expect("to IPLD"),
            &place("ann"),
            "ann",
        )
        .await
        .expect_err("shredded");
    assert_eq!(
        err,
        CryptoError::Shredded {
            kid: KeyIdHash::of("ann")
        }
    );
    assert!(matches!(
        fresh.encryptor("ann").await,
        Err(CryptoError::Shredded { .. })
    ));
    assert_eq!(
        crypto.key_state("ann").await.expect("state"),
        KeyState::Shredded
    );
    assert_eq!(keys.list().await.expect("list"), vec![KeyIdHash::of("bob")]);
}

#[tokio::test]
async fn a_shredded_key_is_recreated_only_on_request() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let before = stored(&crypto, "ann").await;
    crypto.shred("ann", &kek("kek-2", 2)).await.expect("shred");
    assert!(matches!(
        crypto.create_key("ann").await,
        Err(CryptoError::Shredded { .. })
    ));

    assert_eq!(
        crypto.recreate_key("ann").await.expect("recreate"),
        KeyIdHash::of("ann")
    );
    assert_eq!(
        crypto.key_state("ann").await.expect("state"),
        KeyState::Live
    );
    let after = stored(&crypto, "ann").await;
    // The new key reads what it wrote, never what the destroyed one did.
    for handle in [crypto.clone(), Crypto::new(keys, kek("kek-2", 2))] {
        assert_eq!(
            read(&handle, "ann", after.clone()).await.expect("read"),
            registered("ann")
        );
        assert!(
            read(&handle, "ann", before.clone())
                .await
                .expect("read")
                .email
                .is_shredded()
        );
    }
    // Re-creating a live key keeps it.
    crypto.recreate_key("ann").await.expect("recreate");
    assert_eq!(
        read(&crypto, "ann", after).await.expect("read"),
        registered("ann")
    );
}

#[tokio::test]
async fn a_whole_payload_shreds_as_one() {
    let crypto = Crypto::new(MemoryKeyStore::new(), kek("kek-1", 1));
    let whole = crypto
        .encrypt_whole_payload(
            to_ipld(&registered("ann")).expect("to IPLD"),
            &place("ann"),
            "ann",
        )
        .await
        .expect("encrypt");
    crypto.shred("ann", &kek("kek-2", 2)).await.expect("shred");
    let plain = crypto
        .decrypt_payload(whole, &place("ann"))
        .await
        .expect("decrypt");
    assert_eq!(marks(&plain).shredded, 1);
    assert_eq!(
        from_ipld::<Pii<Registered>>(plain).expect("decode"),
        Pii::Shredded
    );
}

#[tokio::test]
async fn caches_across_handles() {
    let keys = MemoryKeyStore::new();
    let writer = Crypto::new(keys.clone(), kek("kek-1", 1));
    let ann = stored(&writer, "ann").await;
    let cached = Crypto::new(keys.clone(), kek("kek-1", 1));
    let uncached = Crypto::with_key_cache(keys.clone(), kek("kek-1", 1), 100, Duration::ZERO);
    assert!(read(&cached, "ann", ann.clone()).await.is_ok());
    assert!(read(&uncached, "ann", ann.clone()).await.is_ok());

    writer.shred("ann", &kek("kek-2", 2)).await.expect("shred");
    // A clone shares the cache: the shred applies at once.
    let clone = writer.clone();
    assert!(
        read(&clone, "ann", ann.clone())
            .await
            .expect("read")
            .email
            .is_shredded()
    );
    // With no cache, at once too.
    assert!(
        read(&uncached, "ann", ann.clone())
            .await
            .expect("read")
            .email
            .is_shredded()
    );
    // Another handle trusts its cached key until the TTL, or until told to forget it.
    assert!(
        !read(&cached, "ann", ann.clone())
            .await
            .expect("read")
            .email
            .is_shredded()
    );
    cached.forget(&KeyIdHash::of("ann"));
    assert!(
        read(&cached, "ann", ann)
            .await
            .expect("read")
            .email
            .is_shredded()
    );
}

#[tokio::test]
async fn concurrent_first_writes_share_one_key() {
    let keys = MemoryKeyStore::new();
    let a = Crypto::new(keys.clone(), kek("kek-1", 1));
    let b = Crypto::new(keys.clone(), kek("kek-1", 1));
    let (from_a, from_b) = tokio::join!(stored(&a, "ann"), stored(&b, "ann"));
    assert_eq!(keys.list().await.expect("list").len(), 1);
    assert_eq!(
        read(&b, "ann", from_a).await.expect("read"),
        registered("ann")
    );
    assert_eq!(
        read(&a, "ann", from_b).await.expect("read"),
        registered("ann")
    );
}

#[tokio::test]
async fn a_wrapped_key_moved_to_another_subject_does_not_unwrap() {
    let keys = MemoryKeyStore::new();
    let crypto = Crypto::new(keys.clone(), kek("kek-1", 1));
    let ann = crypto.create_key("ann").await.expect("create");
    let KeyRecord::Live { key, .. } = keys.get(&ann).await.expect("get") else {
        panic!("live")
    };
    let bob = KeyIdHash::of("bob");
    keys.put(&bob, &key, None).await.expect("plant");
    assert!(matches!(
        crypto.encryptor("bob").await,
        Err(CryptoError::WrongKek { kid, .. }) if kid == bob
    ));
}

#[test]
fn invalid_ids() {
    assert!(matches!(
        Kek::from_bytes("", [0; 32]),
        Err(CryptoError::Invalid { what: "KEK id", .. })
    ));
    assert!(Kek::from_bytes("x".repeat(65), [0; 32]).is_err());
    assert!(Kek::from_bytes("kek-2025-06.v1:a_b", [0; 32]).is_ok());
    let crypto = Crypto::new(MemoryKeyStore::new(), kek("kek-1", 1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(matches!(
        rt.block_on(crypto.create_key("")),
        Err(CryptoError::Invalid { what: "key id", .. })
    ));
}

/// A key store whose writes start failing after `puts` of them.
struct Flaky {
    keys: MemoryKeyStore,
    puts: AtomicUsize,
}

#[async_trait]
impl KeyStore for Flaky {
    async fn get(&self, kid: &KeyIdHash) -> Result<KeyRecord, CryptoError> {
        self.keys.get(kid).await
    }

    async fn put(
        &self,
        kid: &KeyIdHash,
        key: &WrappedKey,
        expected: Option<u64>,
    ) -> Result<u64, CryptoError> {
        let left = self.puts.load(Ordering::SeqCst);
        if left == 0 {
            return Err(CryptoError::Backend {
                operation: "put",
                message: "down".into(),
                transient: true,
            });
        }
        self.puts.store(left - 1, Ordering::SeqCst);
        self.keys.put(kid, key, expected).await
    }

    async fn shred(&self, kid: &KeyIdHash) -> Result<(), CryptoError> {
        self.keys.shred(kid).await
    }

    async fn list(&self) -> Result<Vec<KeyIdHash>, CryptoError> {
        self.keys.list().await
    }
}

#[tokio::test]
async fn a_rotation_that_fails_half_way_carries_on() {
    let keys = MemoryKeyStore::new();
    let flaky = Arc::new(Flaky {
        keys: keys.clone(),
        puts: AtomicUsize::new(usize::MAX),
    });
    let crypto = Crypto::with_key_cache(flaky.clone(), kek("kek-1", 1), 0, Duration::ZERO);
    let mut events = Vec::new();
    for customer in ["ann", "bob", "cid", "dan"] {
        events.push((customer, stored(&crypto, customer).await));
    }
    flaky.puts.store(2, Ordering::SeqCst);
    let err = crypto
        .rotate_kek(&kek("kek-2", 2))
        .await
        .expect_err("the store fails");
    assert!(matches!(err, CryptoError::Backend { .. }), "{err:?}");
    // Half the keys are under each KEK, and all still read.
    for (customer, payload) in &events {
        assert!(read(&crypto, customer, payload.clone()).await.is_ok());
    }
    // Another rotation first needs this one finished.
    assert!(matches!(
        crypto.rotate_kek(&kek("kek-3", 3)).await,
        Err(CryptoError::Invalid { .. })
    ));
    flaky.puts.store(usize::MAX, Ordering::SeqCst);
    let report = crypto.rotate_kek(&kek("kek-2", 2)).await.expect("carry on");
    assert_eq!(report.rewrapped, 2);
    let fresh = Crypto::new(keys, kek("kek-2", 2));
    for (customer, payload) in events {
        assert_eq!(
            read(&fresh, customer, payload).await.expect("read"),
            registered(customer)
        );
    }
}

#[tokio::test]
async fn another_process_recreating_a_key_is_seen_at_once() {
    let keys = MemoryKeyStore::new();
    let writer = Crypto::new(keys.clone(), kek("kek-1", 1));
    let old = stored(&writer, "ann").await;
    // One reader has cached the old key, another learns of the shred before the
    // re-creation; both with the default TTL.
    let cached_key = Crypto::new(keys.clone(), kek("kek-1", 1));
    assert!(read(&cached_key, "ann", old.clone()).await.is_ok());
    writer.shred("ann", &kek("kek-2", 2)).await.expect("shred");
    let cached_shred = Crypto::new(keys.clone(), kek("kek-2", 2));
    assert!(
        read(&cached_shred, "ann", old.clone())
            .await
            .expect("read")
            .email
            .is_shredded()
    );

    writer.recreate_key("ann").await.expect("recreate");
    let new = stored(&writer, "ann").await;
    cached_key.use_kek(&kek("kek-2", 2));
    for reader in [&cached_key, &cached_shred] {
        // A value under a key version the cache has not seen is looked up, never taken
        // for shredded...
        assert_eq!(
            read(reader, "ann", new.clone()).await.expect("read"),
            registered("ann")
        );
        // ...and the old one reads as shredded from then on.
        assert!(
            read(reader, "ann", old.clone())
                .await
                .expect("read")
                .email
                .is_shredded()
        );
    }
    // A cached shred does not block a write after the re-creation either.
    assert!(cached_shred.encryptor("ann").await.is_ok());
}
