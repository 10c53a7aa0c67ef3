//! The `Order` aggregate: placed, then confirmed and shipped, or rejected.

use std::error::Error;
use std::fmt;

use cim_events::{CommandContext, Event, aggregate};
use serde::{Deserialize, Serialize};

/// One line of an order: how many of which item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
}

/// Everything that can happen to an order. The stored event types carry the `Order`
/// prefix (`#[event(name)]`) so that a subject filter such as `shop.*.OrderPlaced` never
/// matches an inventory event.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Order")]
pub enum OrderEvent {
    #[event(name = "OrderPlaced")]
    Placed {
        #[event(id)]
        order_id: String,
        customer: String,
        lines: Vec<Line>,
    },
    #[event(name = "OrderConfirmed")]
    Confirmed {
        #[event(id)]
        order_id: String,
    },
    #[event(name = "OrderRejected")]
    Rejected {
        #[event(id)]
        order_id: String,
        reason: String,
    },
    #[event(name = "OrderShipped")]
    Shipped {
        #[event(id)]
        order_id: String,
    },
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

// The commands. The repository may handle a command again after a conflict, so they are
// `Clone`.
#[derive(Debug, Clone)]
pub struct Place {
    pub customer: String,
    pub lines: Vec<Line>,
}
#[derive(Debug, Clone)]
pub struct Confirm;
#[derive(Debug, Clone)]
pub struct Reject {
    pub reason: String,
}
#[derive(Debug, Clone)]
pub struct Ship;

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

#[aggregate(events = OrderEvent, error = OrderError)]
impl Order {
    #[command]
    fn place(&self, command: Place, ctx: &CommandContext<'_>) -> Result<OrderEvent, OrderError> {
        if self.status != Status::New {
            return Err(OrderError::AlreadyPlaced);
        }
        if command.lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        Ok(OrderEvent::Placed {
            order_id: ctx.aggregate_id.to_owned(),
            customer: command.customer,
            lines: command.lines,
        })
    }

    #[command]
    fn confirm(&self, _: Confirm, ctx: &CommandContext<'_>) -> Result<OrderEvent, OrderError> {
        self.require(Status::Placed)?;
        Ok(OrderEvent::Confirmed {
            order_id: ctx.aggregate_id.to_owned(),
        })
    }

    #[command]
    fn reject(&self, command: Reject, ctx: &CommandContext<'_>) -> Result<OrderEvent, OrderError> {
        self.require(Status::Placed)?;
        Ok(OrderEvent::Rejected {
            order_id: ctx.aggregate_id.to_owned(),
            reason: command.reason,
        })
    }

    #[command]
    fn ship(&self, _: Ship, ctx: &CommandContext<'_>) -> Result<OrderEvent, OrderError> {
        self.require(Status::Confirmed)?;
        Ok(OrderEvent::Shipped {
            order_id: ctx.aggregate_id.to_owned(),
        })
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
