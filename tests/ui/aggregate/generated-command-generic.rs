use std::convert::Infallible;
use std::marker::PhantomData;
use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Shelf")]
enum ShelfEvent {
    Stocked { count: u32 },
}

struct Shelf<T>(PhantomData<T>);

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf(PhantomData)
    }
}

#[aggregate(events = ShelfEvent)]
impl<T: Send + Sync + 'static> Shelf<T> {
    #[command]
    fn stock(&self, items: Vec<T>) -> Result<ShelfEvent, Infallible> {
        Ok(ShelfEvent::Stocked { count: items.len() as u32 })
    }

    #[apply(Stocked)]
    fn stocked(&mut self, count: &u32) {
        let _ = count;
    }
}

fn main() {}
