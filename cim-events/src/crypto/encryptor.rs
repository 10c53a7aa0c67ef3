//! [`Encryptor`]: one subject's data key, to encrypt payloads without awaiting, and where
//! nonces come from.

use std::fmt;
use std::sync::Arc;

use ipld_core::ipld::Ipld;

use super::kek::{DataKey, NONCE_LEN, random};
use super::node::{self, Mark, Place, SHREDDED};
use super::walk::{self, marked, marks, rewrite, stray_node, strip};
use super::{CryptoError, KeyIdHash};

/// Where nonces come from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Nonces {
    /// The operating system's random number generator: the only safe source.
    Random,
    /// A fixed nonce, for golden tests: the `n`-th value of one payload gets it with `n`
    /// added to its last 8 bytes (little-endian).
    #[cfg(any(test, feature = "test-util"))]
    Fixed([u8; NONCE_LEN]),
}

impl Nonces {
    pub(super) fn nonce(self, n: u64) -> Result<[u8; NONCE_LEN], CryptoError> {
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

/// One key id's data key, ready to encrypt without awaiting: from
/// [`Crypto::encryptor`](super::Crypto::encryptor). It holds the unwrapped key; drop it when done.
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
    pub(super) kid: KeyIdHash,
    pub(super) key: Arc<DataKey>,
    pub(super) nonces: Nonces,
}

impl Encryptor {
    /// The key id hash it encrypts under.
    pub fn kid(&self) -> &KeyIdHash {
        &self.kid
    }

    /// [`Crypto::encrypt_payload`](super::Crypto::encrypt_payload), with this key.
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

    /// [`Crypto::encrypt_whole_payload`](super::Crypto::encrypt_whole_payload), with this key.
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
    pub(super) fn check_plain(payload: Ipld) -> Result<Ipld, CryptoError> {
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
