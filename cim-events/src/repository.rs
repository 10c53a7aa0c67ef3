//! The [`Repository`]: runs commands against aggregates stored in an [`EventStore`].

mod cache;
mod dedup;
mod error;
mod load;
mod outcome;
mod replay;
mod snapshots;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::{BrokenChain, CommandError, LoadError};
pub use outcome::{CommandOutcome, CommittedEvent, Loaded};
pub use snapshots::{SnapshotRejection, SnapshotUse};

use crate::aggregate::{Aggregate, Command, CommandContext};
use crate::backoff::yield_now;
use crate::command_id::CommandId;
use crate::crypto::Crypto;
use crate::error::Error;
use crate::expected::ExpectedVersion;
use crate::header::EventHeader;
use crate::metadata::EventMetadata;
use crate::observe::repository as observe;
use crate::prepared::PreparedAppend;
use crate::snapshot::{SnapshotPolicy, SnapshotStore};
use crate::store::EventStore;
use cache::{LruStates, StateCache};
use load::Sought;
use snapshots::Snapshots;
use tracing::Instrument;

/// How many times a command is retried after a conflict unless
/// [`max_retries`](Repository::max_retries) says otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Runs commands against aggregates of type `A` stored in `S`. Cloning a repository clones
/// the store handle (stores are cheap to clone) and shares its state cache.
///
/// A command runs as **load → handle → append → apply**:
///
/// 1. *load*: the aggregate's state is rebuilt from its events, starting from a snapshot
///    when one is configured and still matches the stored history;
/// 2. *handle*: the aggregate's [`Handle`](crate::Handle) impl decides which events the command produces,
///    or rejects it — nothing is stored then;
/// 3. *append*: the events are appended atomically after the head that was loaded
///    ([`ExpectedVersion::NoStream`] for a new aggregate, otherwise
///    [`ExpectedVersion::After`], which the store publishes at once); if another writer
///    got there first, the repository catches up with the new events only and handles the
///    command again, up to [`max_retries`](Repository::max_retries) times;
/// 4. *apply*: the stored events are applied to the state, and a snapshot is saved if the
///    [`SnapshotPolicy`] says so.
///
/// `#[derive(Event)]` and `#[aggregate]` write the `Event`, `Aggregate` and `Handle` impls
/// (see the crate docs); the example below writes them by hand to show the contract the
/// repository runs on.
///
/// ```
/// use cim_events::{Aggregate, CommandContext, CommandError, Event, Handle};
/// use cim_events::{MemoryEventStore, Repository};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// enum AccountEvent {
///     Opened { account_id: String },
///     Deposited { account_id: String, amount: u64 },
/// }
///
/// impl Event for AccountEvent {
///     fn event_type(&self) -> &str {
///         match self {
///             AccountEvent::Opened { .. } => "Opened",
///             AccountEvent::Deposited { .. } => "Deposited",
///         }
///     }
///     fn aggregate_id(&self) -> &str {
///         match self {
///             AccountEvent::Opened { account_id } | AccountEvent::Deposited { account_id, .. } => account_id,
///         }
///     }
///     fn aggregate_type(&self) -> &str { "Account" }
/// }
///
/// #[derive(Debug, PartialEq)]
/// enum BankError { AlreadyOpen, NotOpen }
/// impl std::fmt::Display for BankError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// }
/// impl std::error::Error for BankError {}
///
/// #[derive(Debug, Default)]
/// struct Account { open: bool, balance: u64 }
///
/// impl Aggregate for Account {
///     type Event = AccountEvent;
///     type Error = BankError;
///     const AGGREGATE_TYPE: &'static str = "Account";
///     fn apply(&mut self, event: &AccountEvent) {
///         match event {
///             AccountEvent::Opened { .. } => self.open = true,
///             AccountEvent::Deposited { amount, .. } => self.balance += amount,
///         }
///     }
/// }
///
/// #[derive(Clone)]
/// struct Open;
/// #[derive(Clone)]
/// struct Deposit { amount: u64 }
///
/// impl Handle<Open> for Account {
///     fn handle(&self, _: Open, ctx: &CommandContext<'_>) -> Result<Vec<AccountEvent>, BankError> {
///         if self.open { return Err(BankError::AlreadyOpen) }
///         Ok(vec![AccountEvent::Opened { account_id: ctx.aggregate_id.to_owned() }])
///     }
/// }
///
/// impl Handle<Deposit> for Account {
///     fn handle(&self, cmd: Deposit, ctx: &CommandContext<'_>) -> Result<Vec<AccountEvent>, BankError> {
///         if !self.open { return Err(BankError::NotOpen) }
///         Ok(vec![AccountEvent::Deposited { account_id: ctx.aggregate_id.to_owned(), amount: cmd.amount }])
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let accounts = Repository::<Account, _>::new(MemoryEventStore::new());
///
/// let opened = accounts.execute("acc-1", Open).await?;
/// let deposited = accounts.execute("acc-1", Deposit { amount: 10 }).await?;
/// assert_eq!((deposited.version, deposited.state.balance), (2, 10));
/// // Each event is chained to the one before it.
/// assert_eq!(deposited.events[0].metadata.previous_cid, opened.head_cid());
///
/// // A rejected command stores nothing and returns the domain error.
/// let rejected = accounts.execute("acc-2", Deposit { amount: 5 }).await;
/// assert!(matches!(rejected, Err(CommandError::Rejected(BankError::NotOpen))));
///
/// let loaded = accounts.load("acc-1").await?;
/// assert_eq!((loaded.version, loaded.state.balance), (2, 10));
/// assert_eq!(loaded.head.map(|h| h.cid), deposited.head_cid());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
///
/// ## Snapshots
///
/// [`Repository::with_snapshots`] (for aggregates that implement `Serialize` and
/// `Deserialize`) keeps the state, DAG-CBOR encoded, in a [`SnapshotStore`], bound to the
/// CID of the event it was taken after. A load uses a snapshot only if the stored event at
/// its version still has that CID; any other snapshot — mismatched, of another aggregate,
/// undecodable, or unreadable because the snapshot store fails — is ignored with a
/// `tracing::warn!` and the state is replayed from the first event. [`Loaded::snapshot`]
/// says which happened. Saving a snapshot after a command never fails the command: the
/// events are stored by then, and a failed save is only logged.
///
/// ## The state cache
///
/// [`Repository::with_cache`] keeps each aggregate's state and head after its commands, in
/// a least-recently-used cache of a bounded number of aggregates, shared by the clones of
/// the repository. A command on a cached aggregate skips the load: it is handled at once
/// and appended after the cached head, which on JetStream is one request. If another
/// writer appended meanwhile, the server refuses the append and the repository reads only
/// the events after the cached head. The cache holds one state per aggregate (its memory
/// is the aggregates' in-memory size times the capacity); without `with_cache` there is
/// none. A rejection or a no-op decided on a cached state is checked against the events
/// stored since, if any, before it is returned: the cache never makes a command fail that
/// the current state would accept.
///
/// ## Retries
///
/// Only conflicts are retried, and each retry handles the command again against the
/// caught-up state (so `C: Clone`). Other store errors are returned at once: after a
/// timeout the append may have been stored, and handling the command again could record
/// it twice.
pub struct Repository<A: Aggregate, S> {
    store: S,
    snapshots: Option<Snapshots<A>>,
    cache: Option<Arc<dyn StateCache<A>>>,
    max_retries: u32,
}

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// A repository over `store`, without snapshots or state cache, retrying a
    /// conflicting command up to [`DEFAULT_MAX_RETRIES`] times.
    pub fn new(store: S) -> Self {
        Repository {
            store,
            snapshots: None,
            cache: None,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// How many times a command that lost a race with another writer is handled again
    /// (0: never). When every attempt conflicts, the command fails with
    /// [`CommandError::Conflict`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Keeps the state and head of up to `capacity` aggregates after their commands, so
    /// that the next command on one of them is handled without loading it and costs one
    /// append (see [the state cache](Repository#the-state-cache)). Memory: about
    /// `capacity` × the size of one state. Clones of this repository share the cache.
    ///
    /// ```
    /// # use cim_events::{Aggregate, Event, MemoryEventStore, Repository};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Noted { id: String }
    /// # impl Event for Noted {
    /// #     fn event_type(&self) -> &str { "Noted" }
    /// #     fn aggregate_id(&self) -> &str { &self.id }
    /// # }
    /// #[derive(Default, Clone)]
    /// struct Notebook { notes: u64 }
    /// # impl Aggregate for Notebook {
    /// #     type Event = Noted;
    /// #     type Error = std::convert::Infallible;
    /// #     const AGGREGATE_TYPE: &'static str = "Notebook";
    /// #     fn apply(&mut self, _: &Noted) { self.notes += 1 }
    /// # }
    /// let notebooks = Repository::<Notebook, _>::new(MemoryEventStore::new()).with_cache(10_000);
    /// ```
    pub fn with_cache(mut self, capacity: usize) -> Self
    where
        A: Clone,
    {
        self.cache = Some(Arc::new(LruStates::<A>::new(capacity)));
        self
    }

    /// Loads from snapshots kept in `snapshots`, and saves one after a command when
    /// `policy` says so. See [snapshots](Repository#snapshots) for when a
    /// snapshot is trusted.
    ///
    /// ```
    /// # use cim_events::{Aggregate, Event, MemoryEventStore, MemorySnapshotStore, Repository, SnapshotPolicy};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Noted { id: String }
    /// # impl Event for Noted {
    /// #     fn event_type(&self) -> &str { "Noted" }
    /// #     fn aggregate_id(&self) -> &str { &self.id }
    /// # }
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Notebook { notes: u64 }
    /// # impl Aggregate for Notebook {
    /// #     type Event = Noted;
    /// #     type Error = std::convert::Infallible;
    /// #     const AGGREGATE_TYPE: &'static str = "Notebook";
    /// #     fn apply(&mut self, _: &Noted) { self.notes += 1 }
    /// # }
    /// let notebooks = Repository::<Notebook, _>::new(MemoryEventStore::new())
    ///     .with_snapshots(MemorySnapshotStore::new(), SnapshotPolicy::EveryNEvents(100));
    /// ```
    pub fn with_snapshots<T>(mut self, snapshots: T, policy: SnapshotPolicy) -> Self
    where
        T: SnapshotStore + 'static,
        A: Serialize + DeserializeOwned,
    {
        let crypto = self.store.encryption().cloned();
        self.snapshots = Some(Snapshots::new(Arc::new(snapshots), policy, crypto));
        self
    }

    /// The event store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many aggregates the state cache holds, and the most it holds; `None` without
    /// a cache.
    pub fn cache_usage(&self) -> Option<(usize, usize)> {
        self.cache.as_ref().map(|cache| cache.usage())
    }

    /// Runs `command` against the aggregate with a fresh correlation (the first event's id
    /// becomes the correlation id of every event of the command).
    pub async fn execute<C>(
        &self,
        aggregate_id: &str,
        command: C,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>>
    where
        C: Command<A>,
    {
        self.execute_with(aggregate_id, command, EventHeader::default())
            .await
    }

    /// Runs `command` against the aggregate. Every event it produces carries `header`'s
    /// correlation, causation and metadata, and the handler sees `header` in its
    /// [`CommandContext`].
    ///
    /// Returns the stored events with their metadata, the new version and head, and the
    /// new state. A handler that returns no events stores nothing and succeeds. Errors:
    /// [`CommandError::Rejected`] when the handler rejects the command,
    /// [`CommandError::Conflict`] when every attempt lost a race, and the load and store
    /// errors of [`CommandError`]; in each case nothing was stored.
    ///
    /// The command runs in a `cim_events.command` span and is counted in the metrics
    /// (see [`observe`](crate::observe)); `header`'s trace context (`traceparent`) goes
    /// with every event it stores.
    pub async fn execute_with<C>(
        &self,
        aggregate_id: &str,
        command: C,
        header: EventHeader,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>>
    where
        C: Command<A>,
    {
        let span = observe::command_span(A::AGGREGATE_TYPE, aggregate_id);
        let started = std::time::Instant::now();
        let result = self
            .run_command(aggregate_id, command, header)
            .instrument(span.clone())
            .await;
        observe::commanded(&span, started, &result);
        result
    }

    /// The command cycle of [`execute_with`](Repository::execute_with).
    async fn run_command<C>(
        &self,
        aggregate_id: &str,
        command: C,
        header: EventHeader,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>>
    where
        C: Command<A>,
    {
        let seek = header.command_id.as_ref().map(CommandId::as_str);
        let (mut loaded, mut from_cache, sought) = match self.cached(aggregate_id).await {
            Some(loaded) => (loaded, true, Sought::default()),
            None => {
                let (loaded, sought) = self.load_seeking(aggregate_id, seek).await?;
                (loaded, false, sought)
            }
        };
        if let Some(command) = &header.command_id {
            // Sent before: the chain holds its events, whatever the duplicate window. A
            // whole chain just replayed without them needs no second look.
            if sought.found || !sought.whole_chain {
                let done = self.events_of_command(aggregate_id, command, None).await?;
                if !done.is_empty() {
                    return self.done_before(aggregate_id, loaded, done).await;
                }
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let context = CommandContext {
                aggregate_id,
                version: loaded.version,
                header: &header,
            };
            let decided = command.clone().handle_by(&loaded.state, &context);
            if from_cache && !matches!(&decided, Ok(events) if !events.is_empty()) {
                // A cached state may be behind other writers, and only an append lets the
                // server say so: a rejection or a no-op decided on it is checked against
                // the newer events, if any, before it is returned.
                from_cache = false;
                let before = loaded.head;
                self.catch_up(aggregate_id, &mut loaded).await?;
                if loaded.head != before {
                    continue;
                }
            }
            let events = match decided {
                Ok(events) => events,
                Err(rejection) => {
                    self.keep(aggregate_id, &loaded);
                    return Err(CommandError::Rejected(rejection));
                }
            };
            if events.is_empty() {
                self.keep(aggregate_id, &loaded);
                return Ok(CommandOutcome {
                    events: Vec::new(),
                    version: loaded.version,
                    head: loaded.head,
                    state: loaded.state,
                    attempts,
                    deduplicated: false,
                });
            }
            let expected = match loaded.head {
                None => ExpectedVersion::NoStream,
                Some(head) => ExpectedVersion::After(head),
            };
            // The state was replayed from a chain whose every event is an `A`'s (replay
            // refuses any other), so the append need not read the chain to check its type.
            let prepared = PreparedAppend::new(aggregate_id, &events, &header)
                .map_err(CommandError::Store)?
                .chain_type_known();
            match self.store.append_prepared(&prepared, expected).await {
                Ok(stored) => {
                    return Ok(self
                        .commit(aggregate_id, loaded, &prepared, events, stored, attempts)
                        .await);
                }
                Err(Error::Conflict(conflict)) if attempts > self.max_retries => {
                    return Err(CommandError::Conflict { attempts, conflict });
                }
                Err(Error::Conflict(conflict)) => {
                    observe::command_retry(A::AGGREGATE_TYPE);
                    tracing::debug!(
                        aggregate_type = A::AGGREGATE_TYPE,
                        aggregate_id,
                        attempts,
                        %conflict,
                        "command lost a race; catching up and handling it again"
                    );
                    yield_now().await;
                    let before = loaded.head;
                    self.catch_up(aggregate_id, &mut loaded).await?;
                    if let Some(command) = &header.command_id {
                        // The writer that got there first may have been this very command,
                        // sent twice at once.
                        let done = self
                            .events_of_command(aggregate_id, command, before)
                            .await?;
                        if !done.is_empty() {
                            return self.done_before(aggregate_id, loaded, done).await;
                        }
                    }
                }
                Err(error) => return Err(CommandError::Store(error)),
            }
        }
    }

    /// The outcome of a command whose events `done` the chain already holds: those events,
    /// and the state as it stands now. Nothing is handled or stored.
    async fn done_before(
        &self,
        aggregate_id: &str,
        mut loaded: Loaded<A>,
        done: Vec<CommittedEvent<A::Event>>,
    ) -> Result<CommandOutcome<A>, CommandError<A::Error>> {
        self.catch_up(aggregate_id, &mut loaded).await?;
        self.keep(aggregate_id, &loaded);
        Ok(CommandOutcome {
            events: done,
            version: loaded.version,
            head: loaded.head,
            state: loaded.state,
            attempts: 0,
            deduplicated: true,
        })
    }

    /// The cached state of the aggregate, taken out of the cache (it goes back after the
    /// command, or stays out if the command failed in a way that leaves it unsure).
    ///
    /// A state built from encrypted values is not served after a shred: at once after one
    /// through this store's `Crypto` handle, and within the key cache's TTL after one in
    /// another process (its data keys are checked again once that long has passed).
    async fn cached(&self, aggregate_id: &str) -> Option<Loaded<A>> {
        let cached = self.cache.as_ref()?.take(aggregate_id);
        let cached = match (cached, self.store.encryption()) {
            (Some(cached), Some(crypto)) if !cached.data_keys.is_empty() => {
                still_readable(&cached, crypto).await.then_some(cached)
            }
            (cached, _) => cached,
        };
        observe::cache_lookup(A::AGGREGATE_TYPE, cached.is_some());
        let cached = cached?;
        Some(Loaded {
            state: cached.state,
            version: cached.head.version,
            head: Some(cached.head),
            replayed: 0,
            snapshot: SnapshotUse::Absent,
            data_keys: cached.data_keys,
        })
    }

    /// Puts a state back in the cache, if there is one and the state has a head.
    fn keep(&self, aggregate_id: &str, loaded: &Loaded<A>) {
        if let (Some(cache), Some(head)) = (&self.cache, loaded.head) {
            cache.keep(
                aggregate_id,
                &loaded.state,
                head,
                &loaded.data_keys,
                self.shreds(),
            );
        }
    }

    /// The shred count of the store's encryption (0 without).
    fn shreds(&self) -> u64 {
        self.store.encryption().map_or(0, Crypto::shred_epoch)
    }

    /// Applies stored events to the state, saves a snapshot if due, and builds the outcome.
    async fn commit(
        &self,
        aggregate_id: &str,
        loaded: Loaded<A>,
        prepared: &PreparedAppend,
        events: Vec<A::Event>,
        stored: Vec<EventMetadata>,
        attempts: u32,
    ) -> CommandOutcome<A> {
        let before = loaded.version;
        let rebuild = matches!(loaded.snapshot, SnapshotUse::Ignored(_));
        let mut state = loaded.state;
        for event in &events {
            state.apply(event);
        }
        let mut data_keys = loaded.data_keys;
        data_keys.extend(prepared.data_keys());
        let head = stored.last().map(EventMetadata::head).or(loaded.head);
        if let Some(head) = head {
            if let Some(cache) = &self.cache {
                cache.keep(aggregate_id, &state, head, &data_keys, self.shreds());
            }
            if let Some(snapshots) = &self.snapshots {
                snapshots
                    .after_command(aggregate_id, before, head, &state, &data_keys, rebuild)
                    .await;
            }
        }
        CommandOutcome {
            events: events
                .into_iter()
                .zip(stored)
                .map(|(event, metadata)| CommittedEvent::new(event, metadata))
                .collect(),
            version: head.map_or(before, |h| h.version),
            head,
            state,
            attempts,
            // Another copy of the command, sent at once, stored these very blocks.
            deduplicated: prepared.was_found_stored(),
        }
    }
}

impl<A: Aggregate, S: Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            snapshots: self.snapshots.clone(),
            cache: self.cache.clone(),
            max_retries: self.max_retries,
        }
    }
}

impl<A: Aggregate, S: fmt::Debug> fmt::Debug for Repository<A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("aggregate_type", &A::AGGREGATE_TYPE)
            .field("store", &self.store)
            .field("snapshots", &self.snapshots)
            .field("cache", &self.cache.as_ref().map(|cache| cache.usage()))
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// Whether a cached state built from encrypted values may still be served: no shred
/// through this handle since it was kept, and, once the key cache's TTL has passed, none of
/// its data keys shredded by another process.
async fn still_readable<A>(cached: &cache::Cached<A>, crypto: &Crypto) -> bool {
    if cached.shreds != crypto.shred_epoch() {
        return false;
    }
    if cached.checked.elapsed() < crypto.key_cache_ttl() {
        return true;
    }
    for key in &cached.data_keys {
        if !matches!(crypto.holds_key(key).await, Ok(true)) {
            return false;
        }
    }
    true
}
