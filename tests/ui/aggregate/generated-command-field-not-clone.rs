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

struct Member(String);

#[aggregate(events = BookEvent)]
impl Book {
    #[command]
    fn lend(&self, member: Member) -> Result<BookEvent, Infallible> {
        Ok(BookEvent::Lent { member_id: member.0 })
    }
    #[apply(Lent)]
    fn lent(&mut self, member_id: &str) {
        let _ = member_id;
    }
}

fn main() {}
