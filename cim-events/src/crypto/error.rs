//! [`CryptoError`]: everything that can go wrong when encrypting, decrypting, or managing
//! keys.

use super::KeyIdHash;

/// Why a payload could not be encrypted or decrypted, or a key not be managed.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
/// None of these panics; each names what it is about (a key id hash, a path in the payload
/// in the `$.field[0]` notation of [`PayloadError`](crate::payload::PayloadError)).
///
/// ```
/// use cim_events::crypto::{CryptoError, check_no_pii};
/// use cim_events::{Pii, payload::to_ipld};
///
/// #[derive(serde::Serialize)]
/// struct Registered { email: Pii<String> }
///
/// let payload = to_ipld(&Registered { email: Pii::Clear("ann@example.com".into()) })?;
/// // No key store configured: refused, never written in clear.
/// let err = check_no_pii(&payload).unwrap_err();
/// assert_eq!(err, CryptoError::MissingKeyStore { path: "$.email".into() });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A payload holds a [`Pii`](crate::Pii) value, and no key store is configured to
    /// encrypt it. Nothing was written.
    #[error(
        "payload value at `{path}` is personal data (`Pii`), and no key store is configured to encrypt it"
    )]
    MissingKeyStore {
        /// Where the first such value is.
        path: String,
    },

    /// A data key is wrapped under a key-encryption key this handle does not hold: the
    /// record names another KEK id, or the KEK given under that id has other bytes.
    #[error("{}", wrong_kek(kid, wrapped_with, held))]
    WrongKek {
        /// The key id hash of the data key.
        kid: KeyIdHash,
        /// The id of the KEK the data key is wrapped under, as its record says.
        wrapped_with: String,
        /// The id of the KEK this handle holds.
        held: String,
    },

    /// An encrypted value names a key id that was never created in the key store (nor
    /// shredded): the key store is not the one the events were written with.
    #[error(
        "payload value at `{path}` is encrypted under key `{kid}`, which the key store never held"
    )]
    UnknownKey {
        /// The key id hash the value names.
        kid: KeyIdHash,
        /// Where the value is.
        path: String,
    },

    /// The key id was shredded: nothing more is encrypted under it until it is re-created
    /// explicitly ([`Crypto::recreate_key`](super::Crypto::recreate_key)). Nothing was
    /// written.
    #[error(
        "key `{kid}` was shredded; re-create it explicitly before writing personal data under it again"
    )]
    Shredded {
        /// The key id hash.
        kid: KeyIdHash,
    },

    /// An encrypted value is damaged: its shape is not the one this crate writes, or the
    /// authentication failed for a value that names the place it is at. A tampered block
    /// is normally caught before this, as a CID mismatch.
    #[error("encrypted value at `{path}` is damaged: {problem}")]
    Tampered {
        /// Where the value is.
        path: String,
        /// What is wrong with it.
        problem: String,
    },

    /// An intact encrypted value that was written for another place (another aggregate,
    /// event, event type or field): its authentication binds it to where it was written,
    /// so it does not decrypt here.
    #[error("encrypted value at `{path}` (key `{kid}`) was written for another event or field")]
    Misplaced {
        /// The key id hash the value names.
        kid: KeyIdHash,
        /// Where the value is.
        path: String,
    },

    /// An encrypted value of an algorithm this crate does not implement (written by a newer
    /// version, or by someone else).
    #[error(
        "encrypted value at `{path}` uses algorithm `{alg}`, which this crate does not implement"
    )]
    UnsupportedAlgorithm {
        /// Where the value is.
        path: String,
        /// The algorithm it names.
        alg: String,
    },

    /// A key id or KEK id that cannot be used.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// What was given (`key id`, `KEK id`, `next KEK`).
        what: &'static str,
        /// Why it cannot be used.
        problem: String,
    },

    /// A record or value that is not in the format this crate writes: a payload to encrypt
    /// holding an encrypted node it did not get from a `Pii` value, or a stored wrapped key
    /// that does not decode.
    #[error("{what} is malformed: {problem}")]
    Malformed {
        /// What (and where, when known).
        what: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The key record changed between reading it and writing it (another writer created,
    /// re-wrapped or shredded it). Nothing was overwritten; read it again.
    #[error("key `{kid}` was changed by another writer")]
    Conflict {
        /// The key id hash.
        kid: KeyIdHash,
    },

    /// The key store (or the system's random number generator) failed.
    #[error("{operation} failed: {message}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// What went wrong, as the backend reported it.
        message: String,
        /// Whether the same call may succeed later.
        transient: bool,
    },
}

fn wrong_kek(kid: &KeyIdHash, wrapped_with: &str, held: &str) -> String {
    if wrapped_with == held {
        format!(
            "data key `{kid}` does not unwrap with KEK `{held}`: the KEK given under that id has other bytes"
        )
    } else {
        format!(
            "data key `{kid}` is wrapped under KEK `{wrapped_with}`, and this handle holds KEK `{held}`"
        )
    }
}
