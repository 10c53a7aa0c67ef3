//! Correlation, causation and user metadata supplied with an append.

use std::collections::BTreeMap;

use cid::Cid;

use crate::metadata::EventMetadata;
use crate::record::RecordedEvent;

/// What a caller says about an event beyond its payload: which conversation it belongs to
/// (correlation), what caused it (causation), and free-form metadata.
///
/// ```
/// use cim_events::EventHeader;
/// let header = EventHeader::with_causation("corr-1", "evt-9").with_meta("user", "alice");
/// assert_eq!(header.correlation_id, "corr-1");
/// assert_eq!(header.causation_id.as_deref(), Some("evt-9"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// Groups every event of one conversation or workflow. Empty means "start a new
    /// correlation": the first event's id becomes the correlation id.
    pub correlation_id: String,
    /// The event (or command) that caused this one.
    pub causation_id: Option<String>,
    /// User metadata, stored in the block's `meta` map.
    pub metadata: BTreeMap<String, String>,
}

impl EventHeader {
    /// A header that joins an existing correlation, with no causation.
    pub fn new(correlation_id: impl Into<String>) -> Self {
        EventHeader {
            correlation_id: correlation_id.into(),
            ..EventHeader::default()
        }
    }

    /// A header that joins a correlation and names the event that caused this one.
    pub fn with_causation(
        correlation_id: impl Into<String>,
        causation_id: impl Into<String>,
    ) -> Self {
        EventHeader {
            correlation_id: correlation_id.into(),
            causation_id: Some(causation_id.into()),
            metadata: BTreeMap::new(),
        }
    }

    /// A header for an event caused by the stored event `cause` (an append's
    /// [`EventMetadata`] or a loaded or streamed [`RecordedEvent`]): same correlation, and
    /// the cause's CID as causation, so the causal link is content-addressed.
    pub fn caused_by(cause: &impl Cause) -> Self {
        Self::with_causation(cause.correlation_id(), cause.cid().to_string())
    }

    /// Adds one metadata entry.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A stored event that can cause others: what [`EventHeader::caused_by`] needs of it.
pub trait Cause {
    /// The correlation the effects join.
    fn correlation_id(&self) -> &str;
    /// The CID the effects name as their causation.
    fn cid(&self) -> Cid;
}

impl Cause for EventMetadata {
    fn correlation_id(&self) -> &str {
        &self.correlation_id
    }
    fn cid(&self) -> Cid {
        self.cid
    }
}

impl Cause for RecordedEvent {
    fn correlation_id(&self) -> &str {
        &self.block.correlation_id
    }
    fn cid(&self) -> Cid {
        self.cid
    }
}
