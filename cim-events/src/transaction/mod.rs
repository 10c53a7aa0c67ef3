//! [`Transaction`]: one decision over several aggregates, committed atomically.

mod committed;
mod error;
mod staged;

use std::future::Future;

pub use committed::{Committed, CommittedAggregate};
pub use error::{Rejection, TransactionError};

use crate::aggregate::{Aggregate, Command, CommandContext};
use crate::atomic::AtomicAppend;
use crate::backoff::yield_now;
use crate::error::Error;
use crate::header::EventHeader;
use crate::repository::{DEFAULT_MAX_RETRIES, Repository};
use crate::store::EventStore;
use staged::{Staged, Typed};

/// One decision over several aggregates, committed atomically: every aggregate it loads is
/// checked at the commit to be still where it was loaded, and the events decided for all
/// of them are stored together or not at all ([`AtomicAppend`]; on JetStream one ADR-50
/// batch in which each aggregate's first message carries its own expected sequence).
///
/// [`run`](Transaction::run) hands the decision a fresh `Transaction`; the decision loads
/// aggregates, runs their `#[command]` handlers ([`execute`](Transaction::execute)) or
/// records events of its own ([`append`](Transaction::append)), and returns it. If
/// another writer moved one of the aggregates meanwhile, the whole decision runs again on
/// fresh states, up to [`max_retries`](TransactionOptions::max_retries) times. Every
/// chain stays linear and verifiable on its own; every event records the commit's id under
/// [`COMMIT_META_KEY`](crate::COMMIT_META_KEY) in its `meta`.
///
/// Only aggregates with events in the commit are checked: an aggregate the decision reads
/// but does not write may change without the commit noticing. To make a rule depend on an
/// aggregate, record an event on it (below, the customer's `OrderOpened`).
///
/// ```
/// use cim_events::{aggregate, Event, MemoryEventStore, Transaction, TransactionError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(aggregate = "Customer")]
/// enum CustomerEvent { OrderOpened { order: String } }
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(aggregate = "Order")]
/// enum OrderEvent { Placed { customer: String } }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("a customer may hold at most 3 open orders")]
/// struct TooManyOrders;
///
/// #[derive(Default)]
/// struct Customer { open: u32 }
/// #[aggregate(events = CustomerEvent, error = TooManyOrders)]
/// impl Customer {
///     #[command]
///     fn open_order(&self, order: String) -> Result<CustomerEvent, TooManyOrders> {
///         if self.open >= 3 { return Err(TooManyOrders) }
///         Ok(CustomerEvent::OrderOpened { order })
///     }
///     #[apply(OrderOpened)]
///     fn opened(&mut self) { self.open += 1 }
/// }
///
/// #[derive(Default)]
/// struct Order { placed: bool }
/// #[aggregate(events = OrderEvent, error = std::convert::Infallible)]
/// impl Order {
///     #[command]
///     fn place(&self, customer: String) -> Result<Vec<OrderEvent>, std::convert::Infallible> {
///         Ok(if self.placed { vec![] } else { vec![OrderEvent::Placed { customer }] })
///     }
///     #[apply(Placed)]
///     fn placed(&mut self) { self.placed = true }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryEventStore::new();
/// for n in 1..=4 {
///     let order = format!("o-{n}");
///     let result = Transaction::run(&store, |mut tx| {
///         let order = order.clone();
///         async move {
///             tx.execute::<Customer, _>("c-1", customer::OpenOrder { order: order.clone() }).await?;
///             tx.execute::<Order, _>(&order, order::Place { customer: "c-1".into() }).await?;
///             Ok(tx)
///         }
///     })
///     .await;
///     match result {
///         Ok(committed) => assert_eq!(committed.event_count(), 2), // both, together
///         Err(e) => assert!(n == 4 && e.rejection::<TooManyOrders>().is_some()), // neither
///     }
/// }
/// # use cim_events::EventStore;
/// assert!(store.load("o-4").await?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Transaction<S> {
    store: S,
    header: EventHeader,
    staged: Vec<Staged>,
}

