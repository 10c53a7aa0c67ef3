//! Importing existing blocks into a store, as they are: every CID stays the same.
//!
//! This is how a history moves between stores: from a CAR file ([`import_car`]), from an
//! IPFS node, or from another store. The blocks are stored exactly as they were written,
//! so the imported chain has the same CIDs, and a head trusted before the move is still
//! the head after it.
//!
//! # Verified on the way in and after
//!
//! [`import_chain`] checks every block before it stores any: that it hashes to its CID,
//! that it is canonical DAG-CBOR of wire format v1, that every block is of one aggregate,
//! with versions from 1 and each `prev` linking to the block before. Any fault is an
//! [`ImportError`] naming the block, and nothing is stored. Once stored, the aggregate's
//! chain is read back and verified ([`EventStore::verify_chain`]); a fault there is
//! [`ImportError::NotVerified`] with the report.
//!
//! # Resuming, and what is already there
//!
//! An import into a store that already holds the start of the same chain (an import that
//! stopped midway) stores only the rest; one that already holds all of it (or a chain
//! that extends it) stores nothing. A store holding a *different* history for the
//! aggregate is refused with [`ImportError::Diverges`]: an import never forks a chain.
//!
//! # What an import bypasses
//!
//! The blocks are not re-sealed, so nothing of the append pipeline that builds blocks
//! applies: no schema registration, no encryption (encrypted values stay as they were
//! sealed, readable with the same keys), and no trace context.
//!
//! ```
//! # use cim_events::{EventStore, ExpectedVersion, MemoryEventStore, car, import};
//! # #[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
//! # struct Ping { id: String }
//! # impl cim_events::Event for Ping {
//! #     fn event_type(&self) -> &str { "Ping" }
//! #     fn aggregate_id(&self) -> &str { &self.id }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cim_events::Result<()> {
//! let old = MemoryEventStore::new();
//! let ping = Ping { id: "p-1".into() };
//! old.append_events("p-1", vec![ping.clone(), ping], ExpectedVersion::Any).await?;
//!
//! let mut file = Vec::new();
//! car::export_store(&old, &mut file, |_, _| {}).await?;
//!
//! let new = MemoryEventStore::new();
//! let contents = car::read_car(file.as_slice())?;
//! let reports = import::import_car(&new, &contents, |_, _| {}).await?;
//! assert_eq!(reports[0].stored, 2);
//! // The same blocks, so the same head CID.
//! let cid = |h: Option<cim_events::Head>| h.map(|h| h.cid);
//! assert_eq!(cid(new.head("p-1").await?), cid(old.head("p-1").await?));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;

use cid::Cid;

use crate::block::{DecodeError, EventBlock, cid_of};
use crate::car::CarContents;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::seal::{MAX_BATCH, SealedEvent, check_sizes};
use crate::store::{EventStore, Published};
use crate::subject::{TokenKind, event_subject, validate_token};
use crate::tail::Tail;
use crate::verify::ChainReport;

/// What an import of one aggregate's chain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The aggregate imported.
    pub aggregate_id: String,
    /// Its head in the store after the import (`None`: an empty chain was imported into
    /// an aggregate without events).
    pub head: Option<Head>,
    /// Blocks this import stored.
    pub stored: u64,
    /// Blocks of the chain the store held already.
    pub already_present: u64,
}

