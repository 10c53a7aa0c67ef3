//! The `Order` aggregate: placed (with its stock reserved in the same commit), then
//! confirmed once paid, or cancelled when the payment does not come in time.

use std::error::Error;
use std::fmt;

use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

/// One line of an order: how many of which item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
}

/// Everything that can happen to an order. No event holds the order's id: the block it is
/// stored in does (`RecordedEvent::aggregate_id`).
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Order")]
pub enum OrderEvent {
    /// Placed, to be paid within `pay_within_secs` seconds.
    Placed {
        customer: String,
        lines: Vec<Line>,
        pay_within_secs: u64,
    },
    Confirmed,
    Cancelled {
        reason: String,
    },
}

/// Where an order stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No event yet.
    #[default]
    New,
    /// Placed, waiting for its payment.
    Placed,
    Confirmed,
    Cancelled,
}

/// Why an order refuses a command.
#[derive(Debug)]
pub enum OrderError {
    AlreadyPlaced,
    NoLines,
    /// The command needs a placed order.
    NotPlaced(Status),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::AlreadyPlaced => f.write_str("the order is already placed"),
            OrderError::NoLines => f.write_str("an order needs at least one line"),
            OrderError::NotPlaced(status) => write!(f, "the order is {status:?}, not Placed"),
        }
    }
}

impl Error for OrderError {}

/// An order's state, rebuilt from its events.
#[derive(Debug, Default, Clone)]
pub struct Order {
    pub status: Status,
    pub customer: String,
    pub cancelled_because: Option<String>,
}

impl Order {
    fn require_placed(&self) -> Result<(), OrderError> {
        match self.status {
            Status::Placed => Ok(()),
            other => Err(OrderError::NotPlaced(other)),
        }
    }
}

// The handlers' parameters are the commands' fields: `#[command]` writes the command types
// in a module named after the aggregate, `order::Place { customer, lines, pay_within_secs }`,
// `order::Confirm` and `order::Cancel { reason }`, as public as their handlers.
#[aggregate(events = OrderEvent, error = OrderError)]
impl Order {
    #[command]
    pub fn place(
        &self,
        customer: String,
        lines: Vec<Line>,
        pay_within_secs: u64,
    ) -> Result<OrderEvent, OrderError> {
        if self.status != Status::New {
            return Err(OrderError::AlreadyPlaced);
        }
        if lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        Ok(OrderEvent::Placed {
            customer,
            lines,
            pay_within_secs,
        })
    }

    #[command]
    pub fn confirm(&self) -> Result<OrderEvent, OrderError> {
        self.require_placed()?;
        Ok(OrderEvent::Confirmed)
    }

    #[command]
    pub fn cancel(&self, reason: String) -> Result<OrderEvent, OrderError> {
        self.require_placed()?;
        Ok(OrderEvent::Cancelled { reason })
    }

    #[apply(Placed)]
    fn placed(&mut self, customer: &str) {
        self.status = Status::Placed;
        self.customer = customer.to_owned();
    }

    #[apply(Confirmed)]
    fn confirmed(&mut self) {
        self.status = Status::Confirmed;
    }

    #[apply(Cancelled)]
    fn cancelled(&mut self, reason: &str) {
        self.status = Status::Cancelled;
        self.cancelled_because = Some(reason.to_owned());
    }
}
