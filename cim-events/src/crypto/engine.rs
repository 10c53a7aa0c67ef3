//! [`Crypto`]: a key store and a KEK, with a bounded cache of data keys; it encrypts and
//! decrypts payloads and manages the keys (create, shred, rotate).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use ipld_core::ipld::Ipld;

use super::kek::{DataKey, NONCE_LEN, VERSION_LEN, random};
use super::node::{self, ENCRYPTED, Mark, Node, Place, SHREDDED, shredded_marker};
use super::walk::{self, marked, marks, rewrite, stray_node, strip};
use super::{CryptoError, Kek, KeyIdHash, KeyRecord, KeyStore};
use crate::cache::Lru;

/// How many unwrapped data keys a [`Crypto`] keeps by default.
pub const DEFAULT_KEY_CACHE: usize = 10_000;
/// How long a [`Crypto`] trusts a cached data key (or a cached shred) by default: the
/// longest another process's shred goes unnoticed here.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(60);
/// How many key records a rotation re-wraps at once.
const REWRAP_CONCURRENCY: usize = 16;
/// How many times a key write is retried after another writer changed the record.
const WRITE_ATTEMPTS: usize = 5;

/// Encrypts and decrypts payloads: a [`KeyStore`] of wrapped data keys, the [`Kek`] that
/// unwraps them, and a bounded cache of unwrapped data keys. Clones share all three.
///
/// - [`encrypt_payload`](Self::encrypt_payload) replaces each [`Pii`](crate::Pii) value of
///   a payload with an encrypted node under the data key of a key id (created on first
///   use); [`encrypt_whole_payload`](Self::encrypt_whole_payload) makes the whole payload
///   one node. Run it once, when an event is prepared: the random nonce is chosen here, so
///   sealing the result again gives the same CID.
/// - [`decrypt_payload`](Self::decrypt_payload) puts the plaintext back, or the shredded
///   marker (which reads as [`Pii::Shredded`](crate::Pii::Shredded)) where the key was
///   shredded.
/// - [`shred`](Self::shred) destroys a key id's data key and rotates the KEK;
///   [`rotate_kek`](Self::rotate_kek) rotates it alone. Neither touches an event.
///
/// ```
/// use cim_events::crypto::{Crypto, Kek, MemoryKeyStore, Place};
/// use cim_events::{Pii, payload::{from_ipld, to_ipld}};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Registered { customer: String, email: Pii<String> }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
/// let event = Registered { customer: "c-7".into(), email: Pii::Clear("ann@example.com".into()) };
/// let place = Place::new("Customer", "c-7", "Registered", "0190f1b2-7c1a-7d4e-8f00-000000000001");
///
/// let stored = crypto.encrypt_payload(to_ipld(&event)?, &place, "c-7").await?;
/// assert!(!format!("{stored:?}").contains("ann@example.com"));
///
/// let read = crypto.decrypt_payload(stored.clone(), &place).await?;
/// assert_eq!(from_ipld::<Registered>(read)?, event);
///
/// // Shredding destroys the key (and rotates the KEK): the field reads as shredded.
/// crypto.shred("c-7", &Kek::generate("kek-2")?).await?;
/// let read: Registered = from_ipld(crypto.decrypt_payload(stored, &place).await?)?;
/// assert_eq!(read.email, Pii::Shredded);
/// assert_eq!(read.customer, "c-7");
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Crypto {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    keks: RwLock<Keks>,
    cache: Mutex<Lru<KeyIdHash, Entry>>,
    ttl: Duration,
    nonces: Nonces,
}

/// The KEKs a handle holds: the one it wraps with, and during a rotation the one it
/// replaces, to unwrap what is not re-wrapped yet.
struct Keks {
    current: Arc<Kek>,
    retiring: Option<Arc<Kek>>,
}

impl Keks {
    /// The KEK named `id`, if held.
    fn named(&self, id: &str) -> Option<Arc<Kek>> {
        std::iter::once(&self.current)
            .chain(self.retiring.as_ref())
            .find(|kek| kek.id() == id)
            .cloned()
    }
}

/// What a handle knows of a key id: its data key (`None`: shredded), the versions of its
/// data keys known to be destroyed (so that old values read as shredded without asking
/// the key store each time, and new ones are never taken for old), and when the key store
/// was read.
#[derive(Clone)]
struct Entry {
    key: Option<Arc<DataKey>>,
    dead: Vec<[u8; VERSION_LEN]>,
    read_at: Instant,
}

