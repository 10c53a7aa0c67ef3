//! Rebuilding a state from stored messages by the chain rule ([`crate::chain`]).

use std::collections::BTreeSet;

use futures::StreamExt;

use crate::aggregate::Aggregate;
use crate::chain::{Follower, Step};
use crate::command_id::COMMAND_META_KEY;
use crate::crypto::Crypto;
use crate::error::Error;
use crate::head::Head;
use crate::store::RawStream;

use super::error::LoadError;

/// Where a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// The newest event applied, or the starting head if there was none.
    pub head: Option<Head>,
    /// How many events were applied.
    pub count: u64,
    /// How many messages were stepped over (not part of the chain).
    pub stepped: u64,
    /// Whether an event applied records the command id sought ([`Opening::seek`]).
    pub sought: bool,
}

/// What a replay decrypts with, and the data keys of the values it decrypted.
pub(crate) struct Opening<'a> {
    pub crypto: Option<&'a Crypto>,
    pub data_keys: &'a mut BTreeSet<String>,
    /// A command id to look for in the events' `meta` on the way (see
    /// [`Replayed::sought`]): a command with an id is looked for in the chain it loads.
    pub seek: Option<&'a str>,
}

impl Replayed {
    /// The aggregate version reached.
    pub(crate) fn version(&self) -> u64 {
        self.head.map_or(0, |h| h.version)
    }
}

/// Applies to `state`, in order, the events of `messages` that extend the chain after
/// `start` (`None`: from the first event).
///
/// Each event must be the next version and link to the CID of the one before it (the CID
/// computed from the stored bytes, not one read from a header). A message that does not is
/// stepped over and logged, never applied: a replay never builds a state from a history
/// with a gap, a duplicate or a foreign event in it. An event of the chain that is of
/// another aggregate type than `A`, or whose payload does not decode into `A::Event`, is an
/// error.
pub(crate) async fn replay<A: Aggregate>(
    state: &mut A,
    aggregate_id: &str,
    mut messages: RawStream,
    start: Option<Head>,
    opening: Opening<'_>,
) -> Result<Replayed, LoadError> {
    let mut chain = Follower::new(aggregate_id, start);
    let mut count = 0;
    let mut stepped = 0;
    let mut sought = false;
    while let Some(message) = messages.next().await {
        let mut recorded = match chain.step(message?) {
            Step::Extends(recorded) => recorded,
            Step::Stepped(fault) => {
                tracing::warn!(
                    aggregate_type = A::AGGREGATE_TYPE,
                    aggregate_id,
                    %fault,
                    "message stepped over: not part of the aggregate's chain"
                );
                stepped += 1;
                crate::observe::read::stepped_over("replay");
                continue;
            }
        };
        let version = recorded.version();
        if opening.seek.is_some()
            && recorded
                .block
                .meta
                .get(COMMAND_META_KEY)
                .map(String::as_str)
                == opening.seek
        {
            sought = true;
        }
        if recorded.block.aggregate_type != A::AGGREGATE_TYPE {
            return Err(LoadError::Store(Error::AggregateTypeMismatch {
                aggregate_id: aggregate_id.to_owned(),
                chain: recorded.block.aggregate_type.clone(),
                event: A::AGGREGATE_TYPE.to_owned(),
            }));
        }
        if opening.crypto.is_some() {
            crate::crypto::open(opening.crypto, &mut recorded)
                .await
                .map_err(|source| LoadError::Decode {
                    aggregate_id: aggregate_id.to_owned(),
                    version,
                    source: Box::new(source),
                })?;
            // Only keys whose values decrypted: a shredded one left no plaintext behind.
            if let Some(opened) = &recorded.opened {
                opening.data_keys.extend(opened.keys.iter().cloned());
            }
        }
        let event = recorded
            .into_event::<A::Event>()
            .map_err(|source| LoadError::Decode {
                aggregate_id: aggregate_id.to_owned(),
                version,
                source: Box::new(source),
            })?;
        state.apply(&event);
        count += 1;
    }
    Ok(Replayed {
        head: chain.tail().map_err(LoadError::BrokenChain)?.head,
        count,
        stepped,
        sought,
    })
}
