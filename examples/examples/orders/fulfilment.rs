//! The fulfilment process (a process manager, or saga): it follows every event in the store
//! and answers some of them with commands to other aggregates.
//!
//! - an order `Placed` → reserve the stock of each line;
//! - every line's item `Reserved` → confirm the order;
//! - a line's `ReservationFailed` → release what the order holds, then reject it;
//! - an order `Confirmed` → ship it;
//! - an order `Shipped` → dispatch the stock of each line (the lines come from loading the
//!   order through its repository).
//!
//! The events carry no ids: the order id or SKU an event happened to is the id of the
//! block it is stored in, `RecordedEvent::aggregate_id()`.
//!
//! Each command is sent with [`EventHeader::caused_by`] the event it answers: its events
//! join that event's correlation and name its CID as their causation, so one order's whole
//! conversation, across aggregates, forms one causal tree.
//!
//! It keeps its own state (which lines of which order are answered) in memory and follows
//! the store from now on: a process that must survive restarts would run as a durable
//! projection (see the `projection` example) and keep that state in the store.

use std::collections::HashMap;

use cim_events::{
    Aggregate, CommandError, CommandOutcome, EventHeader, EventStore, EventStream, Handle,
    RecordedEvent, Repository, StartFrom,
};
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::BoxError;
use crate::inventory::{InventoryEvent, InventoryItem, inventory_item};
use crate::order::{Line, Order, OrderEvent, order};

/// How many orders and items each repository keeps cached: a command on a cached one is
/// decided at once and costs one append.
pub const CACHE: usize = 1024;

/// The process, before it starts.
pub struct Fulfilment<S> {
    orders: Repository<Order, S>,
    inventory: Repository<InventoryItem, S>,
    /// Orders placed whose lines are not all answered yet, by order id.
    pending: HashMap<String, Pending>,
    /// How many commands the process sent.
    commands: u64,
}

/// What the process knows of one order while its stock is being reserved.
struct Pending {
    /// How many lines the order has.
    lines: usize,
    /// Lines answered so far (reserved or failed).
    answered: usize,
    /// SKUs reserved so far.
    reserved: Vec<String>,
    /// Whether a line failed: the order is rejected and late reservations are released.
    failed: bool,
}

/// The process, running in its own task.
pub struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<u64, BoxError>>,
}

impl Running {
    /// Stops the process between two events and returns how many commands it sent, or
    /// the error that stopped it earlier.
    pub async fn stop(self) -> Result<u64, BoxError> {
        // The task may have ended already (with an error): it is reported below.
        let _ = self.stop.send(());
        self.task.await?
    }
}

