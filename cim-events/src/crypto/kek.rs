//! The two kinds of keys: the user's key-encryption key ([`Kek`]) and the data keys it
//! wraps ([`WrappedKey`] on the outside, `DataKey` inside this process).

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use ipld_core::ipld::Ipld;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{CryptoError, KeyIdHash};
use crate::block::encode_ipld;

/// Bytes in a key (KEK or data key).
pub(crate) const KEY_LEN: usize = 32;
/// Bytes in an XChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 24;
/// Bytes in a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes in a data key's version: see [`DataKey::version`].
pub(crate) const VERSION_LEN: usize = 8;
/// The version of the wrapped-key record format.
const WRAPPED_FORMAT: u64 = 1;
/// The longest KEK id.
const KEK_ID_MAX: usize = 64;

/// A key-encryption key: the user's secret that wraps every data key. It is never written
/// to NATS or anywhere else by this crate; the user keeps it (a secret manager, a KMS, an
/// environment variable) and hands it to [`Crypto::new`](super::Crypto::new).
///
/// Its id names it in every wrapped key, so that a handle holding another KEK fails with
/// [`CryptoError::WrongKek`] naming both ids rather than with a bare authentication error.
/// Ids are 1 to 64 ASCII letters, digits, `.`, `_`, `:` or `-`, for example `kek-2025-06`;
/// a rotation needs a new id.
///
/// The bytes are wiped from memory when the `Kek` is dropped; `Debug` shows only the id.
/// The array passed to [`from_bytes`](Self::from_bytes) is the caller's copy to wipe.
///
/// ```
/// use cim_events::crypto::Kek;
/// let kek = Kek::generate("kek-1")?;
/// let bytes = *kek.secret_bytes(); // store these in your secret manager
/// let again = Kek::from_bytes("kek-1", bytes)?;
/// assert_eq!(again.id(), "kek-1");
/// assert_eq!(format!("{again:?}"), r#"Kek { id: "kek-1", .. }"#);
/// assert!(Kek::from_bytes("no spaces", bytes).is_err());
/// # Ok::<(), cim_events::crypto::CryptoError>(())
/// ```
pub struct Kek {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl Kek {
    /// The KEK `bytes` named `id`.
    pub fn from_bytes(id: impl Into<String>, bytes: [u8; KEY_LEN]) -> Result<Kek, CryptoError> {
        let id = id.into();
        check_kek_id(&id)?;
        Ok(Kek {
            id,
            key: Zeroizing::new(bytes),
        })
    }

    /// A new random KEK named `id`, from the operating system's random number generator.
    /// Store its [`secret_bytes`](Self::secret_bytes) before using it: data keys wrapped
    /// under a KEK that is lost cannot be read again.
    pub fn generate(id: impl Into<String>) -> Result<Kek, CryptoError> {
        Kek::from_bytes(id, random()?)
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret bytes, to store the KEK somewhere safe.
    pub fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// A second handle on the same KEK, for the engine to keep.
    pub(crate) fn duplicate(&self) -> Kek {
        Kek {
            id: self.id.clone(),
            key: self.key.clone(),
        }
    }

    /// Wraps `key`, the data key of `kid`, under this KEK with a fresh random nonce.
    pub(crate) fn wrap(&self, kid: &KeyIdHash, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        let nonce: [u8; NONCE_LEN] = random()?;
        let ad = wrap_ad(kid, &self.id)?;
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: key.bytes.as_slice(),
                    aad: &ad,
                },
            )
            .map_err(|_| CryptoError::Malformed {
                what: format!("data key `{kid}`"),
                problem: "the cipher refused to wrap it".to_owned(),
            })?;
        Ok(WrappedKey {
            kek_id: self.id.clone(),
            nonce,
            sealed,
        })
    }

    /// Unwraps the data key of `kid`.
    pub(crate) fn unwrap(
        &self,
        kid: &KeyIdHash,
        wrapped: &WrappedKey,
    ) -> Result<DataKey, CryptoError> {
        let wrong = || CryptoError::WrongKek {
            kid: kid.clone(),
            wrapped_with: wrapped.kek_id.clone(),
            held: self.id.clone(),
        };
        if wrapped.kek_id != self.id {
            return Err(wrong());
        }
        let ad = wrap_ad(kid, &self.id)?;
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &XNonce::from(wrapped.nonce),
                    Payload {
                        msg: &wrapped.sealed,
                        aad: &ad,
                    },
                )
                .map_err(|_| wrong())?,
        );
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| wrong())?;
        Ok(DataKey::from_bytes(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(*self.key))
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn check_kek_id(id: &str) -> Result<(), CryptoError> {
    let valid = (1..=KEK_ID_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(CryptoError::Invalid {
            what: "KEK id",
            problem: format!(
                "{:?} is not 1 to {KEK_ID_MAX} ASCII letters, digits, `.`, `_`, `:` or `-`",
                id.escape_debug().to_string()
            ),
        })
    }
}

/// The associated data of a wrapped key: the DAG-CBOR list
/// `["cim-events/wrap/1", kid, kek_id]`, so that a wrapped key copied to another key id's
/// record, or relabelled with another KEK id, does not unwrap.
fn wrap_ad(kid: &KeyIdHash, kek_id: &str) -> Result<Vec<u8>, CryptoError> {
    let s = |v: &str| Ipld::String(v.to_owned());
    encode_ipld(&Ipld::List(vec![
        s("cim-events/wrap/1"),
        s(kid.as_str()),
        s(kek_id),
    ]))
    .map_err(|e| CryptoError::Malformed {
        what: "wrapped key's associated data".to_owned(),
        problem: e.to_string(),
    })
}

/// `N` random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    <[u8; N]>::try_generate().map_err(|e| CryptoError::Backend {
        operation: "read the system's random number generator",
        message: e.to_string(),
        transient: true,
    })
}

