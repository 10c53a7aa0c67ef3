//! The schema lock: a text file, committed with the code, that records the shape of every
//! event type and aggregate state at every version ever released, and the check that
//! fails a test when a shape changed while its version did not.
//!
//! [`check_lock`] does the work and returns a typed outcome;
//! [`assert_schema_lock!`](crate::assert_schema_lock) reads `CIM_EVENTS_LOCK` and turns a
//! failure into the test's panic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::shape::{
    Escape, EventShape, Fingerprint, canonical, escape, event_header, field_line, unescape,
};
use super::state::{StateShape, state_header};

/// The environment variable that switches
/// [`assert_schema_lock!`](crate::assert_schema_lock) to [`LockMode::Overwrite`]:
/// `CIM_EVENTS_LOCK=overwrite cargo test`.
pub const LOCK_ENV: &str = "CIM_EVENTS_LOCK";

/// Compares the shapes of the given event types (and aggregate states) with the lock file
/// committed in the calling crate, and records new event types and versions in it. Use it
/// in a test.
///
/// ```text
/// assert_schema_lock!(AccountEvent, OrderEvent);
/// assert_schema_lock!(AccountEvent, OrderEvent; state: Account, Order);
/// assert_schema_lock!(AccountEvent; state: Account; path: "tests/schema.lock");
/// ```
///
/// The lock is `schema.lock` next to the calling crate's `Cargo.toml`, or the `path:`
/// given (relative to that directory, or absolute). The event types must derive
/// [`Event`](crate::Event) (a hand-written impl has no shapes to lock); the states must
/// implement [`Aggregate`](crate::Aggregate) and `Deserialize` (see
/// [`state_shape`](crate::schema::state_shape)).
///
/// - A shape equal to the recorded one for its version passes.
/// - A new event type, schema version or state version is added to the file, and the
///   test passes (it prints what it recorded). Commit the file.
/// - A shape that differs from the one recorded for the same version fails, naming the
///   event, the fields and the fix: bump the schema and add an upcast (for a state: bump
///   `#[aggregate(state = N)]`).
/// - A version below one already recorded, or an event type recorded for an aggregate but
///   gone from its events (renamed without an alias), fails.
///
/// Name every event type of an aggregate in one call: an event type the lock records for
/// an aggregate that the call does not list counts as gone. Aggregates the call does not
/// mention are left as they are, so several calls may share one file, one at a time (two
/// tests writing one file at once race; give them a file each).
///
/// `CIM_EVENTS_LOCK=overwrite` rewrites the whole file from the code instead, dropping
/// older versions: for shapes that never reached a store. The rules for what counts as a
/// change are in [`schema`](crate::schema).
///
/// ```
/// use cim_events::{Event, aggregate, assert_schema_lock};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// #[event(aggregate = "Account")]
/// enum AccountEvent {
///     Opened { #[event(id)] account_id: String, owner: String },
///     #[event(schema = 2, from(1 = DepositedV1))]
///     Deposited { #[event(id)] account_id: String, amount: u64 },
/// }
///
/// /// `Deposited` as schema 1 stored it: the amount in cents, as a string.
/// #[derive(Deserialize)]
/// struct DepositedV1 { account_id: String, cents: String }
///
/// impl From<DepositedV1> for AccountEvent {
///     fn from(old: DepositedV1) -> Self {
///         let amount = old.cents.parse().unwrap_or(0);
///         AccountEvent::Deposited { account_id: old.account_id, amount }
///     }
/// }
///
/// #[derive(Default, Deserialize)]
/// struct Account { balance: u64 }
///
/// #[aggregate(events = AccountEvent)]
/// impl Account {
///     #[apply(Opened)]
///     fn opened(&mut self) {}
///     #[apply(Deposited)]
///     fn deposited(&mut self, amount: &u64) { self.balance += amount; }
/// }
///
/// // In a test: `assert_schema_lock!(AccountEvent; state: Account);` checks `schema.lock`
/// // next to Cargo.toml. Here, a lock of its own:
/// let dir = std::env::temp_dir().join(format!("cim-events-lock-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let lock = dir.join("schema.lock");
/// assert_schema_lock!(AccountEvent; state: Account; path: &lock); // records
/// assert_schema_lock!(AccountEvent; state: Account; path: &lock); // unchanged
/// let text = std::fs::read_to_string(&lock).unwrap();
/// assert!(text.contains("event Account/Deposited schema 2 fingerprint "));
/// assert!(text.contains("\n  amount: u64\n"));
/// assert!(text.contains("state Account version 1 fingerprint "));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[macro_export]
macro_rules! assert_schema_lock {
    ($($event:ty),+ $(,)?) => {
        $crate::assert_schema_lock!(@lock "schema.lock"; $($event),+; )
    };
    ($($event:ty),+ ; path: $path:expr $(,)?) => {
        $crate::assert_schema_lock!(@lock $path; $($event),+; )
    };
    ($($event:ty),+ ; state: $($state:ty),+ $(,)?) => {
        $crate::assert_schema_lock!(@lock "schema.lock"; $($event),+; $($state),+)
    };
    ($($event:ty),+ ; state: $($state:ty),+ ; path: $path:expr $(,)?) => {
        $crate::assert_schema_lock!(@lock $path; $($event),+; $($state),+)
    };
    (@lock $path:expr; $($event:ty),+; $($state:ty),*) => {{
        let mut __events = ::std::vec::Vec::new();
        $(__events.extend(<$event as $crate::Event>::event_shapes());)+
        let __states: ::std::vec::Vec<$crate::schema::StateShape> =
            ::std::vec![$($crate::schema::state_shape::<$state>()),*];
        $crate::schema::assert_lock(
            &::std::path::Path::new(::core::env!("CARGO_MANIFEST_DIR")).join($path),
            &__events,
            &__states,
        );
    }};
}

