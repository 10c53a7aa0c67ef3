//! A small domain used by the conformance suite: hand-written `Event` impls, so the suite
//! depends on nothing but the `Event` trait.

use std::collections::BTreeMap;

use cim_events::{Event, Ipld};
use serde::{Deserialize, Serialize};

/// A test event with an arbitrary serde payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noted {
    /// Aggregate id.
    pub id: String,
    /// A counter, to check order and loss.
    pub n: u64,
    /// Free text, also used to make oversized events.
    pub text: String,
}

impl Noted {
    /// A `Noted` event for aggregate `id`.
    pub fn new(id: &str, n: u64) -> Self {
        Noted {
            id: id.to_owned(),
            n,
            text: String::new(),
        }
    }
}

impl Event for Noted {
    fn event_type(&self) -> &str {
        "Noted"
    }
    fn aggregate_id(&self) -> &str {
        &self.id
    }
    fn aggregate_type(&self) -> &str {
        "Notebook"
    }
}

/// An event whose payload can hold values IPLD cannot represent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Aggregate id.
    pub id: String,
    /// A float that may be NaN or infinite.
    pub value: f64,
    /// A map that may have non-string keys.
    pub table: BTreeMap<u32, u32>,
}

impl Event for Measured {
    fn event_type(&self) -> &str {
        "Measured"
    }
    fn aggregate_id(&self) -> &str {
        &self.id
    }
    fn aggregate_type(&self) -> &str {
        "Notebook"
    }
}

/// An event whose type name is chosen at run time, to test invalid event types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// Aggregate id.
    pub id: String,
    /// The event type reported.
    pub name: String,
}

impl Event for Named {
    fn event_type(&self) -> &str {
        &self.name
    }
    fn aggregate_id(&self) -> &str {
        &self.id
    }
    fn aggregate_type(&self) -> &str {
        "Notebook"
    }
}

/// An event whose payload holds any IPLD value, to test nesting limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nested {
    /// Aggregate id.
    pub id: String,
    /// The value; the payload (a map) is one level deeper than it.
    pub value: Ipld,
}

impl Nested {
    /// A `Nested` event whose payload is nested exactly `depth` levels (at least 1): the
    /// event's own map holding `depth - 1` lists one inside the other.
    pub fn with_depth(id: &str, depth: usize) -> Self {
        let mut value = Ipld::Integer(0);
        for _ in 1..depth {
            value = Ipld::List(vec![value]);
        }
        Nested {
            id: id.to_owned(),
            value,
        }
    }
}

impl Event for Nested {
    fn event_type(&self) -> &str {
        "Nested"
    }
    fn aggregate_id(&self) -> &str {
        &self.id
    }
    fn aggregate_type(&self) -> &str {
        "Notebook"
    }
}

/// An event of another aggregate type than the others (`Ledger`), to test that one
/// aggregate id holds one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entered {
    /// Aggregate id.
    pub id: String,
}

impl Event for Entered {
    fn event_type(&self) -> &str {
        "Entered"
    }
    fn aggregate_id(&self) -> &str {
        &self.id
    }
    fn aggregate_type(&self) -> &str {
        "Ledger"
    }
}
