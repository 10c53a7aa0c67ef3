use cim_events::Event;
use serde::{Deserialize, Serialize};

mod created {
    pub fn serialize<S: serde::Serializer>(order_id: &String, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(order_id)
    }
}

#[derive(Event, Serialize, Deserialize)]
enum OrderEvent {
    #[serde(serialize_with = "created::serialize")]
    Created {
        #[event(id)]
        order_id: String,
    },
}

fn main() {}
