//! The wire shape of an encrypted value (see the [module docs](super#wire-format)) and the
//! associated data that binds it to its place: pure functions, no keys store, no I/O.

use std::collections::BTreeMap;

use chacha20poly1305::XNonce;
use chacha20poly1305::aead::{Aead, Payload};
use ipld_core::ipld::Ipld;
use sha2::{Digest, Sha256};

use super::kek::{DataKey, NONCE_LEN, TAG_LEN, VERSION_LEN};
use super::{CryptoError, KeyIdHash};
use crate::block::{EventBlock, encode_ipld};
use crate::payload::{MAX_DEPTH, Segment};

/// The algorithm of every encrypted value this crate writes: XChaCha20-Poly1305 with a
/// random 24-byte nonce.
pub const ALGORITHM: &str = "xchacha20poly1305";

/// The key of the one-entry map that holds an encrypted value.
pub(crate) const ENCRYPTED: &str = "/cim-enc";
/// The key of the one-entry map that marks a `Pii` value to encrypt; never stored.
pub(crate) const PII: &str = "/cim-pii";
/// The key of the one-entry map that stands for a value whose key was shredded.
pub(crate) const SHREDDED: &str = "/cim-shredded";
/// Map keys starting with this are reserved for the markers above: a user's payload
/// cannot hold them (see `payload::ser`).
pub(crate) const RESERVED_PREFIX: &str = "/cim-";

/// The first element of every associated data list: the format of the binding.
const AD_VERSION: &str = "cim-enc/1";
/// Bytes of the place digest (`at`).
const AT_LEN: usize = 8;

/// Where an encrypted value sits: the event it belongs to. Its encryption is bound to all
/// four, and to the value's path in the payload, so a ciphertext copied into another event
/// or field does not decrypt ([`CryptoError::Misplaced`]).
///
/// Everything here is fixed when an event is prepared (its id is a UUIDv7 chosen then),
/// so a re-seal after an unknown outcome re-uses the same ciphertext and gets the same CID.
///
/// ```
/// use cim_events::crypto::Place;
/// let place = Place::new("Customer", "cust-7", "Registered", "0190f1b2-7c1a-7d4e-8f00-000000000001");
/// assert_eq!(place.event_type, "Registered");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place<'a> {
    /// The aggregate type, e.g. `Customer`.
    pub aggregate_type: &'a str,
    /// The aggregate id.
    pub aggregate_id: &'a str,
    /// The event type, e.g. `Registered`.
    pub event_type: &'a str,
    /// The event id (the block's `id`).
    pub event_id: &'a str,
}

impl<'a> Place<'a> {
    /// The place of an event.
    pub fn new(
        aggregate_type: &'a str,
        aggregate_id: &'a str,
        event_type: &'a str,
        event_id: &'a str,
    ) -> Place<'a> {
        Place {
            aggregate_type,
            aggregate_id,
            event_type,
            event_id,
        }
    }

    /// The place of a stored block's payload.
    pub fn of_block(block: &'a EventBlock) -> Place<'a> {
        Place::new(
            &block.aggregate_type,
            &block.aggregate_id,
            &block.event_type,
            &block.id,
        )
    }

    /// The DAG-CBOR list `[aggregate_type, aggregate_id, event_type, event_id, path]`,
    /// `path` a list of map keys (strings) and list indexes (integers) from the payload's
    /// root: `[]` for a whole payload, `["Registered", "email"]` for a field of an enum
    /// variant.
    fn with_path(&self, path: &[Segment]) -> Ipld {
        let s = |v: &str| Ipld::String(v.to_owned());
        let steps = path
            .iter()
            .map(|step| match step {
                Segment::Key(key) => s(key),
                Segment::Index(index) => Ipld::Integer(*index as i128),
            })
            .collect();
        Ipld::List(vec![
            s(self.aggregate_type),
            s(self.aggregate_id),
            s(self.event_type),
            s(self.event_id),
            Ipld::List(steps),
        ])
    }
}

/// What a one-entry map with a reserved key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A `Pii` value, not yet encrypted.
    Pii,
    /// An encrypted value.
    Encrypted,
    /// A value whose key was shredded.
    Shredded,
}