/// The most destroyed versions remembered per key id.
const DEAD_VERSIONS: usize = 8;

impl Entry {
    /// Whether a value under data key `version` can be told readable or shredded from
    /// this entry alone.
    fn knows(&self, version: &[u8; VERSION_LEN]) -> bool {
        self.key_for(version).is_some() || self.dead.contains(version)
    }

    /// The data key of `version`, if it is the live one.
    fn key_for(&self, version: &[u8; VERSION_LEN]) -> Option<&Arc<DataKey>> {
        self.key.as_ref().filter(|key| key.version() == *version)
    }

    /// Records that `version` is not (or no longer) a live key of this key id.
    fn bury(&mut self, version: [u8; VERSION_LEN]) {
        if self.key_for(&version).is_none() && !self.dead.contains(&version) {
            if self.dead.len() >= DEAD_VERSIONS {
                self.dead.remove(0);
            }
            self.dead.push(version);
        }
    }
}

/// Where nonces come from.
#[derive(Debug, Clone, Copy)]
enum Nonces {
    /// The operating system's random number generator: the only safe source.
    Random,
    /// A fixed nonce, for golden tests: the `n`-th value of one payload gets it with `n`
    /// added to its last 8 bytes (little-endian).
    #[cfg(any(test, feature = "test-util"))]
    Fixed([u8; NONCE_LEN]),
}

impl Nonces {
    fn nonce(self, n: u64) -> Result<[u8; NONCE_LEN], CryptoError> {
        match self {
            Nonces::Random => {
                let _ = n;
                random()
            }
            #[cfg(any(test, feature = "test-util"))]
            Nonces::Fixed(mut nonce) => {
                let mut tail = [0; 8];
                tail.copy_from_slice(&nonce[NONCE_LEN - 8..]);
                let tail = u64::from_le_bytes(tail).wrapping_add(n);
                nonce[NONCE_LEN - 8..].copy_from_slice(&tail.to_le_bytes());
                Ok(nonce)
            }
        }
    }
}

/// What a KEK rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// The KEK every data key is now wrapped under: the one to keep.
    pub kek_id: String,
    /// How many data keys were re-wrapped.
    pub rewrapped: usize,
}

/// What a shred did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShredReport {
    /// The key id hashes whose data keys were destroyed.
    pub kids: Vec<KeyIdHash>,
    /// The KEK every other data key is now wrapped under: the one to keep. The previous
    /// KEK must be destroyed wherever it is kept.
    pub kek_id: String,
    /// How many other data keys were re-wrapped.
    pub rewrapped: usize,
}

/// The state of a key id in the key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Never created.
    Absent,
    /// It has a data key.
    Live,
    /// Shredded (a tombstone).
    Shredded,
}

impl Crypto {
    /// A handle on `store` with `kek`, caching up to [`DEFAULT_KEY_CACHE`] data keys for
    /// [`DEFAULT_KEY_CACHE_TTL`].
    pub fn new(store: impl KeyStore, kek: Kek) -> Crypto {
        Crypto::build(
            Arc::new(store),
            kek,
            DEFAULT_KEY_CACHE,
            DEFAULT_KEY_CACHE_TTL,
            Nonces::Random,
        )
    }

    /// A handle on `store` with `kek`, caching up to `capacity` data keys (0: none) for
    /// `ttl` each. The TTL bounds how long a shred made by another process goes unnoticed
    /// by this one (a shred made through this handle, or a clone, applies at once).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cim_events::crypto::{Crypto, Kek, MemoryKeyStore};
    /// let crypto = Crypto::with_key_cache(MemoryKeyStore::new(), Kek::generate("kek-1")?, 1000, Duration::from_secs(5));
    /// # let _ = crypto;
    /// # Ok::<(), cim_events::crypto::CryptoError>(())
    /// ```
    pub fn with_key_cache(
        store: impl KeyStore,
        kek: Kek,
        capacity: usize,
        ttl: Duration,
    ) -> Crypto {
        Crypto::build(Arc::new(store), kek, capacity, ttl, Nonces::Random)
    }

