//! [`CommandId`]: what makes a command idempotent.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::record::RecordedEvent;

/// The `meta` key under which every event of a command with a [`CommandId`] records it.
pub const COMMAND_META_KEY: &str = "cim.command";

/// The longest command id accepted, in bytes.
pub const MAX_COMMAND_ID_LEN: usize = 256;

/// The identity of one command, given by whoever issues it, so that sending it again is
/// harmless: a command carrying one (in its [`EventHeader`](crate::EventHeader), see
/// [`with_command_id`](crate::EventHeader::with_command_id)) takes effect at most once.
///
/// - Its events get ids derived from the command id and a time fixed by it
///   ([`issued`](CommandId::issued)), so a resend after the same head seals the same
///   blocks, with the same CIDs: JetStream drops the duplicate inside its duplicate window
///   (`Nats-Msg-Id` is the CID).
/// - Every event records the id under [`COMMAND_META_KEY`] in its `meta`, part of the
///   chain: a [`Repository`](crate::Repository) that finds the id there returns the
///   original outcome without handling the command again, however long after.
///
/// ```
/// use cim_events::CommandId;
/// let fresh = CommandId::new(); // a UUIDv7, issued now
/// let given = CommandId::new_at("order-7/reserve", std::time::SystemTime::UNIX_EPOCH)?;
/// assert_eq!(given.as_str(), "order-7/reserve");
/// assert!(CommandId::new_at("line\nbreak", std::time::SystemTime::now()).is_err());
/// # Ok::<(), cim_events::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandId {
    id: String,
    /// Nanoseconds since the Unix epoch: the time of the command's events.
    issued: u64,
}

impl CommandId {
    /// A new command id: a UUIDv7, issued now.
    pub fn new() -> Self {
        CommandId {
            id: uuid::Uuid::now_v7().to_string(),
            issued: nanos(SystemTime::now()),
        }
    }

    /// The command id `id`, issued at `issued` (the time its events record). The same id
    /// must always come with the same time, or a resend seals other blocks (it is still
    /// found in the chain and not applied twice). Fails with
    /// [`Error::InvalidHeaderValue`] on an empty id, one longer than
    /// [`MAX_COMMAND_ID_LEN`], or one holding control characters.
    pub fn new_at(id: impl Into<String>, issued: SystemTime) -> Result<Self> {
        let id = id.into();
        let problem = if id.is_empty() {
            Some("is empty".to_owned())
        } else if id.len() > MAX_COMMAND_ID_LEN {
            Some(format!("is longer than {MAX_COMMAND_ID_LEN} bytes"))
        } else {
            id.chars()
                .find(|c| c.is_control())
                .map(|c| format!("holds the control character {c:?}"))
        };
        if let Some(problem) = problem {
            return Err(Error::InvalidHeaderValue {
                field: "command_id",
                value: id,
                problem,
            });
        }
        Ok(CommandId {
            id,
            issued: nanos(issued),
        })
    }

    /// The command id of step `step` of a reaction to the stored event `cause`: derived
    /// from the cause's CID and the step, issued at the cause's time. Whoever reacts to the
    /// same event again (a process manager after a crash, a second worker) derives the same
    /// id, so the command takes effect once.
    pub fn caused_by(cause: &RecordedEvent, step: &str) -> Self {
        CommandId {
            id: derived_uuid(&[&cause.cid.to_bytes(), step.as_bytes()]).to_string(),
            issued: cause.block.time,
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// When the command was issued: the time its events record.
    pub fn issued(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.issued)
    }

    /// The issue time in nanoseconds since the Unix epoch.
    pub(crate) fn issued_nanos(&self) -> u64 {
        self.issued
    }

    /// The id of event `index` of this command's events for `aggregate_id`.
    pub(crate) fn event_id(&self, aggregate_id: &str, index: usize) -> String {
        derived_uuid(&[
            self.id.as_bytes(),
            aggregate_id.as_bytes(),
            &(index as u64).to_be_bytes(),
        ])
        .to_string()
    }
}

impl Default for CommandId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// A UUIDv8 from the SHA-256 of the length-prefixed `parts`.
fn derived_uuid(parts: &[&[u8]]) -> uuid::Uuid {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_derived_and_distinct() {
        let command = CommandId::new_at("c-1", UNIX_EPOCH).expect("valid");
        assert_eq!(command.event_id("a", 0), command.event_id("a", 0));
        assert_ne!(command.event_id("a", 0), command.event_id("a", 1));
        assert_ne!(command.event_id("a", 0), command.event_id("b", 0));
        let other = CommandId::new_at("c-2", UNIX_EPOCH).expect("valid");
        assert_ne!(command.event_id("a", 0), other.event_id("a", 0));
        assert_eq!(
            uuid::Uuid::parse_str(&command.event_id("a", 0))
                .expect("a uuid")
                .get_version_num(),
            8
        );
    }

    #[test]
    fn bad_ids_are_typed_errors() {
        let long = "x".repeat(MAX_COMMAND_ID_LEN + 1);
        for bad in ["", "a\r\nb", long.as_str()] {
            assert!(matches!(
                CommandId::new_at(bad, UNIX_EPOCH),
                Err(Error::InvalidHeaderValue {
                    field: "command_id",
                    ..
                })
            ));
        }
    }
}
