use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2)]
enum AccountEvent {
    #[event(schema = 1)]
    Opened {
        #[event(id)]
        account_id: String,
    },
    Closed {
        #[event(id)]
        account_id: String,
    },
}

fn main() {}