    /// **Tests only** (feature `test-util`): a handle whose nonces are fixed, so that an
    /// encrypted payload is the same bytes on every run. The `n`-th value encrypted by one
    /// call gets `nonce` with `n` added to its last 8 bytes (little-endian). Reusing a
    /// nonce under one key breaks the cipher: never use this outside a golden test.
    #[cfg(any(test, feature = "test-util"))]
    pub fn with_fixed_nonce(store: impl KeyStore, kek: Kek, nonce: [u8; NONCE_LEN]) -> Crypto {
        Crypto::build(
            Arc::new(store),
            kek,
            DEFAULT_KEY_CACHE,
            DEFAULT_KEY_CACHE_TTL,
            Nonces::Fixed(nonce),
        )
    }

    /// **Tests only** (feature `test-util`): creates the data key of `key_id` with the
    /// given bytes instead of random ones, for golden tests. Fails with
    /// [`CryptoError::Conflict`] if the key id has a record already.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn create_key_from_bytes(
        &self,
        key_id: &str,
        bytes: [u8; 32],
    ) -> Result<KeyIdHash, CryptoError> {
        let kid = kid_of(key_id)?;
        let key = DataKey::from_bytes(bytes);
        let wrapped = self.current_kek().wrap(&kid, &key)?;
        self.inner.store.put(&kid, &wrapped, None).await?;
        self.cache_put(&kid, Some(Arc::new(key)));
        Ok(kid)
    }

    fn build(
        store: Arc<dyn KeyStore>,
        kek: Kek,
        capacity: usize,
        ttl: Duration,
        nonces: Nonces,
    ) -> Crypto {
        Crypto {
            inner: Arc::new(Inner {
                store,
                keks: RwLock::new(Keks {
                    current: Arc::new(kek),
                    retiring: None,
                }),
                cache: Mutex::new(Lru::new(capacity)),
                ttl,
                nonces,
            }),
        }
    }

    /// The id of the KEK new data keys are wrapped under.
    pub fn kek_id(&self) -> String {
        self.current_kek().id().to_owned()
    }

    /// Switches this handle (and its clones) to `kek`, which another process rotated to,
    /// without re-wrapping anything. Data keys already cached stay usable.
    pub fn use_kek(&self, kek: &Kek) {
        let mut keks = self.keks_mut();
        keks.current = Arc::new(kek.duplicate());
        keks.retiring = None;
    }

    /// Drops what this handle caches about `kid`, so that the next use reads the key
    /// store: for a process told that another one shredded or re-created the key.
    pub fn forget(&self, kid: &KeyIdHash) {
        self.cache().remove(kid);
    }

    /// An [`Encryptor`] for `key_id`'s data key, creating the key if it does not exist
    /// yet: for code that encrypts without awaiting, such as preparing events. Fails with
    /// [`CryptoError::Shredded`] if the key id was shredded.
    pub async fn encryptor(&self, key_id: &str) -> Result<Encryptor, CryptoError> {
        let kid = kid_of(key_id)?;
        let key = self.key_for_writing(&kid).await?;
        Ok(Encryptor {
            kid,
            key,
            nonces: self.inner.nonces,
        })
    }

    /// Replaces every [`Pii`](crate::Pii) value of `payload` with its encrypted node, under
    /// the data key of `key_id` (created on first use), bound to `place` and to the value's
    /// path. A payload with no `Pii` value is returned as it is, without touching the key
    /// store.
    ///
    /// Fails with [`CryptoError::Shredded`] if `key_id` was shredded and not re-created,
    /// and with [`CryptoError::Malformed`] if the payload already holds an encrypted node.
    pub async fn encrypt_payload(
        &self,
        payload: Ipld,
        place: &Place<'_>,
        key_id: &str,
    ) -> Result<Ipld, CryptoError> {
        if marks(&payload).pii == 0 {
            // Still refuse what encryption would refuse.
            return Encryptor::check_plain(payload);
        }
        self.encryptor(key_id)
            .await?
            .encrypt_payload(payload, place)
    }

    /// Encrypts the whole of `payload` (its `Pii` values included) as one node under the
    /// data key of `key_id`: the stored payload is `{"/cim-enc": {…}}` and reveals nothing
    /// but its size. After a shred the whole payload reads as the shredded marker.
    pub async fn encrypt_whole_payload(
        &self,
        payload: Ipld,
        place: &Place<'_>,
        key_id: &str,
    ) -> Result<Ipld, CryptoError> {
        self.encryptor(key_id)
            .await?
            .encrypt_whole_payload(payload, place)
    }

    /// Replaces every encrypted node of `payload` (read at `place`) with its plaintext, or
    /// with the shredded marker `{"/cim-shredded": null}` where its data key was shredded
    /// (or replaced by a re-creation). A payload with no encrypted node is returned as it
    /// is, without touching the key store.
    ///
    /// Errors: [`CryptoError::UnknownKey`] for a key id the store never held,
    /// [`CryptoError::WrongKek`] when the data key does not unwrap with this handle's KEK,
    /// [`CryptoError::Misplaced`] for a node written for another event or field,
    /// [`CryptoError::Tampered`] for a damaged node.
    pub async fn decrypt_payload(
        &self,
        payload: Ipld,
        place: &Place<'_>,
    ) -> Result<Ipld, CryptoError> {
        let mut versions = BTreeMap::new();
        collect_versions(&payload, &mut versions, 0);
        if versions.is_empty() {
            return Ok(payload);
        }
        let mut keys = BTreeMap::new();
        for (kid, versions) in versions {
            keys.insert(kid.clone(), self.entry_for_reading(&kid, &versions).await?);
        }
        rewrite(
            payload,
            &mut Vec::new(),
            0,
            &mut |path, _, mark, content| match mark {
                Mark::Encrypted => {
                    let node = Node::parse(&content, path)?;
                    match keys.get(&node.kid) {
                        Some(Some(entry)) => match entry.key_for(&node.key) {
                            Some(key) => node::open(key, &node, place, path),
                            // Shredded, or a key created after this one was shredded.
                            None => Ok(shredded_marker()),
                        },
                        Some(None) | None => Err(CryptoError::UnknownKey {
                            kid: node.kid,
                            path: node::render(path),
                        }),
                    }
                }
                Mark::Pii => Ok(walk::pii(content)),
                Mark::Shredded => Ok(marked(SHREDDED, content)),
            },
        )
    }

    /// Creates the data key of `key_id` if it has none; returns its hash. Encrypting
    /// creates keys on first use, so this is only needed to create one ahead. Fails with
    /// [`CryptoError::Shredded`] if the key id was shredded.
    pub async fn create_key(&self, key_id: &str) -> Result<KeyIdHash, CryptoError> {
        let kid = kid_of(key_id)?;
        self.key_for_writing(&kid).await?;
        Ok(kid)
    }

    /// Creates a new data key for a shredded `key_id`, replacing its tombstone: the
    /// explicit step that allows writing the subject's data again (for example when the
    /// same customer comes back). Data encrypted before the shred stays unreadable: it
    /// names the destroyed key's version, and reads as shredded. A key id that is live
    /// keeps its key; an absent one gets its first.
    pub async fn recreate_key(&self, key_id: &str) -> Result<KeyIdHash, CryptoError> {
        let kid = kid_of(key_id)?;
        for _ in 0..WRITE_ATTEMPTS {
            let expected = match self.inner.store.get(&kid).await? {
                KeyRecord::Live { .. } => {
                    self.forget(&kid);
                    self.key_for_writing(&kid).await?;
                    return Ok(kid);
                }
                KeyRecord::Shredded { revision } => Some(revision),
                KeyRecord::Absent => None,
            };
            let key = DataKey::generate()?;
            let wrapped = self.current_kek().wrap(&kid, &key)?;
            match self.inner.store.put(&kid, &wrapped, expected).await {
                Ok(_) => {
                    self.cache_put(&kid, Some(Arc::new(key)));
                    return Ok(kid);
                }
                Err(CryptoError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CryptoError::Conflict { kid })
    }

    /// Whether `key_id` has a data key, was shredded, or was never created, as the key
    /// store says now.
    pub async fn key_state(&self, key_id: &str) -> Result<KeyState, CryptoError> {
        let kid = kid_of(key_id)?;
        Ok(match self.inner.store.get(&kid).await? {
            KeyRecord::Absent => KeyState::Absent,
            KeyRecord::Live { .. } => KeyState::Live,
            KeyRecord::Shredded { .. } => KeyState::Shredded,
        })
    }

    /// Shreds `key_id`: destroys its data key in the key store (keeping no revision of it)
    /// and leaves a tombstone, so that nothing is encrypted under it again until
    /// [`recreate_key`](Self::recreate_key); and rotates the KEK to `next_kek`, because the
    /// store's delete is not erasure (see `cim-events/docs/encryption.md`): every other data key is
    /// re-wrapped under `next_kek`, and this handle drops the previous KEK.
    ///
    /// `next_kek` must have a new id. Store it before calling, and destroy the previous KEK
    /// wherever it is kept once this returns: a leftover copy of the wrapped key plus the
    /// previous KEK would recover the data.
    ///
    /// On an error, call `shred` again with the same `next_kek`: it carries on where it
    /// stopped (keys already re-wrapped are skipped), and reads keep working meanwhile.
    ///
    /// ```
    /// use cim_events::crypto::{Crypto, CryptoError, Kek, KeyState, MemoryKeyStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
    /// crypto.create_key("ann@example.com").await?;
    /// crypto.create_key("bob@example.com").await?;
    /// let next = Kek::generate("kek-2")?; // store it first
    /// let report = crypto.shred("ann@example.com", &next).await?;
    /// assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 1));
    /// assert_eq!(crypto.key_state("ann@example.com").await?, KeyState::Shredded);
    /// assert!(matches!(crypto.create_key("ann@example.com").await, Err(CryptoError::Shredded { .. })));
    /// # Ok::<(), CryptoError>(()) }).unwrap();
    /// ```
    pub async fn shred(&self, key_id: &str, next_kek: &Kek) -> Result<ShredReport, CryptoError> {
        self.shred_many(&[key_id], next_kek).await
    }

    /// Shreds several key ids with one KEK rotation: what [`shred`](Self::shred) does for
    /// each, at the cost of one. Erasure requests that can wait a little are cheaper
    /// gathered and shredded together.
    ///
    /// ```
    /// use cim_events::crypto::{Crypto, Kek, KeyIdHash, MemoryKeyStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
    /// for customer in ["c-1", "c-2", "c-3"] {
    ///     crypto.create_key(customer).await?;
    /// }
    /// let report = crypto.shred_many(&["c-1", "c-2"], &Kek::generate("kek-2")?).await?;
    /// assert_eq!(report.kids, [KeyIdHash::of("c-1"), KeyIdHash::of("c-2")]);
    /// assert_eq!(report.rewrapped, 1);
    /// # Ok::<(), cim_events::crypto::CryptoError>(()) }).unwrap();
    /// ```
    pub async fn shred_many(
        &self,
        key_ids: &[&str],
        next_kek: &Kek,
    ) -> Result<ShredReport, CryptoError> {
        let kids = key_ids
            .iter()
            .map(|key_id| kid_of(key_id))
            .collect::<Result<Vec<_>, _>>()?;
        self.begin_rotation(next_kek)?;
        let mut rewrapped = self.rewrap_all(&kids).await?;
        for kid in &kids {
            self.inner.store.shred(kid).await?;
            self.cache_put(kid, None);
        }
        // Keys another process created under the previous KEK meanwhile.
        rewrapped += self.rewrap_all(&kids).await?;
        let kek_id = self.finish_rotation();
        Ok(ShredReport {
            kids,
            kek_id,
            rewrapped,
        })
    }

    /// Rotates the KEK to `next`: re-wraps every data key under it, then drops the previous
    /// one. Events are not touched: their data keys stay the same. `next` must have a new
    /// id; after an error, call `rotate_kek` again with the same `next` to carry on.
    ///
    /// Every process that creates keys must switch to `next` ([`use_kek`](Self::use_kek),
    /// or a new handle): a key created under the previous KEK after the rotation cannot be
    /// read once that KEK is destroyed.
    ///
    /// ```
    /// use cim_events::crypto::{Crypto, Kek, MemoryKeyStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
    /// crypto.create_key("customer-7").await?;
    /// let report = crypto.rotate_kek(&Kek::generate("kek-2")?).await?;
    /// assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 1));
    /// assert_eq!(crypto.kek_id(), "kek-2");
    /// # Ok::<(), cim_events::crypto::CryptoError>(()) }).unwrap();
    /// ```
    pub async fn rotate_kek(&self, next: &Kek) -> Result<RotationReport, CryptoError> {
        self.begin_rotation(next)?;
        let rewrapped = self.rewrap_all(&[]).await?;
        let kek_id = self.finish_rotation();
        Ok(RotationReport { kek_id, rewrapped })
    }

    /// Makes `next` the KEK new keys are wrapped under, keeping the current one to unwrap
    /// keys not re-wrapped yet. Resuming a rotation to `next` (it is current already, and
    /// the previous one still held) is allowed; any other KEK must have a new id.
    fn begin_rotation(&self, next: &Kek) -> Result<(), CryptoError> {
        let mut keks = self.keks_mut();
        if keks.current.id() == next.id() {
            if keks.current.secret_bytes() != next.secret_bytes() {
                return Err(CryptoError::Invalid {
                    what: "next KEK",
                    problem: format!(
                        "it has the id `{}` of the KEK held, with other bytes",
                        next.id()
                    ),
                });
            }
            if keks.retiring.is_some() {
                return Ok(());
            }
            return Err(CryptoError::Invalid {
                what: "next KEK",
                problem: format!(
                    "it is the KEK held (`{}`): a rotation needs a KEK with a new id",
                    next.id()
                ),
            });
        }
        if keks.retiring.is_some() {
            return Err(CryptoError::Invalid {
                what: "next KEK",
                problem: format!(
                    "a rotation to `{}` did not finish: call it again with that KEK first",
                    keks.current.id()
                ),
            });
        }
        let previous = std::mem::replace(&mut keks.current, Arc::new(next.duplicate()));
        keks.retiring = Some(previous);
        Ok(())
    }

    /// Drops the previous KEK: every key is wrapped under the current one. Returns its id.
    fn finish_rotation(&self) -> String {
        let mut keks = self.keks_mut();
        keks.retiring = None;
        keks.current.id().to_owned()
    }

    /// Re-wraps under the current KEK every live key that is not, except those in `skip`.
    async fn rewrap_all(&self, skip: &[KeyIdHash]) -> Result<usize, CryptoError> {
        let skip: std::collections::HashSet<&KeyIdHash> = skip.iter().collect();
        let kids = self.inner.store.list().await?;
        let counts: Vec<bool> = futures::stream::iter(
            kids.into_iter()
                .filter(|kid| !skip.contains(kid))
                .map(|kid| async move { self.rewrap(&kid).await }),
        )
        .buffer_unordered(REWRAP_CONCURRENCY)
        .try_collect()
        .await?;
        Ok(counts.into_iter().filter(|&done| done).count())
    }

    /// Re-wraps `kid`'s data key under the current KEK if it is not already; `true` if it
    /// was re-wrapped now.
    async fn rewrap(&self, kid: &KeyIdHash) -> Result<bool, CryptoError> {
        for _ in 0..WRITE_ATTEMPTS {
            let KeyRecord::Live { key, revision } = self.inner.store.get(kid).await? else {
                return Ok(false);
            };
            let (current, unwrapping) = {
                let keks = self.keks();
                (keks.current.clone(), keks.named(key.kek_id()))
            };
            if key.kek_id() == current.id() {
                return Ok(false);
            }
            let Some(unwrapping) = unwrapping else {
                return Err(CryptoError::WrongKek {
                    kid: kid.clone(),
                    wrapped_with: key.kek_id().to_owned(),
                    held: current.id().to_owned(),
                });
            };
            let data_key = unwrapping.unwrap(kid, &key)?;
            let wrapped = current.wrap(kid, &data_key)?;
            match self.inner.store.put(kid, &wrapped, Some(revision)).await {
                Ok(_) => return Ok(true),
                Err(CryptoError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CryptoError::Conflict { kid: kid.clone() })
    }

    /// The data key to encrypt under for `kid`, created if absent.
    async fn key_for_writing(&self, kid: &KeyIdHash) -> Result<Arc<DataKey>, CryptoError> {
        for _ in 0..WRITE_ATTEMPTS {
            // A cached shred is read again: another process may have re-created the key
            // since, and a write is worth one read to be sure.
            let entry = match self.cached(kid) {
                Some(entry) if entry.key.is_some() => Some(entry),
                _ => self.look_up(kid).await?,
            };
            match entry {
                Some(Entry { key: Some(key), .. }) => return Ok(key),
                Some(Entry { key: None, .. }) => {
                    return Err(CryptoError::Shredded { kid: kid.clone() });
                }
                None => {}
            }
            let key = DataKey::generate()?;
            let wrapped = self.current_kek().wrap(kid, &key)?;
            match self.inner.store.put(kid, &wrapped, None).await {
                Ok(_) => {
                    let key = Arc::new(key);
                    self.cache_put(kid, Some(key.clone()));
                    return Ok(key);
                }
                // Created (or shredded) by another writer meanwhile: use theirs.
                Err(CryptoError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CryptoError::Conflict { kid: kid.clone() })
    }

    /// What is known of `kid` for reading values under data keys `versions`: the cache's
    /// entry if it can tell each version live or destroyed, else a fresh one from the key
    /// store (a value under a version it has never seen may be new, written after another
    /// process re-created the key). `None`: the key store never held the key id.
    async fn entry_for_reading(
        &self,
        kid: &KeyIdHash,
        versions: &BTreeSet<[u8; VERSION_LEN]>,
    ) -> Result<Option<Entry>, CryptoError> {
        if let Some(entry) = self.cached(kid) {
            if versions.iter().all(|v| entry.knows(v)) {
                return Ok(Some(entry));
            }
        }
        let mut entry = self.look_up(kid).await?;
        if let Some(entry) = &mut entry {
            // The key store has no other key: every other version is destroyed.
            versions.iter().for_each(|v| entry.bury(*v));
            self.cache().insert(kid.clone(), entry.clone());
        }
        Ok(entry)
    }

    /// What the key store holds for `kid` now (`None`: nothing), read from it and cached.
    async fn look_up(&self, kid: &KeyIdHash) -> Result<Option<Entry>, CryptoError> {
        let key = match self.inner.store.get(kid).await? {
            KeyRecord::Absent => return Ok(None),
            KeyRecord::Shredded { .. } => None,
            KeyRecord::Live { key, .. } => {
                let kek = {
                    let keks = self.keks();
                    keks.named(key.kek_id())
                        .ok_or_else(|| CryptoError::WrongKek {
                            kid: kid.clone(),
                            wrapped_with: key.kek_id().to_owned(),
                            held: keks.current.id().to_owned(),
                        })?
                };
                Some(Arc::new(kek.unwrap(kid, &key)?))
            }
        };
        Ok(Some(self.cache_put(kid, key)))
    }

    /// The cached entry of `kid`, unless it is older than the TTL.
    fn cached(&self, kid: &KeyIdHash) -> Option<Entry> {
        let mut cache = self.cache();
        let entry = cache.get(kid)?.clone();
        if entry.read_at.elapsed() < self.inner.ttl {
            Some(entry)
        } else {
            cache.remove(kid);
            None
        }
    }

    /// Caches what the key store holds for `kid` now (`None`: shredded), keeping the
    /// destroyed versions known so far and adding the key it replaces. Returns the entry.
    fn cache_put(&self, kid: &KeyIdHash, key: Option<Arc<DataKey>>) -> Entry {
        let mut cache = self.cache();
        let mut entry = Entry {
            key,
            dead: Vec::new(),
            read_at: Instant::now(),
        };
        if let Some(previous) = cache.get(kid) {
            for version in previous
                .dead
                .iter()
                .copied()
                .chain(previous.key.as_ref().map(|k| k.version()))
            {
                entry.bury(version);
            }
        }
        cache.insert(kid.clone(), entry.clone());
        entry
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Lru<KeyIdHash, Entry>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current_kek(&self) -> Arc<Kek> {
        self.keks().current.clone()
    }

    fn keks(&self) -> std::sync::RwLockReadGuard<'_, Keks> {
        self.inner
            .keks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keks_mut(&self) -> std::sync::RwLockWriteGuard<'_, Keks> {
        self.inner
            .keks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keks = self.keks();
        f.debug_struct("Crypto")
            .field("kek_id", &keks.current.id())
            .field("retiring_kek_id", &keks.retiring.as_ref().map(|k| k.id()))
            .field("cached_keys", &self.cache().len())
            .finish_non_exhaustive()
    }
}

/// The hash of a key id, refusing an empty one.
fn kid_of(key_id: &str) -> Result<KeyIdHash, CryptoError> {
    if key_id.is_empty() {
        return Err(CryptoError::Invalid {
            what: "key id",
            problem: "it is empty".to_owned(),
        });
    }
    Ok(KeyIdHash::of(key_id))
}

/// The key ids of the encrypted nodes of a payload, each with the data key versions its
/// values name (best effort: a node that cannot be read is reported when it is decrypted).
fn collect_versions(
    value: &Ipld,
    out: &mut BTreeMap<KeyIdHash, BTreeSet<[u8; VERSION_LEN]>>,
    level: usize,
) {
    if level > crate::payload::MAX_DEPTH {
        return;
    }
    match value {
        Ipld::Map(map) => match node::mark_of(map) {
            Some(Mark::Encrypted) => {
                if let Some(Ipld::Map(content)) = map.get(ENCRYPTED) {
                    let kid = match content.get("kid") {
                        Some(Ipld::String(kid)) => KeyIdHash::parse(kid).ok(),
                        _ => None,
                    };
                    let version = match content.get("key") {
                        Some(Ipld::Bytes(v)) => <[u8; VERSION_LEN]>::try_from(v.as_slice()).ok(),
                        _ => None,
                    };
                    if let (Some(kid), Some(version)) = (kid, version) {
                        out.entry(kid).or_default().insert(version);
                    }
                }
            }
            Some(_) => {}
            None => map
                .values()
                .for_each(|v| collect_versions(v, out, level + 1)),
        },
        Ipld::List(items) => items
            .iter()
            .for_each(|v| collect_versions(v, out, level + 1)),
        _ => {}
    }
}

/// One key id's data key, ready to encrypt without awaiting: from
/// [`Crypto::encryptor`]. It holds the unwrapped key; drop it when done.
///
/// ```
/// use cim_events::crypto::{Crypto, Kek, MemoryKeyStore, Place};
/// use cim_events::{Pii, payload::to_ipld};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let crypto = Crypto::new(MemoryKeyStore::new(), Kek::generate("kek-1")?);
/// let encryptor = crypto.encryptor("c-7").await?;
/// let place = Place::new("Customer", "c-7", "Renamed", "0190f1b2-7c1a-7d4e-8f00-000000000002");
/// let stored = encryptor.encrypt_payload(to_ipld(&Pii::Clear("Ann"))?, &place)?;
/// assert_eq!(cim_events::crypto::marks(&stored).encrypted, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Encryptor {
    kid: KeyIdHash,
    key: Arc<DataKey>,
    nonces: Nonces,
}

impl Encryptor {
    /// The key id hash it encrypts under.
    pub fn kid(&self) -> &KeyIdHash {
        &self.kid
    }

    /// [`Crypto::encrypt_payload`], with this key.
    pub fn encrypt_payload(&self, payload: Ipld, place: &Place<'_>) -> Result<Ipld, CryptoError> {
        let mut n = 0;
        rewrite(
            payload,
            &mut Vec::new(),
            0,
            &mut |path, level, mark, content| match mark {
                Mark::Pii => {
                    let value = strip(content, &mut path.to_vec(), level)?;
                    let nonce = self.nonces.nonce(n)?;
                    n += 1;
                    node::seal(&self.key, &self.kid, place, path, nonce, &value)
                }
                Mark::Shredded => Ok(marked(SHREDDED, content)),
                Mark::Encrypted => Err(stray_node(path)),
            },
        )
    }

    /// [`Crypto::encrypt_whole_payload`], with this key.
    pub fn encrypt_whole_payload(
        &self,
        payload: Ipld,
        place: &Place<'_>,
    ) -> Result<Ipld, CryptoError> {
        let value = strip(payload, &mut Vec::new(), 0)?;
        node::seal(
            &self.key,
            &self.kid,
            place,
            &[],
            self.nonces.nonce(0)?,
            &value,
        )
    }

    /// A payload with no `Pii` value, checked for encrypted nodes it should not hold.
    fn check_plain(payload: Ipld) -> Result<Ipld, CryptoError> {
        if marks(&payload).encrypted == 0 {
            return Ok(payload);
        }
        rewrite(
            payload,
            &mut Vec::new(),
            0,
            &mut |path, _, mark, content| match mark {
                Mark::Encrypted => Err(stray_node(path)),
                Mark::Shredded => Ok(marked(SHREDDED, content)),
                Mark::Pii => Ok(walk::pii(content)),
            },
        )
    }
}

impl fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryptor")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
