//! [`drive`]: a process fed from any store's subscription, and from its timers.

use futures::{Stream, StreamExt};

use crate::store::{EventStore, StartFrom};

use super::Process;
use super::error::ProcessError;
use super::manager::{ProcessManager, StepReport};

/// Feeds `manager` the events `P` selects, from `start` then live, in stream order, and,
/// if it has [`timers`](ProcessManager::timers), its timers as they come due (read as
/// consumer `consumer`): one step per trigger, yielded as it is carried out. A failed step
/// is yielded as an error and the stream goes on; carrying a step out again is safe (see
/// [`ProcessManager`]).
///
/// This driver keeps its position in the events in memory: for a process that resumes
/// where it stopped after a restart, use `jetstream::ProcessWorker`, or start again from
/// the beginning (every step already carried out is found and repeats nothing).
pub async fn drive<P, S>(
    manager: ProcessManager<P, S>,
    start: StartFrom,
    consumer: &str,
) -> crate::Result<impl Stream<Item = Result<StepReport, ProcessError>> + Send>
where
    P: Process,
    S: EventStore + Clone + 'static,
{
    let events = manager
        .store()
        .subscribe_selected(&P::selector(), start)
        .await?;
    let fired = match manager.timer_source() {
        Some(timers) => timers.fired(consumer).await?,
        None => Box::pin(futures::stream::pending()),
    };
    let triggers = futures::stream::select(events.map(Trigger::Event), fired.map(Trigger::Timer));
    Ok(triggers.then(move |trigger| {
        let manager = manager.clone();
        async move {
            match trigger {
                Trigger::Event(event) => manager.react(&event?).await,
                Trigger::Timer(fired) => manager.fired(fired?).await,
            }
        }
    }))
}

/// What a step is carried out for.
enum Trigger<E, T> {
    Event(E),
    Timer(T),
}
