use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    #[event(aliases("Created"))]
    Opened {
        #[event(id)]
        account_id: String,
    },
    #[event(aliases("Created"))]
    Reopened {
        #[event(id)]
        account_id: String,
    },
}

fn main() {}
