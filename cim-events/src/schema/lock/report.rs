//! What a lock check reports: the entries it names, its outcome and its failures.

use super::*;

/// One entry of the lock: an event type at one schema version, or a state at one version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LockKey {
    /// `event {aggregate_type}/{event_type} schema {schema}`.
    Event {
        /// The aggregate type.
        aggregate_type: String,
        /// The event type.
        event_type: String,
        /// The schema version.
        schema: u32,
    },
    /// `state {aggregate_type} version {version}`.
    State {
        /// The aggregate type.
        aggregate_type: String,
        /// The state version.
        version: u32,
    },
}

impl LockKey {
    pub(super) fn header(&self) -> String {
        match self {
            LockKey::Event {
                aggregate_type,
                event_type,
                schema,
            } => event_header(aggregate_type, event_type, *schema),
            LockKey::State {
                aggregate_type,
                version,
            } => state_header(aggregate_type, *version),
        }
    }

    /// What the file is sorted by: each aggregate's events, then its states.
    pub(super) fn order(&self) -> (&str, u8, &str, u32) {
        match self {
            LockKey::Event {
                aggregate_type,
                event_type,
                schema,
            } => (aggregate_type, 0, event_type, *schema),
            LockKey::State {
                aggregate_type,
                version,
            } => (aggregate_type, 1, "", *version),
        }
    }

    /// The same entry at another version, for comparing versions of one thing.
    pub(super) fn thing(&self) -> (u8, &str, &str) {
        let (aggregate, kind, event, _) = self.order();
        (kind, aggregate, event)
    }

    pub(super) fn version(&self) -> u32 {
        self.order().3
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockKey::Event {
                aggregate_type,
                event_type,
                schema,
            } => write!(f, "event `{aggregate_type}/{event_type}` schema {schema}"),
            LockKey::State {
                aggregate_type,
                version,
            } => write!(f, "state of `{aggregate_type}` version {version}"),
        }
    }
}

/// What a passing [`check_lock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockReport {
    /// The lock file.
    pub path: PathBuf,
    /// The entries added to the file (every entry, after a rewrite).
    pub recorded: Vec<LockKey>,
    /// How many shapes matched their recorded entry.
    pub unchanged: usize,
    /// Whether the file was rewritten from the code ([`LockMode::Overwrite`]).
    pub rewritten: bool,
}

impl fmt::Display for LockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        if self.rewritten {
            write!(
                f,
                "schema lock `{path}` rewritten from the code, {} entries",
                self.recorded.len()
            )?;
        } else if self.recorded.is_empty() {
            return write!(
                f,
                "schema lock `{path}`: {} shapes unchanged",
                self.unchanged
            );
        } else {
            write!(f, "schema lock `{path}`: recorded")?;
        }
        for key in &self.recorded {
            write!(f, "\n  {key}")?;
        }
        if !self.rewritten {
            write!(f, "\ncommit the lock file with the code")?;
        }
        Ok(())
    }
}

/// Why [`check_lock`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock file exists but could not be read.
    #[error("cannot read schema lock `{}`: {source}", path.display())]
    Read {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The lock file could not be written.
    #[error("cannot write schema lock `{}`: {source}", path.display())]
    Write {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The lock file is not in the lock's format (or an entry was edited by hand).
    #[error("schema lock `{}` line {line}: {message}", path.display())]
    Malformed {
        /// The lock file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The code does not match the lock: every problem found.
    #[error("{}", mismatch(path, problems))]
    Mismatch {
        /// The lock file.
        path: PathBuf,
        /// What does not match, each with its fix.
        problems: Vec<LockProblem>,
    },
    /// `CIM_EVENTS_LOCK` has a value other than `overwrite`.
    #[error(
        "{LOCK_ENV}=`{value}` is not understood: set it to `overwrite` to rewrite the lock, or unset it"
    )]
    Mode {
        /// The value found.
        value: String,
    },
}

pub(super) fn mismatch(path: &Path, problems: &[LockProblem]) -> String {
    let mut text = format!("schema lock `{}` does not match the code:", path.display());
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(&problem.to_string());
    }
    text.push_str(&format!(
        "\nonly if no events or snapshots were ever stored under the recorded shapes, `{LOCK_ENV}=overwrite cargo test` rewrites the lock instead"
    ));
    text
}

