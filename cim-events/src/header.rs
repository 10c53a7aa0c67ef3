//! Correlation, causation and user metadata supplied with an append.

use std::collections::BTreeMap;

use cid::Cid;

use crate::command_id::CommandId;
use crate::metadata::EventMetadata;
use crate::record::RecordedEvent;
use crate::traceparent::{Traceparent, TraceparentError};

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
    /// W3C trace context, written as the `traceparent` message header of every event
    /// of the append — never in the block, so it does not change the events' CIDs. See
    /// [`with_traceparent`](EventHeader::with_traceparent).
    pub traceparent: Option<Traceparent>,
    /// The command's identity, which makes it idempotent (see [`CommandId`]): its events
    /// get ids and a time derived from it, and record it in their `meta`.
    pub command_id: Option<CommandId>,
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
            traceparent: None,
            command_id: None,
        }
    }

    /// A header for an event caused by the stored event `cause` (an append's
    /// [`EventMetadata`] or a loaded or streamed [`RecordedEvent`]): same correlation, and
    /// the cause's CID as causation, so the causal link is content-addressed.
    /// The effects continue the cause's trace, if it has one.
    pub fn caused_by(cause: &impl Cause) -> Self {
        EventHeader {
            traceparent: cause.traceparent().cloned(),
            ..Self::with_causation(cause.correlation_id(), cause.cid().to_string())
        }
    }

    /// Sets the W3C trace context (`traceparent`, e.g. from the incoming request that
    /// issued the command) that the events carry as a message header, so that a trace
    /// follows a command into its events, and from there into projections and reactions.
    /// A value that is not `00-<32 hex>-<16 hex>-<2 hex>` is a [`TraceparentError`].
    ///
    /// ```
    /// use cim_events::EventHeader;
    /// let header = EventHeader::new("corr-1")
    ///     .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
    /// assert!(header.traceparent.is_some());
    /// assert!(EventHeader::default().with_traceparent("not-a-trace").is_err());
    /// # Ok::<(), cim_events::TraceparentError>(())
    /// ```
    pub fn with_traceparent(mut self, traceparent: &str) -> Result<Self, TraceparentError> {
        self.traceparent = Some(Traceparent::parse(traceparent)?);
        Ok(self)
    }

    /// Makes the command idempotent: see [`CommandId`].
    ///
    /// ```
    /// use cim_events::{CommandId, EventHeader};
    /// let header = EventHeader::default().with_command_id(CommandId::new());
    /// assert!(header.command_id.is_some());
    /// ```
    pub fn with_command_id(mut self, command_id: CommandId) -> Self {
        self.command_id = Some(command_id);
        self
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
    /// The trace the effects continue, if the cause carries one.
    fn traceparent(&self) -> Option<&Traceparent> {
        None
    }
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
    fn traceparent(&self) -> Option<&Traceparent> {
        self.trace_context()
    }
}
