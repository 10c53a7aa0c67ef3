use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    Opened {
        #[event(id)]
        account_id: String,
    },
    #[event(schema = 2, from(1 = Opened))]
    Closed,
}

fn main() {}
