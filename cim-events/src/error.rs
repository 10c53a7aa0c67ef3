//! The error type every fallible operation of the crate returns.

use crate::expected::ExpectedVersion;
use crate::head::Head;
use crate::payload::PayloadError;
use crate::subject::TokenError;

/// Result alias used throughout `cim-events`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when storing, loading or verifying events.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
///
/// ```
/// use cim_events::{Error, EventStore, ExpectedVersion, MemoryEventStore};
/// # use cim_events::Event;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Ping { id: String }
/// # impl Event for Ping {
/// #     fn event_type(&self) -> &str { "Ping" }
/// #     fn aggregate_id(&self) -> &str { &self.id }
/// # }
/// # tokio_test(async {
/// let store = MemoryEventStore::new();
/// store.append_events("p-1", vec![Ping { id: "p-1".into() }], ExpectedVersion::NoStream).await.unwrap();
/// let again = store.append_events("p-1", vec![Ping { id: "p-1".into() }], ExpectedVersion::NoStream).await;
/// match again {
///     Err(Error::Conflict(conflict)) => assert_eq!(conflict.actual.unwrap().version, 1),
///     other => panic!("expected a conflict, got {other:?}"),
/// }
/// # });
/// # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An aggregate id, event type, aggregate type or subject prefix is not a safe NATS
    /// subject token. Nothing was stored.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),

    /// The aggregate id passed to the store differs from the one the event reports.
    #[error("event belongs to aggregate `{found}`, but was appended to `{expected}`")]
    AggregateMismatch {
        /// The aggregate id the caller appended to.
        expected: String,
        /// The aggregate id the event reports.
        found: String,
    },

    /// Events of one aggregate type appended to the chain of another: aggregate ids are
    /// shared by every aggregate type under one prefix (subjects carry no type), so ids
    /// should carry their kind (`order-123`), or each aggregate type should have its own
    /// prefix. Nothing was stored.
    #[error(
        "aggregate `{aggregate_id}` is a `{chain}`, but the events appended to it are of aggregate type `{event}`"
    )]
    AggregateTypeMismatch {
        /// The aggregate appended to.
        aggregate_id: String,
        /// The aggregate type of the stored chain (or of the first event of the append).
        chain: String,
        /// The aggregate type of the events that do not fit.
        event: String,
    },

    /// A correlation or causation id that cannot travel in a message header (it holds a
    /// line break or another control character). Nothing was stored.
    #[error("{field} {value:?} {problem}")]
    InvalidHeaderValue {
        /// Which id (`correlation_id`, `causation_id`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The payload cannot be represented as IPLD (NaN, non-string map key, integer out of
    /// range, …). Nothing was stored.
    #[error(transparent)]
    Payload(#[from] PayloadError),

    /// The aggregate's head was not what the caller expected (optimistic concurrency).
    #[error(transparent)]
    Conflict(Box<ConflictError>),

    /// An encoded event is larger than the store accepts. Nothing was stored.
    #[error(
        "event `{event_type}` encodes to {size} bytes, more than the {max} bytes the store accepts"
    )]
    EventTooLarge {
        /// The event type of the oversized event.
        event_type: String,
        /// Its encoded size in bytes.
        size: usize,
        /// The largest size accepted.
        max: usize,
    },

    /// An atomic commit names one aggregate twice: each aggregate appears once, with all
    /// of its events. Nothing was stored.
    #[error("aggregate `{aggregate_id}` appears twice in one atomic commit")]
    DuplicateAggregate {
        /// The aggregate named twice.
        aggregate_id: String,
    },

    /// The store cannot commit events of several aggregates atomically (a custom store
    /// that does not implement [`EventStore::publish_atomic`](crate::EventStore::publish_atomic)).
    /// Nothing was stored.
    #[error("the `{store}` store cannot commit several aggregates atomically")]
    AtomicUnsupported {
        /// The store's kind ([`EventStore::store_kind`](crate::EventStore::store_kind)).
        store: &'static str,
    },

    /// More events in one atomic append than the store can commit at once.
    #[error("{count} events in one atomic append, more than the {max} the store commits at once")]
    BatchTooLarge {
        /// Events requested.
        count: usize,
        /// The most one atomic append may hold.
        max: usize,
    },

    /// An atomic append with no events.
    #[error("an append needs at least one event")]
    EmptyAppend,

    /// The aggregate's chain is broken: a stored block of the aggregate holds a version
    /// beyond the chain's head, so events in between cannot be read (damaged, altered or
    /// missing). Loads and appends refuse to go on from the older head; `verify_chain`
    /// locates every fault.
    #[error(transparent)]
    BrokenChain(Box<crate::chain::BrokenChain>),

    /// The aggregate's chain ends before the head its anchor records (or holds another
    /// event at that version): acknowledged events are missing, for example dropped by a
    /// server that found them damaged. Loads and appends refuse to go on from the older
    /// head; `verify_chain` reports [`FaultKind::Truncated`](crate::FaultKind::Truncated).
    #[error(transparent)]
    Truncated(Box<crate::anchor::Truncated>),

    /// A CAR export read an aggregate's chain up to the stream sequence of the head it put
    /// in the file's roots, and the chain ended elsewhere: the store's head disagrees with
    /// its own history (see [`car`](crate::car#writes-during-an-export)). What was written
    /// is not a valid export.
    #[error(transparent)]
    ExportRootMismatch(Box<crate::car::RootMismatch>),

    /// A stored message is not an event in wire format v1.
    #[error("stored message at stream sequence {sequence} is not a valid event: {source}")]
    Decode {
        /// Stream sequence of the offending message.
        sequence: u64,
        /// What is wrong with it.
        #[source]
        source: crate::block::DecodeError,
    },

    /// An event payload could not be turned back into the requested Rust type.
    #[error(
        "event `{event_type}` (schema {schema}) of aggregate `{aggregate_id}` at version {version} (stream sequence {sequence}) does not decode into the requested type: {source}"
    )]
    PayloadDecode {
        /// Stream sequence of the event.
        sequence: u64,
        /// Its event type, as stored.
        event_type: String,
        /// The payload schema version it was stored under.
        schema: u32,
        /// The aggregate it belongs to.
        aggregate_id: String,
        /// Its version within that aggregate.
        version: u64,
        /// What went wrong.
        #[source]
        source: Box<PayloadError>,
    },

    /// The backing store failed (server fault, lost connection, missing stream, …).
    #[error("{operation} failed: {message}")]
    Backend {
        /// What the store was doing.
        operation: &'static str,
        /// What went wrong, as the backend reported it.
        message: String,
        /// Whether the same call may succeed later (timeouts, no responders, leader
        /// elections) — as opposed to a permanent fault such as a deleted stream.
        transient: bool,
    },

    /// The store is configured in a way that breaks its guarantees.
    #[error("unsafe store configuration: `{setting}` {problem}")]
    Config {
        /// The setting at fault.
        setting: String,
        /// Why it is unsafe.
        problem: String,
    },

    /// The store refused a write because one of its limits is reached: on JetStream a
    /// stream limit enforced with `discard: new` (`max_msgs`, `max_bytes`, or
    /// `max_msgs_per_subject` with `discard_new_per_subject`; server error code 10077).
    /// Nothing was stored, and the same write fails until the limit is raised: it is not
    /// transient.
    #[error("the store is full: `{limit}` is reached ({message}); nothing was stored")]
    LimitReached {
        /// The limit's setting: `max_msgs`, `max_bytes` or `max_msgs_per_subject`.
        limit: String,
        /// What the server said.
        message: String,
    },

    /// A subscription filter that cannot match any event of this store. Events are
    /// stored under `{prefix}.{aggregate_id}.{event_type}` and a store reads only its own
    /// prefix, so a filter must begin with the prefix's tokens, written out (a wildcard
    /// in their place is refused, not narrowed), followed by exactly two tokens or by
    /// `>`. Nothing was subscribed.
    #[error("subscription filter `{filter}` matches no event under prefix `{prefix}`: {problem}")]
    FilterOutsidePrefix {
        /// The filter given.
        filter: String,
        /// The store's subject prefix.
        prefix: String,
        /// Why it matches nothing the store holds.
        problem: String,
    },

    /// A set of subscription filters that cannot be subscribed as a whole: empty, or more
    /// than [`MAX_FILTERS`](crate::subject::MAX_FILTERS). Nothing was subscribed.
    #[error(transparent)]
    FilterSet(#[from] crate::subject::FilterSetError),

    /// A stored record that is not in the format this crate writes: a snapshot or a
    /// checkpoint another writer damaged. Nothing was overwritten.
    #[error("{what} `{key}` is malformed: {problem}")]
    Malformed {
        /// What kind of record (`snapshot`, `checkpoint`).
        what: &'static str,
        /// Where it is stored (bucket and key).
        key: String,
        /// What is wrong with it.
        problem: String,
    },

    /// Another writer changed a record that this one owns: for example a second runner of
    /// the same projection moved its checkpoint. Nothing was overwritten; reload before
    /// writing again.
    #[error("{what} `{key}` was changed by another writer: {problem}")]
    ConcurrentWriter {
        /// What kind of record.
        what: &'static str,
        /// Where it is stored.
        key: String,
        /// What was found.
        problem: String,
    },

    /// Another writer registered a different shape for the same `(aggregate type, event
    /// type, schema)` than this code's: two services disagree on what one schema version
    /// of an event holds. Nothing was stored. See
    /// [`schema`](crate::schema#drift-caught-at-start-up).
    #[error(transparent)]
    SchemaDrift(Box<crate::schema::SchemaDrift>),

    /// An event marked `#[event(retired)]` was appended: it is kept only to read history
    /// and is no longer produced. Nothing was stored.
    #[error("event type `{event_type}` is retired: it is read from history but no longer appended")]
    RetiredEvent {
        /// The retired event type.
        event_type: String,
    },

    /// Encrypting or decrypting a payload, or managing its keys, failed (see
    /// [`crypto`](crate::crypto)).
    #[error(transparent)]
    Crypto(Box<crate::crypto::CryptoError>),

    /// A call to an IPFS node failed (feature `ipfs`; see
    /// [`ipfs::IpfsError`](crate::ipfs::IpfsError) for the kinds).
    #[cfg(feature = "ipfs")]
    #[error(transparent)]
    Ipfs(Box<crate::ipfs::IpfsError>),

    /// Blocks could not be imported ([`crate::import`]): a block that is not what it
    /// claims, a chain that does not link, or a store holding a different history.
    #[error(transparent)]
    Import(Box<crate::import::ImportError>),

    /// A timer could not be scheduled or delivered ([`crate::timer`]): a due time or
    /// payload out of range, a second consumer of the same timers, a message on the fired
    /// subjects that is not a timer.
    #[error(transparent)]
    Timer(Box<crate::timer::TimerError>),

    /// Reading or writing a file (an export, an import) failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ConflictError> for Error {
    fn from(conflict: ConflictError) -> Self {
        Error::Conflict(Box::new(conflict))
    }
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Error::Crypto(Box::new(e))
    }
}

impl From<crate::timer::TimerError> for Error {
    fn from(e: crate::timer::TimerError) -> Self {
        Error::Timer(Box::new(e))
    }
}

impl Error {
    /// Whether this is an optimistic-concurrency conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Backend { transient, .. } => *transient,
            #[cfg(feature = "ipfs")]
            Error::Ipfs(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// The aggregate's head was not what an append expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "concurrency conflict on aggregate `{aggregate_id}`: expected {expected}, found {}",
    describe_head(actual)
)]
pub struct ConflictError {
    /// The aggregate appended to.
    pub aggregate_id: String,
    /// What the caller expected.
    pub expected: ExpectedVersion,
    /// The head found at the time of the append (`None`: no events).
    pub actual: Option<Head>,
}

fn describe_head(head: &Option<Head>) -> String {
    match head {
        None => "no stream".to_owned(),
        Some(h) => format!("version {} ({})", h.version, h.cid),
    }
}
