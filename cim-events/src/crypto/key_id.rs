//! [`KeyIdHash`]: how a data subject's key id is named outside this process.

use std::fmt;

use sha2::{Digest, Sha256};

use super::CryptoError;

/// The SHA-256 of a key id's UTF-8 bytes, as 64 lower-case hex digits.
///
/// Key ids name data subjects (a customer id, an e-mail address), so they are personal
/// data themselves and often not valid NATS key-value keys. Only this hash leaves the
/// process: it is the `kid` of every encrypted value and the key of the subject's record
/// in a key store. Anyone can compute it with standard tools
/// (`printf %s 'ann@example.com' | sha256sum`).
///
/// It is a pseudonym, not an anonymisation: whoever can guess a key id (e-mail addresses
/// can be guessed) can confirm which events hold that subject's data, before and after a
/// shred. Prefer opaque key ids (customer numbers, UUIDs) where that matters.
///
/// ```
/// use cim_events::crypto::KeyIdHash;
/// let kid = KeyIdHash::of("ann@example.com");
/// assert_eq!(kid.as_str().len(), 64);
/// assert_eq!(KeyIdHash::parse(kid.as_str())?, kid);
/// assert_eq!(
///     KeyIdHash::of("").as_str(),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// # Ok::<(), cim_events::crypto::CryptoError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyIdHash(String);

impl KeyIdHash {
    /// The hash of `key_id`.
    pub fn of(key_id: &str) -> KeyIdHash {
        let digest = Sha256::digest(key_id.as_bytes());
        KeyIdHash(hex(&digest))
    }

    /// Reads a hash as [`as_str`](Self::as_str) writes it: exactly 64 lower-case hex
    /// digits.
    pub fn parse(text: &str) -> Result<KeyIdHash, CryptoError> {
        let valid = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(KeyIdHash(text.to_owned()))
        } else {
            Err(CryptoError::Malformed {
                what: format!("key id hash {:?}", text.escape_debug().to_string()),
                problem: "not 64 lower-case hex digits".to_owned(),
            })
        }
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyIdHash({})", self.0)
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
