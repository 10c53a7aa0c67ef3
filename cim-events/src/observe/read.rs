//! Observing reads of one aggregate: `load`/`load_from` and `verify_chain`.

use std::time::Instant;

use metrics::{counter, histogram};
use tracing::field::display;

use crate::head::Head;
use crate::verify::ChainReport;

use super::names::{CHAIN_FAULTS, READ_DURATION, READ_EVENTS, STEPPED_OVER};

/// One read in progress: what it stepped over and when it started. Records into the
/// current span (the read's own) when it finishes.
#[derive(Debug)]
pub(crate) struct ReadWatch {
    store: &'static str,
    started: Instant,
    stepped: u64,
}

impl ReadWatch {
    /// Starts watching a read of a `store`-kind store.
    pub(crate) fn start(store: &'static str) -> ReadWatch {
        tracing::Span::current().record("store", store);
        ReadWatch {
            store,
            started: Instant::now(),
            stepped: 0,
        }
    }

    /// A message not part of the chain was stepped over.
    pub(crate) fn stepped(&mut self) {
        self.stepped += 1;
        stepped_over("load");
    }

    /// A load returned `events` events, the chain ending at `head`.
    pub(crate) fn loaded(self, events: usize, head: Option<&Head>) {
        let span = tracing::Span::current();
        span.record("events", events);
        span.record("stepped", self.stepped);
        if let Some(head) = head {
            span.record("version", head.version);
            span.record("cid", display(head.cid));
        }
        self.finish("load", u64::try_from(events).unwrap_or(u64::MAX));
    }

    /// A verification produced `report`.
    pub(crate) fn verified(self, report: &ChainReport) {
        let span = tracing::Span::current();
        span.record("events", report.events);
        span.record("faults", report.faults.len());
        if let Some(cid) = report.head {
            span.record("cid", display(cid));
        }
        let faults = u64::try_from(report.faults.len()).unwrap_or(u64::MAX);
        counter!(CHAIN_FAULTS, "store" => self.store).increment(faults);
        self.finish("verify", report.events);
    }

    fn finish(self, operation: &'static str, events: u64) {
        // Precision loss only beyond 2^53 events.
        #[allow(clippy::cast_precision_loss)]
        histogram!(READ_EVENTS, "store" => self.store, "operation" => operation)
            .record(events as f64);
        histogram!(READ_DURATION, "store" => self.store, "operation" => operation)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// A message was stepped over by `operation` (`load`, `replay`).
pub(crate) fn stepped_over(operation: &'static str) {
    counter!(STEPPED_OVER, "operation" => operation).increment(1);
}