/// How [`Transaction::run_with`] runs a decision.
#[derive(Debug, Clone)]
pub struct TransactionOptions {
    header: EventHeader,
    max_retries: u32,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        TransactionOptions {
            header: EventHeader::default(),
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

impl TransactionOptions {
    /// Correlation, causation and metadata for every event of the commit, which the
    /// handlers also see in their [`CommandContext`].
    pub fn header(mut self, header: EventHeader) -> Self {
        self.header = header;
        self
    }

    /// How many times a decision that lost a race is made again (0: never); default
    /// [`DEFAULT_MAX_RETRIES`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }
}

impl<S: EventStore + Clone> Transaction<S> {
    /// Runs `decide` on a fresh transaction and commits what it decided, atomically; on
    /// a conflict, runs it again on fresh states. See [`Transaction`].
    pub async fn run<F, Fut>(store: &S, decide: F) -> Result<Committed, TransactionError>
    where
        F: FnMut(Transaction<S>) -> Fut,
        Fut: Future<Output = Result<Transaction<S>, TransactionError>>,
    {
        Self::run_with(store, TransactionOptions::default(), decide).await
    }

    /// [`run`](Self::run) with a header and a retry bound.
    pub async fn run_with<F, Fut>(
        store: &S,
        options: TransactionOptions,
        mut decide: F,
    ) -> Result<Committed, TransactionError>
    where
        F: FnMut(Transaction<S>) -> Fut,
        Fut: Future<Output = Result<Transaction<S>, TransactionError>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let tx = decide(Transaction {
                store: store.clone(),
                header: options.header.clone(),
                staged: Vec::new(),
            })
            .await;
            let tx = match tx {
                Err(TransactionError::AlreadyCommitted { command_id, found }) => {
                    return Ok(Committed {
                        commit_id: Some(command_id),
                        attempts,
                        deduplicated: true,
                        aggregates: vec![*found],
                        states: Vec::new(),
                    });
                }
                other => other?,
            };
            match tx.commit(attempts).await {
                Err(TransactionError::Store(Error::Conflict(conflict)))
                    if attempts <= options.max_retries =>
                {
                    tracing::debug!(attempts, %conflict, "transaction lost a race; deciding again");
                    yield_now().await;
                }
                Err(TransactionError::Store(Error::Conflict(conflict))) => {
                    return Err(TransactionError::Conflict { attempts, conflict });
                }
                other => return other,
            }
        }
    }

    /// The state of aggregate `aggregate_id` as an `A`, with the events decided for it so
    /// far applied; loaded from the store the first time. Fails if the transaction holds
    /// the aggregate as another type.
    pub async fn load<A: Aggregate>(&mut self, aggregate_id: &str) -> Result<&A, TransactionError> {
        let index = self.index::<A>(aggregate_id).await?;
        Ok(&typed::<A>(&self.staged[index]).state)
    }

    /// Handles `command` on the aggregate's current state (loaded, plus the events decided
    /// for it so far) with its `#[command]` handler, and records the events for the commit.
    /// A rejection is [`TransactionError::Rejected`], holding the handler's error. Returns
    /// the events the handler decided.
    pub async fn execute<A, C>(
        &mut self,
        aggregate_id: &str,
        command: C,
    ) -> Result<&[A::Event], TransactionError>
    where
        A: Aggregate,
        C: Command<A>,
    {
        let index = self.index::<A>(aggregate_id).await?;
        let staged = &mut self.staged[index];
        let context = CommandContext {
            aggregate_id,
            version: staged.version,
            header: &self.header,
        };
        let state = &typed::<A>(staged).state;
        let events = command
            .handle_by(state, &context)
            .map_err(TransactionError::rejected)?;
        Ok(self.stage::<A>(index, events))
    }

    /// Records `events` for the aggregate (loading it first if the transaction has not),
    /// applying them to its state, as a decision of the transaction's own.
    pub async fn append<A: Aggregate>(
        &mut self,
        aggregate_id: &str,
        events: Vec<A::Event>,
    ) -> Result<(), TransactionError> {
        let index = self.index::<A>(aggregate_id).await?;
        self.stage::<A>(index, events);
        Ok(())
    }

    /// The aggregate's version with the events decided so far; `None` if the transaction
    /// has not loaded it.
    pub fn version(&self, aggregate_id: &str) -> Option<u64> {
        self.staged
            .iter()
            .find(|s| s.aggregate_id == aggregate_id)
            .map(|s| s.version)
    }

    /// The header every event of the commit carries.
    pub fn header(&self) -> &EventHeader {
        &self.header
    }

    /// Applies `events` to the state of the aggregate at `index` and stages them; the
    /// events just staged.
    fn stage<A: Aggregate>(&mut self, index: usize, events: Vec<A::Event>) -> &[A::Event] {
        let staged = &mut self.staged[index];
        staged.version += events.len() as u64;
        let typed = staged
            .part
            .as_any_mut()
            .downcast_mut::<Typed<A>>()
            .expect("checked by index");
        for event in &events {
            typed.state.apply(event);
        }
        let from = typed.events.len();
        typed.events.extend(events);
        &typed.events[from..]
    }

