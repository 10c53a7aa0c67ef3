//! The `InventoryItem` aggregate, one per SKU: stock comes in, orders reserve it, and then
//! either release it again or take it away when they ship.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;

use cim_events::{CommandContext, Event, aggregate};
use serde::{Deserialize, Serialize};

/// Everything that can happen to an item's stock. A reservation that cannot be met is an
/// event too, not an error: it is a fact the fulfilment process reacts to.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "InventoryItem")]
pub enum InventoryEvent {
    Stocked {
        #[event(id)]
        sku: String,
        quantity: u32,
    },
    #[event(name = "StockReserved")]
    Reserved {
        #[event(id)]
        sku: String,
        order_id: String,
        quantity: u32,
    },
    ReservationFailed {
        #[event(id)]
        sku: String,
        order_id: String,
        requested: u32,
        available: u32,
    },
    #[event(name = "StockReleased")]
    Released {
        #[event(id)]
        sku: String,
        order_id: String,
        quantity: u32,
    },
    /// The reserved units left the warehouse with their order.
    #[event(name = "StockDispatched")]
    Dispatched {
        #[event(id)]
        sku: String,
        order_id: String,
        quantity: u32,
    },
}

/// Why an item refuses a command.
#[derive(Debug)]
pub enum InventoryError {
    ZeroQuantity,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::ZeroQuantity => f.write_str("the quantity must not be zero"),
        }
    }
}

impl Error for InventoryError {}

// The commands (`Clone`: the repository may handle a command again after a conflict).
#[derive(Debug, Clone)]
pub struct Restock {
    pub quantity: u32,
}
/// Holds units for an order: `StockReserved` if enough are available, otherwise
/// `ReservationFailed`.
#[derive(Debug, Clone)]
pub struct Reserve {
    pub order_id: String,
    pub quantity: u32,
}
/// Gives back what an order reserved; nothing happens if it reserved nothing.
#[derive(Debug, Clone)]
pub struct Release {
    pub order_id: String,
}

/// Takes what an order reserved out of the warehouse; nothing happens if it reserved
/// nothing.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub order_id: String,
}

/// An item's state, rebuilt from its events.
#[derive(Debug, Default, Clone)]
pub struct InventoryItem {
    /// Units in the warehouse, reserved or not.
    pub on_hand: u32,
    /// Units held for each order.
    pub reservations: BTreeMap<String, u32>,
}

impl InventoryItem {
    /// Units that can still be reserved.
    pub fn available(&self) -> u32 {
        self.on_hand - self.reservations.values().sum::<u32>()
    }
}

#[aggregate(events = InventoryEvent, error = InventoryError)]
impl InventoryItem {
    #[command]
    fn restock(
        &self,
        Restock { quantity }: Restock,
        ctx: &CommandContext<'_>,
    ) -> Result<InventoryEvent, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::ZeroQuantity);
        }
        Ok(InventoryEvent::Stocked {
            sku: ctx.aggregate_id.to_owned(),
            quantity,
        })
    }

    #[command]
    fn reserve(
        &self,
        Reserve { order_id, quantity }: Reserve,
        ctx: &CommandContext<'_>,
    ) -> Result<InventoryEvent, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::ZeroQuantity);
        }
        let sku = ctx.aggregate_id.to_owned();
        let available = self.available();
        Ok(if quantity <= available {
            InventoryEvent::Reserved {
                sku,
                order_id,
                quantity,
            }
        } else {
            InventoryEvent::ReservationFailed {
                sku,
                order_id,
                requested: quantity,
                available,
            }
        })
    }

    #[command]
    fn release(
        &self,
        Release { order_id }: Release,
        ctx: &CommandContext<'_>,
    ) -> Result<Option<InventoryEvent>, InventoryError> {
        Ok(self
            .reservations
            .get(&order_id)
            .map(|&quantity| InventoryEvent::Released {
                sku: ctx.aggregate_id.to_owned(),
                order_id,
                quantity,
            }))
    }

    #[command]
    fn dispatch(
        &self,
        Dispatch { order_id }: Dispatch,
        ctx: &CommandContext<'_>,
    ) -> Result<Option<InventoryEvent>, InventoryError> {
        Ok(self
            .reservations
            .get(&order_id)
            .map(|&quantity| InventoryEvent::Dispatched {
                sku: ctx.aggregate_id.to_owned(),
                order_id,
                quantity,
            }))
    }

    #[apply(Stocked)]
    fn stocked(&mut self, quantity: &u32) {
        self.on_hand += quantity;
    }

    #[apply(Reserved)]
    fn reserved(&mut self, order_id: &str, quantity: &u32) {
        *self.reservations.entry(order_id.to_owned()).or_default() += quantity;
    }

    #[apply(ReservationFailed)]
    fn reservation_failed(&mut self) {}

    #[apply(Released)]
    fn released(&mut self, order_id: &str) {
        self.reservations.remove(order_id);
    }

    #[apply(Dispatched)]
    fn dispatched(&mut self, order_id: &str, quantity: &u32) {
        self.reservations.remove(order_id);
        self.on_hand -= quantity;
    }
}
