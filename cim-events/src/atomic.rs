//! Atomic commits across aggregates: the events of several aggregates stored all together
//! or not at all, each aggregate's concurrency check enforced by the store.
//!
//! On JetStream the commit is one ADR-50 atomic batch in which the first message of each
//! aggregate carries that aggregate's own `Nats-Expected-Last-Subject-Sequence` (and
//! `…-Subject`): the server checks every expectation at the commit, and with any one stale
//! refuses the whole batch. The memory store checks them all under one lock. Every chain
//! stays linear and verifiable on its own; the commit id, recorded under
//! [`COMMIT_META_KEY`] in every event's `meta`, ties the events of one commit together.
//!
//! The pipeline is the single-aggregate one ([`crate::append`]) over several tails: check
//! every expectation, seal every part after its tail, publish once. A refusal re-reads
//! every tail from the authority; an unknown outcome is settled by the first aggregate,
//! since a commit is stored whole or not at all.

use std::collections::BTreeSet;

use crate::append::{
    Attempts, Landed, at_head, check_type, conflict, known, pause, resolve_unknown,
};
use crate::error::{Error, Result};
use crate::expected::ExpectedVersion;
use crate::metadata::EventMetadata;
use crate::prepared::PreparedAppend;
use crate::seal::{MAX_BATCH, SealedEvent, check_sizes};
use crate::store::{EventStore, Published};
use crate::tail::Tail;

/// The `meta` key under which every event of an atomic commit records the commit's id.
pub const COMMIT_META_KEY: &str = "cim.commit";

/// One aggregate's share of an atomic commit, as a store publishes it: its events, sealed
/// after `after`, stored only if nothing was stored on the aggregate's subjects since
/// `after.last_sequence`.
#[derive(Debug, Clone, Copy)]
pub struct AtomicPart<'a> {
    /// The aggregate.
    pub aggregate_id: &'a str,
    /// Its events, sealed after `after.head`.
    pub events: &'a [SealedEvent],
    /// The tail they were sealed on.
    pub after: &'a Tail,
}

/// The events of several aggregates, to be stored together or not at all
/// ([`EventStore::append_atomic`]). Each aggregate comes once, with its own expectation;
/// every event records the commit's id under [`COMMIT_META_KEY`] in its `meta`.
///
/// Like a [`PreparedAppend`], an `AtomicAppend` is stored at most once: appended again
/// after a transient error (or a success whose answer was lost), it answers where its
/// events are if an earlier attempt stored them.
///
/// ```
/// use cim_events::{AtomicAppend, Error, Event, EventHeader, EventStore, ExpectedVersion};
/// use cim_events::{MemoryEventStore, PreparedAppend};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Noted { id: String }
/// # impl Event for Noted {
/// #     fn event_type(&self) -> &str { "Noted" }
/// #     fn aggregate_id(&self) -> &str { &self.id }
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryEventStore::new();
/// let header = EventHeader::default();
/// let a = PreparedAppend::new("a", &[Noted { id: "a".into() }], &header)?;
/// let b = PreparedAppend::new("b", &[Noted { id: "b".into() }], &header)?;
/// let commit = AtomicAppend::new([(a, ExpectedVersion::NoStream), (b, ExpectedVersion::NoStream)])?;
/// let stored = store.append_atomic(&commit).await?;
/// assert_eq!(stored[1][0].sequence, stored[0][0].sequence + 1); // stored together
///
/// // One stale expectation: nothing of the commit is stored.
/// let a = PreparedAppend::new("a", &[Noted { id: "a".into() }], &header)?;
/// let b = PreparedAppend::new("b", &[Noted { id: "b".into() }], &header)?;
/// let stale = AtomicAppend::new([(a, ExpectedVersion::Exact(1)), (b, ExpectedVersion::NoStream)])?;
/// assert!(matches!(store.append_atomic(&stale).await, Err(Error::Conflict(c)) if c.aggregate_id == "b"));
/// assert_eq!((store.load("a").await?.len(), store.load("b").await?.len()), (1, 1));
/// # Ok::<(), cim_events::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct AtomicAppend {
    commit_id: String,
    parts: Vec<(PreparedAppend, ExpectedVersion)>,
}

impl AtomicAppend {
    /// The commit of `parts`, each an aggregate's events with what its head must be. Fails
    /// with [`Error::EmptyAppend`] without parts, [`Error::DuplicateAggregate`] when an
    /// aggregate comes twice, and [`Error::BatchTooLarge`] beyond [`MAX_BATCH`] events in
    /// all.
    pub fn new(parts: impl IntoIterator<Item = (PreparedAppend, ExpectedVersion)>) -> Result<Self> {
        Self::with_id(uuid::Uuid::now_v7().to_string(), parts)
    }