/// The mark `map` is, if it is one: exactly one entry, under a marker key.
pub(crate) fn mark_of(map: &BTreeMap<String, Ipld>) -> Option<Mark> {
    if map.len() != 1 {
        return None;
    }
    match map.keys().next().map(String::as_str) {
        Some(PII) => Some(Mark::Pii),
        Some(ENCRYPTED) => Some(Mark::Encrypted),
        Some(SHREDDED) => Some(Mark::Shredded),
        _ => None,
    }
}

/// The value that stands for data whose key was shredded: `{"/cim-shredded": null}`.
pub(crate) fn shredded_marker() -> Ipld {
    Ipld::Map(BTreeMap::from([(SHREDDED.to_owned(), Ipld::Null)]))
}

/// The pre-encryption marker around a `Pii` value: `{"/cim-pii": value}`.
pub(crate) fn pii_marker(value: Ipld) -> Ipld {
    Ipld::Map(BTreeMap::from([(PII.to_owned(), value)]))
}

/// `path` as error messages write it: `$`, then `.key` or `["key"]`, and `[index]`.
pub(crate) fn render(path: &[Segment]) -> String {
    let mut out = String::from("$");
    for step in path {
        match step {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k)
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
            {
                out.push('.');
                out.push_str(k);
            }
            Segment::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

/// An encrypted value, as read from its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) kid: KeyIdHash,
    pub(crate) key: [u8; VERSION_LEN],
    at: [u8; AT_LEN],
    nonce: [u8; NONCE_LEN],
    ct: Vec<u8>,
}

impl Node {
    /// Reads the content of an encrypted node (the value under `/cim-enc`), strictly.
    pub(crate) fn parse(content: &Ipld, path: &[Segment]) -> Result<Node, CryptoError> {
        let tampered = |problem: String| CryptoError::Tampered {
            path: render(path),
            problem,
        };
        let Ipld::Map(map) = content else {
            return Err(tampered(format!("`{ENCRYPTED}` does not hold a map")));
        };
        let bytes = |key: &str, len: Option<usize>| match map.get(key) {
            Some(Ipld::Bytes(b)) if len.is_none_or(|len| b.len() == len) => Ok(b.as_slice()),
            _ => Err(tampered(match len {
                Some(len) => format!("`{key}` is not {len} bytes"),
                None => format!("`{key}` is not bytes"),
            })),
        };
        match map.get("alg") {
            Some(Ipld::String(alg)) if alg == ALGORITHM => {}
            Some(Ipld::String(alg)) => {
                return Err(CryptoError::UnsupportedAlgorithm {
                    path: render(path),
                    alg: alg.clone(),
                });
            }
            _ => return Err(tampered("`alg` is not a string".to_owned())),
        }
        let kid = match map.get("kid") {
            Some(Ipld::String(kid)) => KeyIdHash::parse(kid)
                .map_err(|_| tampered("`kid` is not 64 lower-case hex digits".to_owned()))?,
            _ => return Err(tampered("`kid` is not a string".to_owned())),
        };
        let fixed = |key: &str, len: usize| bytes(key, Some(len));
        let node = Node {
            kid,
            key: array(fixed("key", VERSION_LEN)?),
            at: array(fixed("at", AT_LEN)?),
            nonce: array(fixed("nonce", NONCE_LEN)?),
            ct: bytes("ct", None)?.to_vec(),
        };
        if node.ct.len() < TAG_LEN {
            return Err(tampered(format!(
                "`ct` is shorter than a {TAG_LEN}-byte tag"
            )));
        }
        if let Some(key) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "alg" | "kid" | "key" | "at" | "nonce" | "ct"))
        {
            return Err(tampered(format!("unknown key `{key}`")));
        }
        Ok(node)
    }

    /// The node as stored: `{"/cim-enc": {alg, kid, key, at, nonce, ct}}`.
    fn into_ipld(self) -> Ipld {
        let content = BTreeMap::from([
            ("alg".to_owned(), Ipld::String(ALGORITHM.to_owned())),
            ("kid".to_owned(), Ipld::String(self.kid.as_str().to_owned())),
            ("key".to_owned(), Ipld::Bytes(self.key.to_vec())),
            ("at".to_owned(), Ipld::Bytes(self.at.to_vec())),
            ("nonce".to_owned(), Ipld::Bytes(self.nonce.to_vec())),
            ("ct".to_owned(), Ipld::Bytes(self.ct)),
        ]);
        Ipld::Map(BTreeMap::from([(ENCRYPTED.to_owned(), Ipld::Map(content))]))
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

/// The binding of one value: its associated data and the digest of its place.
struct Binding {
    ad: Vec<u8>,
    at: [u8; AT_LEN],
}

/// The associated data is the DAG-CBOR list
/// `["cim-enc/1", alg, kid, key, [aggregate_type, aggregate_id, event_type, event_id, path]]`;
/// `at` is the first 8 bytes of the SHA-256 of the last element's DAG-CBOR encoding.
fn bind(
    kid: &KeyIdHash,
    key: &[u8; VERSION_LEN],
    place: &Place<'_>,
    path: &[Segment],
) -> Result<Binding, CryptoError> {
    let where_ = place.with_path(path);
    let encoding_failed = |e: crate::payload::PayloadError| CryptoError::Malformed {
        what: format!("place of the value at `{}`", render(path)),
        problem: e.to_string(),
    };
    let digest = Sha256::digest(encode_ipld(&where_).map_err(encoding_failed)?);
    let ad = encode_ipld(&Ipld::List(vec![
        Ipld::String(AD_VERSION.to_owned()),
        Ipld::String(ALGORITHM.to_owned()),
        Ipld::String(kid.as_str().to_owned()),
        Ipld::Bytes(key.to_vec()),
        where_,
    ]))
    .map_err(encoding_failed)?;
    Ok(Binding {
        ad,
        at: array(&digest[..AT_LEN]),
    })
}

/// Encrypts `value` (already free of `Pii` markers) for `place` and `path` under `key`,
/// the data key of `kid`, with `nonce`: the encrypted node.
pub(crate) fn seal(
    key: &DataKey,
    kid: &KeyIdHash,
    place: &Place<'_>,
    path: &[Segment],
    nonce: [u8; NONCE_LEN],
    value: &Ipld,
) -> Result<Ipld, CryptoError> {
    let plaintext = encode_ipld(value).map_err(|e| CryptoError::Malformed {
        what: format!("payload value at `{}`", render(path)),
        problem: e.to_string(),
    })?;
    let version = key.version();
    let binding = bind(kid, &version, place, path)?;
    let ct = key
        .cipher()
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &binding.ad,
            },
        )
        .map_err(|_| CryptoError::Malformed {
            what: format!("payload value at `{}`", render(path)),
            problem: "the cipher refused it (too long)".to_owned(),
        })?;
    Ok(Node {
        kid: kid.clone(),
        key: version,
        at: binding.at,
        nonce,
        ct,
    }
    .into_ipld())
}

