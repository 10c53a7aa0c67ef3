//! Restore and verify an aggregate's chain from an IPFS node alone, given its head CID.

use std::fmt;

use cid::Cid;

use super::client::{KuboClient, same_block};
use super::error::IpfsError;
use crate::block::{DecodeError, EventBlock, cid_of};
use crate::error::Result;
use crate::import::{ImportReport, import_chain};
use crate::store::EventStore;

/// One aggregate's chain as fetched from a node: the verdict and the blocks.
#[derive(Debug, Clone)]
pub struct RestoredChain {
    /// What the walk found.
    pub report: IpfsChainReport,
    /// The blocks fetched and verified, oldest first: the whole chain, genesis first,
    /// when the report is valid; otherwise the blocks verified above the fault.
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

/// The outcome of walking a chain on an IPFS node from its head down to genesis, the
/// counterpart of [`ChainReport`](crate::ChainReport) for a chain read by CID instead of
/// from a stream. A fault is located by the CID the walk asked for, the version that
/// belongs there, and the block whose `prev` led to it. The walk stops at the first
/// fault: below it nothing can be trusted to be part of this chain.
#[derive(Debug, Clone, PartialEq)]
pub struct IpfsChainReport {
    /// The head CID the walk started from.
    pub head: Cid,
    /// The aggregate the head names (`None` if the head itself is faulty).
    pub aggregate_id: Option<String>,
    /// The head's version: how many events the chain should hold.
    pub version: Option<u64>,
    /// Blocks fetched and found sound.
    pub verified: u64,
    /// The fault that stopped the walk, if any. Empty means the chain is intact.
    pub faults: Vec<IpfsFault>,
}

impl IpfsChainReport {
    /// Whether the chain is intact from its head down to genesis.
    pub fn is_valid(&self) -> bool {
        self.faults.is_empty()
    }
}

/// One fault, located at the block where it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct IpfsFault {
    /// The CID asked for.
    pub cid: Cid,
    /// The version that belongs at that place in the chain (`None` for the head, whose
    /// version is what its block says).
    pub version: Option<u64>,
    /// The block whose `prev` is `cid` (`None` for the head).
    pub linked_from: Option<Cid>,
    /// What is wrong.
    pub kind: IpfsFaultKind,
}

/// What is wrong at one place of a chain on a node.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IpfsFaultKind {
    /// The node does not give the block: it refused `block/get` (it does not have it) or
    /// did not answer in time (an online node searching the network for it).
    Missing(IpfsError),
    /// The bytes the node gave do not hash to the CID asked for: the block was altered on
    /// the node, or stored under another codec or hash.
    HashMismatch {
        /// The CID of the bytes given.
        actual: Cid,
    },
    /// The bytes hash correctly but are not an event block of wire format v1.
    Undecodable(DecodeError),
    /// The block belongs to another aggregate than the head.
    WrongAggregate {
        /// The aggregate the block names.
        found: String,
    },
    /// The link does not lead to the previous event: the block found holds another
    /// version (`found`), or genesis (`found` 1) holds a `prev`, or a later event holds
    /// none (`prev` is `None`).
    BrokenLink {
        /// The version the block holds.
        found: u64,
        /// The block's `prev`.
        prev: Option<Cid>,
    },
}

impl fmt::Display for IpfsFaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpfsFaultKind::Missing(e) => write!(f, "missing on the node: {e}"),
            IpfsFaultKind::HashMismatch { actual } => {
                write!(f, "the node's bytes hash to {actual}")
            }
            IpfsFaultKind::Undecodable(e) => write!(f, "not an event block: {e}"),
            IpfsFaultKind::WrongAggregate { found } => {
                write!(f, "block belongs to aggregate `{found}`")
            }
            IpfsFaultKind::BrokenLink { found, prev } => write!(
                f,
                "block holds version {found} with prev {}",
                prev.map_or("null".to_owned(), |c| c.to_string())
            ),
        }
    }
}

