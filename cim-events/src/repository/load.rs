//! Loading an aggregate in the repository: from a snapshot when one is configured and
//! still matches, otherwise from its first event; and catching up after a lost race.

use std::collections::BTreeSet;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::observe::repository::loaded as observed;
use crate::store::EventStore;
use crate::subject::{TokenKind, validate_token};
use tracing::field::Empty;

use super::Repository;
use super::error::LoadError;
use super::outcome::Loaded;
use super::replay::{Opening, replay};
use super::snapshots::{SnapshotUse, Snapshots};

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// Rebuilds the aggregate's state from its stored events, starting from a snapshot
    /// when one is configured and valid. An aggregate with no events loads as
    /// `A::default()` at version 0. A chain that ends before the aggregate's
    /// [`anchor`](EventStore::anchor) fails with [`Error::Truncated`].
    pub async fn load(&self, aggregate_id: &str) -> Result<Loaded<A>, LoadError> {
        Ok(self.load_seeking(aggregate_id, None).await?.0)
    }

    /// [`load`](Self::load), looking on the way for the events of command `seek`: whether
    /// the events replayed record it, and whether they were the whole chain (not after a
    /// snapshot), so that a command with an id costs one read when it is new.
    #[tracing::instrument(level = "debug", name = "cim_events.repository.load", skip_all, fields(
        aggregate_type = A::AGGREGATE_TYPE, aggregate_id = aggregate_id,
        version = Empty, cid = Empty, replayed = Empty, snapshot = Empty,
    ))]
    pub(crate) async fn load_seeking(
        &self,
        aggregate_id: &str,
        seek: Option<&str>,
    ) -> Result<(Loaded<A>, Sought), LoadError> {
        validate_token(TokenKind::AggregateId, aggregate_id).map_err(Error::from)?;
        // Read first: an anchor never runs ahead of the chain read after it.
        let anchor = self.store.anchor(aggregate_id).await?;
        let (loaded, sought) = self.load_unanchored(aggregate_id, seek).await?;
        crate::anchor::check_head(aggregate_id, anchor, loaded.head).map_err(Error::Truncated)?;
        Ok((loaded, sought))
    }

    /// [`load_seeking`](Self::load_seeking) without the anchor check.
    async fn load_unanchored(
        &self,
        aggregate_id: &str,
        seek: Option<&str>,
    ) -> Result<(Loaded<A>, Sought), LoadError> {
        let mut snapshot = SnapshotUse::Absent;
        if let Some(snapshots) = &self.snapshots {
            match self.load_from_snapshot(snapshots, aggregate_id).await? {
                // Events before the snapshot were not replayed: not looked at.
                Ok(loaded) => return Ok((observed(loaded), Sought::default())),
                Err(SnapshotUse::Ignored(reason)) => {
                    tracing::warn!(
                        aggregate_type = A::AGGREGATE_TYPE,
                        aggregate_id,
                        %reason,
                        "snapshot ignored; replaying the aggregate from its first event"
                    );
                    snapshot = SnapshotUse::Ignored(reason);
                }
                Err(_) => {}
            }
        }
        let mut state = A::default();
        let mut data_keys = BTreeSet::new();
        let messages = self.store.read_messages(aggregate_id, 0).await?;
        let opening = Opening {
            seek,
            ..self.opening(&mut data_keys)
        };
        let replayed = replay(&mut state, aggregate_id, messages, None, opening).await?;
        let sought = Sought {
            whole_chain: true,
            found: replayed.sought,
        };
        let loaded = observed(Loaded {
            state,
            version: replayed.version(),
            head: replayed.head,
            replayed: replayed.count,
            snapshot,
            data_keys,
        });
        Ok((loaded, sought))
    }

    /// Loads from the snapshot if it is there and valid, reading only the messages from
    /// the snapshot's stream sequence on; otherwise says why not.
    async fn load_from_snapshot(
        &self,
        snapshots: &Snapshots<A>,
        aggregate_id: &str,
    ) -> Result<Result<Loaded<A>, SnapshotUse>, LoadError> {
        let candidate = match snapshots.candidate(aggregate_id).await {
            Ok(Some(candidate)) => candidate,
            Ok(None) => return Ok(Err(SnapshotUse::Absent)),
            Err(reason) => return Ok(Err(SnapshotUse::Ignored(reason))),
        };
        let mut messages = self
            .store
            .read_messages(aggregate_id, candidate.sequence.saturating_sub(1))
            .await?;
        let first = futures::StreamExt::next(&mut messages).await.transpose()?;
        let start = match candidate.check(first.as_ref()) {
            Ok(head) => head,
            Err(reason) => return Ok(Err(SnapshotUse::Ignored(reason))),
        };
        let version = candidate.version;
        let mut state = candidate.state;
        let mut data_keys = candidate.data_keys;
        let opening = self.opening(&mut data_keys);
        let replayed = replay(&mut state, aggregate_id, messages, Some(start), opening).await?;
        Ok(Ok(Loaded {
            state,
            version: replayed.version(),
            head: replayed.head,
            replayed: replayed.count,
            snapshot: SnapshotUse::Used { version },
            data_keys,
        }))
    }

    /// The state as it was before version `version`: the chain's events below it only,
    /// replayed from the first (no snapshot, no cache). What a decision was made on, to
    /// make it again.
    pub(crate) async fn load_before(
        &self,
        aggregate_id: &str,
        version: u64,
    ) -> Result<Loaded<A>, LoadError> {
        let messages = self.store.read_messages(aggregate_id, 0).await?;
        let below = futures::StreamExt::take_while(messages, move |message| {
            let keep = message.as_ref().map_or(true, |record| {
                crate::block::EventBlock::decode(&record.data).map_or(true, |b| b.seq < version)
            });
            std::future::ready(keep)
        });
        let mut state = A::default();
        let mut data_keys = BTreeSet::new();
        let opening = self.opening(&mut data_keys);
        let replayed = replay(&mut state, aggregate_id, Box::pin(below), None, opening).await?;
        Ok(Loaded {
            state,
            version: replayed.version(),
            head: replayed.head,
            replayed: replayed.count,
            snapshot: SnapshotUse::Absent,
            data_keys,
        })
    }

    /// Applies the events stored since `loaded` was loaded, reading only the messages
    /// after its head. Events are facts and `apply` is deterministic, so this gives the
    /// same state as a fresh load, for the cost of the new events only.
    pub(super) async fn catch_up(
        &self,
        aggregate_id: &str,
        loaded: &mut Loaded<A>,
    ) -> Result<(), LoadError> {
        let after = loaded.head.map_or(0, |head| head.sequence);
        let messages = self.store.read_messages(aggregate_id, after).await?;
        let opening = Opening {
            crypto: self.store.encryption(),
            data_keys: &mut loaded.data_keys,
            seek: None,
        };
        let replayed = replay(
            &mut loaded.state,
            aggregate_id,
            messages,
            loaded.head,
            opening,
        )
        .await?;
        loaded.version = replayed.version();
        loaded.head = replayed.head;
        loaded.replayed += replayed.count;
        Ok(())
    }

    /// What a replay decrypts with, collecting data keys into `data_keys`.
    fn opening<'a>(&'a self, data_keys: &'a mut BTreeSet<String>) -> Opening<'a> {
        Opening {
            crypto: self.store.encryption(),
            data_keys,
            seek: None,
        }
    }
}

/// What a [`load_seeking`](Repository::load_seeking) saw of the command it looked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sought {
    /// The events replayed were the whole chain: if `found` is false, the command is not
    /// in it.
    pub whole_chain: bool,
    /// An event replayed records the command.
    pub found: bool,
}
