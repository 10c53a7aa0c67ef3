//! The lock file: its text format, read and written.

use super::*;

const HEADER: &str = "\
# Schema lock: the stored shape of every event type and aggregate state, at every version.
# Written by `cim_events::assert_schema_lock!`; commit it with the code. A new version adds
# an entry; a changed shape under a recorded version fails the test. Do not edit entries:
# `CIM_EVENTS_LOCK=overwrite cargo test` rewrites the file from the code (and drops
# versions the code no longer has).
";

/// The file's text: the header, then one block per entry, separated by blank lines.
pub(super) fn render(entries: &Entries) -> String {
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

pub(super) fn write_lock(path: &Path, entries: &Entries) -> Result<(), LockError> {
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

pub(super) fn read_lock(path: &Path) -> Result<Entries, LockError> {
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

pub(super) fn parse(path: &Path, text: &str) -> Result<Entries, LockError> {
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
