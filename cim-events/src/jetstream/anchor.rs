//! Anchors on JetStream: each aggregate's newest head, recorded outside the event stream in
//! a key-value bucket, so that a stream that lost the end of a chain (a damaged message
//! dropped on restart, a stream truncated after a crash) is caught rather than built on.
//! The rule is [`crate::anchor`]; writing is [`anchor_writer`](super::anchor_writer).
//!
//! - **Bucket**: `{stream}_ANCHORS` unless named otherwise, history 1, file storage, the
//!   stream's replicas.
//! - **Key**: the aggregate id escaped for the key alphabet as snapshot keys are (ASCII
//!   letters, digits, `-` and `_` kept, every other byte `=XX`).
//! - **Value**: DAG-CBOR `{v: 1, version, cid, sequence}`, `cid` a CID link.
//! - **Never backwards**: writes check the key's revision, and replace a stored anchor
//!   only with a newer version; a value that does not decode is replaced.
//! - **Checked** on every tail read from the server (loads without a cached head, appends
//!   that do not know their head, refusals), by `load`, `verify_chain` and `verify_from`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;
use ipld_core::ipld::Ipld;

use crate::anchor::check_head;
use crate::block::DecodeError;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::tail::Tail;

use super::errors::backend;
use super::kv::{Fields, encode_map, read_any, read_fresh};
use super::kv_snapshot::escape;
use super::store::Inner;

/// The anchor value format this store writes and reads.
pub const ANCHOR_FORMAT_VERSION: u64 = 1;

/// How many times a write re-reads and retries after losing a race on the key.
const WRITE_ATTEMPTS: u32 = 10;

/// The bucket of a stream's anchors, unless the builder names another.
pub(crate) fn default_bucket(stream_name: &str) -> String {
    format!("{stream_name}_ANCHORS")
}

/// The key of an aggregate's anchor (its id, validated by the caller).
pub(crate) fn key(aggregate_id: &str) -> String {
    escape(aggregate_id)
}

/// Encodes an anchor: `{v: 1, version, cid, sequence}`.
pub(crate) fn encode(head: &Head) -> Result<Bytes> {
    encode_map(BTreeMap::from([
        ("v".to_owned(), Ipld::Integer(ANCHOR_FORMAT_VERSION.into())),
        ("version".to_owned(), Ipld::Integer(head.version.into())),
        ("cid".to_owned(), Ipld::Link(head.cid)),
        ("sequence".to_owned(), Ipld::Integer(head.sequence.into())),
    ]))
}

/// Decodes an anchor strictly: exactly those keys, each with its type.
pub(crate) fn decode(bytes: &[u8]) -> Result<Head, DecodeError> {
    let mut fields = Fields::decode(bytes, ANCHOR_FORMAT_VERSION)?;
    let head = Head {
        version: fields.unsigned("version")?,
        cid: fields.link("cid")?,
        sequence: fields.unsigned("sequence")?,
    };
    fields.finish()?;
    Ok(head)
}

/// An anchor as stored: its revision, and the head (`None`: the value does not decode).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub(crate) revision: u64,
    pub(crate) head: Option<Head>,
}

/// Reads the anchor of `aggregate_id` from any replica (`fresh`: from the stream leader).
/// A value that does not decode is logged and read as no anchor: it proves nothing, and
/// the next write replaces it.
pub(crate) async fn read(kv: &kv::Store, aggregate_id: &str, fresh: bool) -> Result<Option<Head>> {
    Ok(read_stored(kv, &key(aggregate_id), fresh)
        .await?
        .and_then(|stored| {
            if stored.head.is_none() {
                tracing::warn!(
                    aggregate_id,
                    revision = stored.revision,
                    "anchor does not decode; ignored"
                );
            }
            stored.head
        }))
}

async fn read_stored(kv: &kv::Store, key: &str, fresh: bool) -> Result<Option<Stored>> {
    let value = if fresh {
        read_fresh(kv, key).await?
    } else {
        read_any(kv, key).await?
    };
    Ok(value.map(|value| Stored {
        revision: value.revision,
        head: decode(&value.bytes).ok(),
    }))
}

