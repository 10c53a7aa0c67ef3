//! Snapshot states that hold decrypted values, sealed before they are stored: the state's
//! bytes are encrypted once under every data key it was built from, one layer per key, so
//! that destroying any of those keys leaves the stored snapshot unreadable, wherever its
//! bytes linger (replicas, backups, a KV value not yet compacted).

use bytes::Bytes;
use ipld_core::ipld::Ipld;

use super::engine::Crypto;
use super::kek::random;
use super::node::{self, ENCRYPTED, Node, Place};
use super::{CryptoError, KeyIdHash};
use crate::block::encode_ipld;
use crate::payload::Segment;

/// Where in a snapshot the layers sit, for the associated data.
fn path() -> [Segment; 1] {
    [Segment::Key("state".to_owned())]
}

impl Crypto {
    /// Encrypts `state` under each data key of `keys` (`{kid}:{version}`, in order), bound
    /// to `place`. Fails with [`CryptoError::Shredded`] if one of the keys is no longer
    /// live: such a state must not be stored at all.
    pub(crate) async fn seal_state(
        &self,
        state: &[u8],
        keys: &[String],
        place: &Place<'_>,
    ) -> Result<Bytes, CryptoError> {
        let path = path();
        let mut value = Ipld::Bytes(state.to_vec());
        for name in keys {
            let (kid, key) = self.live_or_shredded(name).await?;
            value = node::seal(&key, &kid, place, &path, random()?, &value)?;
        }
        encode_ipld(&value)
            .map(Bytes::from)
            .map_err(|e| CryptoError::Malformed {
                what: "sealed snapshot state".to_owned(),
                problem: e.to_string(),
            })
    }

    /// Decrypts a state sealed by [`seal_state`](Self::seal_state) with the same `keys`
    /// and `place`.
    pub(crate) async fn open_state(
        &self,
        sealed: &[u8],
        keys: &[String],
        place: &Place<'_>,
    ) -> Result<Bytes, CryptoError> {
        let path = path();
        let malformed = |problem: &str| CryptoError::Malformed {
            what: "sealed snapshot state".to_owned(),
            problem: problem.to_owned(),
        };
        let mut value: Ipld =
            serde_ipld_dagcbor::from_slice(sealed).map_err(|e| malformed(&e.to_string()))?;
        for name in keys.iter().rev() {
            let (_, key) = self.live_or_shredded(name).await?;
            let Ipld::Map(mut map) = value else {
                return Err(malformed("a layer is not an encrypted node"));
            };
            let content = map
                .remove(ENCRYPTED)
                .ok_or_else(|| malformed("a layer is not an encrypted node"))?;
            let node = Node::parse(&content, &path)?;
            value = node::open(&key, &node, place, &path)?;
        }
        match value {
            Ipld::Bytes(state) => Ok(Bytes::from(state)),
            _ => Err(malformed("the innermost layer is not the state's bytes")),
        }
    }

    async fn live_or_shredded(
        &self,
        name: &str,
    ) -> Result<(KeyIdHash, std::sync::Arc<super::kek::DataKey>), CryptoError> {
        match self.live_key(name).await? {
            Some(live) => Ok(live),
            None => {
                let kid = name.split_once(':').map_or(name, |(kid, _)| kid);
                Err(CryptoError::Shredded {
                    kid: KeyIdHash::parse(kid)?,
                })
            }
        }
    }
}
