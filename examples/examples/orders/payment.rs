//! The `Payment` aggregate: a customer's payment for an order, as the payment provider
//! reports it.

use std::error::Error;
use std::fmt;

use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

/// What happens to a payment. It names its order: that is how the checkout process of the
/// order finds it.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Payment")]
pub enum PaymentEvent {
    Received { order_id: String },
}

/// A payment is received once.
#[derive(Debug)]
pub struct AlreadyReceived;

impl fmt::Display for AlreadyReceived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the payment is already received")
    }
}

impl Error for AlreadyReceived {}

/// A payment's state: the order it paid for, once received.
#[derive(Debug, Default, Clone)]
pub struct Payment {
    pub order_id: Option<String>,
}

#[aggregate(events = PaymentEvent, error = AlreadyReceived)]
impl Payment {
    #[command]
    pub fn receive(&self, order_id: String) -> Result<PaymentEvent, AlreadyReceived> {
        match self.order_id {
            Some(_) => Err(AlreadyReceived),
            None => Ok(PaymentEvent::Received { order_id }),
        }
    }

    #[apply(Received)]
    fn received(&mut self, order_id: &str) {
        self.order_id = Some(order_id.to_owned());
    }
}
