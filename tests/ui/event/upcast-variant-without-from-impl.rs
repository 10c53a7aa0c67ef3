use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct OpenedV1 {
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    #[event(schema = 2, from(1 = OpenedV1))]
    Opened {
        #[event(id)]
        account_id: String,
        owner: String,
    },
}

fn main() {}
