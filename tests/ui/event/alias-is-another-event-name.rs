use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
    #[event(aliases("Opened"))]
    Reopened {
        #[event(id)]
        account_id: String,
    },
}

fn main() {}
