//! [`Trigger`]: an event of another aggregate, as a [`ProcessTest`](super::ProcessTest)
//! hands it to the process.

use std::fmt::{self, Debug};

use crate::event::Event;
use crate::header::EventHeader;
use crate::seal::{NewEvent, prepare};

#[cfg(doc)]
use {super::ProcessTest, crate::process::Process};

pub(super) type Prepare = Box<dyn FnOnce(&EventHeader) -> crate::Result<Vec<NewEvent>>>;

/// An event of an aggregate, for a [`ProcessTest`] to hand to the process: sealed, when
/// the test reaches it, exactly as a store seals it — chained after the earlier triggers
/// of its aggregate, in the test's correlation, at the test's clock.
pub struct Trigger {
    pub(super) aggregate_type: String,
    pub(super) aggregate_id: String,
    pub(super) event_type: String,
    pub(super) correlation: Option<String>,
    pub(super) prepare: Prepare,
}

impl Trigger {
    /// Event `event` of aggregate `aggregate_id`.
    pub fn new<E: Event>(aggregate_id: impl Into<String>, event: E) -> Self {
        let aggregate_id = aggregate_id.into();
        let id = aggregate_id.clone();
        Trigger {
            aggregate_type: event.aggregate_type().to_owned(),
            event_type: event.event_type().to_owned(),
            aggregate_id,
            correlation: None,
            prepare: Box::new(move |header| prepare(&id, std::slice::from_ref(&event), header)),
        }
    }

    /// Puts this trigger in correlation `id` instead of the test's (see
    /// [`ProcessTest::correlation`]): with the default [`Process::instance`], another
    /// instance of the process.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation = Some(id.into());
        self
    }

    /// "`Placed` of Order(o-1)".
    pub(super) fn label(&self) -> String {
        format!(
            "`{}` of {}({})",
            self.event_type, self.aggregate_type, self.aggregate_id
        )
    }
}

impl Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger")
            .field("aggregate_type", &self.aggregate_type)
            .field("aggregate_id", &self.aggregate_id)
            .field("event_type", &self.event_type)
            .field("correlation", &self.correlation)
            .finish_non_exhaustive()
    }
}
