use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct OpenedV1 {
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = OpenedV1))]
enum AccountEvent {
    #[event(schema = 1)]
    Opened {
        #[event(id)]
        account_id: String,
    },
}

fn main() {}
