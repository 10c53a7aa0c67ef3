//! Doc comments on every item the macros read are kept, and the items they write are
//! documented: this crate denies missing docs.
#![deny(missing_docs, warnings)]

/// The domain, public so that missing docs would be reported.
pub mod domain {
    use cim_events::{Event, aggregate};
    use serde::{Deserialize, Serialize};

    /// What happens to an account.
    #[derive(Event, Serialize, Deserialize, Clone, Debug)]
    #[event(aggregate = "Account")]
    pub enum AccountEvent {
        /// The account was opened.
        Opened {
            /// The account.
            #[event(id)]
            account_id: String,
        },
        /// The account was closed.
        Closed(Closed),
    }

    /// The account was closed.
    #[derive(Event, Serialize, Deserialize, Clone, Debug)]
    #[event(aggregate = "Account")]
    pub struct Closed {
        /// The account.
        #[event(id)]
        pub account_id: String,
    }

    /// An account.
    #[derive(Default)]
    pub struct Account {
        /// Whether it is open.
        pub open: bool,
    }

    #[aggregate(events = AccountEvent)]
    impl Account {
        /// Applies [`AccountEvent::Opened`].
        #[apply(Opened)]
        pub fn opened(&mut self) {
            self.open = true;
        }

        /// Applies [`AccountEvent::Closed`].
        #[apply]
        pub fn closed(&mut self, event: &Closed) {
            let _ = event;
            self.open = false;
        }
    }
}

fn main() {
    use cim_events::Aggregate;
    let mut account = domain::Account::default();
    account.apply(&domain::AccountEvent::Opened {
        account_id: "acc-1".into(),
    });
    assert!(account.open);
}
