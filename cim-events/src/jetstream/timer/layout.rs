//! Where timers live in the timer stream's subjects.
//!
//! - `{base}.schedule.{owner}.{name}.{due}`: the held schedule (`Nats-Schedule: @at …`);
//! - `{base}.fired.{owner}.{name}.{due}`: its target, where the server publishes it when
//!   due; the fired timers' consumer filters `{base}.fired.>`.
//!
//! `{due}` is the due time in nanoseconds since the epoch. It is in the subject so that
//! a schedule's own fired message, which purges its schedule subject (ADR-51), never
//! purges a later schedule of the same timer, and so that one purge of
//! `{base}.*.{owner}.{name}.*` removes a timer in either state.

use crate::timer::TimerError;

/// The subjects under one base.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    base: String,
}

impl Layout {
    pub(crate) fn new(base: String) -> Layout {
        Layout { base }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn schedule(&self, owner: &str, name: &str, due: u64) -> String {
        format!("{}.schedule.{owner}.{name}.{due}", self.base)
    }

    pub(crate) fn fired(&self, owner: &str, name: &str, due: u64) -> String {
        format!("{}.fired.{owner}.{name}.{due}", self.base)
    }

    /// Every message of one timer: its schedule and its fired message, whatever the due.
    pub(crate) fn timer(&self, owner: &str, name: &str) -> String {
        format!("{}.*.{owner}.{name}.*", self.base)
    }

    /// Every fired timer.
    pub(crate) fn all_fired(&self) -> String {
        format!("{}.fired.>", self.base)
    }

    /// The owner, name and due time of a fired timer's subject.
    pub(crate) fn parse_fired(&self, subject: &str) -> Result<(String, String, u64), TimerError> {
        let malformed = |problem: &str| TimerError::Malformed {
            subject: subject.to_owned(),
            problem: problem.to_owned(),
        };
        let rest = subject
            .strip_prefix(self.base.as_str())
            .and_then(|rest| rest.strip_prefix(".fired."))
            .ok_or_else(|| malformed("it is not under the fired-timer subjects"))?;
        let tokens: Vec<&str> = rest.split('.').collect();
        let [owner, name, due] = tokens.as_slice() else {
            return Err(malformed("it does not end in `{owner}.{name}.{due}`"));
        };
        let due = due
            .parse::<u64>()
            .map_err(|_| malformed("its last token is not a due time in nanoseconds"))?;
        crate::timer::check_key(owner, name).map_err(|e| malformed(&e.to_string()))?;
        Ok(((*owner).to_owned(), (*name).to_owned(), due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fired_subjects_round_trip() {
        let layout = Layout::new("t1.events_timers".into());
        let subject = layout.fired("saga-1", "timeout", 42);
        assert_eq!(subject, "t1.events_timers.fired.saga-1.timeout.42");
        assert_eq!(
            layout.parse_fired(&subject),
            Ok(("saga-1".into(), "timeout".into(), 42))
        );
        assert_eq!(
            layout.schedule("saga-1", "timeout", 42),
            "t1.events_timers.schedule.saga-1.timeout.42"
        );
        assert_eq!(
            layout.timer("saga-1", "timeout"),
            "t1.events_timers.*.saga-1.timeout.*"
        );
        for bad in [
            "t1.events_timers.fired.saga-1.timeout",
            "t1.events_timers.fired.saga-1.timeout.x",
            "t1.events_timers.fired.a.b.c.1",
            "t1.events_timers.schedule.saga-1.timeout.42",
            "other.fired.a.b.1",
        ] {
            assert!(
                matches!(layout.parse_fired(bad), Err(TimerError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}
