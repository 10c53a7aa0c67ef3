//! KEK rotation and shredding on [`Crypto`]: re-wrapping every data key under a new KEK,
//! and destroying subjects' data keys with one.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::engine::{WRITE_ATTEMPTS, kid_of};
use super::{Crypto, CryptoError, Kek, KeyIdHash, KeyRecord};

/// How many key records a rotation re-wraps at once.
const REWRAP_CONCURRENCY: usize = 16;

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

impl Crypto {
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
        // Caches of state built from these keys' plaintext (the repository's) drop it.
        self.inner
            .shreds
            .fetch_add(1, std::sync::atomic::Ordering::Release);
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
        let skip: HashSet<&KeyIdHash> = skip.iter().collect();
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
}
