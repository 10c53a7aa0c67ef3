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

#[aggregate(events = BookEvent, commands = "book_commands")]
impl Book {
    #[command]
    fn lend(&self, member_id: String) -> Result<BookEvent, Infallible> {
        Ok(BookEvent::Lent { member_id })
    }
    #[apply(Lent)]
    fn lent(&mut self, member_id: &str) {
        let _ = member_id;
    }
}

fn main() {}
