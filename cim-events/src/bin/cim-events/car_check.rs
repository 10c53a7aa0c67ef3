//! `verify --car FILE`: a CAR file's chains checked offline, without a server. Every
//! block is hashed against its CID; from each root (an aggregate's head) the chain is
//! walked back by `prev` to its genesis: each block must be there, decode as an event of
//! the root's aggregate, and hold the version before the one that links to it. A block on
//! no root's chain is a fault too. Faults are located by block index and CID.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::Path;

use cim_events::block::{EventBlock, cid_of};
use cim_events::{Cid, Ipld};

use crate::output::{Failure, progress};
use crate::verify::{Located, Report};

/// Largest section read, as the library's CAR reader allows.
const MAX_SECTION: u64 = 64 * 1024 * 1024;

/// One block of the file.
struct Block {
    index: u64,
    data: Vec<u8>,
}

/// Verifies the CAR file at `path`.
pub fn verify_car(path: &Path) -> Result<Report, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::msg(format!("cannot open {}: {e}", path.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(total, "bytes");
    let mut input = BufReader::new(bar.wrap_read(file));
    let header = section(&mut input)?.ok_or_else(|| Failure::msg("empty CAR file"))?;
    let roots = roots(&header)?;
    let mut report = Report::default();
    let mut blocks: HashMap<Cid, Block> = HashMap::new();
    let mut index = 0u64;
    while let Some(section) = section(&mut input)? {
        let mut cursor = std::io::Cursor::new(&section);
        let cid = Cid::read_bytes(&mut cursor)
            .map_err(|e| Failure::msg(format!("block {index}: bad CID: {e}")))?;
        let data = section[cursor.position() as usize..].to_vec();
        let actual = cid_of(&data);
        if actual != cid {
            report.faults.push(fault(
                "?",
                None,
                index,
                &actual,
                "hash_mismatch",
                format!("bytes hash to {actual}, the file claims {cid}"),
            ));
        }
        blocks.insert(cid, Block { index, data });
        index += 1;
    }
    bar.finish_and_clear();
    let mut reached: HashSet<Cid> = HashSet::new();
    for root in &roots {
        walk(*root, &blocks, &mut reached, &mut report);
    }
    let mut unreached: Vec<(&Cid, &Block)> = blocks
        .iter()
        .filter(|(cid, _)| !reached.contains(cid))
        .collect();
    unreached.sort_by_key(|(_, b)| b.index);
    for (cid, block) in unreached {
        report.events += 1;
        report.faults.push(fault(
            "?",
            None,
            block.index,
            cid,
            "unreachable",
            "the block is on no root's chain".to_owned(),
        ));
    }
    report.aggregates = roots.len() as u64;
    Ok(report)
}

/// Walks one root's chain back to its genesis.
fn walk(root: Cid, blocks: &HashMap<Cid, Block>, reached: &mut HashSet<Cid>, report: &mut Report) {
    let mut next = Some(root);
    let mut aggregate: Option<String> = None;
    let mut expected_version: Option<u64> = None;
    while let Some(cid) = next.take() {
        let name = aggregate.clone().unwrap_or_else(|| "?".to_owned());
        let Some(block) = blocks.get(&cid) else {
            let what = if cid == root { "root" } else { "prev" };
            report.faults.push(Located {
                aggregate: name,
                version: expected_version,
                sequence: None,
                block: None,
                cid: Some(cid.to_string()),
                kind: "missing_block",
                detail: format!("the {what} block is not in the file"),
            });
            return;
        };
        if !reached.insert(cid) {
            // Already walked (two roots on one chain, or a cycle): nothing new below.
            return;
        }
        report.events += 1;
        let event = match EventBlock::decode(&block.data) {
            Ok(event) => event,
            Err(e) => {
                report.faults.push(fault(
                    &name,
                    expected_version,
                    block.index,
                    &cid,
                    "undecodable",
                    format!("undecodable block: {e}"),
                ));
                return;
            }
        };
        let name = aggregate
            .get_or_insert_with(|| event.aggregate_id.clone())
            .clone();
        if event.aggregate_id != name {
            report.faults.push(fault(
                &name,
                Some(event.seq),
                block.index,
                &cid,
                "wrong_aggregate",
                format!("block belongs to aggregate `{}`", event.aggregate_id),
            ));
            return;
        }
        if let Some(expected) = expected_version {
            if event.seq != expected {
                report.faults.push(fault(
                    &name,
                    Some(event.seq),
                    block.index,
                    &cid,
                    "sequence_gap",
                    format!("version {} where {expected} should be", event.seq),
                ));
                return;
            }
        }
        match (event.seq, event.prev) {
            (1, None) => return,
            (1, Some(prev)) | (0, Some(prev)) => {
                report.faults.push(fault(
                    &name,
                    Some(event.seq),
                    block.index,
                    &cid,
                    "broken_link",
                    format!("version {} links to {prev}", event.seq),
                ));
                return;
            }
            (seq, None) => {
                report.faults.push(fault(
                    &name,
                    Some(seq),
                    block.index,
                    &cid,
                    "broken_link",
                    format!("version {seq} has no prev: the chain stops before its genesis"),
                ));
                return;
            }
            (seq, Some(prev)) => {
                expected_version = Some(seq - 1);
                next = Some(prev);
            }
        }
    }
}

fn fault(
    aggregate: &str,
    version: Option<u64>,
    block: u64,
    cid: &Cid,
    kind: &'static str,
    detail: String,
) -> Located {
    Located {
        aggregate: aggregate.to_owned(),
        version,
        sequence: None,
        block: Some(block),
        cid: Some(cid.to_string()),
        kind,
        detail,
    }
}

/// The roots of a CARv1 header.
fn roots(header: &[u8]) -> Result<Vec<Cid>, Failure> {
    let header: Ipld = serde_ipld_dagcbor::from_slice(header)
        .map_err(|e| Failure::msg(format!("the CAR header is not DAG-CBOR: {e}")))?;
    let Ipld::Map(map) = header else {
        return Err(Failure::msg("not a CARv1 header"));
    };
    if map.get("version") != Some(&Ipld::Integer(1)) {
        return Err(Failure::msg("not a CARv1 file (version is not 1)"));
    }
    match map.get("roots") {
        Some(Ipld::List(roots)) => roots
            .iter()
            .map(|r| match r {
                Ipld::Link(cid) => Ok(*cid),
                _ => Err(Failure::msg("a CAR root is not a CID")),
            })
            .collect(),
        _ => Err(Failure::msg("the CAR header has no roots")),
    }
}

/// The next varint-prefixed section, `None` at the end of the file.
fn section(input: &mut impl Read) -> Result<Option<Vec<u8>>, Failure> {
    let len = match unsigned_varint::io::read_u64(&mut *input) {
        Ok(len) => len,
        Err(unsigned_varint::io::ReadError::Io(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Failure::msg(format!("malformed CAR section length: {e}"))),
    };
    if len > MAX_SECTION {
        return Err(Failure::msg(format!(
            "a CAR section of {len} bytes exceeds the {MAX_SECTION}-byte limit"
        )));
    }
    let mut buf = vec![0; len as usize];
    input
        .read_exact(&mut buf)
        .map_err(|e| Failure::msg(format!("truncated CAR file: {e}")))?;
    Ok(Some(buf))
}
