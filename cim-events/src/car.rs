//! CARv1 export and import, so any history can be checked with standard IPFS/IPLD tools.
//!
//! A CARv1 file is a varint-prefixed DAG-CBOR header `{roots: [CID…], version: 1}` followed
//! by varint-prefixed sections `CID bytes ‖ block bytes`. Exports put the head CID(s) in
//! the roots and the blocks from head to genesis, so a reader can walk `prev` links in
//! file order.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::block::cid_of;
use crate::error::{Error, Result};
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

/// Exports one aggregate: root = its head, blocks from head to genesis.
pub async fn export_aggregate<S: EventStore + ?Sized>(
    store: &S,
    aggregate_id: &str,
    out: impl Write,
) -> Result<CarSummary> {
    export(store, &[aggregate_id.to_owned()], out, |_, _| {}).await
}

/// Exports every aggregate of the store: roots = every head, then each aggregate's blocks
/// from head to genesis. `progress(done, total)` is called after each aggregate.
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
    let mut chains = Vec::with_capacity(ids.len());
    for id in ids {
        validate_token(TokenKind::AggregateId, id)?;
        let records = store.read_raw(id, 1).await?;
        chains.push(records);
    }
    let roots = chains
        .iter()
        .filter_map(|records| records.last().map(|r| cid_of(&r.data)))
        .collect();
    let mut car = CarWriter::new(out, roots)?;
    for (done, records) in chains.iter().enumerate() {
        for record in records.iter().rev() {
            car.write_block(&cid_of(&record.data), &record.data)?;
        }
        progress(done + 1, ids.len());
    }
    car.finish()
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
