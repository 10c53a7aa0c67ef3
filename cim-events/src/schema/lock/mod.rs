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

mod file;
mod report;
#[cfg(test)]
mod tests;

pub use report::{FieldChange, LockError, LockKey, LockProblem, LockReport};

use file::{read_lock, write_lock};

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