/// Records `head` as the anchor under `key` unless the stored one is as new or newer, and
/// returns what is stored afterwards. `known` is what this writer last stored there, if it
/// remembers: then a write costs one request, and a stale guess costs a read.
pub(crate) async fn write(
    kv: &kv::Store,
    key: &str,
    head: Head,
    known: Option<Stored>,
) -> Result<Stored> {
    let value = encode(&head)?;
    let mut current = known;
    for attempt in 0..WRITE_ATTEMPTS {
        let written = match current {
            Some(stored) if stored.head.is_some_and(|h| h.version >= head.version) => {
                return Ok(stored);
            }
            Some(stored) => kv
                .update(key, value.clone(), stored.revision)
                .await
                .map_err(|e| {
                    (
                        e.kind() == UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                }),
            None => kv
                .create(key, value.clone())
                .await
                .map_err(|e| (e.kind() == CreateErrorKind::AlreadyExists, e.to_string())),
        };
        match written {
            Ok(revision) => {
                return Ok(Stored {
                    revision,
                    head: Some(head),
                });
            }
            // Another writer got there first, or the guess was stale: read and decide again.
            Err((true, _)) => {
                if attempt > 0 {
                    crate::backoff::sleep(
                        attempt,
                        Duration::from_millis(1),
                        Duration::from_millis(50),
                    )
                    .await;
                }
                current = read_stored(kv, key, true).await?;
            }
            Err((false, message)) => return Err(backend("write anchor", message, true)),
        }
    }
    Err(backend(
        "write anchor",
        format!("key `{key}` kept changing during {WRITE_ATTEMPTS} attempts"),
        true,
    ))
}

impl Inner {
    /// The aggregate's tail read from the server, checked against its anchor. The two are
    /// read at once; should the anchor be ahead, it may have been written after the tail
    /// was read, so the tail is read again — after the anchor — before it is called
    /// truncated.
    pub(crate) async fn anchored_tail(
        self: &Arc<Self>,
        aggregate_id: &str,
        fresh: bool,
    ) -> Result<Tail> {
        let Some(anchors) = &self.anchors else {
            return self.tail(aggregate_id, fresh).await;
        };
        if !fresh {
            if let Some(tail) = self.cached_tail(aggregate_id) {
                return Ok(tail);
            }
        }
        let (tail, anchor) = tokio::join!(
            self.tail(aggregate_id, fresh),
            read(anchors.kv(), aggregate_id, false)
        );
        let (tail, anchor) = (tail?, anchor?);
        if check_head(aggregate_id, anchor, tail.head).is_ok() {
            return Ok(tail);
        }
        self.forget(aggregate_id);
        let tail = self.tail(aggregate_id, true).await?;
        if let Err(truncated) = check_head(aggregate_id, anchor, tail.head) {
            self.forget(aggregate_id);
            return Err(Error::Truncated(truncated));
        }
        Ok(tail)
    }

    /// Whether `after` is older than a head this handle has seen stored (it wrote or read
    /// it): publishing after it could only succeed if the stream lost that head, so the
    /// publish is refused before it is sent, and the append pipeline reads the tail — and
    /// checks it against the anchor — before anything else. Only with anchors on.
    pub(crate) fn behind_known_head(&self, aggregate_id: &str, after: &Tail) -> bool {
        self.anchors.is_some()
            && self
                .cached_tail(aggregate_id)
                .is_some_and(|known| known.version() > after.version())
    }

    /// The aggregate's anchor, `None` without one (or with anchors off).
    pub(crate) async fn anchor(&self, aggregate_id: &str) -> Result<Option<Head>> {
        match &self.anchors {
            Some(anchors) => read(anchors.kv(), aggregate_id, false).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::cid_of;

    #[test]
    fn encodes_and_decodes_exactly() {
        let head = Head {
            version: 3,
            cid: cid_of(b"3"),
            sequence: 42,
        };
        assert_eq!(decode(&encode(&head).unwrap()), Ok(head));
        assert!(decode(b"\xa0").is_err());
    }

    #[test]
    fn keys_escape_like_snapshot_keys() {
        assert_eq!(key("acc-1"), "acc-1");
        assert_eq!(key("zoë:1"), "zo=C3=AB=3A1");
    }
}