/// The function behind [`assert_schema_lock!`](crate::assert_schema_lock): [`check_lock`]
/// in the mode `CIM_EVENTS_LOCK` selects, printing what it recorded.
///
/// # Panics
///
/// With the [`LockError`]'s message when the check fails: it is a test assertion.
#[track_caller]
pub fn assert_lock(path: &Path, events: &[EventShape], states: &[StateShape]) {
    let outcome = LockMode::from_env().and_then(|mode| check_lock(path, events, states, mode));
    match outcome {
        Ok(report) => {
            if report.rewritten || !report.recorded.is_empty() {
                println!("{report}");
            }
        }
        Err(error) => panic!("{error}"),
    }
}

/// What [`check_lock`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LockMode {
    /// Compare with the file, record new versions, fail on changed ones.
    #[default]
    Check,
    /// Rewrite the whole file from the code: every recorded version not in the code is
    /// dropped. For shapes that never reached a store.
    Overwrite,
}

impl LockMode {
    /// The mode `CIM_EVENTS_LOCK` selects: `overwrite`, or [`Check`](LockMode::Check)
    /// when it is unset or empty. Another value is [`LockError::Mode`].
    pub fn from_env() -> Result<LockMode, LockError> {
        match std::env::var(LOCK_ENV) {
            Err(_) => Ok(LockMode::Check),
            Ok(value) => LockMode::parse(&value),
        }
    }

