//! The append pipeline every store shares: check the expectation, seal after the tail,
//! size-check, publish, and resolve every failure into "stored exactly once" or a typed
//! error. A store implements only [`EventStore::tail`] and [`EventStore::publish`].
//!
//! - **Schemas first.** A handle's first append of an event type registers the type's
//!   shapes ([`crate::schema`]) before anything is sealed: a drift fails the append with
//!   nothing stored.
//! - **Known head, one request.** [`ExpectedVersion::After`] names the head the caller
//!   knows (the aggregate type of its chain, which a head does not carry, comes from the
//!   store's tail as this handle holds it: cached after its writes, else one read);
//!   otherwise the store's [`tail`](EventStore::tail) may answer from what this handle last
//!   wrote or read. Either way the events are sealed and published at once,
//!   and the server's check ("nothing stored on the aggregate since this sequence") is the
//!   authority: a stale tail is refused, never forked, and only then is the aggregate read.
//! - **Refusals.** After a refusal the tail is read from the authority. `Any`, and an
//!   expectation that still holds (the tail was stale only in its last message: a foreign
//!   message after the head), seal again on it, a bounded number of times with jittered
//!   backoff; other expectations report the conflict with the actual head.
//! - **Unknown outcomes.** A transient error after the request went out (a timeout, a lost
//!   connection) may hide a stored append. The pipeline reads the tail to find out, and
//!   seals any retry on the tail that showed the events missing, so an attempt landing late
//!   has the same CIDs and is deduplicated (`Nats-Msg-Id` is the CID). When the retry
//!   budget runs out, the error is returned.
//! - **Stored at most once.** The [`PreparedAppend`] remembers the tail of the latest
//!   attempt that stored its events or may have, after a success as after an unknown
//!   outcome. Appending it again first looks for the events there and, if they are
//!   stored, returns their metadata and stores nothing; so does a refusal after an unknown
//!   outcome, since the attempt that landed late is what the server refused to build on.

use std::collections::HashMap;

use cid::Cid;
use futures::StreamExt;

use crate::backoff;
use crate::block::cid_of;
use crate::error::{ConflictError, Error, Result};
use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::metadata::EventMetadata;
use crate::prepared::PreparedAppend;
use crate::seal::{SealedEvent, check_append, check_sizes};
use crate::store::{EventStore, Published};
use crate::tail::Tail;

