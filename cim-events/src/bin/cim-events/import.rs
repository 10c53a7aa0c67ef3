//! `import FILE`: a CAR file's chains into the stream, block for block, so every CID
//! stays the same (`cim_events::import::import_car`): each chain is verified before
//! anything of it is stored and read back and verified after; an import that stopped
//! midway resumes; a stream holding a different history for an aggregate is refused.

use std::io::BufReader;
use std::path::PathBuf;

use cim_events::car::read_car;
use cim_events::import::import_car;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, progress};

/// `import FILE`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The CAR file to load (from `export`).
    pub file: PathBuf,
}

/// Runs `import`.
pub async fn run(conn: &ConnectionArgs, args: ImportArgs) -> Result<Outcome, Failure> {
    let file = std::fs::File::open(&args.file)
        .map_err(|e| Failure::msg(format!("cannot open {}: {e}", args.file.display())))?;
    // Read (and every block's CID checked) before connecting: a bad file touches nothing.
    let contents = read_car(BufReader::new(file))?;
    let store = conn.connect().await?.store_or_create().await?;
    let bar = progress(contents.blocks.len() as u64, "blocks");
    let reports = import_car(&store, &contents, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    for report in &reports {
        println!(
            "{}: stored {}, already present {}, head {}",
            report.aggregate_id,
            report.stored,
            report.already_present,
            report.head.map_or_else(
                || "-".to_owned(),
                |h| format!("v{} {} seq {}", h.version, h.cid, h.sequence)
            ),
        );
    }
    println!(
        "imported {} chains from {}",
        reports.len(),
        args.file.display()
    );
    Ok(Outcome::Done)
}
