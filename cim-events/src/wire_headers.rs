//! Message headers that repeat what routing and filtering need. They are not covered by
//! the CID; verification checks that they agree with the block.

/// Deduplication id: the event's CID, so retries are idempotent.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// The event's CID.
pub const CIM_CID: &str = "Cim-Cid";
/// The previous event's CID (absent for the first event).
pub const CIM_PREV: &str = "Cim-Prev";
/// The aggregate version.
pub const CIM_SEQ: &str = "Cim-Seq";
/// The aggregate type.
pub const CIM_AGGREGATE_TYPE: &str = "Cim-Aggregate-Type";
/// The event type.
pub const CIM_EVENT_TYPE: &str = "Cim-Event-Type";
/// The correlation id.
pub const CIM_CORRELATION_ID: &str = "Cim-Correlation-Id";
/// The causation id (absent when there is none).
pub const CIM_CAUSATION_ID: &str = "Cim-Causation-Id";
/// W3C trace context of the command that caused the event (absent when there is none).
/// Exactly the W3C header name; not checked by verification, not covered by the CID.
pub const TRACEPARENT: &str = "traceparent";
