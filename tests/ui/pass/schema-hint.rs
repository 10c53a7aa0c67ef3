//! `#[event(schema = "2")]` is rejected with "write `schema = 2`"; this is that fix.
#![deny(warnings)]

use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct OrderCreatedV1 {
    order_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = OrderCreatedV1))]
struct OrderCreated {
    #[event(id)]
    order_id: String,
}

impl From<OrderCreatedV1> for OrderCreated {
    fn from(old: OrderCreatedV1) -> Self {
        Self {
            order_id: old.order_id,
        }
    }
}

fn main() {
    let event = OrderCreated {
        order_id: "o-1".to_owned(),
    };
    assert_eq!(event.schema_version(), 2);
}
