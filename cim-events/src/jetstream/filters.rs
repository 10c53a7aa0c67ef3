//! A subscription's filter set in a consumer's configuration: one filter as
//! `filter_subject`, several as `filter_subjects` (ADR-34).
//!
//! What nats-server 2.15 does with them (its source, and the test
//! `nats_server_refuses_covered_filters_and_accepts_overlapping_ones` in
//! `tests/tests/selectors.rs`): `filter_subjects` exists since 2.10 (this crate needs
//! 2.12); it may not be combined with `filter_subject` (error 10136) nor hold an empty
//! filter (10139); a filter that repeats another or is a subset of another is refused
//! (10138), while two that merely overlap (`events.a-1.*` and `events.*.Opened`) are
//! accepted and a message matching both is delivered once. The server sets no bound on
//! their number. A consumer with several filters is created on
//! `$JS.API.CONSUMER.CREATE.<stream>.<name>`, without the filter token a single filter
//! adds (10137 otherwise). The filters reach this module normalised
//! ([`validate_subscriptions`](crate::subject::validate_subscriptions)), so those
//! refusals never apply.

use async_nats::jetstream::consumer::{self, pull};

/// Sets `filters` (normalised, at least one) on `config`.
pub(crate) fn configure(config: &mut pull::Config, filters: &[String]) {
    match filters {
        [one] => {
            config.filter_subject = one.clone();
            config.filter_subjects = Vec::new();
        }
        several => {
            config.filter_subject = String::new();
            config.filter_subjects = several.to_vec();
        }
    }
}

/// The filters an existing consumer was created with, sorted: comparable with a
/// normalised set.
pub(crate) fn configured(config: &consumer::Config) -> Vec<String> {
    let mut filters = config.filter_subjects.clone();
    if !config.filter_subject.is_empty() {
        filters.push(config.filter_subject.clone());
    }
    filters.sort();
    filters
}
