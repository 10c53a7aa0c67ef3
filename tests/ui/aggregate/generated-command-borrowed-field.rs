use std::convert::Infallible;
use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Book")]
enum BookEvent {
    Lent { member_id: String },
}

#[derive(Default)]
struct Book;

#[aggregate(events = BookEvent)]
impl Book {
    #[command]
    fn lend(&self, member_id: &str) -> Result<BookEvent, Infallible> {
        Ok(BookEvent::Lent { member_id: member_id.to_owned() })
    }
    #[apply(Lent)]
    fn lent(&mut self, member_id: &str) {
        let _ = member_id;
    }
}

fn main() {}
