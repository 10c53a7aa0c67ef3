//! An enum of newtype variants, each wrapping a struct event with its own name and
//! schema; applies name their event by type.
#![deny(warnings)]

use cim_events::{Aggregate, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Order", name = "OrderPlaced", schema = 2, from(1 = Placed))]
struct Placed {
    #[event(id)]
    order_id: String,
    lines: Vec<String>,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Order")]
struct Shipped {
    #[event(id)]
    order_id: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed(Placed),
    Dispatched(Shipped),
}

#[derive(Default)]
struct Order {
    lines: usize,
    shipped: bool,
}

#[aggregate(events = OrderEvent)]
impl Order {
    #[apply]
    fn placed(&mut self, event: &Placed) {
        self.lines = event.lines.len();
    }

    #[apply]
    fn shipped(&mut self, _event: &Shipped) {
        self.shipped = true;
    }
}

fn main() {
    let placed = OrderEvent::Placed(Placed {
        order_id: "o-1".into(),
        lines: vec!["a".into(), "b".into()],
    });
    let shipped = OrderEvent::Dispatched(Shipped {
        order_id: "o-1".into(),
    });
    assert_eq!(OrderEvent::EVENT_TYPES, ["OrderPlaced", "Shipped"]);
    assert_eq!(OrderEvent::FILTER_PLACED, "events.*.OrderPlaced");
    assert_eq!(OrderEvent::FILTER_DISPATCHED, "events.*.Shipped");
    assert_eq!(placed.schema_version(), 2);
    assert_eq!(shipped.schema_version(), 1);
    assert_eq!(placed.subject("events"), "events.o-1.OrderPlaced");
    for event in [&placed, &shipped] {
        let back = OrderEvent::from_payload(
            event.event_type(),
            event.schema_version(),
            event.to_payload().unwrap(),
        )
        .unwrap();
        assert_eq!(&back, event);
    }
    let mut order = Order::default();
    order.apply(&placed);
    order.apply(&shipped);
    assert_eq!((order.lines, order.shipped), (2, true));
}
