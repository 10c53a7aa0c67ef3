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
    fn lend(
        &self,
        ctx: &cim_events::CommandContext<'_>,
        member_id: String,
        again: &cim_events::CommandContext<'_>,
    ) -> Result<BookEvent, Infallible> {
        let _ = (ctx, again);
        Ok(BookEvent::Lent { member_id })
    }
    #[apply(Lent)]
    fn lent(&mut self, member_id: &str) {
        let _ = member_id;
    }
}

fn main() {}