/// One data subject's data key, unwrapped. Wiped from memory on drop.
pub(crate) struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    version: [u8; VERSION_LEN],
}

impl DataKey {
    /// A new random data key.
    pub(crate) fn generate() -> Result<DataKey, CryptoError> {
        Ok(DataKey::from_bytes(random()?))
    }

    /// The data key `bytes`.
    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        let bytes = Zeroizing::new(bytes);
        let mut hasher = Sha256::new();
        hasher.update(b"cim-events/data-key-version/1");
        hasher.update(bytes.as_slice());
        let digest = hasher.finalize();
        let mut version = [0; VERSION_LEN];
        version.copy_from_slice(&digest[..VERSION_LEN]);
        DataKey { bytes, version }
    }

    /// Which data key this is among those a key id has had (it gets a new one when it is
    /// re-created after a shred): the first 8 bytes of
    /// `SHA-256("cim-events/data-key-version/1" ‖ key)`. A one-way function of a random
    /// 256-bit key, so it reveals nothing of it.
    pub(crate) fn version(&self) -> [u8; VERSION_LEN] {
        self.version
    }

    /// The cipher under this key.
    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(*self.bytes))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("version", &super::key_id::hex(&self.version))
            .finish_non_exhaustive()
    }
}

/// A data key wrapped under a [`Kek`]: what a [`KeyStore`](super::KeyStore) keeps. It can
/// be read only with that KEK.
///
/// Its stored form ([`encode`](Self::encode)) is the DAG-CBOR map
/// `{"v": 1, "kek": <KEK id>, "nonce": <24 bytes>, "key": <48 bytes>}`: the data key
/// encrypted with XChaCha20-Poly1305 under the KEK, with the associated data
/// `["cim-events/wrap/1", <key id hash>, <KEK id>]` (a DAG-CBOR list), so a wrapped key
/// moved to another key id's record does not unwrap.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    kek_id: String,
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
}

impl WrappedKey {
    /// The id of the KEK it is wrapped under.
    pub fn kek_id(&self) -> &str {
        &self.kek_id
    }

    /// The stored form: canonical DAG-CBOR.
    ///
    /// ```
    /// use cim_events::crypto::{KeyStore, MemoryKeyStore, Crypto, Kek, KeyIdHash, KeyRecord, WrappedKey};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let keys = MemoryKeyStore::new();
    /// let crypto = Crypto::new(keys.clone(), Kek::generate("kek-1")?);
    /// let kid = crypto.create_key("customer-7").await?;
    /// let KeyRecord::Live { key, .. } = keys.get(&kid).await? else { panic!("created") };
    /// assert_eq!(WrappedKey::decode(&key.encode())?, key);
    /// assert_eq!(key.kek_id(), "kek-1");
    /// # Ok::<(), cim_events::crypto::CryptoError>(()) }).unwrap();
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let map = BTreeMap::from([
            ("v".to_owned(), Ipld::Integer(WRAPPED_FORMAT.into())),
            ("kek".to_owned(), Ipld::String(self.kek_id.clone())),
            ("nonce".to_owned(), Ipld::Bytes(self.nonce.to_vec())),
            ("key".to_owned(), Ipld::Bytes(self.sealed.clone())),
        ]);
        encode_ipld(&Ipld::Map(map))
            .expect("a flat map of strings, bytes and a small integer always encodes")
    }

    /// Reads the stored form, strictly: exactly the four keys, each with its type and
    /// length.
    pub fn decode(bytes: &[u8]) -> Result<WrappedKey, CryptoError> {
        let malformed = |problem: &str| CryptoError::Malformed {
            what: "wrapped key record".to_owned(),
            problem: problem.to_owned(),
        };
        let ipld: Ipld = serde_ipld_dagcbor::from_slice(bytes)
            .map_err(|e| malformed(&format!("not DAG-CBOR: {e}")))?;
        let Ipld::Map(mut map) = ipld else {
            return Err(malformed("not a map"));
        };
        if map.remove("v") != Some(Ipld::Integer(WRAPPED_FORMAT.into())) {
            return Err(malformed("`v` is not 1"));
        }
        let Some(Ipld::String(kek_id)) = map.remove("kek") else {
            return Err(malformed("`kek` is not a string"));
        };
        let nonce = match map.remove("nonce") {
            Some(Ipld::Bytes(b)) => <[u8; NONCE_LEN]>::try_from(b.as_slice())
                .map_err(|_| malformed("`nonce` is not 24 bytes"))?,
            _ => return Err(malformed("`nonce` is not bytes")),
        };
        let sealed = match map.remove("key") {
            Some(Ipld::Bytes(b)) if b.len() == KEY_LEN + TAG_LEN => b,
            _ => return Err(malformed("`key` is not 48 bytes")),
        };
        if let Some(key) = map.into_keys().next() {
            return Err(malformed(&format!("unknown key `{key}`")));
        }
        Ok(WrappedKey {
            kek_id,
            nonce,
            sealed,
        })
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}