impl<S: EventStore + Clone + 'static> Fulfilment<S> {
    pub fn new(store: S) -> Self {
        Fulfilment {
            orders: Repository::new(store.clone()).with_cache(CACHE),
            inventory: Repository::new(store).with_cache(CACHE),
            pending: HashMap::new(),
            commands: 0,
        }
    }

    /// Subscribes to every event stored from now on (`<prefix>.>`) and reacts to them in a
    /// task, one at a time, in stream order. One subscription for both aggregates keeps
    /// that order; the block's aggregate type tells their events apart.
    pub async fn start(self) -> Result<Running, BoxError> {
        let store = self.orders.store();
        let events = store
            .subscribe(&format!("{}.>", store.subject_prefix()), StartFrom::Now)
            .await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(events, stopped));
        Ok(Running { stop, task })
    }

    async fn run(
        mut self,
        mut events: EventStream,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<u64, BoxError> {
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(self.commands),
                next = events.next() => match next {
                    Some(event) => self.react(&event?).await?,
                    None => return Err("the subscription ended".into()),
                },
            }
        }
    }

    /// Answers `event`; its aggregate id is the order id or SKU it happened to.
    async fn react(&mut self, event: &RecordedEvent) -> Result<(), BoxError> {
        let id = event.aggregate_id();
        match event.block.aggregate_type.as_str() {
            OrderEvent::AGGREGATE_TYPE => match event.decode()? {
                OrderEvent::Placed { lines, .. } => self.reserve_lines(id, lines, event).await,
                OrderEvent::Confirmed => self.send_to_order(id, order::Ship, event).await,
                OrderEvent::Shipped => self.dispatch_lines(id, event).await,
                OrderEvent::Rejected { .. } => Ok(()),
            },
            InventoryEvent::AGGREGATE_TYPE => match event.decode()? {
                InventoryEvent::Reserved { order_id, .. } => {
                    self.line_reserved(id, &order_id, event).await
                }
                InventoryEvent::ReservationFailed {
                    order_id,
                    requested,
                    available,
                } => {
                    let reason = format!("{id}: {requested} requested, {available} available");
                    self.line_failed(&order_id, reason, event).await
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// `Placed`: reserve each line's stock.
    async fn reserve_lines(
        &mut self,
        order_id: &str,
        lines: Vec<Line>,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError> {
        // The answers are read once this event is handled, whichever comes first.
        let pending = Pending {
            lines: lines.len(),
            answered: 0,
            reserved: Vec::new(),
            failed: false,
        };
        self.pending.insert(order_id.to_owned(), pending);
        for Line { sku, quantity } in lines {
            let order_id = order_id.to_owned();
            let reserve = inventory_item::Reserve { order_id, quantity };
            self.send_to_item(&sku, reserve, cause).await?;
        }
        Ok(())
    }

    /// `Reserved`: once every line is, confirm the order.
    async fn line_reserved(
        &mut self,
        sku: &str,
        order_id: &str,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError> {
        // Not an order this process placed reservations for.
        let Some(pending) = self.pending.get_mut(order_id) else {
            return Ok(());
        };
        pending.answered += 1;
        let done = pending.answered == pending.lines;
        if pending.failed {
            // The order was rejected before this line's answer came: give the stock back.
            self.release(sku, order_id, cause).await?;
        } else {
            pending.reserved.push(sku.to_owned());
            if done {
                self.send_to_order(order_id, order::Confirm, cause).await?;
            }
        }
        if done {
            self.pending.remove(order_id);
        }
        Ok(())
    }

    /// `ReservationFailed`: release what the order holds, and reject it.
    async fn line_failed(
        &mut self,
        order_id: &str,
        reason: String,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError> {
        let Some(pending) = self.pending.get_mut(order_id) else {
            return Ok(());
        };
        pending.answered += 1;
        let done = pending.answered == pending.lines;
        if !pending.failed {
            pending.failed = true;
            for sku in std::mem::take(&mut pending.reserved) {
                self.release(&sku, order_id, cause).await?;
            }
            self.send_to_order(order_id, order::Reject { reason }, cause)
                .await?;
        }
        if done {
            self.pending.remove(order_id);
        }
        Ok(())
    }

    /// `Shipped`: the reserved stock leaves the warehouse. The lines come from the order
    /// itself, loaded through its repository.
    async fn dispatch_lines(
        &mut self,
        order_id: &str,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError> {
        let order = self.orders.load(order_id).await?;
        for line in &order.state.lines {
            let order_id = order_id.to_owned();
            self.send_to_item(&line.sku, inventory_item::Dispatch { order_id }, cause)
                .await?;
        }
        Ok(())
    }

    async fn release(
        &mut self,
        sku: &str,
        order_id: &str,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError> {
        let order_id = order_id.to_owned();
        self.send_to_item(sku, inventory_item::Release { order_id }, cause)
            .await
    }

    /// Sends `command` to an order, as caused by `cause`.
    async fn send_to_order<C>(
        &mut self,
        order_id: &str,
        command: C,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError>
    where
        Order: Handle<C>,
        C: Clone,
    {
        let header = EventHeader::caused_by(cause);
        let outcome = self.orders.execute_with(order_id, command, header).await;
        self.sent(outcome)
    }

    /// Sends `command` to an inventory item, as caused by `cause`.
    async fn send_to_item<C>(
        &mut self,
        sku: &str,
        command: C,
        cause: &RecordedEvent,
    ) -> Result<(), BoxError>
    where
        InventoryItem: Handle<C>,
        C: Clone,
    {
        let header = EventHeader::caused_by(cause);
        let outcome = self.inventory.execute_with(sku, command, header).await;
        self.sent(outcome)
    }

    /// Counts a command. A command the aggregate refuses is part of the process: it is
    /// reported and the process goes on. Any other failure stops the process.
    fn sent<A: Aggregate>(
        &mut self,
        result: Result<CommandOutcome<A>, CommandError<A::Error>>,
    ) -> Result<(), BoxError> {
        self.commands += 1;
        match result {
            Ok(_) => Ok(()),
            Err(CommandError::Rejected(error)) => {
                println!(
                    "fulfilment: {} refused a command: {error}",
                    A::AGGREGATE_TYPE
                );
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}