/// Decrypts `node`, found at `path` of a payload at `place`, with `key` (whose version is
/// the node's). An authentication failure is [`CryptoError::Misplaced`] when the node's
/// place digest is not this place's, and [`CryptoError::Tampered`] when it is.
pub(crate) fn open(
    key: &DataKey,
    node: &Node,
    place: &Place<'_>,
    path: &[Segment],
) -> Result<Ipld, CryptoError> {
    let binding = bind(&node.kid, &node.key, place, path)?;
    let plaintext = key
        .cipher()
        .decrypt(
            &XNonce::from(node.nonce),
            Payload {
                msg: &node.ct,
                aad: &binding.ad,
            },
        )
        .map_err(|_| {
            if binding.at == node.at {
                CryptoError::Tampered {
                    path: render(path),
                    problem: "the ciphertext does not authenticate".to_owned(),
                }
            } else {
                CryptoError::Misplaced {
                    kid: node.kid.clone(),
                    path: render(path),
                }
            }
        })?;
    let value: Ipld =
        serde_ipld_dagcbor::from_slice(&plaintext).map_err(|e| CryptoError::Malformed {
            what: format!("decrypted value at `{}`", render(path)),
            problem: format!("not DAG-CBOR: {e}"),
        })?;
    Ok(value)
}

/// Refuses a level deeper than any payload a block may hold, so that walking a payload
/// someone built by hand cannot exhaust the stack.
pub(crate) fn check_level(level: usize, path: &[Segment]) -> Result<(), CryptoError> {
    if level > MAX_DEPTH {
        Err(CryptoError::Malformed {
            what: format!("payload value at `{}`", render(path)),
            problem: format!("nested deeper than {MAX_DEPTH} levels"),
        })
    } else {
        Ok(())
    }
}
