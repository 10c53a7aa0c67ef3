use std::convert::Infallible;
use cim_events::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened { owner: String },
}

#[derive(Default)]
#[allow(non_camel_case_types)]
struct AccountWithAVeryLongNameThatKeepsGoingAndGoingPastWhatASubjectTokenMayHoldXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX;

#[aggregate(events = AccountEvent)]
impl AccountWithAVeryLongNameThatKeepsGoingAndGoingPastWhatASubjectTokenMayHoldXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX {
    #[command]
    fn open(&self, owner: String) -> Result<AccountEvent, Infallible> {
        Ok(AccountEvent::Opened { owner })
    }

    #[apply(Opened)]
    fn opened(&mut self) {}
}

fn main() {}
