use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
struct MeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasuredMeasured {
    #[event(id)]
    order_id: String,
}

fn main() {}