    fn parse(value: &str) -> Result<LockMode, LockError> {
        match value.trim() {
            "" => Ok(LockMode::Check),
            "overwrite" => Ok(LockMode::Overwrite),
            _ => Err(LockError::Mode {
                value: value.to_owned(),
            }),
        }
    }
}

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
    fn header(&self) -> String {
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
    fn order(&self) -> (&str, u8, &str, u32) {
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
    fn thing(&self) -> (u8, &str, &str) {
        let (aggregate, kind, event, _) = self.order();
        (kind, aggregate, event)
    }

    fn version(&self) -> u32 {
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

fn mismatch(path: &Path, problems: &[LockProblem]) -> String {
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

fn list(changes: &[FieldChange]) -> String {
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

/// One recorded or current shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: LockKey,
    /// `(name, type)`, sorted.
    fields: Vec<(String, String)>,
    fingerprint: Fingerprint,
}

impl Entry {
    fn new(key: LockKey, fields: impl IntoIterator<Item = (String, String)>) -> Entry {
        let mut fields: Vec<(String, String)> = fields.into_iter().collect();
        fields.sort_unstable();
        let fingerprint = Fingerprint::of(&canonical(
            &key.header(),
            fields.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        ));
        Entry {
            key,
            fields,
            fingerprint,
        }
    }
}

/// The entries of a lock, in file order.
type Entries = BTreeMap<SortKey, Entry>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey(String, u8, String, u32);

impl From<&LockKey> for SortKey {
    fn from(key: &LockKey) -> SortKey {
        let (aggregate, kind, event, version) = key.order();
        SortKey(aggregate.to_owned(), kind, event.to_owned(), version)
    }
}

/// Checks the shapes of `events` and `states` against the lock file at `path` (a missing
/// file is an empty lock), records new entries, and reports. In
/// [`LockMode::Overwrite`], writes the file from the shapes alone.
///
/// Nothing is written when the check fails.
pub fn check_lock(
    path: &Path,
    events: &[EventShape],
    states: &[StateShape],
    mode: LockMode,
) -> Result<LockReport, LockError> {
    let mut problems = Vec::new();
    let current = current_entries(events, states, &mut problems);
    if !problems.is_empty() {
        return Err(LockError::Mismatch {
            path: path.to_owned(),
            problems,
        });
    }
    if mode == LockMode::Overwrite {
        write_lock(path, &current)?;
        return Ok(LockReport {
            path: path.to_owned(),
            recorded: current.values().map(|e| e.key.clone()).collect(),
            unchanged: 0,
            rewritten: true,
        });
    }

    let mut locked = read_lock(path)?;
    let mut recorded = Vec::new();
    let mut unchanged = 0;
    for (sort, entry) in &current {
        let highest = locked
            .values()
            .filter(|e| e.key.thing() == entry.key.thing())
            .map(|e| e.key.version())
            .max();
        match (locked.get(sort), highest) {
            // The code writes an older version than one already released: it could not
            // read what the newer code stored.
            (_, Some(highest)) if highest > entry.key.version() => {
                problems.push(LockProblem::VersionBehind {
                    key: entry.key.clone(),
                    recorded: highest,
                });
            }
            (Some(old), _) if old.fingerprint == entry.fingerprint => unchanged += 1,
            (Some(old), _) => problems.push(changed(old, entry)),
            (None, _) => recorded.push(entry.clone()),
        }
    }
    problems.extend(missing_events(&locked, events));
    if !problems.is_empty() {
        return Err(LockError::Mismatch {
            path: path.to_owned(),
            problems,
        });
    }
    if !recorded.is_empty() {
        for entry in &recorded {
            locked.insert(SortKey::from(&entry.key), entry.clone());
        }
        write_lock(path, &locked)?;
    }
    Ok(LockReport {
        path: path.to_owned(),
        recorded: recorded.into_iter().map(|e| e.key).collect(),
        unchanged,
        rewritten: false,
    })
}

/// The code's entries; two different shapes for one key are a [`LockProblem::Conflict`].
fn current_entries(
    events: &[EventShape],
    states: &[StateShape],
    problems: &mut Vec<LockProblem>,
) -> Entries {
    let event_entries = events.iter().map(|shape| {
        Entry::new(
            LockKey::Event {
                aggregate_type: shape.aggregate_type.to_owned(),
                event_type: shape.event_type.to_owned(),
                schema: shape.schema,
            },
            shape
                .fields
                .iter()
                .map(|f| (f.name.to_owned(), f.ty.to_owned())),
        )
    });
    let state_entries = states.iter().map(|shape| {
        Entry::new(
            LockKey::State {
                aggregate_type: shape.aggregate_type.to_owned(),
                version: shape.version,
            },
            shape.fields.iter().map(|f| (f.name.clone(), f.ty.clone())),
        )
    });
    let mut out = Entries::new();
    for entry in event_entries.chain(state_entries) {
        let sort = SortKey::from(&entry.key);
        match out.get(&sort) {
            Some(first) if first.fingerprint != entry.fingerprint => {
                let problem = LockProblem::Conflict {
                    key: entry.key.clone(),
                    first: first.fingerprint,
                    second: entry.fingerprint,
                };
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
            Some(_) => {}
            None => {
                out.insert(sort, entry);
            }
        }
    }
    out
}

fn changed(old: &Entry, new: &Entry) -> LockProblem {
    let changes = diff(&old.fields, &new.fields);
    match &new.key {
        LockKey::Event {
            aggregate_type,
            event_type,
            schema,
        } => LockProblem::EventChanged {
            aggregate_type: aggregate_type.clone(),
            event_type: event_type.clone(),
            schema: *schema,
            changes,
        },
        LockKey::State {
            aggregate_type,
            version,
        } => LockProblem::StateChanged {
            aggregate_type: aggregate_type.clone(),
            version: *version,
            changes,
        },
    }
}

/// The field changes from `old` to `new`, by name. Names listed more than once (several
/// flattened fields, `..`) are compared as sets of types.
fn diff(old: &[(String, String)], new: &[(String, String)]) -> Vec<FieldChange> {
    fn by_name(fields: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, ty) in fields {
            out.entry(name).or_default().push(ty);
        }
        out
    }
    let old = by_name(old);
    let new = by_name(new);
    let names: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    let mut changes = Vec::new();
    for name in names {
        let before = old.get(name).map_or(&[][..], Vec::as_slice);
        let after = new.get(name).map_or(&[][..], Vec::as_slice);
        if let ([from], [to]) = (before, after) {
            if from != to {
                changes.push(FieldChange::Retyped {
                    name: name.to_owned(),
                    from: (*from).to_owned(),
                    to: (*to).to_owned(),
                });
            }
            continue;
        }
        for ty in before.iter().filter(|t| !after.contains(t)) {
            changes.push(FieldChange::Removed {
                name: name.to_owned(),
                ty: (*ty).to_owned(),
            });
        }
        for ty in after.iter().filter(|t| !before.contains(t)) {
            changes.push(FieldChange::Added {
                name: name.to_owned(),
                ty: (*ty).to_owned(),
            });
        }
    }
    changes
}

/// Event types the lock records for an aggregate among `events` that none of `events`
/// has, under its name or an alias.
fn missing_events(locked: &Entries, events: &[EventShape]) -> Vec<LockProblem> {
    let aggregates: BTreeSet<&str> = events.iter().map(|e| e.aggregate_type).collect();
    let known = |aggregate: &str, event: &str| {
        events.iter().any(|e| {
            e.aggregate_type == aggregate && (e.event_type == event || e.aliases.contains(&event))
        })
    };
    let mut missing: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
    for entry in locked.values() {
        if let LockKey::Event {
            aggregate_type,
            event_type,
            schema,
        } = &entry.key
        {
            if aggregates.contains(aggregate_type.as_str()) && !known(aggregate_type, event_type) {
                missing
                    .entry((aggregate_type, event_type))
                    .or_default()
                    .push(*schema);
            }
        }
    }
    missing
        .into_iter()
        .map(|((aggregate, event), schemas)| LockProblem::EventMissing {
            aggregate_type: aggregate.to_owned(),
            event_type: event.to_owned(),
            schemas,
        })
        .collect()
}

const HEADER: &str = "\
# Schema lock: the stored shape of every event type and aggregate state, at every version.
# Written by `cim_events::assert_schema_lock!`; commit it with the code. A new version adds
# an entry; a changed shape under a recorded version fails the test. Do not edit entries:
# `CIM_EVENTS_LOCK=overwrite cargo test` rewrites the file from the code (and drops
# versions the code no longer has).
";

/// The file's text: the header, then one block per entry, separated by blank lines.
fn render(entries: &Entries) -> String {
    let mut text = HEADER.to_owned();
    for entry in entries.values() {
        text.push('\n');
        text.push_str(&format!(
            "{} fingerprint {}\n",
            entry.key.header(),
            entry.fingerprint.to_hex()
        ));
        for (name, ty) in &entry.fields {
            text.push_str("  ");
            text.push_str(&field_line(name, ty));
            text.push('\n');
        }
    }
    text
}

fn write_lock(path: &Path, entries: &Entries) -> Result<(), LockError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let error = |source| LockError::Write {
        path: path.to_owned(),
        source,
    };
    // Written aside and renamed, so a reader never sees half a file.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, render(entries)).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        error(source)
    })
}

fn read_lock(path: &Path) -> Result<Entries, LockError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Entries::new()),
        Err(source) => Err(LockError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// An entry being read: its key, fields, recorded fingerprint and header line.
struct Pending {
    key: LockKey,
    fields: Vec<(String, String)>,
    fingerprint: Fingerprint,
    line: usize,
}

fn parse(path: &Path, text: &str) -> Result<Entries, LockError> {
    let malformed = |line: usize, message: String| LockError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let mut entries = Entries::new();
    let mut first_lines: BTreeMap<SortKey, usize> = BTreeMap::new();
    let mut pending: Option<Pending> = None;
    let mut finish = |pending: Option<Pending>, entries: &mut Entries| -> Result<(), LockError> {
        let Some(p) = pending else { return Ok(()) };
        let entry = Entry::new(p.key, p.fields);
        if entry.fingerprint != p.fingerprint {
            return Err(malformed(
                p.line,
                format!(
                    "the fingerprint of {} does not match the fields below it, so the entry was edited by hand; restore it from version control",
                    entry.key
                ),
            ));
        }
        let sort = SortKey::from(&entry.key);
        if let Some(first) = first_lines.insert(sort.clone(), p.line) {
            return Err(malformed(
                p.line,
                format!("{} is already recorded at line {first}", entry.key),
            ));
        }
        entries.insert(sort, entry);
        Ok(())
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(field) = line.strip_prefix("  ") {
            let Some(p) = pending.as_mut() else {
                return Err(malformed(
                    number,
                    "a field line before any `event …` or `state …` line".to_owned(),
                ));
            };
            let parsed = field
                .split_once(": ")
                .and_then(|(name, ty)| Some((unescape(name)?, unescape(ty)?)));
            let Some(field) = parsed else {
                return Err(malformed(
                    number,
                    format!("expected a field `  name: type`, found `{}`", line.trim()),
                ));
            };
            p.fields.push(field);
            continue;
        }
        finish(pending.take(), &mut entries)?;
        pending = Some(header(line).map_err(|message| malformed(number, message))?);
        if let Some(p) = pending.as_mut() {
            p.line = number;
        }
    }
    finish(pending.take(), &mut entries)?;
    Ok(entries)
}

/// Reads `event {aggregate}/{event} schema {n} fingerprint {hex}` or
/// `state {aggregate} version {n} fingerprint {hex}`.
fn header(line: &str) -> Result<Pending, String> {
    let words: Vec<&str> = line.split(' ').collect();
    let expected = || {
        format!(
            "expected `event Aggregate/Event schema N fingerprint HEX`, `state Aggregate version N fingerprint HEX`, a field line indented by two spaces, a `#` comment or a blank line; found `{line}`"
        )
    };
    let (key, fingerprint) = match words.as_slice() {
        ["event", names, "schema", n, "fingerprint", hex] => {
            let (aggregate, event) = names.split_once('/').ok_or_else(expected)?;
            let key = LockKey::Event {
                aggregate_type: token(aggregate)?,
                event_type: token(event)?,
                schema: number(n)?,
            };
            (key, hex)
        }
        ["state", aggregate, "version", n, "fingerprint", hex] => {
            let key = LockKey::State {
                aggregate_type: token(aggregate)?,
                version: number(n)?,
            };
            (key, hex)
        }
        _ => return Err(expected()),
    };
    let fingerprint = Fingerprint::from_hex(fingerprint)
        .ok_or_else(|| format!("`{fingerprint}` is not a fingerprint: 64 hex digits"))?;
    Ok(Pending {
        key,
        fields: Vec::new(),
        fingerprint,
        line: 0,
    })
}

fn token(text: &str) -> Result<String, String> {
    match unescape(text) {
        Some(name) if !name.is_empty() && escape(&name, Escape::Token) == text => Ok(name),
        _ => Err(format!("`{text}` is not a valid name")),
    }
}

fn number(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a version number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldShape, StateField};

    const V2: &[FieldShape] = &[
        FieldShape {
            name: "account_id",
            ty: "String",
        },
        FieldShape {
            name: "amount",
            ty: "u64",
        },
    ];

    fn deposited(schema: u32, fields: &'static [FieldShape]) -> EventShape {
        EventShape {
            aggregate_type: "Account",
            event_type: "Deposited",
            aliases: &[],
            schema,
            fields,
        }
    }

    fn state(version: u32, fields: &[(&str, &str)]) -> StateShape {
        StateShape {
            aggregate_type: "Account",
            version,
            fields: fields
                .iter()
                .map(|&(n, t)| StateField {
                    name: n.to_owned(),
                    ty: t.to_owned(),
                })
                .collect(),
        }
    }

    fn lock_in(dir: &Path) -> PathBuf {
        dir.join("schema.lock")
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cim-events-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir
    }

    fn problems(result: Result<LockReport, LockError>) -> Vec<LockProblem> {
        match result {
            Err(LockError::Mismatch { problems, .. }) => problems,
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn records_then_passes_then_fails_on_change() {
        let dir = tempdir("cycle");
        let path = lock_in(&dir);
        let events = [deposited(2, V2)];
        let states = [state(1, &[("balance", "u64")])];

        let first = check_lock(&path, &events, &states, LockMode::Check).expect("records");
        assert_eq!(first.recorded.len(), 2);
        let again = check_lock(&path, &events, &states, LockMode::Check).expect("unchanged");
        assert_eq!((again.recorded.len(), again.unchanged), (0, 2));

        const RETYPED: &[FieldShape] = &[
            FieldShape {
                name: "account_id",
                ty: "String",
            },
            FieldShape {
                name: "amount",
                ty: "u128",
            },
        ];
        let before = std::fs::read_to_string(&path).expect("the lock");
        let found = problems(check_lock(
            &path,
            &[deposited(2, RETYPED)],
            &[state(1, &[("balance", "u64"), ("owner", "str")])],
            LockMode::Check,
        ));
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "event `Account/Deposited`: field `amount` changed from `u64` to `u128` but schema is still 2; bump schema to 3 and add an upcast from 2 (`#[event(schema = 3, from(2 = …))]`)",
                "state of `Account` changed: field `owner` added (`str`) but state is still 1; bump `#[aggregate(state = 2)]` (snapshots of state 1 are then rebuilt from events)",
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("the lock"),
            before,
            "nothing written on failure"
        );

        let bumped = check_lock(&path, &[deposited(3, RETYPED)], &states, LockMode::Check)
            .expect("a new version is recorded");
        assert_eq!(
            bumped.recorded,
            [LockKey::Event {
                aggregate_type: "Account".into(),
                event_type: "Deposited".into(),
                schema: 3
            }]
        );
        let text = std::fs::read_to_string(&path).expect("the lock");
        assert!(text.contains("event Account/Deposited schema 2 fingerprint"));
        assert!(text.contains("event Account/Deposited schema 3 fingerprint"));

        // Going back to 2 with the new shape is behind 3.
        let found = problems(check_lock(
            &path,
            &[deposited(1, RETYPED)],
            &states,
            LockMode::Check,
        ));
        assert!(matches!(
            &found[..],
            [LockProblem::VersionBehind { recorded: 3, .. }]
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn renamed_and_removed_fields_and_missing_events() {
        let old = [("account_id", "String"), ("amount", "u64"), ("..", "Extra")];
        let new = [("account_id", "String"), ("amt", "u64"), ("..", "Other")];
        let owned = |f: &[(&str, &str)]| -> Vec<(String, String)> {
            f.iter().map(|&(n, t)| (n.into(), t.into())).collect()
        };
        assert_eq!(
            diff(&owned(&old), &owned(&new))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "field `..` changed from `Extra` to `Other`",
                "field `amount` removed (was `u64`)",
                "field `amt` added (`u64`)",
            ]
        );

        let dir = tempdir("missing");
        let path = lock_in(&dir);
        check_lock(&path, &[deposited(1, V2)], &[], LockMode::Check).expect("records");
        let renamed = EventShape {
            event_type: "MoneyDeposited",
            ..deposited(1, V2)
        };
        let found = problems(check_lock(&path, &[renamed], &[], LockMode::Check));
        assert_eq!(
            found,
            [LockProblem::EventMissing {
                aggregate_type: "Account".into(),
                event_type: "Deposited".into(),
                schemas: vec![1],
            }]
        );
        let aliased = EventShape {
            aliases: &["Deposited"],
            ..renamed
        };
        check_lock(&path, &[aliased], &[], LockMode::Check).expect("the alias reads history");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn overwrite_rewrites_from_the_code() {
        let dir = tempdir("overwrite");
        let path = lock_in(&dir);
        check_lock(&path, &[deposited(1, V2)], &[], LockMode::Check).expect("records");
        check_lock(&path, &[deposited(2, V2)], &[], LockMode::Check).expect("records");
        let report =
            check_lock(&path, &[deposited(2, &[])], &[], LockMode::Overwrite).expect("rewrites");
        assert!(report.rewritten);
        let text = std::fs::read_to_string(&path).expect("the lock");
        assert!(!text.contains("schema 1"));
        assert!(text.contains("event Account/Deposited schema 2"));
        assert!(!text.contains("amount"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn conflicting_types_are_reported() {
        let found = problems(check_lock(
            Path::new("unused.lock"),
            &[deposited(1, V2), deposited(1, &[]), deposited(1, V2)],
            &[],
            LockMode::Overwrite,
        ));
        assert!(matches!(&found[..], [LockProblem::Conflict { .. }]));
    }

    #[test]
    fn the_file_round_trips() {
        let (mut problems, events) = (Vec::new(), [deposited(2, V2)]);
        let strange = EventShape {
            aggregate_type: "Odd/Agg",
            event_type: "Ev ent",
            aliases: &[],
            schema: 7,
            fields: &[FieldShape {
                name: "a: b\n",
                ty: "Box<dyn Error+Send>",
            }],
        };
        let current = current_entries(
            &[events[0], strange],
            &[state(1, &[(".", "enum Mode{A,B}")])],
            &mut problems,
        );
        assert!(problems.is_empty());
        let text = render(&current);
        assert!(text.contains("\nevent Account/Deposited schema 2 fingerprint "));
        assert!(text.contains("\n  account_id: String\n  amount: u64\n"));
        assert!(text.contains("\nevent Odd\\u{2f}Agg/Ev\\u{20}ent schema 7 fingerprint "));
        assert!(text.contains("\n  a\\u{3a}\\u{20}b\\u{a}: Box<dyn Error+Send>\n"));
        assert!(text.contains("\nstate Account version 1 fingerprint "));
        assert_eq!(parse(Path::new("x"), &text).expect("parses"), current);
        assert_eq!(
            current
                .values()
                .find(|e| e.key.version() == 2)
                .map(|e| e.fingerprint),
            Some(events[0].fingerprint()),
            "the lock's fingerprint is the shape's"
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        let good = render(&current_entries(&[deposited(2, V2)], &[], &mut Vec::new()));
        let header_line = good
            .lines()
            .position(|l| l.starts_with("event "))
            .expect("an entry")
            + 1;
        for (text, line, needle) in [
            ("  amount: u64\n".to_owned(), 1, "a field line before"),
            ("event Account/Deposited\n".to_owned(), 1, "expected `event"),
            ("bogus\n".to_owned(), 1, "expected `event"),
            (
                "event Account/Deposited schema x fingerprint 00\n".to_owned(),
                1,
                "`x` is not a version number",
            ),
            (
                "state Account version 1 fingerprint 00\n".to_owned(),
                1,
                "`00` is not a fingerprint",
            ),
            (
                good.replace("amount: u64", "amount: u128"),
                header_line,
                "edited by hand",
            ),
            (
                good.replace("amount: u64", "amount u64"),
                header_line + 2,
                "expected a field",
            ),
            (
                format!("{good}{good}"),
                header_line + good.lines().count(),
                "already recorded",
            ),
        ] {
            match parse(Path::new("schema.lock"), &text) {
                Err(LockError::Malformed {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{message}");
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("expected malformed for {text:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn modes() {
        assert_eq!(LockMode::parse("").ok(), Some(LockMode::Check));
        assert_eq!(LockMode::parse("overwrite").ok(), Some(LockMode::Overwrite));
        let error = LockMode::parse("ovewrite").expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "CIM_EVENTS_LOCK=`ovewrite` is not understood: set it to `overwrite` to rewrite the lock, or unset it"
        );
    }

    #[test]
    fn an_unreadable_lock_is_a_typed_error() {
        let dir = tempdir("unreadable");
        // A directory where the file should be.
        let result = check_lock(&dir, &[deposited(1, V2)], &[], LockMode::Check);
        assert!(matches!(result, Err(LockError::Read { .. })), "{result:?}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
