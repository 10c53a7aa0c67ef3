//! CARv1 export and import, so any history can be checked with standard IPFS/IPLD tools.
//!
//! A CARv1 file is a varint-prefixed DAG-CBOR header `{roots: [CID…], version: 1}` followed
//! by varint-prefixed sections `CID bytes ‖ block bytes`. Block order carries no meaning in
//! CARv1, so exports stream: the header's roots are the aggregates' heads, read first, and
//! each aggregate's blocks follow from genesis to head, written as they are read from the
//! store. Memory stays flat however long the chains.
//!
//! # What an export holds
//!
//! Exactly the chain of each aggregate as the chain rule defines it (see
//! [`ChainReport`](crate::ChainReport#which-events-count)): the blocks that extend the
//! chain, in order. Messages on the aggregate's subjects that are not part of its chain (a
//! foreign writer's, undecodable, of another aggregate) are not exported.
//!
//! # Writes during an export
//!
//! The roots are the heads as the store holds them when the export starts. A chain is
//! exported up to its root's stream sequence and no further: events appended while the
//! export runs are left out, so the file always matches its header. The stream is
//! append-only, so what lies up to that sequence cannot change; should the chain read up to
//! there still end elsewhere than the root (a store whose head disagrees with its own
//! history), the export fails with [`Error::ExportRootMismatch`], and with
//! [`Error::BrokenChain`] if the history is broken. The bytes written up to then are not a
//! valid export.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use cid::Cid;
use futures::StreamExt;
use ipld_core::ipld::Ipld;

use crate::block::cid_of;
use crate::chain::{Follower, Step};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::store::EventStore;
use crate::subject::{TokenKind, validate_token};

/// Largest section a reader accepts, well above any event a store accepts.
const MAX_SECTION: u64 = 64 * 1024 * 1024;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarSummary {
    /// The root CIDs (aggregate heads).
    pub roots: Vec<Cid>,
    /// Blocks written.
    pub blocks: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes a CARv1 file block by block.
pub struct CarWriter<W: Write> {
    out: W,
    blocks: u64,
    bytes: u64,
    roots: Vec<Cid>,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header with `roots`.
    pub fn new(mut out: W, roots: Vec<Cid>) -> Result<Self> {
        let header = Ipld::Map(BTreeMap::from([
            (
                "roots".to_owned(),
                Ipld::List(roots.iter().copied().map(Ipld::Link).collect()),
            ),
            ("version".to_owned(), Ipld::Integer(1)),
        ]));
        let header = serde_ipld_dagcbor::to_vec(&header)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let bytes = write_section(&mut out, &[&header])?;
        Ok(CarWriter {
            out,
            blocks: 0,
            bytes,
            roots,
        })
    }

    /// Appends one block.
    pub fn write_block(&mut self, cid: &Cid, data: &[u8]) -> Result<()> {
        self.bytes += write_section(&mut self.out, &[&cid.to_bytes(), data])?;
        self.blocks += 1;
        Ok(())
    }

    /// Flushes and returns the summary.
    pub fn finish(mut self) -> Result<CarSummary> {
        self.out.flush()?;
        Ok(CarSummary {
            roots: self.roots,
            blocks: self.blocks,
            bytes: self.bytes,
        })
    }
}

fn write_section(out: &mut impl Write, parts: &[&[u8]]) -> Result<u64> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut buf = unsigned_varint::encode::u64_buffer();
    let prefix = unsigned_varint::encode::u64(len as u64, &mut buf);
    out.write_all(prefix)?;
    for part in parts {
        out.write_all(part)?;
    }
    Ok((prefix.len() + len) as u64)
}

/// Exports one aggregate, streaming: root = its head, then its chain's blocks from
/// genesis to head (see [the module docs](self) for writes during the export). An
/// aggregate without events gives a valid CAR without roots or blocks.
///
/// Wrap a file in a [`std::io::BufWriter`]: each block is two small writes.
pub async fn export_aggregate<S: EventStore + ?Sized>(
    store: &S,
    aggregate_id: &str,
    out: impl Write,
) -> Result<CarSummary> {
    export(store, &[aggregate_id.to_owned()], out, |_, _| {}).await
}

/// Exports every aggregate of the store, streaming: roots = every head, then each
/// aggregate's chain from genesis to head, one aggregate after another.
/// `progress(done, total)` is called after each aggregate.
pub async fn export_store<S: EventStore + ?Sized>(
    store: &S,
    out: impl Write,
    progress: impl FnMut(usize, usize),
) -> Result<CarSummary> {
    let ids = store.aggregate_ids().await?;
    export(store, &ids, out, progress).await
}

