//! `export`: chains to CARv1 files, streamed (memory stays flat however long a chain).
//!
//! Layout: a CARv1 header whose roots are the aggregates' heads (read when the export
//! starts), then each aggregate's blocks from genesis to head, one aggregate after
//! another, each block a `varint ‖ CID ‖ DAG-CBOR bytes` section. One aggregate gives one
//! root; `--all -o FILE` one file with a root per aggregate; `--all --dir DIR` one file
//! per aggregate, `DIR/{aggregate}.car`.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use cim_events::EventStore;
use cim_events::car::{CarSummary, export_aggregate, export_store};

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, progress};

/// `export (ID | --all) (-o FILE | --dir DIR)`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The aggregate to export.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Export every aggregate.
    #[arg(long)]
    pub all: bool,
    /// The CAR file to write (with `--all`: one file, a root per aggregate).
    #[arg(short, long, value_name = "FILE", required_unless_present = "dir")]
    pub output: Option<PathBuf>,
    /// With `--all`: one CAR file per aggregate in this folder, `{aggregate}.car`.
    #[arg(long, value_name = "DIR", requires = "all", conflicts_with = "output")]
    pub dir: Option<PathBuf>,
}

/// Runs `export`.
pub async fn run(conn: &ConnectionArgs, args: ExportArgs) -> Result<Outcome, Failure> {
    let store = conn.connect().await?.store().await?;
    match (&args.id, &args.output, &args.dir) {
        (Some(id), Some(path), _) => {
            let summary = export_aggregate(&store, id, create(path)?).await?;
            report(path, &summary);
        }
        (None, Some(path), _) => {
            let bar = progress(0, "aggregates");
            let summary = export_store(&store, create(path)?, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await?;
            bar.finish_and_clear();
            report(path, &summary);
        }
        (None, None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::msg(format!("cannot create {}: {e}", dir.display())))?;
            let ids = store.aggregate_ids().await?;
            let bar = progress(ids.len() as u64, "aggregates");
            for id in &ids {
                let path = dir.join(format!("{id}.car"));
                let summary = export_aggregate(&store, id, create(&path)?).await?;
                bar.inc(1);
                bar.suspend(|| report(&path, &summary));
            }
            bar.finish_and_clear();
        }
        _ => {
            return Err(Failure::msg(
                "give an aggregate ID or --all, and -o FILE or --dir DIR",
            ));
        }
    }
    Ok(Outcome::Done)
}

fn create(path: &Path) -> Result<BufWriter<std::fs::File>, Failure> {
    let file = std::fs::File::create(path)
        .map_err(|e| Failure::msg(format!("cannot create {}: {e}", path.display())))?;
    Ok(BufWriter::new(file))
}

fn report(path: &Path, summary: &CarSummary) {
    println!(
        "{}: {} roots, {} blocks, {} bytes",
        path.display(),
        summary.roots.len(),
        summary.blocks,
        summary.bytes
    );
}