/// Why blocks could not be imported. Nothing of the chain is stored, except for
/// [`ImportError::NotVerified`], which is found after storing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A block's bytes do not hash to the CID it came with.
    #[error("block {index} claims {claimed} but hashes to {actual}")]
    HashMismatch {
        /// Its position in the chain (0: genesis).
        index: usize,
        /// The CID it came with.
        claimed: Cid,
        /// The CID of its bytes.
        actual: Cid,
    },
    /// A block is not an event block of wire format v1.
    #[error("block {index} ({cid}) is not an event block: {source}")]
    NotAnEvent {
        /// Its position in the chain.
        index: usize,
        /// Its CID.
        cid: Cid,
        /// Why.
        source: DecodeError,
    },
    /// A block belongs to another aggregate than the chain's first block.
    #[error("block {index} ({cid}) is of aggregate `{found}`, the chain is of `{expected}`")]
    OtherAggregate {
        /// Its position in the chain.
        index: usize,
        /// Its CID.
        cid: Cid,
        /// The chain's aggregate.
        expected: String,
        /// The block's.
        found: String,
    },
    /// A block does not follow the one before it: wrong version or `prev`.
    #[error(
        "block {index} ({cid}) does not follow the block before it: version {found_version} \
         linking to {found_prev:?}, expected version {expected_version} linking to {expected_prev:?}"
    )]
    BrokenLink {
        /// Its position in the chain.
        index: usize,
        /// Its CID.
        cid: Cid,
        /// The version it should have.
        expected_version: u64,
        /// What its `prev` should be.
        expected_prev: Option<Cid>,
        /// The version it has.
        found_version: u64,
        /// Its `prev`.
        found_prev: Option<Cid>,
    },
    /// A block that a chain links to is not among the blocks given (a CAR that holds only
    /// part of a chain).
    #[error("block {cid}, linked from {linked_from}, is missing")]
    MissingBlock {
        /// The missing block.
        cid: Cid,
        /// The block whose `prev` names it (or the root itself).
        linked_from: Cid,
    },
    /// The store holds a different history for the aggregate: at `version` its chain has
    /// `stored`, the import has `imported` (or the import is shorter than the stored
    /// chain, and the stored chain does not extend it).
    #[error(
        "aggregate `{aggregate_id}` holds a different history: at version {version} the store has \
         {stored:?}, the import has {imported:?}"
    )]
    Diverges {
        /// The aggregate.
        aggregate_id: String,
        /// Where they differ.
        version: u64,
        /// The stored block there (`None`: the store's messages after the import started
        /// are not events).
        stored: Option<Cid>,
        /// The imported block there (`None`: the import does not reach that version).
        imported: Option<Cid>,
    },
    /// The chain read back after the import does not verify.
    #[error("aggregate `{}` does not verify after the import: {} faults", .0.aggregate_id, .0.faults.len())]
    NotVerified(Box<ChainReport>),
}

impl From<ImportError> for Error {
    fn from(e: ImportError) -> Error {
        Error::Import(Box::new(e))
    }
}

/// Imports one aggregate's chain, `blocks` genesis first, as `(cid, bytes)`: verified
/// before anything is stored, stored as it is (same CIDs) in atomic batches of at most
/// [`MAX_BATCH`] events, and verified again from the store. Resumes after a prefix the
/// store holds already. See [the module docs](self).
pub async fn import_chain<S: EventStore + ?Sized>(
    store: &S,
    blocks: &[(Cid, Vec<u8>)],
) -> Result<ImportReport> {
    let sealed = check_chain(store.subject_prefix(), blocks)?;
    let Some(first) = sealed.first() else {
        return Ok(ImportReport {
            aggregate_id: String::new(),
            head: None,
            stored: 0,
            already_present: 0,
        });
    };
    let aggregate_id = first.block.aggregate_id.clone();
    check_sizes(&sealed, store.max_event_size())?;

    let mut tail = store.tail(&aggregate_id, true).await?;
    let present = match tail.head {
        None => 0,
        Some(head) => already_present(store, &aggregate_id, &sealed, head).await?,
    };
    let mut stored = 0;
    for batch in sealed[present..].chunks(MAX_BATCH) {
        match store.publish(&aggregate_id, batch, &tail).await? {
            Published::Stored { last_sequence } => {
                let last = &batch[batch.len() - 1];
                tail = Tail {
                    head: Some(Head {
                        version: last.block.seq,
                        cid: last.cid,
                        sequence: last_sequence,
                    }),
                    last_sequence,
                    aggregate_type: Some(last.block.aggregate_type.clone()),
                };
                stored += batch.len() as u64;
            }
            // Another writer appended meanwhile: what it wrote is not this chain.
            Published::Refused => {
                let head = store.head(&aggregate_id).await?;
                return Err(diverged(&aggregate_id, head, &sealed));
            }
        }
    }

    let report = store.verify_chain(&aggregate_id).await?;
    if !report.is_valid() {
        return Err(ImportError::NotVerified(Box::new(report)).into());
    }
    Ok(ImportReport {
        aggregate_id: aggregate_id.clone(),
        head: store.head(&aggregate_id).await?,
        stored,
        already_present: present as u64,
    })
}

