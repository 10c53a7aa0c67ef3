//! The `InventoryItem` aggregate, one per SKU: stock comes in, orders reserve it, and then
//! either release it again or take it away when they ship.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;

use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

/// Everything that can happen to an item's stock. No event holds the SKU: the block it is
/// stored in does. A reservation that cannot be met is an event too, not an error: it is a
/// fact the fulfilment process reacts to.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "InventoryItem")]
pub enum InventoryEvent {
    Stocked {
        quantity: u32,
    },
    Reserved {
        order_id: String,
        quantity: u32,
    },
    ReservationFailed {
        order_id: String,
        requested: u32,
        available: u32,
    },
    Released {
        order_id: String,
        quantity: u32,
    },
    /// The reserved units left the warehouse with their order.
    Dispatched {
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
// `inventory_item::Reserve { order_id, quantity }` and so on.
#[aggregate(events = InventoryEvent, error = InventoryError)]
impl InventoryItem {
    #[command]
    pub fn restock(&self, quantity: u32) -> Result<InventoryEvent, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::ZeroQuantity);
        }
        Ok(InventoryEvent::Stocked { quantity })
    }

    /// Holds units for an order: `Reserved` if enough are available, otherwise
    /// `ReservationFailed`.
    #[command]
    pub fn reserve(
        &self,
        order_id: String,
        quantity: u32,
    ) -> Result<InventoryEvent, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::ZeroQuantity);
        }
        let available = self.available();
        Ok(if quantity <= available {
            InventoryEvent::Reserved { order_id, quantity }
        } else {
            InventoryEvent::ReservationFailed {
                order_id,
                requested: quantity,
                available,
            }
        })
    }

    /// Gives back what an order reserved; nothing happens if it reserved nothing.
    #[command]
    pub fn release(&self, order_id: String) -> Result<Option<InventoryEvent>, InventoryError> {
        let quantity = self.reservations.get(&order_id).copied();
        Ok(quantity.map(|quantity| InventoryEvent::Released { order_id, quantity }))
    }

    /// Takes what an order reserved out of the warehouse; nothing happens if it reserved
    /// nothing.
    #[command]
    pub fn dispatch(&self, order_id: String) -> Result<Option<InventoryEvent>, InventoryError> {
        let quantity = self.reservations.get(&order_id).copied();
        Ok(quantity.map(|quantity| InventoryEvent::Dispatched { order_id, quantity }))
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