    /// Where the aggregate is staged, loading it as an `A` first if it is not.
    async fn index<A: Aggregate>(&mut self, aggregate_id: &str) -> Result<usize, TransactionError> {
        if let Some(index) = self
            .staged
            .iter()
            .position(|s| s.aggregate_id == aggregate_id)
        {
            let staged = &self.staged[index];
            if staged.aggregate_type != A::AGGREGATE_TYPE {
                return Err(Error::AggregateTypeMismatch {
                    aggregate_id: aggregate_id.to_owned(),
                    chain: staged.aggregate_type.to_owned(),
                    event: A::AGGREGATE_TYPE.to_owned(),
                }
                .into());
            }
            return Ok(index);
        }
        let repository = Repository::<A, S>::new(self.store.clone());
        let loaded = repository.load(aggregate_id).await?;
        if let Some(command) = &self.header.command_id {
            // A resend: the commit is there already, whole (it is atomic).
            let done = repository
                .events_of_command(aggregate_id, command, None)
                .await
                .map_err(|e| TransactionError::Store(command_lookup(e)))?;
            if !done.is_empty() {
                return Err(TransactionError::AlreadyCommitted {
                    command_id: command.as_str().to_owned(),
                    found: Box::new(CommittedAggregate {
                        aggregate_id: aggregate_id.to_owned(),
                        aggregate_type: A::AGGREGATE_TYPE,
                        events: done.into_iter().map(|e| e.metadata).collect(),
                    }),
                });
            }
        }
        self.staged.push(Staged {
            aggregate_id: aggregate_id.to_owned(),
            aggregate_type: A::AGGREGATE_TYPE,
            head: loaded.head,
            version: loaded.version,
            part: Box::new(Typed::<A> {
                state: loaded.state,
                events: Vec::new(),
            }),
        });
        Ok(self.staged.len() - 1)
    }

    /// Commits every staged event atomically.
    async fn commit(self, attempts: u32) -> Result<Committed, TransactionError> {
        // A command with an id commits under it: a resend seals the same blocks.
        let id = match &self.header.command_id {
            Some(command) => command.as_str().to_owned(),
            None => uuid::Uuid::now_v7().to_string(),
        };
        // Without a correlation of the caller's, the commit is one conversation.
        let mut header = self.header.clone();
        if header.correlation_id.is_empty() {
            header.correlation_id.clone_from(&id);
        }
        let mut parts = Vec::new();
        for staged in self.staged.iter().filter(|s| s.part.staged() > 0) {
            let prepared = staged.part.prepare(&staged.aggregate_id, &header)?;
            parts.push((prepared, staged.expected()));
        }
        let (commit_id, stored) = if parts.is_empty() {
            (None, Vec::new())
        } else {
            let commit = AtomicAppend::with_id(id, parts)?;
            let stored = self.store.append_atomic(&commit).await?;
            (Some(commit.commit_id().to_owned()), stored)
        };
        let mut stored = stored.into_iter();
        let mut aggregates = Vec::new();
        let mut states = Vec::new();
        for staged in self.staged {
            if staged.part.staged() > 0 {
                aggregates.push(CommittedAggregate {
                    aggregate_id: staged.aggregate_id.clone(),
                    aggregate_type: staged.aggregate_type,
                    events: stored.next().unwrap_or_default(),
                });
            }
            states.push((staged.aggregate_id, staged.part.into_state()));
        }
        Ok(Committed {
            commit_id,
            attempts,
            deduplicated: false,
            aggregates,
            states,
        })
    }
}

/// A failed look for a command id in a chain, as a store error.
fn command_lookup<E: std::error::Error>(error: crate::CommandError<E>) -> Error {
    match error {
        crate::CommandError::Store(error) => error,
        other => Error::Backend {
            operation: "find command",
            message: other.to_string(),
            transient: false,
        },
    }
}

/// The typed part of a staged aggregate known to be an `A`.
fn typed<A: Aggregate>(staged: &Staged) -> &Typed<A> {
    staged
        .part
        .as_any()
        .downcast_ref::<Typed<A>>()
        .expect("checked by index")
}

impl<S: std::fmt::Debug> std::fmt::Debug for Transaction<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("store", &self.store)
            .field("header", &self.header)
            .field(
                "aggregates",
                &self
                    .staged
                    .iter()
                    .map(|s| (&s.aggregate_id, s.aggregate_type, s.version))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