/// Appends `prepared` if the aggregate's head satisfies `expected`.
pub(crate) async fn append<S: EventStore + ?Sized>(
    store: &S,
    prepared: &PreparedAppend,
    expected: ExpectedVersion,
) -> Result<Vec<EventMetadata>> {
    let id = prepared.aggregate_id();
    check_append(id, prepared.len())?;
    // The first append of an event type through this handle registers its shapes, and
    // stops here on a drift; later ones cost one set lookup.
    crate::schema::registry::ensure(store, prepared.shapes()).await?;
    // `Pii` values are encrypted once, before the first seal (or refused without a key
    // store); a retry seals the same ciphertexts.
    prepared.encrypt(store.encryption()).await?;
    let policy = store.retry_policy();
    let mut attempts = Attempts::default();
    if prepared.sealed_on().is_some() {
        // An earlier append of these very events stored them, or may have.
        let now = store.tail(id, true).await?;
        if let Some(stored) = stored_earlier(store, prepared, &now).await? {
            return Ok(stored);
        }
    }
    let (mut tail, mut fresh) = match expected.known_head() {
        Some(head) => (known(store, prepared, head).await?, false),
        None => (store.tail(id, false).await?, false),
    };
    loop {
        if !expected.matches(tail.head.as_ref()) {
            if fresh {
                return Err(conflict(id, expected, tail.head));
            }
            // A cached or given tail may be behind: ask the authority before refusing.
            tail = store.tail(id, true).await?;
            fresh = true;
            continue;
        }
        check_type(id, &tail, prepared)?;
        let sealed = prepared.seal(store.subject_prefix(), tail.head.as_ref())?;
        check_sizes(&sealed, store.max_event_size())?;
        match store.publish(id, &sealed, &tail).await {
            Ok(Published::Stored { last_sequence }) => {
                prepared.set_sealed_on(tail);
                return metadata(&sealed, last_sequence);
            }
            Ok(Published::Refused) => {
                crate::observe::append::refused(store.store_kind());
                let actual = store.tail(id, true).await?;
                // The very blocks we sealed (a command with an id, sent again) are stored.
                if let Some(stored) = at_head(&sealed, &actual) {
                    prepared.set_found_stored();
                    return stored;
                }
                // What was stored since may be an earlier attempt of ours landing late.
                if let Some(stored) = stored_earlier(store, prepared, &actual).await? {
                    return Ok(stored);
                }
                if !expected.matches(actual.head.as_ref()) || attempts.conflicts >= policy.conflicts
                {
                    return Err(conflict(id, expected, actual.head));
                }
                attempts.conflicts += 1;
                crate::observe::append::retry(store.store_kind(), "conflict", attempts.total());
                pause(attempts.conflicts, policy.conflict_backoff).await;
                (tail, fresh) = (actual, true);
            }
            Err(error) if error.is_transient() => {
                crate::observe::append::unknown_outcome(store.store_kind(), &error);
                prepared.set_sealed_on(tail.clone());
                match resolve_unknown(store, &sealed, tail.last_sequence, error, &mut attempts)
                    .await?
                {
                    Landed::Stored(stored) => return Ok(stored),
                    // Sealed again on the tail that showed the append missing, the events
                    // get the same CIDs if the head has not moved: should the first attempt
                    // still land, the resend is deduplicated instead of stored after it.
                    Landed::Missing(now) => (tail, fresh) = (now, true),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// The tail of a head the caller knows, with the chain's aggregate type, which a head does
/// not carry: vouched for by the caller (the repository), or from the tail this handle
/// holds (cached from its last write or read of the aggregate, else read once), so that
/// events of another type are refused on this path too. When that tail is at the known
/// head it is used whole (its last message may lie after the head).
pub(crate) async fn known<S: EventStore + ?Sized>(
    store: &S,
    prepared: &PreparedAppend,
    head: Head,
) -> Result<Tail> {
    if prepared.is_chain_type_known() {
        return Ok(Tail {
            head: Some(head),
            last_sequence: head.sequence,
            aggregate_type: Some(prepared.aggregate_type().to_owned()),
        });
    }
    let seen = store.tail(prepared.aggregate_id(), false).await?;
    if seen.head == Some(head) {
        return Ok(seen);
    }
    Ok(Tail {
        head: Some(head),
        last_sequence: head.sequence,
        aggregate_type: seen.aggregate_type,
    })
}

/// Refuses events of one aggregate type on the chain of another.
pub(crate) fn check_type(aggregate_id: &str, tail: &Tail, prepared: &PreparedAppend) -> Result<()> {
    match &tail.aggregate_type {
        Some(chain) if chain != prepared.aggregate_type() => Err(Error::AggregateTypeMismatch {
            aggregate_id: aggregate_id.to_owned(),
            chain: chain.clone(),
            event: prepared.aggregate_type().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Where the events of `prepared` are stored, if the latest attempt that may have stored
/// them did, given the aggregate's tail `now`; `None` if no attempt is known to have stored
/// them.
async fn stored_earlier<S: EventStore + ?Sized>(
    store: &S,
    prepared: &PreparedAppend,
    now: &Tail,
) -> Result<Option<Vec<EventMetadata>>> {
    let Some(base) = prepared.sealed_on() else {
        return Ok(None);
    };
    let sealed = prepared.seal(store.subject_prefix(), base.head.as_ref())?;
    match landed(store, &sealed, base.last_sequence, now).await? {
        Landed::Stored(stored) => Ok(Some(stored)),
        Landed::Missing(_) => Ok(None),
    }
}

/// After an unknown outcome, reads the tail until it is known whether `sealed` (sealed on a
/// tail whose last message is at stream sequence `after`) landed.
pub(crate) async fn resolve_unknown<S: EventStore + ?Sized>(
    store: &S,
    sealed: &[SealedEvent],
    after: u64,
    mut error: Error,
    attempts: &mut Attempts,
) -> Result<Landed> {
    let policy = store.retry_policy();
    loop {
        if attempts.transient >= policy.transient {
            return Err(error);
        }
        attempts.transient += 1;
        crate::observe::append::retry(store.store_kind(), "transient", attempts.total());
        pause(attempts.transient, policy.transient_backoff).await;
        let outcome = match store.tail(sealed_id(sealed), true).await {
            Ok(now) => landed(store, sealed, after, &now).await,
            Err(e) => Err(e),
        };
        match outcome {
            Err(e) if e.is_transient() => error = e,
            other => return other,
        }
    }
}

fn sealed_id(sealed: &[SealedEvent]) -> &str {
    sealed.first().map_or("", |s| s.block.aggregate_id.as_str())
}

/// Whether `sealed`, sealed on a tail whose last message is at stream sequence `after`, is
/// stored, given the aggregate's tail `now`: found by the CIDs of the messages stored after
/// `after` (the server stores nothing of an append before that), read as a stream.
pub(crate) async fn landed<S: EventStore + ?Sized>(
    store: &S,
    sealed: &[SealedEvent],
    after: u64,
    now: &Tail,
) -> Result<Landed> {
    let (Some(first), Some(last), Some(current)) = (sealed.first(), sealed.last(), &now.head)
    else {
        return Ok(Landed::Missing(now.clone()));
    };
    if current.cid == last.cid {
        return metadata(sealed, current.sequence).map(Landed::Stored);
    }
    if current.version < last.block.seq {
        return Ok(Landed::Missing(now.clone()));
    }
    // Someone appended after us, or another event took our version: look.
    let wanted: HashMap<Cid, usize> = sealed
        .iter()
        .enumerate()
        .map(|(i, event)| (event.cid, i))
        .collect();
    let mut found: Vec<Option<u64>> = vec![None; sealed.len()];
    let mut missing = sealed.len();
    let mut messages = store
        .read_messages(&first.block.aggregate_id, after)
        .await?;
    while missing > 0 {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message?;
        if let Some(&i) = wanted.get(&cid_of(&message.data)) {
            if found[i].is_none() {
                found[i] = Some(message.sequence);
                missing -= 1;
            }
        }
    }
    match missing {
        n if n == sealed.len() => Ok(Landed::Missing(now.clone())),
        0 => Ok(Landed::Stored(
            sealed
                .iter()
                .zip(found.into_iter().flatten())
                .map(|(event, sequence)| event.metadata(sequence))
                .collect(),
        )),
        _ => Err(Error::Backend {
            operation: "append",
            message: "part of an atomic batch is missing".to_owned(),
            transient: false,
        }),
    }
}

/// The metadata of `sealed` if its last block is the head of `now`: content addressing
/// says they are stored, whoever stored them (a resend of a command with an id seals the
/// same blocks; nats-server checks the expected sequence before its duplicate window, so
/// it refuses such a resend instead of dropping it).
pub(crate) fn at_head(sealed: &[SealedEvent], now: &Tail) -> Option<Result<Vec<EventMetadata>>> {
    let (last, head) = (sealed.last()?, now.head.as_ref()?);
    (last.cid == head.cid).then(|| metadata(sealed, head.sequence))
}

/// What the chain shows after an unknown outcome.
#[derive(Debug)]
pub(crate) enum Landed {
    /// The append is stored, at these positions.
    Stored(Vec<EventMetadata>),
    /// Nothing of it is stored; the tail as it was read.
    Missing(Tail),
}

/// Retries spent by one append.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    pub(crate) conflicts: u32,
    pub(crate) transient: u32,
}

impl Attempts {
    /// Every retry so far.
    pub(crate) fn total(&self) -> u32 {
        self.conflicts.saturating_add(self.transient)
    }
}

/// Waits before retry `attempt`: a jittered backoff, or, with a zero backoff (a store
/// whose refusals are resolved in memory), one yield to the other tasks.
pub(crate) async fn pause(attempt: u32, (base, cap): (std::time::Duration, std::time::Duration)) {
    if base.is_zero() {
        backoff::yield_now().await;
    } else {
        backoff::sleep(attempt, base, cap).await;
    }
}

/// Metadata of sealed events stored consecutively, the last at `last_sequence` (as the
/// store acknowledged it: a sequence too small to hold them all is an error, not an
/// overflow).
pub(crate) fn metadata(sealed: &[SealedEvent], last_sequence: u64) -> Result<Vec<EventMetadata>> {
    let before_last = u64::try_from(sealed.len().saturating_sub(1)).unwrap_or(u64::MAX);
    let first = last_sequence
        .checked_sub(before_last)
        .filter(|&first| first > 0)
        .ok_or_else(|| Error::Backend {
            operation: "append",
            message: format!(
                "the store acknowledged {} events ending at stream sequence {last_sequence}",
                sealed.len()
            ),
            transient: false,
        })?;
    Ok(sealed
        .iter()
        .zip(first..)
        .map(|(event, sequence)| event.metadata(sequence))
        .collect())
}

pub(crate) fn conflict(
    aggregate_id: &str,
    expected: ExpectedVersion,
    actual: Option<Head>,
) -> Error {
    ConflictError {
        aggregate_id: aggregate_id.to_owned(),
        expected,
        actual,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::EventHeader;
    use crate::seal::{prepare, seal};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Ping {
        id: String,
    }

    impl crate::Event for Ping {
        fn event_type(&self) -> &str {
            "Ping"
        }
        fn aggregate_id(&self) -> &str {
            &self.id
        }
    }

    fn sealed(count: usize) -> Vec<SealedEvent> {
        let pings: Vec<Ping> = (0..count).map(|_| Ping { id: "a".into() }).collect();
        let prepared = prepare("a", &pings, &EventHeader::default()).expect("prepare");
        seal("events", "a", None, &prepared).expect("seal")
    }

    #[test]
    fn metadata_counts_back_from_the_acknowledged_sequence() {
        let sequences: Vec<u64> = metadata(&sealed(3), 7)
            .expect("fits")
            .iter()
            .map(|m| m.sequence)
            .collect();
        assert_eq!(sequences, [5, 6, 7]);
    }

    /// An acknowledgement naming a sequence that cannot end the batch (a broken or
    /// hostile server) is an error, not an arithmetic overflow.
    #[test]
    fn an_impossible_acknowledged_sequence_is_an_error() {
        for (count, sequence) in [(3, 1), (3, 2), (1, 0)] {
            assert!(
                matches!(
                    metadata(&sealed(count), sequence),
                    Err(Error::Backend {
                        transient: false,
                        ..
                    })
                ),
                "{count} events ending at {sequence}"
            );
        }
    }
}