/// Imports every chain of a CAR file: one per root, walked from the root through `prev`
/// among the file's blocks (block order in the file does not matter; blocks no root
/// reaches are ignored). `progress(done, total)` is called after each stored batch and
/// each aggregate, in blocks. Stops at the first chain that fails, after storing the
/// chains before it.
pub async fn import_car<S: EventStore + ?Sized>(
    store: &S,
    car: &CarContents,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<ImportReport>> {
    let by_cid: HashMap<Cid, &[u8]> = car
        .blocks
        .iter()
        .map(|(cid, bytes)| (*cid, bytes.as_slice()))
        .collect();
    let chains = car
        .roots
        .iter()
        .map(|root| walk_back(*root, &by_cid))
        .collect::<Result<Vec<_>>>()?;
    let total = chains.iter().map(|c| c.len() as u64).sum();
    let mut done = 0;
    let mut reports = Vec::with_capacity(chains.len());
    for chain in chains {
        let report = import_chain(store, &chain).await?;
        done += chain.len() as u64;
        progress(done, total);
        reports.push(report);
    }
    Ok(reports)
}

/// The chain ending at `root`, genesis first, from `blocks`.
fn walk_back(root: Cid, blocks: &HashMap<Cid, &[u8]>) -> Result<Vec<(Cid, Vec<u8>)>> {
    let mut chain = Vec::new();
    let mut next = Some((root, root));
    // The root's version is the chain's length: a walk that goes on longer (a `prev`
    // below version 1, a cycle) stops there, and the forward check reports the fault.
    let mut length = None;
    while let Some((cid, linked_from)) = next {
        let bytes = blocks
            .get(&cid)
            .ok_or(ImportError::MissingBlock { cid, linked_from })?;
        let block = EventBlock::decode(bytes).map_err(|source| ImportError::NotAnEvent {
            index: chain.len(),
            cid,
            source,
        })?;
        let length = *length.get_or_insert(block.seq);
        chain.push((cid, bytes.to_vec()));
        next = match block.prev {
            Some(prev) if (chain.len() as u64) < length => Some((prev, cid)),
            _ => None,
        };
    }
    chain.reverse();
    Ok(chain)
}

/// Checks `blocks` as one chain, genesis first, and returns them ready to publish.
fn check_chain(prefix: &str, blocks: &[(Cid, Vec<u8>)]) -> Result<Vec<SealedEvent>> {
    let mut sealed: Vec<SealedEvent> = Vec::with_capacity(blocks.len());
    for (index, (cid, bytes)) in blocks.iter().enumerate() {
        let actual = cid_of(bytes);
        if actual != *cid {
            return Err(ImportError::HashMismatch {
                index,
                claimed: *cid,
                actual,
            }
            .into());
        }
        let block = EventBlock::decode(bytes).map_err(|source| ImportError::NotAnEvent {
            index,
            cid: *cid,
            source,
        })?;
        if let Some(first) = sealed.first() {
            if block.aggregate_id != first.block.aggregate_id {
                return Err(ImportError::OtherAggregate {
                    index,
                    cid: *cid,
                    expected: first.block.aggregate_id.clone(),
                    found: block.aggregate_id,
                }
                .into());
            }
        } else {
            validate_token(TokenKind::AggregateId, &block.aggregate_id)?;
        }
        validate_token(TokenKind::EventType, &block.event_type)?;
        let expected_prev = sealed.last().map(|s| s.cid);
        if block.seq != index as u64 + 1 || block.prev != expected_prev {
            return Err(ImportError::BrokenLink {
                index,
                cid: *cid,
                expected_version: index as u64 + 1,
                expected_prev,
                found_version: block.seq,
                found_prev: block.prev,
            }
            .into());
        }
        sealed.push(SealedEvent {
            subject: event_subject(prefix, &block.aggregate_id, &block.event_type),
            block,
            bytes: bytes.clone().into(),
            cid: *cid,
            traceparent: None,
        });
    }
    Ok(sealed)
}

/// How many of `chain`'s blocks the store holds already, its head being `head`: all of
/// them when the stored chain extends the import's head, a prefix when the import extends
/// the stored head.
async fn already_present<S: EventStore + ?Sized>(
    store: &S,
    aggregate_id: &str,
    chain: &[SealedEvent],
    head: Head,
) -> Result<usize> {
    let at = usize::try_from(head.version.saturating_sub(1)).unwrap_or(usize::MAX);
    match chain.get(at) {
        Some(block) if block.cid == head.cid => Ok(at + 1),
        Some(_) => Err(diverged(aggregate_id, Some(head), chain)),
        // The store's chain is longer: it holds the whole import if it extends its head.
        None => {
            let last = chain[chain.len() - 1].cid;
            let extension = store.verify_from(aggregate_id, last).await?;
            if extension.extends() {
                Ok(chain.len())
            } else {
                Err(diverged(aggregate_id, Some(head), chain))
            }
        }
    }
}

fn diverged(aggregate_id: &str, head: Option<Head>, chain: &[SealedEvent]) -> Error {
    let (version, stored) = head.map_or((0, None), |h| (h.version, Some(h.cid)));
    let imported = usize::try_from(version.saturating_sub(1))
        .ok()
        .and_then(|i| chain.get(i))
        .map(|s| s.cid);
    ImportError::Diverges {
        aggregate_id: aggregate_id.to_owned(),
        version,
        stored,
        imported,
    }
    .into()
}
