//! [`Crypto`]: a key store and a KEK, with a bounded cache of data keys; it encrypts and
//! decrypts payloads and manages the keys (create, shred, rotate).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ipld_core::ipld::Ipld;

use super::encryptor::{Encryptor, Nonces};
use super::kek::{DataKey, VERSION_LEN};
use super::key_cache::Entry;
use super::node::{self, ENCRYPTED, Mark, Node, Place, SHREDDED, shredded_marker};
use super::walk::{self, marked, marks, rewrite};
use super::{CryptoError, Kek, KeyIdHash, KeyRecord, KeyStore};
use crate::cache::Lru;

/// How many unwrapped data keys a [`Crypto`] keeps by default.
pub const DEFAULT_KEY_CACHE: usize = 10_000;
/// How long a [`Crypto`] trusts a cached data key (or a cached shred) by default: the
/// longest another process's shred goes unnoticed here.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(60);
/// How many times a key write is retried after another writer changed the record.
pub(super) const WRITE_ATTEMPTS: usize = 5;

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
    pub(super) inner: Arc<Inner>,
    /// Whether a store encrypts every payload whole, not only its `Pii` values.
    whole: bool,
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn KeyStore>,
    keks: RwLock<Keks>,
    pub(super) cache: Mutex<Lru<KeyIdHash, Entry>>,
    pub(super) ttl: Duration,
    nonces: Nonces,
    /// How many shreds this handle has done: a state cached before a shred may hold the
    /// shredded plaintext, so caches compare this before serving.
    pub(super) shreds: std::sync::atomic::AtomicU64,
}

/// The KEKs a handle holds: the one it wraps with, and during a rotation the one it
/// replaces, to unwrap what is not re-wrapped yet.
pub(super) struct Keks {
    pub(super) current: Arc<Kek>,
    pub(super) retiring: Option<Arc<Kek>>,
}

impl Keks {
    /// The KEK named `id`, if held.
    pub(super) fn named(&self, id: &str) -> Option<Arc<Kek>> {
        std::iter::once(&self.current)
            .chain(self.retiring.as_ref())
            .find(|kek| kek.id() == id)
            .cloned()
    }
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
    pub fn with_fixed_nonce(
        store: impl KeyStore,
        kek: Kek,
        nonce: [u8; super::kek::NONCE_LEN],
    ) -> Crypto {
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
                shreds: std::sync::atomic::AtomicU64::new(0),
            }),
            whole: false,
        }
    }

    /// The same handle, for a store that encrypts every payload whole: an event's payload
    /// becomes one encrypted node under its data subject's key, so that nothing of it is
    /// readable without the key (metadata, subjects and sizes still are; see
    /// `docs/encryption.md`). After a shred such an event no longer decodes: it reads as
    /// [`CryptoError::Shredded`].
    pub fn whole_payloads(mut self) -> Crypto {
        self.whole = true;
        self
    }

    /// Whether [`whole_payloads`](Self::whole_payloads) is on.
    pub fn encrypts_whole_payloads(&self) -> bool {
        self.whole
    }

    /// How long a data key is cached: how long a shred made by another process may go
    /// unnoticed by this one.
    pub fn key_cache_ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How many shreds this handle has done (see `Inner::shreds`).
    pub(crate) fn shred_epoch(&self) -> u64 {
        self.inner.shreds.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the data key `kid` was shredded, as the key store says now.
    pub async fn is_shredded(&self, kid: &KeyIdHash) -> Result<bool, CryptoError> {
        Ok(matches!(
            self.inner.store.get(kid).await?,
            KeyRecord::Shredded { .. }
        ))
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
        Ok(self.open_payload(payload, place).await?.0)
    }

    /// [`decrypt_payload`](Self::decrypt_payload), with the data keys (as
    /// [`key_versions_of`] names them) of the values that decrypted: the keys whose
    /// plaintext the caller now holds. Values that read as shredded name none.
    pub(crate) async fn open_payload(
        &self,
        payload: Ipld,
        place: &Place<'_>,
    ) -> Result<(Ipld, BTreeSet<String>), CryptoError> {
        let mut versions = BTreeMap::new();
        collect_versions(&payload, &mut versions, 0);
        let mut used = BTreeSet::new();
        if versions.is_empty() {
            return Ok((payload, used));
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
                            Some(key) => {
                                used.insert(key_version_name(&node.kid, &node.key));
                                node::open(key, &node, place, path)
                            }
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
        .map(|opened| (opened, used))
    }

    /// Whether the data key named `name` (`{kid}:{version}`, as [`key_versions_of`]
    /// names it) is still the live key of its key id: `false` once it is shredded, also
    /// when the key id was re-created since. Answered from the key cache within its TTL.
    pub(crate) async fn holds_key(&self, name: &str) -> Result<bool, CryptoError> {
        Ok(self.live_key(name).await?.is_some())
    }

    /// The data key named `name` (`{kid}:{version}`) with its key id, if it is still the
    /// live key of its key id.
    pub(super) async fn live_key(
        &self,
        name: &str,
    ) -> Result<Option<(KeyIdHash, Arc<DataKey>)>, CryptoError> {
        let invalid = || CryptoError::Invalid {
            what: "data key name",
            problem: format!("`{name}` is not `{{kid}}:{{version}}`"),
        };
        let (kid, version) = name.split_once(':').ok_or_else(invalid)?;
        let kid = KeyIdHash::parse(kid)?;
        let version = parse_version(version).ok_or_else(invalid)?;
        let entry = self
            .entry_for_reading(&kid, &BTreeSet::from([version]))
            .await?;
        let key = entry.and_then(|entry| entry.key_for(&version).cloned());
        Ok(key.map(|key| (kid, key)))
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

    pub(super) fn current_kek(&self) -> Arc<Kek> {
        self.keks().current.clone()
    }

    pub(super) fn keks(&self) -> std::sync::RwLockReadGuard<'_, Keks> {
        self.inner
            .keks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn keks_mut(&self) -> std::sync::RwLockWriteGuard<'_, Keks> {
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
pub(super) fn kid_of(key_id: &str) -> Result<KeyIdHash, CryptoError> {
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
/// The data keys a stored payload's encrypted values are under, each named
/// `{kid}:{version}` (the key id's hash and the data key's version, in hex): what a
/// snapshot or a cached state records, so that it is refused once that key is destroyed,
/// even if its key id is re-created.
pub(crate) fn key_versions_of(payload: &Ipld) -> Vec<String> {
    let mut versions = BTreeMap::new();
    collect_versions(payload, &mut versions, 0);
    versions
        .into_iter()
        .flat_map(|(kid, versions)| {
            versions
                .into_iter()
                .map(move |version| key_version_name(&kid, &version))
        })
        .collect()
}

fn key_version_name(kid: &KeyIdHash, version: &[u8; VERSION_LEN]) -> String {
    format!("{kid}:{}", super::key_id::hex(version))
}

fn parse_version(text: &str) -> Option<[u8; VERSION_LEN]> {
    let mut version = [0; VERSION_LEN];
    if text.len() != 2 * VERSION_LEN {
        return None;
    }
    for (byte, pair) in version.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(version)
}

/// The data keys a stored payload's encrypted values are under.
pub(crate) fn kids_of(payload: &Ipld) -> Vec<KeyIdHash> {
    let mut versions = BTreeMap::new();
    collect_versions(payload, &mut versions, 0);
    versions.into_keys().collect()
}

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
