use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Book")]
enum BookEvent {
    Lent { member_id: String },
    Returned,
}

fn main() {
    let event = BookEvent::Returned;
    println!("{}", event.aggregate_id());
}
