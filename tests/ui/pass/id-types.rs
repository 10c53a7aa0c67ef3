//! Every `#[event(id)]` type that docs/derive-event.md promises, with a plain
//! `serde = { features = ["derive"] }` (cim-events turns on serde's `rc` for `Arc<str>`).
#![deny(warnings)]

use std::borrow::Cow;
use std::sync::Arc;

use cim_events::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderId(String);

impl AsRef<str> for OrderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[derive(Event, Serialize, Deserialize)]
struct ByString {
    #[event(id)]
    id: String,
}

#[derive(Event, Serialize, Deserialize)]
struct ByBox {
    #[event(id)]
    id: Box<str>,
}

#[derive(Event, Serialize, Deserialize)]
struct ByArc {
    #[event(id)]
    id: Arc<str>,
}

#[derive(Event, Serialize, Deserialize)]
struct ByCow {
    #[event(id)]
    id: Cow<'static, str>,
}

#[derive(Event, Serialize, Deserialize)]
struct ByNewtype {
    #[event(id)]
    id: OrderId,
}

fn main() {
    let ids = [
        ByString { id: "o-1".into() }.aggregate_id().to_owned(),
        ByBox { id: "o-1".into() }.aggregate_id().to_owned(),
        ByArc { id: "o-1".into() }.aggregate_id().to_owned(),
        ByCow { id: "o-1".into() }.aggregate_id().to_owned(),
        ByNewtype { id: OrderId("o-1".into()) }.aggregate_id().to_owned(),
    ];
    assert!(ids.iter().all(|id| id == "o-1"));
}
