//! The `Order` aggregate: placed, then confirmed and shipped, or rejected.

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
    Placed { customer: String, lines: Vec<Line> },
    Confirmed,
    Rejected { reason: String },
    Shipped,
}

/// Where an order stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No event yet.
    #[default]
    New,
    /// Placed, waiting for its stock.
    Placed,
    Confirmed,
    Rejected,
    Shipped,
}

/// Why an order refuses a command.
#[derive(Debug)]
pub enum OrderError {
    AlreadyPlaced,
    NoLines,
    /// The command needs the order in another status.
    WrongStatus {
        expected: Status,
        actual: Status,
    },
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::AlreadyPlaced => f.write_str("the order is already placed"),
            OrderError::NoLines => f.write_str("an order needs at least one line"),
            OrderError::WrongStatus { expected, actual } => {
                write!(f, "the order is {actual:?}, not {expected:?}")
            }
        }
    }
}

impl Error for OrderError {}

/// An order's state, rebuilt from its events.
#[derive(Debug, Default, Clone)]
pub struct Order {
    pub status: Status,
    pub customer: String,
    pub lines: Vec<Line>,
    pub rejection: Option<String>,
}

impl Order {
    fn require(&self, expected: Status) -> Result<(), OrderError> {
        match self.status {
            actual if actual == expected => Ok(()),
            actual => Err(OrderError::WrongStatus { expected, actual }),
        }
    }
}

// The handlers' parameters are the commands' fields: `#[command]` writes the command types
// in a module named after the aggregate, `order::Place { customer, lines }`,
// `order::Confirm` and so on (here `crate::order::order`), as public as their handlers.
#[aggregate(events = OrderEvent, error = OrderError)]
impl Order {
    #[command]
    pub fn place(&self, customer: String, lines: Vec<Line>) -> Result<OrderEvent, OrderError> {
        if self.status != Status::New {
            return Err(OrderError::AlreadyPlaced);
        }
        if lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        Ok(OrderEvent::Placed { customer, lines })
    }

    #[command]
    pub fn confirm(&self) -> Result<OrderEvent, OrderError> {
        self.require(Status::Placed)?;
        Ok(OrderEvent::Confirmed)
    }

    #[command]
    pub fn reject(&self, reason: String) -> Result<OrderEvent, OrderError> {
        self.require(Status::Placed)?;
        Ok(OrderEvent::Rejected { reason })
    }

    #[command]
    pub fn ship(&self) -> Result<OrderEvent, OrderError> {
        self.require(Status::Confirmed)?;
        Ok(OrderEvent::Shipped)
    }

    #[apply(Placed)]
    fn placed(&mut self, customer: &str, lines: &[Line]) {
        self.status = Status::Placed;
        self.customer = customer.to_owned();
        self.lines = lines.to_vec();
    }

    #[apply(Confirmed)]
    fn confirmed(&mut self) {
        self.status = Status::Confirmed;
    }

    #[apply(Rejected)]
    fn rejected(&mut self, reason: &str) {
        self.status = Status::Rejected;
        self.rejection = Some(reason.to_owned());
    }

    #[apply(Shipped)]
    fn shipped(&mut self) {
        self.status = Status::Shipped;
    }
}
