use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(schema = 2, from(1 = Closed))]
struct Closed {
    #[event(id)]
    account_id: String,
}

#[derive(Event, Serialize, Deserialize)]
enum AccountEvent {
    #[event(from(1 = Closed))]
    Closed(Closed),
}

fn main() {}
