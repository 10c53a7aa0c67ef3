use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
    Created {
        #[event(id)]
        order_id: String,
    },
}

fn main() {}
