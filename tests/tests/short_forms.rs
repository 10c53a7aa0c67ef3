//! The short forms: events without an id field (the envelope carries it), unit event
//! variants, and commands generated from handler parameters, with or without the context.
//! Run through the repository on the memory store, so the stored blocks are checked too.

use cim_events::testing::AggregateTest;
use cim_events::{
    CommandContext, CommandError, Event, EventStore, Ipld, MemoryEventStore, Repository, aggregate,
};
use serde::{Deserialize, Serialize};

/// Everything that happens to a book. No variant holds the book's id.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Book")]
enum BookEvent {
    Added { title: String },
    Lent { member_id: String },
    Returned,
    Withdrawn {},
}

#[derive(Debug, PartialEq)]
enum BookError {
    AlreadyAdded,
    NotOnShelf,
    NotLent,
}

impl std::fmt::Display for BookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for BookError {}

#[derive(Debug, Default, Clone)]
struct Book {
    added: bool,
    lent_to: Option<String>,
    withdrawn: bool,
}

#[aggregate(events = BookEvent, error = BookError)]
impl Book {
    #[command]
    fn add(&self, title: String) -> Result<BookEvent, BookError> {
        if self.added {
            return Err(BookError::AlreadyAdded);
        }
        Ok(BookEvent::Added { title })
    }

    #[command]
    pub fn lend(&self, member_id: String) -> Result<BookEvent, BookError> {
        if !self.added || self.withdrawn || self.lent_to.is_some() {
            return Err(BookError::NotOnShelf);
        }
        Ok(BookEvent::Lent { member_id })
    }

    /// The context, where the handler needs it, may come anywhere.
    #[command]
    fn give_back(&self, ctx: &CommandContext<'_>) -> Result<Vec<BookEvent>, BookError> {
        assert!(!ctx.aggregate_id.is_empty());
        match self.lent_to {
            Some(_) => Ok(vec![BookEvent::Returned]),
            None => Err(BookError::NotLent),
        }
    }

    /// No event when there is nothing to do.
    #[command]
    fn withdraw(&self, mut reason: String) -> Result<Option<BookEvent>, BookError> {
        reason.clear();
        Ok((!self.withdrawn).then_some(BookEvent::Withdrawn {}))
    }

    #[apply(Added)]
    fn added(&mut self) {
        self.added = true;
    }

    #[apply(Lent)]
    fn lent(&mut self, member_id: &str) {
        self.lent_to = Some(member_id.to_owned());
    }

    #[apply(Returned)]
    fn returned(&mut self) {
        self.lent_to = None;
    }

    #[apply(Withdrawn)]
    fn withdrawn(&mut self) {
        self.withdrawn = true;
    }
}

/// `commands = …` names the module; a hand-written command sits next to generated ones.
#[derive(Debug, Default, Clone)]
struct Shelf {
    books: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Shelf")]
enum ShelfEvent {
    Stocked { count: u32 },
}

#[derive(Debug, Clone)]
struct Stock(u32);

#[aggregate(events = ShelfEvent, commands = shelf_commands)]
impl Shelf {
    #[command]
    fn stock(&self, Stock(count): Stock) -> Result<ShelfEvent, std::convert::Infallible> {
        Ok(ShelfEvent::Stocked { count })
    }

    #[command]
    fn stock_two(
        &self,
        ctx: &CommandContext<'_>,
        first: u32,
        second: u32,
    ) -> Result<Vec<ShelfEvent>, std::convert::Infallible> {
        let _ = ctx;
        Ok(vec![
            ShelfEvent::Stocked { count: first },
            ShelfEvent::Stocked { count: second },
        ])
    }

