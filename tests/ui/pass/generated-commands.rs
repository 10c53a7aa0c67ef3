//! Commands generated from handler parameters, written the way the error hints say:
//! owned fields (`member_id: String`, not `&str`), named parameters, distinct handler
//! names, a module name for `commands = …`. Public handlers give public, documented
//! command types.
#![deny(missing_docs, warnings)]

use std::convert::Infallible;

use cim_events::{CommandContext, Event, MemoryEventStore, Repository, aggregate};
use serde::{Deserialize, Serialize};

/// A library book's events.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aggregate = "Book")]
pub enum BookEvent {
    /// Lent to a member.
    Lent {
        /// Who.
        member_id: String,
        /// For how long.
        days: u32,
    },
    /// Back on the shelf.
    Returned,
}

/// A library book.
#[derive(Default)]
pub struct Book {
    lent: bool,
}

#[aggregate(events = BookEvent)]
impl Book {
    /// Lends the book.
    #[command]
    pub fn lend(&self, member_id: String, days: u32) -> Result<BookEvent, Infallible> {
        Ok(BookEvent::Lent { member_id, days })
    }

    /// Lends the book for a week.
    #[command]
    pub fn lend_for_a_week(&self, member_id: String, ctx: &CommandContext<'_>) -> Result<BookEvent, Infallible> {
        let _ = ctx.version;
        Ok(BookEvent::Lent { member_id, days: 7 })
    }

    #[command]
    fn give_back(&self) -> Result<Option<BookEvent>, Infallible> {
        Ok(self.lent.then_some(BookEvent::Returned))
    }

    #[apply(Lent)]
    fn lent(&mut self) {
        self.lent = true;
    }

    #[apply(Returned)]
    fn returned(&mut self) {
        self.lent = false;
    }
}

/// A shelf, whose commands go in a module named by `commands = …`.
#[derive(Default)]
pub struct Shelf;

/// A shelf's events.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(aggregate = "Shelf")]
pub enum ShelfEvent {
    /// Books added.
    Stocked {
        /// How many.
        count: u32,
    },
}

#[aggregate(events = ShelfEvent, commands = shelf_commands)]
impl Shelf {
    #[command]
    fn stock(&self, count: u32) -> Result<ShelfEvent, Infallible> {
        Ok(ShelfEvent::Stocked { count })
    }

    #[apply(Stocked)]
    fn stocked(&mut self, count: &u32) {
        let _ = count;
    }
}

fn main() {
    let books = Repository::<Book, _>::new(MemoryEventStore::new());
    let _lend = books.execute("bk-1", book::Lend { member_id: "m-1".into(), days: 14 });
    let _week = books.execute("bk-1", book::LendForAWeek { member_id: "m-1".into() });
    let _back = books.execute("bk-1", book::GiveBack);
    let shelves = Repository::<Shelf, _>::new(MemoryEventStore::new());
    let _stock = shelves.execute("sh-1", shelf_commands::Stock { count: 3 });
    let copy = book::Lend { member_id: "m-2".into(), days: 1 }.clone();
    println!("{copy:?}");
}
