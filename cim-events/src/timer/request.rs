//! `Timer`: one "wake me at T with this message" request, checked when it is made.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::Result;
use crate::subject::{TokenKind, validate_token};

use super::error::TimerError;

/// The largest payload a timer carries, in bytes. Timers wake a process up; the state it
/// needs belongs in its events, not in the timer.
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// A request to deliver `payload` to the owner's timer name at `due`.
///
/// A timer is identified by its owner and name: scheduling the same owner and name again
/// replaces the timer that is still pending, so scheduling one twice keeps one. The owner
/// is typically the process type and instance (`payment-saga-42`), the name what the
/// process waits for (`payment-timeout`). Both are single NATS subject tokens, checked
/// here (see [`subject::validate_token`](crate::subject::validate_token)).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cim_events::timer::Timer;
/// use cim_events::Error;
///
/// let due = SystemTime::now() + Duration::from_secs(30);
/// let timer = Timer::new("payment-saga-42", "payment-timeout", due, "retry=1")?;
/// assert_eq!(timer.owner(), "payment-saga-42");
///
/// let bad = Timer::new("payment.saga", "payment-timeout", due, "");
/// assert!(matches!(bad, Err(Error::InvalidToken(_))));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    owner: String,
    name: String,
    due: SystemTime,
    payload: Bytes,
}

impl Timer {
    /// A timer for `owner`'s `name`, due at `due`, carrying `payload`.
    ///
    /// Fails with [`Error::InvalidToken`](crate::Error::InvalidToken) if the owner or the
    /// name is not a safe subject token, and with [`Error::Timer`](crate::Error::Timer)
    /// if the payload is larger than [`MAX_PAYLOAD`] or the due time is before 1970 or
    /// after 2554 (see [`TimerError::DueOutOfRange`]). A due time in the past is valid:
    /// the timer fires at once.
    pub fn new(
        owner: impl Into<String>,
        name: impl Into<String>,
        due: SystemTime,
        payload: impl Into<Bytes>,
    ) -> Result<Timer> {
        let (owner, name, payload) = (owner.into(), name.into(), payload.into());
        check_key(&owner, &name)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(TimerError::PayloadTooLarge {
                size: payload.len(),
                max: MAX_PAYLOAD,
            }
            .into());
        }
        due_nanos(due)?;
        Ok(Timer {
            owner,
            name,
            due,
            payload,
        })
    }

    /// Who the timer belongs to.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The timer's name within its owner.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the timer is due.
    pub fn due(&self) -> SystemTime {
        self.due
    }

    /// What the fired timer carries.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The due time in nanoseconds since the Unix epoch (checked in [`new`](Self::new)).
    #[cfg(feature = "jetstream")]
    pub(crate) fn due_nanos(&self) -> u64 {
        due_nanos(self.due).unwrap_or(0)
    }
}

/// Checks a timer's owner and name.
pub(crate) fn check_key(owner: &str, name: &str) -> Result<()> {
    validate_token(TokenKind::TimerOwner, owner)?;
    validate_token(TokenKind::TimerName, name)?;
    Ok(())
}

/// `due` in nanoseconds since the Unix epoch, if that fits in a `u64`.
pub(crate) fn due_nanos(due: SystemTime) -> Result<u64, TimerError> {
    due.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_nanos()).ok())
        .ok_or(TimerError::DueOutOfRange { due })
}

/// The time `nanos` nanoseconds after the Unix epoch.
#[cfg(any(feature = "jetstream", test))]
pub(crate) fn from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Error;

    #[test]
    fn owner_and_name_are_tokens() {
        let due = UNIX_EPOCH + Duration::from_secs(10);
        assert!(Timer::new("saga-1", "timeout", due, "").is_ok());
        for (owner, name, kind) in [
            ("a.b", "t", TokenKind::TimerOwner),
            ("", "t", TokenKind::TimerOwner),
            ("o", "t*", TokenKind::TimerName),
            ("o", "t u", TokenKind::TimerName),
        ] {
            match Timer::new(owner, name, due, "") {
                Err(Error::InvalidToken(e)) => assert_eq!(e.kind, kind, "{owner:?} {name:?}"),
                other => panic!("{owner:?} {name:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn payload_and_due_are_bounded() {
        let due = UNIX_EPOCH + Duration::from_secs(10);
        let big = vec![0u8; MAX_PAYLOAD + 1];
        assert!(matches!(
            Timer::new("o", "t", due, big),
            Err(Error::Timer(e)) if matches!(*e, TimerError::PayloadTooLarge { size, .. } if size == MAX_PAYLOAD + 1)
        ));
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(matches!(
            Timer::new("o", "t", before, ""),
            Err(Error::Timer(e)) if matches!(*e, TimerError::DueOutOfRange { .. })
        ));
        let last = UNIX_EPOCH + Duration::from_nanos(u64::MAX);
        assert!(Timer::new("o", "t", last, "").is_ok());
        let after = last + Duration::from_nanos(1);
        assert!(Timer::new("o", "t", after, "").is_err());
    }

    #[test]
    fn nanos_round_trip() {
        let due = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let nanos = due_nanos(due).expect("in range");
        assert_eq!(nanos, 1_700_000_000_123_456_789);
        assert_eq!(from_nanos(nanos), due);
    }
}
