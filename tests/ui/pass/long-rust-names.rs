//! Rust names longer than a subject token, given the short names the errors ask for.
#![deny(warnings)]

use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Order")]
enum MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
    #[event(name = "Measured")]
    MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
        #[event(id)]
        order_id: String,
    },
}

#[derive(Event, Serialize, Deserialize)]
#[event(name = "Created", aggregate = "Order")]
struct CreatedMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
    #[event(id)]
    order_id: String,
}

fn main() {
    let event = MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured::MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
        order_id: "o-1".to_owned(),
    };
    assert_eq!((event.event_type(), event.aggregate_type()), ("Measured", "Order"));
    let event = CreatedMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
        order_id: "o-1".to_owned(),
    };
    assert_eq!((event.event_type(), event.aggregate_type()), ("Created", "Order"));
}
