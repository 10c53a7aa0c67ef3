//! Subscriptions on several subject filters: the checks and the normal form shared by
//! every store, so that a filter set means the same on the memory store and on JetStream.
//!
//! nats-server refuses a consumer whose `filter_subjects` repeat a filter or hold one that
//! is a subset of another (error 10138); the set is normalised here instead, which
//! changes nothing a subscription delivers: a subset adds no subject its superset lacks.

use crate::error::Error;
use crate::subject::validate_subscription;

/// The most subject filters one subscription takes, before normalisation.
///
/// nats-server 2.15 sets no bound of its own on a consumer's `filter_subjects`; each
/// filter costs the server a little per delivery (ADR-34 keeps the next message per
/// filter), and the create request must fit the server's `max_payload`. 128 filters of
/// the longest tokens stay far below the 1 MiB default.
pub const MAX_FILTERS: usize = 128;

/// A set of subscription filters that cannot be subscribed as a whole; each filter on its
/// own is checked as [`validate_subscription`] checks it. Nothing was subscribed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterSetError {
    /// No filter at all: a subscription to nothing is a mistake, not an empty stream.
    #[error("a subscription needs at least one subject filter")]
    Empty,
    /// More filters than [`MAX_FILTERS`].
    #[error("{count} subject filters in one subscription, more than the {max} it takes")]
    TooMany {
        /// Filters given.
        count: usize,
        /// The most one subscription takes.
        max: usize,
    },
}

/// Checks the filters of one subscription on a store with subject prefix `prefix` and
/// returns them in normal form: sorted, without repeats, and without a filter that every
/// subject of another filter already matches (`events.*.Opened` beside `events.>`). The
/// normal form delivers exactly what the filters given deliver. Both stores'
/// [`subscribe_filters`](crate::EventStore::subscribe_filters) call it.
///
/// ```
/// use cim_events::subject::validate_subscriptions;
/// let filters = ["events.*.Opened", "events.a-1.*", "events.*.Opened"].map(String::from);
/// assert_eq!(validate_subscriptions("events", &filters)?, ["events.*.Opened", "events.a-1.*"]);
/// let wider = ["events.*.Opened", "events.>"].map(String::from);
/// assert_eq!(validate_subscriptions("events", &wider)?, ["events.>"]);
/// # Ok::<(), cim_events::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::FilterSet`] for an empty set or more than [`MAX_FILTERS`] filters, then the
/// first bad filter's error as [`validate_subscription`] gives it.
pub fn validate_subscriptions(prefix: &str, filters: &[String]) -> Result<Vec<String>, Error> {
    if filters.is_empty() {
        return Err(FilterSetError::Empty.into());
    }
    if filters.len() > MAX_FILTERS {
        return Err(FilterSetError::TooMany {
            count: filters.len(),
            max: MAX_FILTERS,
        }
        .into());
    }
    for filter in filters {
        validate_subscription(prefix, filter)?;
    }
    let mut set: Vec<String> = filters.to_vec();
    set.sort();
    set.dedup();
    let normal = set
        .iter()
        .filter(|f| !set.iter().any(|other| other != *f && is_subset(f, other)))
        .cloned()
        .collect();
    Ok(normal)
}

/// Whether every subject `narrow` matches is matched by `wide` (both valid filters).
fn is_subset(narrow: &str, wide: &str) -> bool {
    let mut narrow = narrow.split('.');
    for w in wide.split('.') {
        match (w, narrow.next()) {
            (">", Some(_)) => return true,
            (_, None | Some(">")) => return false,
            ("*", Some(_)) => {}
            (w, Some(n)) if w == n => {}
            _ => return false,
        }
    }
    narrow.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(filters: &[&str]) -> Vec<String> {
        filters.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn subsets() {
        assert!(is_subset("e.a.X", "e.*.X"));
        assert!(is_subset("e.a.X", "e.>"));
        assert!(is_subset("e.*.X", "e.>"));
        assert!(is_subset("e.*.X", "e.*.*"));
        assert!(is_subset("e.*.X", "e.*.X"));
        assert!(!is_subset("e.>", "e.*.X"));
        assert!(!is_subset("e.*.X", "e.a.*"));
        assert!(!is_subset("e.a.*", "e.*.X"));
        assert!(!is_subset("e.*.X", "e.*.Y"));
        assert!(!is_subset("e.>", "e.*.*"));
    }

    #[test]
    fn normal_form_drops_repeats_and_subsets_only() {
        let normal = |f: &[&str]| validate_subscriptions("e", &strings(f)).expect("valid");
        assert_eq!(normal(&["e.*.B", "e.*.A", "e.*.B"]), ["e.*.A", "e.*.B"]);
        assert_eq!(normal(&["e.*.A", "e.>", "e.x.*"]), ["e.>"]);
        assert_eq!(normal(&["e.x.A", "e.*.A", "e.x.*"]), ["e.*.A", "e.x.*"]);
        // Overlapping, neither a subset: both kept (the server delivers each message once).
        assert_eq!(normal(&["e.x.*", "e.*.A"]), ["e.*.A", "e.x.*"]);
    }

    #[test]
    fn bad_sets_are_typed_errors() {
        assert!(matches!(
            validate_subscriptions("e", &[]),
            Err(Error::FilterSet(FilterSetError::Empty))
        ));
        let many: Vec<String> = (0..=MAX_FILTERS).map(|n| format!("e.*.T{n}")).collect();
        assert!(matches!(
            validate_subscriptions("e", &many),
            Err(Error::FilterSet(FilterSetError::TooMany { count, max }))
                if count == MAX_FILTERS + 1 && max == MAX_FILTERS
        ));
        assert!(validate_subscriptions("e", &many[..MAX_FILTERS]).is_ok());
        assert!(matches!(
            validate_subscriptions("e", &strings(&["e.>", "other.>"])),
            Err(Error::FilterOutsidePrefix { filter, .. }) if filter == "other.>"
        ));
        assert!(matches!(
            validate_subscriptions("e", &strings(&["e.>", "e..X"])),
            Err(Error::InvalidToken(_))
        ));
    }
}
