use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Book")]
struct BookLent {
    member_id: String,
}

fn main() {
    let event = BookLent { member_id: "m-1".into() };
    println!("{}", event.subject("events"));
}
