//! [`pin_heads`]: pin every aggregate's current head that the node holds, after a mirror
//! that stopped without its last pin round.

use super::client::KuboClient;
use super::error::IpfsError;
use crate::error::Result;
use crate::head::Head;
use crate::store::EventStore;

/// What [`pin_heads`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PinnedHeads {
    /// Heads pinned (the node held them).
    pub pinned: Vec<(String, Head)>,
    /// Aggregates whose head the node does not hold yet: the mirror has not reached it,
    /// and its next pin round pins it.
    pub not_on_node: Vec<String>,
}

/// Pins the current head of every aggregate of `store` that the node already holds
/// (`block/stat`, then a recursive `pin/add`).
///
/// A mirror pins per round, so one that died between rounds (without
/// [`flush_pins`](super::IpfsMirror::flush_pins)) leaves the heads it put since its last
/// round unpinned until their aggregates move again. Run this before starting the mirror
/// again: the mirror's next round finds these pins and unpins the older heads.
///
/// ```no_run
/// use cim_events::ipfs::{KuboClient, pin_heads};
/// # async fn demo(store: cim_events::MemoryEventStore) -> cim_events::Result<()> {
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// let done = pin_heads(&store, &node).await?;
/// eprintln!("{} heads pinned, {} not mirrored yet", done.pinned.len(), done.not_on_node.len());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Ipfs`](crate::Error::Ipfs) when the node fails; a store error.
pub async fn pin_heads<S: EventStore + ?Sized>(
    store: &S,
    client: &KuboClient,
) -> Result<PinnedHeads> {
    let mut done = PinnedHeads::default();
    for id in store.aggregate_ids().await? {
        let Some(head) = store.head(&id).await? else {
            continue;
        };
        match client.block_stat(&head.cid).await {
            Ok(_) => {
                client.pin_add(&head.cid).await?;
                done.pinned.push((id, head));
            }
            Err(IpfsError::Refused { .. }) => done.not_on_node.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}
