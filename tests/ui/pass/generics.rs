//! Generic events and aggregates: type parameters (used by some variants only, behind
//! `with` and `skip_serializing_if`) and lifetime parameters.
#![deny(warnings)]

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Debug;

use cim_events::{Aggregate, CommandContext, Event, EventHeader, Handle, Ipld, aggregate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Inventory")]
enum InventoryEvent<T> {
    Added {
        #[event(id)]
        inventory_id: String,
        item: T,
        #[serde(with = "as_text")]
        at: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        note: Option<T>,
    },
    Removed {
        #[event(id)]
        inventory_id: String,
        count: u32,
    },
    Counted(Counted<T>),
}

/// A generic struct event, wrapped by a variant of a generic enum.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Inventory")]
struct Counted<T> {
    #[event(id)]
    inventory_id: String,
    items: Vec<T>,
}

struct Inventory<T> {
    items: Vec<T>,
    removed: u32,
}

impl<T> Default for Inventory<T> {
    fn default() -> Self {
        Inventory {
            items: Vec::new(),
            removed: 0,
        }
    }
}

struct Add<T>(T);
struct Remove(u32);

#[aggregate(events = InventoryEvent<T>)]
impl<T> Inventory<T>
where
    T: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    #[command]
    fn add(&self, Add(item): Add<T>, ctx: &CommandContext<'_>) -> Result<InventoryEvent<T>, Infallible> {
        Ok(InventoryEvent::Added {
            inventory_id: ctx.aggregate_id.to_owned(),
            item,
            at: ctx.version,
            note: None,
        })
    }

    #[command]
    fn remove(&self, Remove(count): Remove) -> Result<Vec<InventoryEvent<T>>, Infallible> {
        Ok(vec![InventoryEvent::Removed {
            inventory_id: "inv-1".into(),
            count,
        }])
    }

    #[apply(Added)]
    fn added(&mut self, item: &T) {
        self.items.push(item.clone());
    }

    #[apply(Removed)]
    fn removed(&mut self, count: &u32) {
        self.removed += count;
    }

    #[apply]
    fn counted(&mut self, event: &Counted<T>) {
        self.items.clone_from(&event.items);
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Shelf")]
struct Relabelled<'a> {
    #[event(id)]
    shelf_id: Cow<'a, str>,
    label: Cow<'a, str>,
}

#[derive(Default)]
struct Shelf<'a> {
    label: Cow<'a, str>,
}

#[aggregate(events = Relabelled<'a>)]
impl<'a> Shelf<'a> {
    #[apply]
    fn relabelled(&mut self, event: &Relabelled<'a>) {
        self.label = event.label.clone();
    }
}

fn main() {
    let header = EventHeader::default();
    let ctx = CommandContext {
        aggregate_id: "inv-1",
        version: 7,
        header: &header,
    };
    let mut inventory = Inventory::<String>::default();
    let mut decided = inventory.handle(Add("bolt".to_owned()), &ctx).unwrap();
    decided.extend(inventory.handle(Remove(2), &ctx).unwrap());
    for event in &decided {
        inventory.apply(event);
        let back = InventoryEvent::<String>::from_payload(
            event.event_type(),
            event.schema_version(),
            event.to_payload().unwrap(),
        )
        .unwrap();
        assert_eq!(&back, event);
    }
    assert_eq!(inventory.items, ["bolt"]);
    assert_eq!(inventory.removed, 2);
    assert_eq!(InventoryEvent::<u8>::EVENT_TYPES, ["Added", "Removed", "Counted"]);
    let counted = InventoryEvent::Counted(Counted {
        inventory_id: "inv-1".into(),
        items: vec!["nut".to_owned()],
    });
    inventory.apply(&counted);
    assert_eq!(inventory.items, ["nut"]);
    assert_eq!(counted.subject("events"), "events.inv-1.Counted");
    let back = InventoryEvent::<String>::from_payload("Counted", 1, counted.to_payload().unwrap()).unwrap();
    assert_eq!(back, counted);
    assert_eq!(<Inventory<u8> as Aggregate>::AGGREGATE_TYPE, "Inventory");
    let payload = decided[0].to_payload().unwrap();
    let expected: std::collections::BTreeMap<String, Ipld> = [
        ("at".to_owned(), Ipld::String("7".into())),
        ("inventory_id".to_owned(), Ipld::String("inv-1".into())),
        ("item".to_owned(), Ipld::String("bolt".into())),
    ]
    .into();
    assert_eq!(payload, Ipld::Map(expected));

    let event: Relabelled<'static> = Relabelled {
        shelf_id: "s-1".into(),
        label: "tools".into(),
    };
    let mut shelf = Shelf::default();
    shelf.apply(&event);
    assert_eq!(shelf.label, "tools");
    assert_eq!(event.subject("events"), "events.s-1.Relabelled");
}
