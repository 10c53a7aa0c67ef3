use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Opened {
    account_id: String,
}

impl Event for Opened {
    fn event_type(&self) -> &str {
        "Opened"
    }
    fn aggregate_id(&self) -> &str {
        &self.account_id
    }
}

#[derive(Default)]
struct Account;

#[aggregate(events = Opened)]
impl Account {
    #[apply]
    fn opened(&mut self, event: &Opened) {
        let _ = event;
    }
}

fn main() {}
