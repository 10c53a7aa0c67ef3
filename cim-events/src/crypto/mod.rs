//! Payload encryption and crypto-shredding: personal data is encrypted under a per-subject
//! data key before it is stored, and destroying that key erases it, while every chain
//! still verifies (the CID covers the ciphertext).
//!
//! - [`Pii<T>`](crate::Pii) marks a field as personal data, by its type.
//! - [`Crypto`] holds a [`KeyStore`] and the user's key-encryption key ([`Kek`]); it
//!   encrypts the `Pii` values of a payload ([`Crypto::encrypt_payload`]) or a whole
//!   payload ([`Crypto::encrypt_whole_payload`]), decrypts them
//!   ([`Crypto::decrypt_payload`]), shreds a subject's key ([`Crypto::shred`]) and rotates
//!   the KEK ([`Crypto::rotate_kek`]).
//! - Key stores: [`MemoryKeyStore`], and `jetstream::JetStreamKeyStore` (a key-value
//!   bucket).
//! - [`CryptoError`] says what went wrong; [`check_no_pii`] refuses a payload that would
//!   store personal data in clear.
//!
//! The threat model, KEK handling, rotation and what shredding cannot undo are in
//! `cim-events/docs/encryption.md` in the repository.
//!
//! | file | concept |
//! |---|---|
//! | `pii.rs` | [`Pii`](crate::Pii) and its serde protocol |
//! | `node.rs` | [`Place`], the encrypted node and its associated data (pure) |
//! | `walk.rs` | finding and rewriting marks in a payload ([`marks`], [`check_no_pii`]) |
//! | `kek.rs` | [`Kek`], data keys, [`WrappedKey`] |
//! | `key_id.rs` | [`KeyIdHash`] |
//! | `store.rs` | [`KeyStore`], [`KeyRecord`], [`MemoryKeyStore`] |
//! | `engine.rs` | [`Crypto`]: encrypting, decrypting, creating keys |
//! | `key_cache.rs` | the cache of data keys |
//! | `encryptor.rs` | [`Encryptor`]: one subject's key, to encrypt without awaiting; nonces |
//! | `rotation.rs` | KEK rotation and shredding |
//! | `snapshot.rs` | snapshot states sealed under the data keys they were built from |
//! | `events.rs` | encrypting an append's events once; opening stored events on reads |
//!
//! # Wire format
//!
//! Encryption changes nothing in a block but values inside its `payload`: a block with
//! encrypted values is ordinary DAG-CBOR, its CID computed as for any other, and
//! `verify_chain` and outside IPLD tools check it without any key. An encrypted value is
//! a one-entry map:
//!
//! ```text
//! {"/cim-enc": {
//!     "alg":   "xchacha20poly1305",
//!     "kid":   "<64 lower-case hex digits>",
//!     "key":   <8 bytes>,
//!     "at":    <8 bytes>,
//!     "nonce": <24 bytes>,
//!     "ct":    <bytes>
//! }}
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `alg` | the AEAD: XChaCha20-Poly1305 (RFC 8439 ChaCha20-Poly1305 with the 24-byte XChaCha nonce) |
//! | `kid` | the SHA-256 of the data subject's key id (UTF-8), in lower-case hex ([`KeyIdHash`]); the key id itself is never stored |
//! | `key` | which data key of that key id (it changes when a shredded key id is re-created): the first 8 bytes of `SHA-256("cim-events/data-key-version/1" ‖ data key)` |
//! | `at` | the first 8 bytes of the SHA-256 of the place list below: a hint that tells a value moved elsewhere ([`CryptoError::Misplaced`]) from a damaged one ([`CryptoError::Tampered`]); it protects nothing, the AEAD does |
//! | `nonce` | random, chosen when the event is prepared |
//! | `ct` | the ciphertext of the value's DAG-CBOR encoding, followed by the 16-byte Poly1305 tag |
//!
//! The associated data binds the ciphertext to its place. It is the DAG-CBOR encoding of
//! the list
//!
//! ```text
//! ["cim-enc/1", alg, kid, key, [aggregate_type, aggregate_id, event_type, id, path]]
//! ```
//!
//! where the last four strings are the block's own fields and `path` lists the map keys
//! (strings) and list indexes (integers) from the payload's root to the value, for example
//! `["Registered", "email"]` for the `email` field of an enum variant `Registered`, or `[]`
//! when the whole payload is encrypted: then `payload` is exactly one such map. A value
//! copied into another event, aggregate or field does not decrypt.
//!
//! After its key is shredded, a value reads as the map `{"/cim-shredded": null}`, which is
//! also what a `Pii::Shredded` written back is stored as. Map keys starting with `/cim-`
//! are reserved: a payload of the user's own cannot hold them, so no user data is ever
//! mistaken for these shapes.
//!
//! Wrapped data keys are not in blocks; their format is [`WrappedKey`]'s.

mod encryptor;
mod engine;
mod error;
mod events;
mod kek;
mod key_cache;
mod key_id;
mod node;
pub(crate) mod pii;
mod rotation;
mod snapshot;
mod store;
mod walk;

pub use encryptor::Encryptor;
pub use engine::{Crypto, DEFAULT_KEY_CACHE, DEFAULT_KEY_CACHE_TTL, KeyState};
pub use error::CryptoError;
pub use kek::{Kek, WrappedKey};
pub use key_id::KeyIdHash;
pub use node::{ALGORITHM, Place};
pub use rotation::{RotationReport, ShredReport};
pub use store::{KeyRecord, KeyStore, MemoryKeyStore};
pub use walk::{Marks, check_no_pii, marks};

pub(crate) use engine::{key_versions_of, kids_of};
pub(crate) use events::{encrypt_events, open, open_stream, unreadable_whole};

// For the payload (de)serializer's `Pii` hooks.
pub(crate) use node::{Mark, RESERVED_PREFIX, mark_of, pii_marker, shredded_marker};

#[cfg(test)]
mod key_tests;
#[cfg(test)]
mod tests;
