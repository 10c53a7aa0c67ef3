//! The `InventoryItem` aggregate, one per SKU: stock comes in, orders reserve it, and a
//! cancelled order releases it again.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;

use cim_events::{CommandContext, Event, aggregate};
use serde::{Deserialize, Serialize};

/// Everything that can happen to an item's stock. No event holds the SKU: the block it is
/// stored in does.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "InventoryItem")]
pub enum InventoryEvent {
    Stocked { quantity: u32 },
    Reserved { order_id: String, quantity: u32 },
    Released { order_id: String, quantity: u32 },
}

/// Why an item refuses a command. Refused inside a `Transaction`, the whole transaction
/// stores nothing.
#[derive(Debug)]
pub enum InventoryError {
    ZeroQuantity,
    OutOfStock {
        sku: String,
        requested: u32,
        available: u32,
    },
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::ZeroQuantity => f.write_str("the quantity must not be zero"),
            InventoryError::OutOfStock {
                sku,
                requested,
                available,
            } => write!(f, "{requested} {sku} requested, {available} left"),
        }
    }
}

impl Error for InventoryError {}

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

// `#[command]` writes the commands from the handlers' parameters:
// `inventory_item::Reserve { order_id, quantity }` and so on (`ctx` is not a field).
#[aggregate(events = InventoryEvent, error = InventoryError)]
impl InventoryItem {
    #[command]
    pub fn restock(&self, quantity: u32) -> Result<InventoryEvent, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::ZeroQuantity);
        }
        Ok(InventoryEvent::Stocked { quantity })
    }

    /// Holds units for an order, or refuses if fewer are available.
    #[command]
    pub fn reserve(
        &self,
        order_id: String,
        quantity: u32,
        ctx: &CommandContext<'_>,
    ) -> Result<InventoryEvent, InventoryError> {
        let available = self.available();
        match quantity {
            0 => Err(InventoryError::ZeroQuantity),
            q if q > available => Err(InventoryError::OutOfStock {
                sku: ctx.aggregate_id.to_owned(),
                requested: q,
                available,
            }),
            _ => Ok(InventoryEvent::Reserved { order_id, quantity }),
        }
    }

    /// Gives back what an order reserved; nothing happens if it holds nothing.
    #[command]
    pub fn release(&self, order_id: String) -> Result<Option<InventoryEvent>, InventoryError> {
        let quantity = self.reservations.get(&order_id).copied();
        Ok(quantity.map(|quantity| InventoryEvent::Released { order_id, quantity }))
    }

    #[apply(Stocked)]
    fn stocked(&mut self, quantity: &u32) {
        self.on_hand += quantity;
    }

    #[apply(Reserved)]
    fn reserved(&mut self, order_id: &str, quantity: &u32) {
        *self.reservations.entry(order_id.to_owned()).or_default() += quantity;
    }

    #[apply(Released)]
    fn released(&mut self, order_id: &str) {
        self.reservations.remove(order_id);
    }
}