/// One way the code does not match the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockProblem {
    /// An event type's shape changed while its schema version did not.
    EventChanged {
        /// The aggregate type.
        aggregate_type: String,
        /// The event type.
        event_type: String,
        /// The schema version both claim.
        schema: u32,
        /// How the fields changed.
        changes: Vec<FieldChange>,
    },
    /// A state's shape changed while its version did not.
    StateChanged {
        /// The aggregate type.
        aggregate_type: String,
        /// The version both claim.
        version: u32,
        /// How the fields changed.
        changes: Vec<FieldChange>,
    },
    /// A schema or state version below one the lock records: versions only grow.
    VersionBehind {
        /// The event type or state, at the code's version.
        key: LockKey,
        /// The highest version recorded.
        recorded: u32,
    },
    /// An event type recorded for an aggregate is no longer among its events, under its
    /// name or an alias: its stored events could not be read.
    EventMissing {
        /// The aggregate type.
        aggregate_type: String,
        /// The event type the lock records.
        event_type: String,
        /// The schema versions the lock records for it.
        schemas: Vec<u32>,
    },
    /// Two of the types given describe one event type or state at one version differently.
    Conflict {
        /// The event type or state.
        key: LockKey,
        /// The first shape's fingerprint.
        first: Fingerprint,
        /// The other's.
        second: Fingerprint,
    },
}

impl fmt::Display for LockProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockProblem::EventChanged {
                aggregate_type,
                event_type,
                schema,
                changes,
            } => {
                let next = schema.saturating_add(1);
                write!(
                    f,
                    "event `{aggregate_type}/{event_type}`: {} but schema is still {schema}; bump schema to {next} and add an upcast from {schema} (`#[event(schema = {next}, from({schema} = …))]`)",
                    list(changes)
                )
            }
            LockProblem::StateChanged {
                aggregate_type,
                version,
                changes,
            } => {
                let next = version.saturating_add(1);
                write!(
                    f,
                    "state of `{aggregate_type}` changed: {} but state is still {version}; bump `#[aggregate(state = {next})]` (snapshots of state {version} are then rebuilt from events)",
                    list(changes)
                )
            }
            LockProblem::VersionBehind { key, recorded } => {
                let (what, attribute) = match key {
                    LockKey::Event { .. } => ("schema", "#[event(schema = …)]"),
                    LockKey::State { .. } => ("state version", "#[aggregate(state = …)]"),
                };
                write!(
                    f,
                    "{key}: the lock already records {what} {recorded}, and versions only grow; set `{attribute}` to {recorded} if the shape is the one recorded for it, or above {recorded} otherwise"
                )
            }
            LockProblem::EventMissing {
                aggregate_type,
                event_type,
                schemas,
            } => {
                let schemas: Vec<String> = schemas.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "event `{aggregate_type}/{event_type}` (schema {} in the lock) is no longer an event of `{aggregate_type}`, so its stored events could not be read; if it was renamed, add `aliases(\"{event_type}\")` to the `#[event(…)]` of its new name; if it is no longer produced, keep it with `#[event(retired)]`",
                    schemas.join(", ")
                )
            }
            LockProblem::Conflict { key, first, second } => write!(
                f,
                "{key} has two shapes among the types given ({first} and {second}); give one of them another name or schema"
            ),
        }
    }
}

pub(super) fn list(changes: &[FieldChange]) -> String {
    let items: Vec<String> = changes.iter().map(FieldChange::to_string).collect();
    items.join(", ")
}

/// How one field differs between the recorded shape and the code's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldChange {
    /// A field the recorded shape does not have.
    Added {
        /// Its serde name.
        name: String,
        /// Its type.
        ty: String,
    },
    /// A recorded field the code no longer has (a rename is one removed, one added).
    Removed {
        /// Its serde name.
        name: String,
        /// Its recorded type.
        ty: String,
    },
    /// A field whose type changed.
    Retyped {
        /// Its serde name.
        name: String,
        /// The recorded type.
        from: String,
        /// The code's type.
        to: String,
    },
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldChange::Added { name, ty } => write!(f, "field `{name}` added (`{ty}`)"),
            FieldChange::Removed { name, ty } => {
                write!(f, "field `{name}` removed (was `{ty}`)")
            }
            FieldChange::Retyped { name, from, to } => {
                write!(f, "field `{name}` changed from `{from}` to `{to}`")
            }
        }
    }
}
