//! Turning async-nats errors into this crate's typed errors, and telling apart the
//! failures an append must treat differently: a lost race, a write whose outcome is
//! unknown, and a failure that stored nothing.

use std::error::Error as StdError;
use std::fmt::Display;

use async_nats::jetstream::context::{
    CreateStreamError, CreateStreamErrorKind, GetStreamError, GetStreamErrorKind, PublishError,
    PublishErrorKind,
};

use crate::error::Error;

/// Server error code: wrong last sequence (the expected-sequence check failed).
pub(crate) const WRONG_LAST_SEQUENCE: u64 = 10071;
/// Server error code: wrong last sequence, as clustered streams report it.
pub(crate) const WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10164;
/// Server error code: the per-subject expected sequence cannot be checked right now.
const EXPECTED_LAST_SEQ_NOT_READY: u64 = 10163;
/// Server error code: an atomic batch arrived incomplete (a message was lost on the way).
const ATOMIC_INCOMPLETE_BATCH: u64 = 10176;
/// Server error code: an atomic batch holds a message id already stored — an earlier
/// attempt of the same append may have landed.
const ATOMIC_DUPLICATE_MESSAGE: u64 = 10201;
/// Server error code: too many atomic batches in flight.
const ATOMIC_TOO_MANY_INFLIGHT: u64 = 10210;
/// Server error code: storing the message failed (`JSStreamStoreFailedF`). With a
/// description of `maximum messages exceeded`, `maximum bytes exceeded` or `maximum
/// messages per subject exceeded` it is a stream limit under `discard: new` refusing the
/// write: see [`limit_reached`].
const STREAM_STORE_FAILED: u64 = 10077;
/// Server error code: the stream has no leader (election in progress).
pub(crate) const CLUSTER_NOT_AVAILABLE: u64 = 10008;
/// Server error code: the stream is not the leader.
const CLUSTER_NOT_LEADER: u64 = 10009;
/// Server error code: the stream was not found.
pub(crate) const STREAM_NOT_FOUND: u64 = 10059;
/// Server error code: a stream with that name exists with another configuration (someone
/// else created it first).
pub(crate) const STREAM_NAME_IN_USE: u64 = 10058;

/// A backend failure.
pub(crate) fn backend(operation: &'static str, err: impl Display, transient: bool) -> Error {
    Error::Backend {
        operation,
        message: err.to_string(),
        transient,
    }
}

/// The JetStream API error code carried somewhere in `err`'s source chain. Stream
/// lookups and creations keep it in their error kind rather than in a source, so those
/// are looked into too.
pub(crate) fn api_code(err: &(dyn StdError + 'static)) -> Option<u64> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(api) = e.downcast_ref::<async_nats::jetstream::Error>() {
            return Some(api.error_code().0);
        }
        if let Some(e) = e.downcast_ref::<GetStreamError>() {
            if let GetStreamErrorKind::JetStream(api) = e.kind() {
                return Some(api.error_code().0);
            }
        }
        if let Some(e) = e.downcast_ref::<CreateStreamError>() {
            if let CreateStreamErrorKind::JetStream(api) = e.kind() {
                return Some(api.error_code().0);
            }
        }
        current = e.source();
    }
    None
}

/// What a failed publish means for the append.
#[derive(Debug)]
pub(crate) enum PublishFailure {
    /// The expected-sequence check failed: another writer got there first. Nothing of
    /// this append was stored.
    Conflict,
    /// The request may or may not have been stored (timeout, lost connection): read the
    /// head before deciding.
    Unknown(Error),
    /// Nothing was stored and trying again later may work (no leader yet, incomplete
    /// batch).
    Retry(Error),
    /// Nothing was stored and trying again will not help.
    Fatal(Error),
}

/// Classifies a publish (or ack) error.
pub(crate) fn classify_publish(err: &PublishError) -> PublishFailure {
    let code = api_code(err);
    if matches!(err.kind(), PublishErrorKind::WrongLastSequence)
        || matches!(
            code,
            Some(WRONG_LAST_SEQUENCE | WRONG_LAST_SEQUENCE_CONSTANT)
        )
    {
        return PublishFailure::Conflict;
    }
    let error = |transient| backend("append", err, transient);
    match err.kind() {
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
            PublishFailure::Unknown(error(true))
        }
        // No responders: no stream answers the subject right now — the server is gone, a
        // leader is being elected, or the stream was deleted (which the head read that
        // follows tells apart).
        PublishErrorKind::StreamNotFound => PublishFailure::Retry(error(true)),
        PublishErrorKind::MaxPayloadExceeded => PublishFailure::Fatal(error(false)),
        _ => match code {
            Some(
                EXPECTED_LAST_SEQ_NOT_READY
                | ATOMIC_INCOMPLETE_BATCH
                | ATOMIC_TOO_MANY_INFLIGHT
                | CLUSTER_NOT_AVAILABLE
                | CLUSTER_NOT_LEADER,
            ) => PublishFailure::Retry(error(true)),
            Some(ATOMIC_DUPLICATE_MESSAGE) => PublishFailure::Unknown(error(true)),
            Some(STREAM_STORE_FAILED) => match limit_reached(err) {
                Some(full) => PublishFailure::Fatal(full),
                None => PublishFailure::Fatal(error(false)),
            },
            Some(_) => PublishFailure::Fatal(error(false)),
            // A client-side failure to send (disconnected): the message may have gone out.
            None => PublishFailure::Unknown(error(true)),
        },
    }
}

/// The limit a store failure (code 10077) reports, as [`Error::LimitReached`], from the
/// server's description (nats-server's `ErrMaxMsgs`, `ErrMaxBytes`,
/// `ErrMaxMsgsPerSubject`); `None` for any other store failure.
pub(crate) fn limit_reached(err: &(dyn StdError + 'static)) -> Option<Error> {
    let message = err.to_string();
    let lower = message.to_ascii_lowercase();
    // Most specific first: the per-subject text contains the per-stream one.
    let limit = [
        (
            "maximum messages per subject exceeded",
            "max_msgs_per_subject",
        ),
        ("maximum messages exceeded", "max_msgs"),
        ("maximum bytes exceeded", "max_bytes"),
    ]
    .into_iter()
    .find_map(|(text, limit)| lower.contains(text).then_some(limit))?;
    Some(Error::LimitReached {
        limit: limit.to_owned(),
        message,
    })
}

/// Whether a JetStream API error code means the stream is gone.
pub(crate) fn is_stream_not_found(code: Option<u64>) -> bool {
    code == Some(STREAM_NOT_FOUND)
}