    /// [`new`](Self::new) with the commit id given (a command's, so that a resend seals
    /// the same blocks).
    pub(crate) fn with_id(
        commit_id: String,
        parts: impl IntoIterator<Item = (PreparedAppend, ExpectedVersion)>,
    ) -> Result<Self> {
        let parts: Vec<_> = parts.into_iter().collect();
        if parts.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let mut seen = BTreeSet::new();
        for (prepared, _) in &parts {
            if !seen.insert(prepared.aggregate_id()) {
                return Err(Error::DuplicateAggregate {
                    aggregate_id: prepared.aggregate_id().to_owned(),
                });
            }
        }
        let count = parts.iter().map(|(prepared, _)| prepared.len()).sum();
        if count > MAX_BATCH {
            return Err(Error::BatchTooLarge {
                count,
                max: MAX_BATCH,
            });
        }
        let parts = parts
            .into_iter()
            .map(|(prepared, expected)| (prepared.with_meta(COMMIT_META_KEY, &commit_id), expected))
            .collect();
        Ok(AtomicAppend { commit_id, parts })
    }

    /// The commit id every event records under [`COMMIT_META_KEY`].
    pub fn commit_id(&self) -> &str {
        &self.commit_id
    }

    /// The aggregates, in commit order.
    pub fn aggregate_ids(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .map(|(prepared, _)| prepared.aggregate_id())
    }

    /// How many events the commit holds in all.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|(prepared, _)| prepared.len()).sum()
    }

    /// Always `false`: a commit holds at least one event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stores `commit` atomically; the metadata of each part's events, in commit order.
