use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(retired)]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
}

fn main() {}
