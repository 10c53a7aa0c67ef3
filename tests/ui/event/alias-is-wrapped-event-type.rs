use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(name = "AccountClosed", aliases("Opened"))]
struct Closed {
    #[event(id)]
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
    Closed(Closed),
}

fn main() {}
