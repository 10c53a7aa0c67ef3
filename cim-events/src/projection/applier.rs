//! The part every runner shares: skip what the checkpoint covers, verify, apply, save the
//! checkpoint. Runners only differ in how events arrive and how they are acknowledged.

use crate::error::Error;
use crate::observe::projection as observe;
use crate::record::RecordedEvent;
use crate::selector::EventSelector;
use tracing::field::Empty;

use super::Projection;
use super::chain::ChainWatch;
use super::checkpoint::{Checkpoint, CheckpointStore};
use super::control::Control;
use super::error::ProjectionError;

/// The longest projection name accepted.
const MAX_NAME_LEN: usize = 64;

/// What happened to an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// The projection applied it and its checkpoint is saved: acknowledge it.
    Applied,
    /// The checkpoint already covers it: acknowledge it, nothing else.
    Skipped,
}

/// A projection, its checkpoint store, and where it stands.
#[derive(Debug)]
pub(crate) struct Applier<P, C> {
    projection: P,
    checkpoints: C,
    checkpoint: Option<Checkpoint>,
    chain: Option<ChainWatch>,
    /// Only the events it selects are applied; the others are skipped.
    selector: Option<EventSelector>,
    control: Control,
}

impl<P: Projection, C: CheckpointStore> Applier<P, C> {
    pub(crate) fn new(projection: P, checkpoints: C) -> Self {
        Applier {
            projection,
            checkpoints,
            checkpoint: None,
            chain: None,
            selector: None,
            control: Control::new(),
        }
    }

    /// Turns chain verification on or off.
    pub(crate) fn verify_chain(&mut self, on: bool) {
        self.chain = on.then(ChainWatch::default);
    }

    pub(crate) fn select(&mut self, selector: EventSelector) {
        self.selector = Some(selector);
    }

    pub(crate) fn projection(&self) -> &P {
        &self.projection
    }

    pub(crate) fn projection_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    pub(crate) fn into_projection(self) -> P {
        self.projection
    }

    pub(crate) fn control(&self) -> &Control {
        &self.control
    }

    pub(crate) fn name(&self) -> &str {
        self.projection.name()
    }

    /// The checkpoint as last loaded or saved.
    pub(crate) fn checkpoint(&self) -> Option<Checkpoint> {
        self.checkpoint
    }

    /// Checks the name and loads the checkpoint: the start of every run.
    pub(crate) async fn resume(&mut self) -> Result<Option<Checkpoint>, ProjectionError<P::Error>> {
        let name = self.name();
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ProjectionError::InvalidName {
                name: name.to_owned(),
            });
        }
        let checkpoint = self
            .checkpoints
            .load_checkpoint(self.projection.name())
            .await
            .map_err(|source| ProjectionError::Checkpoint {
                projection: self.name().to_owned(),
                sequence: None,
                source,
            })?;
        self.checkpoint = checkpoint;
        self.control.update(|p| p.checkpoint = checkpoint);
        Ok(checkpoint)
    }

    /// Counts one more start of consumption from the checkpoint.
    pub(crate) fn resumed(&self) {
        self.control.update(|p| p.resumed += 1);
    }

    /// Handles one delivered message: skips it if the checkpoint covers it, otherwise
    /// verifies, applies and checkpoints it. On `Err` nothing about this event was saved.
    #[tracing::instrument(level = "debug", name = "cim_events.projection.apply", skip_all, fields(
        projection = self.name(), sequence = Empty, cid = Empty, outcome = Empty,
    ))]
    pub(crate) async fn offer(
        &mut self,
        item: crate::error::Result<RecordedEvent>,
    ) -> Result<Offered, ProjectionError<P::Error>> {
        let event = match item {
            Ok(event) => event,
            Err(Error::Decode { sequence, source }) => {
                return Err(ProjectionError::Decode {
                    projection: self.name().to_owned(),
                    sequence,
                    source,
                });
            }
            Err(source) => return Err(self.store_error(source)),
        };
        observe::offered(&event);
        if let Some(checkpoint) = self.checkpoint {
            if event.sequence == checkpoint.sequence && event.cid != checkpoint.cid {
                return Err(self.mismatch(checkpoint, Some(Checkpoint::of(&event))));
            }
            if event.sequence <= checkpoint.sequence {
                // The checkpointed event itself (its CID just matched) is where the chain
                // continues; earlier redeliveries may come in any order and are not.
                if event.sequence == checkpoint.sequence {
                    if let Some(chain) = &mut self.chain {
                        chain.record(&event);
                    }
                }
                self.control.update(|p| p.skipped += 1);
                observe::stepped(self.name(), "skipped");
                return Ok(Offered::Skipped);
            }
        }
        if self.selector.as_ref().is_some_and(|s| !s.matches(&event)) {
            self.control.update(|p| p.skipped += 1);
            observe::stepped(self.name(), "skipped");
            return Ok(Offered::Skipped);
        }
        if let Some(chain) = &self.chain {
            chain
                .check(&event)
                .map_err(|chain| ProjectionError::BrokenChain {
                    projection: self.name().to_owned(),
                    chain,
                })?;
        }
        let checkpoint = Checkpoint::of(&event);
        if let Err(source) = self.projection.apply(&event, checkpoint).await {
            return Err(ProjectionError::Apply {
                projection: self.name().to_owned(),
                sequence: event.sequence,
                cid: event.cid,
                source,
            });
        }
        self.checkpoints
            .save_checkpoint(self.projection.name(), checkpoint)
            .await
            .map_err(|source| ProjectionError::Checkpoint {
                projection: self.name().to_owned(),
                sequence: Some(event.sequence),
                source,
            })?;
        if let Some(chain) = &mut self.chain {
            chain.record(&event);
        }
        self.checkpoint = Some(checkpoint);
        self.control.update(|p| {
            p.checkpoint = Some(checkpoint);
            p.applied += 1;
        });
        observe::stepped(self.name(), "applied");
        Ok(Offered::Applied)
    }

    /// The checkpoint does not match what is stored at its sequence.
    pub(crate) fn mismatch(
        &self,
        checkpoint: Checkpoint,
        found: Option<Checkpoint>,
    ) -> ProjectionError<P::Error> {
        ProjectionError::CheckpointMismatch {
            projection: self.name().to_owned(),
            checkpoint,
            found,
        }
    }

    /// A store failure, attributed to this projection.
    pub(crate) fn store_error(&self, source: Error) -> ProjectionError<P::Error> {
        ProjectionError::Store {
            projection: self.name().to_owned(),
            source,
        }
    }
}
