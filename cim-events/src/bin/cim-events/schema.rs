//! `schema check`: the shapes registered in the stream's schema registry (bucket
//! `{stream}_SCHEMAS`) checked on their own (each value's fingerprint must be the hash of
//! its canonical text) and, with `--lock FILE`, against a schema lock file: a triple
//! registered with another fingerprint than the lock records is drift (exit 1); one
//! registered but not locked, or locked but not yet registered, is listed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cim_events::schema::Fingerprint;
use futures::TryStreamExt;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome};

/// `schema check [--lock FILE] [--bucket B]`.
#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub action: SchemaAction,
}

/// What to do with schemas.
#[derive(clap::Subcommand, Debug)]
pub enum SchemaAction {
    /// Check the registry, and against a lock file.
    Check {
        /// A schema lock file (`schema.lock`, written by `assert_schema_lock!`).
        #[arg(long, value_name = "FILE")]
        lock: Option<PathBuf>,
        /// The registry bucket (default `{stream}_SCHEMAS`).
        #[arg(long)]
        bucket: Option<String>,
    },
}

/// Runs `schema`.
pub async fn run(conn: &ConnectionArgs, args: SchemaArgs) -> Result<Outcome, Failure> {
    let SchemaAction::Check { lock, bucket } = args.action;
    let locked = match &lock {
        Some(path) => Some(read_lock(path)?),
        None => None,
    };
    let connected = conn.connect().await?;
    let bucket = bucket.unwrap_or_else(|| format!("{}_SCHEMAS", connected.stream));
    let kv = connected.js.get_key_value(&bucket).await.map_err(|e| {
        Failure::msg(format!(
            "cannot open schema registry bucket `{bucket}`: {e}"
        ))
    })?;
    let mut keys: Vec<String> = kv.keys().await?.try_collect().await?;
    keys.sort();
    let mut faults = 0;
    let mut registered: BTreeMap<String, Fingerprint> = BTreeMap::new();
    for key in keys {
        let Some(value) = kv.get(&key).await? else {
            continue;
        };
        match decode(&value) {
            Ok((title, fingerprint)) => {
                registered.insert(title, fingerprint);
            }
            Err(problem) => {
                faults += 1;
                println!("CORRUPT {key}: {problem}");
            }
        }
    }
    for (title, fingerprint) in &registered {
        match locked.as_ref().map(|l| l.get(title)) {
            None => println!("registered {title} fingerprint {}", fingerprint.to_hex()),
            Some(Some(lock)) if lock == fingerprint => println!("ok {title}"),
            Some(Some(lock)) => {
                faults += 1;
                println!(
                    "DRIFT {title}: registered {}, lock {}",
                    fingerprint.to_hex(),
                    lock.to_hex()
                );
            }
            Some(None) => println!("not-locked {title}: registered but not in the lock file"),
        }
    }
    if let Some(locked) = &locked {
        for title in locked.keys().filter(|t| !registered.contains_key(*t)) {
            println!("not-registered {title}: in the lock file, not registered yet");
        }
    }
    println!("{} registered shapes, {} faults", registered.len(), faults);
    Ok(if faults == 0 {
        Outcome::Done
    } else {
        Outcome::Faults
    })
}

/// A registry value: `fingerprint sha256:{hex}` then the canonical text, whose first line
/// is the title `event {aggregate}/{event} schema {n}`. The fingerprint must be the
/// canonical text's.
fn decode(value: &[u8]) -> Result<(String, Fingerprint), String> {
    let text = std::str::from_utf8(value).map_err(|_| "not UTF-8".to_owned())?;
    let (first, canonical) = text.split_once('\n').ok_or("no canonical text")?;
    let hex = first
        .strip_prefix("fingerprint sha256:")
        .ok_or("no `fingerprint sha256:` line")?;
    let recorded = Fingerprint::from_hex(hex).ok_or("a fingerprint that is not 64 hex digits")?;
    if Fingerprint::of(canonical) != recorded {
        return Err("the fingerprint is not the hash of the shape: the value was edited".into());
    }
    let title = canonical.lines().next().unwrap_or_default().to_owned();
    Ok((title, recorded))
}

/// The event entries of a lock file: title `event A/E schema N` → fingerprint.
fn read_lock(path: &PathBuf) -> Result<BTreeMap<String, Fingerprint>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::msg(format!("cannot read {}: {e}", path.display())))?;
    let mut entries = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let Some((title, hex)) = line
            .strip_prefix("event ")
            .and_then(|_| line.rsplit_once(" fingerprint "))
        else {
            continue;
        };
        let fingerprint = Fingerprint::from_hex(hex).ok_or_else(|| {
            Failure::msg(format!(
                "{}:{}: a fingerprint that is not 64 hex digits",
                path.display(),
                number + 1
            ))
        })?;
        entries.insert(title.to_owned(), fingerprint);
    }
    Ok(entries)
}
