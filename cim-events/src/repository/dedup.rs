//! Idempotent commands: finding a command's events in the aggregate's chain by the
//! [`CommandId`] they record, so that a resent command returns its original outcome.

use futures::StreamExt;

use crate::aggregate::Aggregate;
use crate::chain::{Follower, Step};
use crate::command_id::{COMMAND_META_KEY, CommandId};
use crate::head::Head;
use crate::store::EventStore;

use super::Repository;
use super::error::CommandError;
use super::outcome::CommittedEvent;

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// The events of the chain after `after` (`None`: all of it) that record `command`,
    /// decoded; empty if the command has not been applied there. Only events of the chain
    /// count: a message that is not part of it cannot claim a command.
    pub(crate) async fn events_of_command(
        &self,
        aggregate_id: &str,
        command: &CommandId,
        after: Option<Head>,
    ) -> Result<Vec<CommittedEvent<A::Event>>, CommandError<A::Error>> {
        let from = after.map_or(0, |head| head.sequence);
        let mut messages = self
            .store
            .read_messages(aggregate_id, from)
            .await
            .map_err(CommandError::Store)?;
        let mut chain = Follower::new(aggregate_id, after);
        let mut found = Vec::new();
        while let Some(message) = messages.next().await {
            let Step::Extends(mut event) = chain.step(message.map_err(CommandError::Store)?) else {
                continue;
            };
            if event.block.meta.get(COMMAND_META_KEY).map(String::as_str) != Some(command.as_str())
            {
                continue;
            }
            let version = event.block.seq;
            let decode = |source| CommandError::Decode {
                aggregate_id: aggregate_id.to_owned(),
                version,
                source: Box::new(source),
            };
            crate::crypto::open(self.store.encryption(), &mut event)
                .await
                .map_err(decode)?;
            let metadata = event.metadata();
            let decoded = event.into_event::<A::Event>().map_err(decode)?;
            found.push(CommittedEvent::new(decoded, metadata));
        }
        Ok(found)
    }
}