    #[apply(Stocked)]
    fn stocked(&mut self, count: &u32) {
        self.books += count;
    }
}

#[tokio::test]
async fn generated_commands_run_through_the_repository() {
    let books = Repository::<Book, _>::new(MemoryEventStore::new());
    books
        .execute(
            "bk-1",
            book::Add {
                title: "Dune".into(),
            },
        )
        .await
        .expect("add");
    books
        .execute(
            "bk-1",
            book::Lend {
                member_id: "m-7".into(),
            },
        )
        .await
        .expect("lend");
    match books
        .execute(
            "bk-1",
            book::Lend {
                member_id: "m-8".into(),
            },
        )
        .await
    {
        Err(CommandError::Rejected(BookError::NotOnShelf)) => {}
        other => panic!("a second loan is refused, got {other:?}"),
    }
    books.execute("bk-1", book::GiveBack).await.expect("return");
    let withdrawn = books
        .execute(
            "bk-1",
            book::Withdraw {
                reason: "worn".into(),
            },
        )
        .await
        .expect("withdraw");
    assert_eq!(withdrawn.metadata().count(), 1);
    let again = books
        .execute(
            "bk-1",
            book::Withdraw {
                reason: "twice".into(),
            },
        )
        .await
        .expect("withdraw again");
    assert_eq!(again.metadata().count(), 0, "nothing to do, nothing stored");

    let loaded = books.load("bk-1").await.expect("load");
    assert_eq!(loaded.version, 4);
    assert!(loaded.state.withdrawn && loaded.state.lent_to.is_none());
}

#[tokio::test]
async fn id_less_events_are_stored_without_an_id_and_read_back_with_the_envelope_id() {
    let store = MemoryEventStore::new();
    let books = Repository::<Book, _>::new(store.clone());
    books
        .execute(
            "bk-2",
            book::Add {
                title: "Emma".into(),
            },
        )
        .await
        .expect("add");
    books
        .execute(
            "bk-2",
            book::Lend {
                member_id: "m-1".into(),
            },
        )
        .await
        .expect("lend");
    books.execute("bk-2", book::GiveBack).await.expect("return");

    let events = store.load("bk-2").await.expect("load");
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(types, ["Added", "Lent", "Returned"]);
    for event in &events {
        assert_eq!(event.aggregate_id(), "bk-2");
        assert_eq!(event.block.aggregate_type, "Book");
    }
    // The payloads are the fields alone: no id in them.
    let payload = |i: usize| match &events[i].block.payload {
        Ipld::Map(map) => map.keys().cloned().collect::<Vec<_>>(),
        other => panic!("a map payload, got {other:?}"),
    };
    assert_eq!(payload(0), ["title"]);
    assert_eq!(payload(1), ["member_id"]);
    assert!(payload(2).is_empty());
    assert_eq!(
        events[1].decode::<BookEvent>().expect("decode"),
        BookEvent::Lent {
            member_id: "m-1".into()
        }
    );
    assert_eq!(
        events[2].decode::<BookEvent>().expect("decode"),
        BookEvent::Returned
    );
}

#[tokio::test]
async fn an_id_less_event_appends_under_any_id_the_append_names() {
    let store = MemoryEventStore::new();
    let added = BookEvent::Added {
        title: "Ulysses".into(),
    };
    assert_eq!(added.carried_id(), None);
    // The seed's call shape: the id comes from the call, not the event.
    let stored = store
        .append_event("bk-3", added.clone(), None)
        .await
        .expect("append");
    assert_eq!(stored.aggregate_id, "bk-3");
    store
        .append_event("bk-4", added, None)
        .await
        .expect("the same event under another id");
    assert_eq!(
        store.load("bk-4").await.expect("load")[0].aggregate_id(),
        "bk-4"
    );
}

#[test]
fn the_test_harness_takes_short_forms() {
    AggregateTest::<Book>::new("bk-5")
        .given([BookEvent::Added {
            title: "Kim".into(),
        }])
        .when(book::Lend {
            member_id: "m-2".into(),
        })
        .then_expect_events([BookEvent::Lent {
            member_id: "m-2".into(),
        }]);
    AggregateTest::<Book>::new("bk-5")
        .given([BookEvent::Added {
            title: "Kim".into(),
        }])
        .when(book::GiveBack)
        .then_expect_error_eq(BookError::NotLent);
}

#[test]
fn a_renamed_module_and_a_written_command_live_side_by_side() {
    AggregateTest::<Shelf>::new("sh-1")
        .when(Stock(3))
        .then_expect_events([ShelfEvent::Stocked { count: 3 }]);
    AggregateTest::<Shelf>::new("sh-1")
        .given([ShelfEvent::Stocked { count: 3 }])
        .when(shelf_commands::StockTwo {
            first: 1,
            second: 2,
        })
        .then_state(|shelf| assert_eq!(shelf.books, 6));
}