pub(crate) async fn append_atomic<S: EventStore + ?Sized>(
    store: &S,
    commit: &AtomicAppend,
) -> Result<Vec<Vec<EventMetadata>>> {
    for (prepared, _) in &commit.parts {
        crate::schema::registry::ensure(store, prepared.shapes()).await?;
        prepared.encrypt(store.encryption()).await?;
    }
    let policy = store.retry_policy();
    let mut attempts = Attempts::default();
    if let Some(stored) = stored_earlier(store, commit).await? {
        return Ok(stored);
    }
    let mut tails = Vec::with_capacity(commit.parts.len());
    for (prepared, expected) in &commit.parts {
        tails.push(match expected.known_head() {
            Some(head) => known(store, prepared, head).await?,
            None => store.tail(prepared.aggregate_id(), false).await?,
        });
    }
    let mut fresh = vec![false; commit.parts.len()];
    'attempt: loop {
        for (i, (prepared, expected)) in commit.parts.iter().enumerate() {
            if !expected.matches(tails[i].head.as_ref()) {
                if fresh[i] {
                    return Err(conflict(prepared.aggregate_id(), *expected, tails[i].head));
                }
                // A cached or given tail may be behind: ask the authority before refusing.
                tails[i] = store.tail(prepared.aggregate_id(), true).await?;
                fresh[i] = true;
                continue 'attempt;
            }
            check_type(prepared.aggregate_id(), &tails[i], prepared)?;
        }
        let sealed = seal_all(store, commit, &tails)?;
        let parts = parts_of(commit, &sealed, &tails);
        match store.publish_atomic(&parts).await {
            Ok(Published::Stored { last_sequence }) => {
                mark_sealed(commit, &tails);
                return spread(&sealed, last_sequence);
            }
            Ok(Published::Refused) => {
                crate::observe::append::refused(store.store_kind());
                let actual = fresh_tails(store, commit).await?;
                // The very blocks we sealed are stored (a resend): all or none, so the
                // first aggregate says.
                if let Some(first) = at_head(&sealed[0], &actual[0]) {
                    return spread_from(&sealed, &first?);
                }
                // What was stored since may be an earlier attempt of ours landing late.
                if let Some(stored) = stored_earlier(store, commit).await? {
                    return Ok(stored);
                }
                let stale = commit
                    .parts
                    .iter()
                    .zip(&actual)
                    .position(|((_, expected), tail)| !expected.matches(tail.head.as_ref()));
                let moved = || {
                    (0..commit.parts.len())
                        .find(|&i| actual[i] != tails[i])
                        .unwrap_or(0)
                };
                match stale {
                    Some(i) => return Err(part_conflict(commit, i, &actual[i])),
                    None if attempts.conflicts >= policy.conflicts => {
                        let i = moved();
                        return Err(part_conflict(commit, i, &actual[i]));
                    }
                    None => {}
                }
                attempts.conflicts += 1;
                crate::observe::append::retry(store.store_kind(), "conflict", attempts.total());
                pause(attempts.conflicts, policy.conflict_backoff).await;
                tails = actual;
                fresh.fill(true);
            }
            Err(error) if error.is_transient() => {
                crate::observe::append::unknown_outcome(store.store_kind(), &error);
                mark_sealed(commit, &tails);
                // Stored whole or not at all: the first aggregate settles it.
                match resolve_unknown(
                    store,
                    &sealed[0],
                    tails[0].last_sequence,
                    error,
                    &mut attempts,
                )
                .await?
                {
                    Landed::Stored(first) => return spread_from(&sealed, &first),
                    Landed::Missing(_) => {
                        tails = fresh_tails(store, commit).await?;
                        fresh.fill(true);
                    }
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Seals every part after its tail, and checks the sizes.
fn seal_all<S: EventStore + ?Sized>(
    store: &S,
    commit: &AtomicAppend,
    tails: &[Tail],
) -> Result<Vec<Vec<SealedEvent>>> {
    let mut sealed = Vec::with_capacity(commit.parts.len());
    for ((prepared, _), tail) in commit.parts.iter().zip(tails) {
        let events = prepared.seal(store.subject_prefix(), tail.head.as_ref())?;
        check_sizes(&events, store.max_event_size())?;
        sealed.push(events);
    }
    Ok(sealed)
}

fn parts_of<'a>(
    commit: &'a AtomicAppend,
    sealed: &'a [Vec<SealedEvent>],
    tails: &'a [Tail],
) -> Vec<AtomicPart<'a>> {
    commit
        .parts
        .iter()
        .zip(sealed)
        .zip(tails)
        .map(|(((prepared, _), events), after)| AtomicPart {
            aggregate_id: prepared.aggregate_id(),
            events,
            after,
        })
        .collect()
}

/// Every part's tail, from the authority.
async fn fresh_tails<S: EventStore + ?Sized>(
    store: &S,
    commit: &AtomicAppend,
) -> Result<Vec<Tail>> {
    let mut tails = Vec::with_capacity(commit.parts.len());
    for (prepared, _) in &commit.parts {
        tails.push(store.tail(prepared.aggregate_id(), true).await?);
    }
    Ok(tails)
}

/// Records on every part the tail an attempt that stored the commit, or may have, sealed
/// it on.
fn mark_sealed(commit: &AtomicAppend, tails: &[Tail]) {
    for ((prepared, _), tail) in commit.parts.iter().zip(tails) {
        prepared.set_sealed_on(tail.clone());
    }
}

/// Where the commit is stored, if an earlier attempt stored it: looked up by its first
/// aggregate, since a commit is stored whole or not at all.
async fn stored_earlier<S: EventStore + ?Sized>(
    store: &S,
    commit: &AtomicAppend,
) -> Result<Option<Vec<Vec<EventMetadata>>>> {
    let Some(tails) = commit
        .parts
        .iter()
        .map(|(prepared, _)| prepared.sealed_on())
        .collect::<Option<Vec<Tail>>>()
    else {
        return Ok(None);
    };
    let sealed = seal_all(store, commit, &tails)?;
    let now = store.tail(commit.parts[0].0.aggregate_id(), true).await?;
    match crate::append::landed(store, &sealed[0], tails[0].last_sequence, &now).await? {
        Landed::Stored(first) => spread_from(&sealed, &first).map(Some),
        Landed::Missing(_) => Ok(None),
    }
}

/// The metadata of every part, stored consecutively in commit order, the last event at
/// `last_sequence`.
fn spread(sealed: &[Vec<SealedEvent>], last_sequence: u64) -> Result<Vec<Vec<EventMetadata>>> {
    let all: Vec<SealedEvent> = sealed.iter().flatten().cloned().collect();
    let mut metadata = crate::append::metadata(&all, last_sequence)?.into_iter();
    Ok(sealed
        .iter()
        .map(|part| metadata.by_ref().take(part.len()).collect())
        .collect())
}

/// [`spread`] from the stored metadata of the first part.
fn spread_from(
    sealed: &[Vec<SealedEvent>],
    first: &[EventMetadata],
) -> Result<Vec<Vec<EventMetadata>>> {
    let start = first.first().map_or(0, |m| m.sequence);
    let count: u64 = sealed.iter().map(|part| part.len() as u64).sum();
    spread(sealed, start.saturating_add(count).saturating_sub(1))
}

fn part_conflict(commit: &AtomicAppend, i: usize, actual: &Tail) -> Error {
    let (prepared, expected) = &commit.parts[i];
    conflict(prepared.aggregate_id(), *expected, actual.head)
}
