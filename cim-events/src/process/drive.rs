//! [`drive`]: a process fed from any store's subscription.

use futures::{Stream, StreamExt};

use crate::store::{EventStore, StartFrom};

use super::Process;
use super::error::ProcessError;
use super::manager::{ProcessManager, StepReport};

/// Feeds `manager` the events `P` selects, from `start` then live, in stream order: one
/// step per event, yielded as it is carried out. A failed step is yielded as an error and
/// the stream goes on; carrying a step out again is safe (see [`ProcessManager`]).
///
/// This driver keeps its position in memory: for a process that resumes where it stopped
/// after a restart, use `jetstream::ProcessWorker`, or start again from the beginning
/// (every step already carried out is found and repeats nothing).
pub async fn drive<P, S>(
    manager: ProcessManager<P, S>,
    start: StartFrom,
) -> crate::Result<impl Stream<Item = Result<StepReport, ProcessError>> + Send>
where
    P: Process,
    S: EventStore + Clone + 'static,
{
    let events = manager
        .store()
        .subscribe_selected(&P::selector(), start)
        .await?;
    Ok(events.then(move |event| {
        let manager = manager.clone();
        async move { manager.react(&event?).await }
    }))
}
