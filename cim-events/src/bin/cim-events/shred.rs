//! `shred KEY_ID`: crypto-shreds a data subject's key with `Crypto::shred`: the data key
//! is destroyed in the key bucket (a tombstone stays), and every other data key is
//! re-wrapped under the next KEK, because the bucket's delete is not erasure. Their
//! encrypted values then read as shredded everywhere; every chain still verifies.
//!
//! KEKs are read from files holding 64 hex digits (32 bytes); they are never printed.
//! Store the next KEK before running this, and destroy the previous one afterwards.

use std::path::{Path, PathBuf};

use cim_events::crypto::{Crypto, Kek, KeyState};
use cim_events::jetstream::JetStreamKeyStore;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, confirm, keep_secret};

/// `shred KEY_ID --key-bucket B --kek-id ID --kek-file F --next-kek-id ID --next-kek-file F [--yes]`.
#[derive(clap::Args, Debug)]
pub struct ShredArgs {
    /// The data subject's key id (as the events' `#[event(data_subject)]` names it).
    pub key_id: String,
    /// The key bucket (`JetStreamKeyStore`).
    #[arg(long, value_name = "BUCKET")]
    pub key_bucket: String,
    /// The current KEK's id.
    #[arg(long)]
    pub kek_id: String,
    /// File holding the current KEK: 64 hex digits.
    #[arg(long)]
    pub kek_file: PathBuf,
    /// The next KEK's id (a new one).
    #[arg(long)]
    pub next_kek_id: String,
    /// File holding the next KEK: 64 hex digits. Store it before running this.
    #[arg(long)]
    pub next_kek_file: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// Runs `shred`.
pub async fn run(conn: &ConnectionArgs, args: ShredArgs) -> Result<Outcome, Failure> {
    let kek = read_kek(&args.kek_id, &args.kek_file)?;
    let next = read_kek(&args.next_kek_id, &args.next_kek_file)?;
    if kek.id() == next.id() {
        return Err(Failure::msg("--next-kek-id must differ from --kek-id"));
    }
    let connected = conn.connect().await?;
    // Never create a key bucket here: a wrong name must not look like an empty one.
    connected
        .js
        .get_key_value(&args.key_bucket)
        .await
        .map_err(|e| Failure::msg(format!("cannot open key bucket `{}`: {e}", args.key_bucket)))?;
    let keys = JetStreamKeyStore::new(connected.js.clone(), &args.key_bucket).await?;
    let crypto = Crypto::new(keys, kek);
    let state = crypto.key_state(&args.key_id).await?;
    if state == KeyState::Shredded {
        println!("`{}` is already shredded", args.key_id);
        return Ok(Outcome::Done);
    }
    if !args.yes
        && !confirm(&format!(
            "shred `{}` ({state:?})? Its encrypted values become unreadable for good.",
            args.key_id
        ))
    {
        return Err(Failure::msg(
            "not confirmed: answer `y` on a terminal, or pass --yes",
        ));
    }
    let report = crypto.shred(&args.key_id, &next).await?;
    for kid in &report.kids {
        println!("shredded {} (key id hash {})", args.key_id, kid.as_str());
    }
    println!(
        "re-wrapped {} other data keys under KEK `{}`: keep it, destroy the previous KEK",
        report.rewrapped, report.kek_id
    );
    Ok(Outcome::Done)
}

/// A KEK from a file of 64 hex digits.
fn read_kek(id: &str, path: &Path) -> Result<Kek, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::msg(format!("cannot read KEK file {}: {e}", path.display())))?;
    let hex = text.trim();
    keep_secret(hex);
    let bad = || {
        Failure::msg(format!(
            "KEK file {} must hold 64 hex digits",
            path.display()
        ))
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Kek::from_bytes(id, bytes)?)
}