async fn export<S: EventStore + ?Sized>(
    store: &S,
    ids: &[String],
    out: impl Write,
    mut progress: impl FnMut(usize, usize),
) -> Result<CarSummary> {
    // The roots first, since the header comes first: one head per aggregate, not its events.
    let mut heads = Vec::with_capacity(ids.len());
    for id in ids {
        validate_token(TokenKind::AggregateId, id)?;
        heads.push(store.head(id).await?);
    }
    let roots = heads.iter().flatten().map(|head| head.cid).collect();
    let mut car = CarWriter::new(out, roots)?;
    for (done, (id, head)) in ids.iter().zip(&heads).enumerate() {
        if let Some(root) = head {
            write_chain(store, id, root, &mut car).await?;
        }
        progress(done + 1, ids.len());
    }
    car.finish()
}

/// Writes `aggregate_id`'s chain up to `root`, genesis first, as its messages are read.
async fn write_chain<S: EventStore + ?Sized, W: Write>(
    store: &S,
    aggregate_id: &str,
    root: &Head,
    car: &mut CarWriter<W>,
) -> Result<()> {
    let mut messages = store.read_messages(aggregate_id, 0).await?;
    let mut chain = Follower::new(aggregate_id, None);
    while let Some(message) = messages.next().await {
        let message = message?;
        let sequence = message.sequence;
        if sequence > root.sequence {
            // Stored after the root was read: not part of this export.
            break;
        }
        match chain.step(message) {
            Step::Extends(event) => car.write_block(&event.cid, &event.bytes)?,
            Step::Stepped(fault) => {
                tracing::debug!(aggregate_id, %fault, "message not exported: not part of the chain");
            }
        }
        if sequence == root.sequence {
            // Nothing after the root belongs in this export: dropping the read ends it
            // (and frees its consumer).
            break;
        }
    }
    let reached = chain.tail().map_err(Error::BrokenChain)?.head;
    if reached.map(|h| h.cid) != Some(root.cid) {
        return Err(Error::ExportRootMismatch(Box::new(RootMismatch {
            aggregate_id: aggregate_id.to_owned(),
            root: *root,
            reached,
        })));
    }
    Ok(())
}

/// An aggregate's chain, read up to the stream sequence of the root an export wrote for
/// it, does not end at that root ([`Error::ExportRootMismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the chain of aggregate `{aggregate_id}` does not end at the exported root {} (stream sequence {}): it reaches {}",
    root.cid,
    root.sequence,
    describe(reached)
)]
#[non_exhaustive]
pub struct RootMismatch {
    /// The aggregate exported.
    pub aggregate_id: String,
    /// The head read when the export started, written as the root.
    pub root: Head,
    /// Where its chain ends at the root's stream sequence (`None`: no events).
    pub reached: Option<Head>,
}

fn describe(head: &Option<Head>) -> String {
    match head {
        None => "no event".to_owned(),
        Some(h) => format!(
            "version {} ({}) at stream sequence {}",
            h.version, h.cid, h.sequence
        ),
    }
}

/// A CARv1 file read back: its roots and blocks, each block's CID checked against its
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarContents {
    /// Root CIDs from the header.
    pub roots: Vec<Cid>,
    /// `(cid, bytes)` in file order.
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

/// Reads a CARv1 file and re-verifies every block's CID. A block whose bytes do not hash
/// to its CID, or a malformed file, is an error naming the block.
pub fn read_car(mut input: impl Read) -> Result<CarContents> {
    let bad = |what: String| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what));
    let header = read_section(&mut input)?.ok_or_else(|| bad("empty CAR file".into()))?;
    let header: Ipld = serde_ipld_dagcbor::from_slice(&header)
        .map_err(|e| bad(format!("CAR header is not DAG-CBOR: {e}")))?;
    let roots = match &header {
        Ipld::Map(m) if m.get("version") == Some(&Ipld::Integer(1)) => match m.get("roots") {
            Some(Ipld::List(roots)) => roots
                .iter()
                .map(|r| match r {
                    Ipld::Link(c) => Ok(*c),
                    _ => Err(bad("CAR root is not a CID".into())),
                })
                .collect::<Result<Vec<_>>>()?,
            _ => return Err(bad("CAR header has no roots".into())),
        },
        _ => return Err(bad("not a CARv1 header".into())),
    };
    let mut blocks = Vec::new();
    while let Some(section) = read_section(&mut input)? {
        let mut cursor = std::io::Cursor::new(&section);
        let cid = Cid::read_bytes(&mut cursor)
            .map_err(|e| bad(format!("block {}: bad CID: {e}", blocks.len())))?;
        let data = section[cursor.position() as usize..].to_vec();
        if cid_of(&data) != cid {
            return Err(bad(format!(
                "block {} claims {cid} but hashes to {}",
                blocks.len(),
                cid_of(&data)
            )));
        }
        blocks.push((cid, data));
    }
    Ok(CarContents { roots, blocks })
}

fn read_section(input: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let len = match unsigned_varint::io::read_u64(&mut *input) {
        Ok(len) => len,
        Err(unsigned_varint::io::ReadError::Io(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            )));
        }
    };
    if len > MAX_SECTION {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("CAR section of {len} bytes exceeds the {MAX_SECTION}-byte limit"),
        )));
    }
    let mut buf = vec![0; len as usize];
    input.read_exact(&mut buf)?;
    Ok(Some(buf))
}
