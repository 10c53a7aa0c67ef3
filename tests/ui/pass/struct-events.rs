//! Struct events (named and tuple) and an aggregate whose events are one struct.
#![deny(warnings)]

use std::convert::Infallible;

use cim_events::{Aggregate, CommandContext, Event, EventHeader, Handle, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Sensor", name = "TemperatureMeasured", schema = 4)]
#[event(from(3 = Measured, 2 = Measured, 1 = Measured))]
struct Measured {
    #[event(id)]
    sensor_id: Box<str>,
    celsius: i32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Pinged(#[event(id)] String, u32);

#[derive(Default)]
struct Sensor {
    last: Option<i32>,
}

struct Measure(i32);

#[aggregate(events = Measured)]
impl Sensor {
    #[command]
    fn measure(&self, Measure(celsius): Measure, ctx: &CommandContext<'_>) -> Result<Measured, Infallible> {
        Ok(Measured {
            sensor_id: ctx.aggregate_id.into(),
            celsius,
        })
    }

    #[apply]
    fn measured(&mut self, event: &Measured) {
        self.last = Some(event.celsius);
    }
}

fn main() {
    let event = Measured {
        sensor_id: "s-1".into(),
        celsius: 21,
    };
    assert_eq!(event.event_type(), "TemperatureMeasured");
    assert_eq!(event.schema_version(), 4);
    assert_eq!(event.aggregate_type(), "Sensor");
    assert_eq!(event.subject("events"), "events.s-1.TemperatureMeasured");
    assert_eq!(Measured::FILTER, "events.*.TemperatureMeasured");
    assert_eq!(Measured::EVENT_TYPES, ["TemperatureMeasured"]);
    assert_eq!(Measured::aggregate_filter("events", "s-1"), "events.s-1.*");

    let ping = Pinged("p-1".into(), 3);
    assert_eq!(ping.aggregate_id(), "p-1");
    assert_eq!(ping.aggregate_type(), "Pinged");
    let back = Pinged::from_payload("Pinged", 1, ping.to_payload().unwrap()).unwrap();
    assert_eq!(back, ping);

    let header = EventHeader::default();
    let ctx = CommandContext {
        aggregate_id: "s-1",
        version: 0,
        header: &header,
    };
    let mut sensor = Sensor::default();
    for event in sensor.handle(Measure(19), &ctx).unwrap() {
        sensor.apply(&event);
    }
    assert_eq!(sensor.last, Some(19));
    assert_eq!(Sensor::AGGREGATE_TYPE, "Sensor");
}