impl fmt::Display for IpfsFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {}", self.cid)?;
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        if let Some(from) = self.linked_from {
            write!(f, ", prev of {from}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// Fetches the chain that ends at `head` from the node, one `block/get` per event,
/// following `prev` down to genesis, and verifies every block on the way: its bytes hash
/// to the CID asked for, it decodes as a canonical event block, it belongs to the head's
/// aggregate, and its version is one less than the block that linked to it, down to a
/// genesis (version 1) without `prev`. Nothing is trusted from the node but bytes that
/// hash to the CID asked for.
///
/// ```no_run
/// use cim_events::ipfs::{KuboClient, restore_chain};
/// # async fn demo(head: cim_events::Cid) -> Result<(), cim_events::ipfs::IpfsError> {
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// let restored = restore_chain(&node, head).await?;
/// for fault in &restored.report.faults {
///     eprintln!("{fault}");
/// }
/// println!("{} blocks verified", restored.blocks.len());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Only when the node cannot be reached ([`IpfsError::Unreachable`]): then nothing is
/// known about the chain. A block the node refuses or does not give in time is a located
/// [`IpfsFaultKind::Missing`] in the report.
pub async fn restore_chain(client: &KuboClient, head: Cid) -> Result<RestoredChain, IpfsError> {
    let mut report = IpfsChainReport {
        head,
        aggregate_id: None,
        version: None,
        verified: 0,
        faults: Vec::new(),
    };
    let mut blocks = Vec::new();
    let mut next = Some((head, None::<Cid>, None::<u64>));
    while let Some((cid, linked_from, version)) = next.take() {
        let fault = |kind| IpfsFault {
            cid,
            version,
            linked_from,
            kind,
        };
        let bytes = match client.block_get(&cid).await {
            Ok(bytes) => bytes,
            Err(e @ IpfsError::Unreachable { .. }) => return Err(e),
            Err(e) => {
                report.faults.push(fault(IpfsFaultKind::Missing(e)));
                break;
            }
        };
        let actual = cid_of(&bytes);
        if !same_block(&actual, &cid) {
            report
                .faults
                .push(fault(IpfsFaultKind::HashMismatch { actual }));
            break;
        }
        let block = match EventBlock::decode(&bytes) {
            Ok(block) => block,
            Err(e) => {
                report.faults.push(fault(IpfsFaultKind::Undecodable(e)));
                break;
            }
        };
        match &report.aggregate_id {
            None => {
                report.aggregate_id = Some(block.aggregate_id.clone());
                report.version = Some(block.seq);
            }
            Some(id) if *id != block.aggregate_id => {
                report.faults.push(fault(IpfsFaultKind::WrongAggregate {
                    found: block.aggregate_id,
                }));
                break;
            }
            Some(_) => {}
        }
        let broken = IpfsFaultKind::BrokenLink {
            found: block.seq,
            prev: block.prev,
        };
        if version.is_some_and(|v| v != block.seq) || (block.seq == 1) != block.prev.is_none() {
            report.faults.push(fault(broken));
            break;
        }
        report.verified += 1;
        next = block
            .prev
            .map(|prev| (prev, Some(cid), Some(block.seq - 1)));
        blocks.push((cid, bytes));
    }
    blocks.reverse();
    Ok(RestoredChain { report, blocks })
}

/// What [`restore_into`] did.
#[derive(Debug, Clone)]
pub struct Restore {
    /// What the walk on the node found.
    pub report: IpfsChainReport,
    /// What the import stored; `None` when the chain on the node is faulty, and then
    /// nothing was stored.
    pub import: Option<ImportReport>,
}

/// Fetches and verifies the chain that ends at `head` from the node ([`restore_chain`]),
/// then, if it is intact, imports it into `store` as it is, every CID the same, through
/// [`import_chain`] (which verifies every block again, resumes a store that holds the
/// start of the chain, refuses one that holds another history, and verifies the stored
/// chain after). A faulty chain is reported and nothing is stored.
///
/// ```no_run
/// use cim_events::ipfs::{KuboClient, restore_into};
/// use cim_events::{EventStore, MemoryEventStore};
/// # async fn demo(head: cim_events::Cid) -> cim_events::Result<()> {
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// let store = MemoryEventStore::new();
/// let restored = restore_into(&node, head, &store).await?;
/// match restored.import {
///     Some(import) => assert!(store.verify_chain(&import.aggregate_id).await?.is_valid()),
///     None => eprintln!("not restored: {:?}", restored.report.faults),
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Ipfs`](crate::Error::Ipfs) when the node cannot be reached;
/// [`Error::Import`](crate::Error::Import) when the store refuses the chain (it holds
/// another history); a store error.
pub async fn restore_into<S: EventStore + ?Sized>(
    client: &KuboClient,
    head: Cid,
    store: &S,
) -> Result<Restore> {
    let RestoredChain { report, blocks } = restore_chain(client, head).await?;
    let import = if report.is_valid() {
        Some(import_chain(store, &blocks).await?)
    } else {
        None
    };
    Ok(Restore { report, import })
}
