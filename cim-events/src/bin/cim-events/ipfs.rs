//! `ipfs push` and `ipfs restore`: the stream's chains onto an IPFS node (Kubo RPC API),
//! and chains from a node back into the stream, every CID the same
//! (`cim_events::ipfs`, `docs/ipfs.md`).
//!
//! - `push` sends every chain as it stands, in CARs of bounded size through `dag/import`,
//!   and pins each aggregate's head (one recursive pin covers its whole history).
//! - `restore HEAD…` walks each chain down from its head on the node, verifying every
//!   block, then imports it; a faulty chain is reported, located, and not imported.
//!   `--check` only verifies.

use cim_events::Cid;
use cim_events::ipfs::{Backfill, KuboClient, backfill, restore_chain, restore_into};

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, parse_cid, progress};

/// `ipfs`.
#[derive(clap::Args, Debug)]
pub struct IpfsArgs {
    /// The node's RPC API address.
    #[arg(
        long,
        env = "IPFS_API",
        default_value = "http://127.0.0.1:5001",
        global = true
    )]
    pub api: String,
    #[command(subcommand)]
    pub command: IpfsCommand,
}

/// The `ipfs` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum IpfsCommand {
    /// Send every chain to the node and pin each aggregate's head.
    Push {
        /// At most this many blocks per CAR.
        #[arg(long, default_value_t = Backfill::default().chunk_blocks)]
        chunk: usize,
        /// Send without pinning.
        #[arg(long)]
        no_pin: bool,
    },
    /// Fetch chains from the node by their head CIDs, verify, and import them.
    Restore {
        /// The head CIDs (one per aggregate).
        #[arg(required = true, value_parser = parse_cid)]
        heads: Vec<Cid>,
        /// Only verify the chains on the node; import nothing.
        #[arg(long)]
        check: bool,
    },
}

/// Runs `ipfs`.
pub async fn run(conn: &ConnectionArgs, args: IpfsArgs) -> Result<Outcome, Failure> {
    let node = KuboClient::new(&args.api)?;
    match args.command {
        IpfsCommand::Push { chunk, no_pin } => push(conn, &node, chunk, !no_pin).await,
        IpfsCommand::Restore { heads, check } => restore(conn, &node, &heads, check).await,
    }
}

async fn push(
    conn: &ConnectionArgs,
    node: &KuboClient,
    chunk: usize,
    pin: bool,
) -> Result<Outcome, Failure> {
    let store = conn.connect().await?.store().await?;
    let options = Backfill {
        chunk_blocks: chunk,
        pin,
        ..Backfill::default()
    };
    let bar = progress(0, "aggregates");
    let report = backfill(&store, node, options, |p| {
        bar.set_length(p.aggregates as u64);
        bar.set_position(p.aggregates_done as u64);
    })
    .await?;
    bar.finish_and_clear();
    for (id, head) in &report.heads {
        println!(
            "{id}: v{} {}{}",
            head.version,
            head.cid,
            if pin { " pinned" } else { "" }
        );
    }
    let done = report.progress;
    println!(
        "pushed {} aggregates: {} blocks, {} bytes in {} CARs",
        done.aggregates_done, done.blocks, done.bytes, done.cars
    );
    Ok(Outcome::Done)
}

async fn restore(
    conn: &ConnectionArgs,
    node: &KuboClient,
    heads: &[Cid],
    check: bool,
) -> Result<Outcome, Failure> {
    let store = if check {
        None
    } else {
        Some(conn.connect().await?.store_or_create().await?)
    };
    let mut outcome = Outcome::Done;
    for head in heads {
        let report = match &store {
            None => restore_chain(node, *head).await?.report,
            Some(store) => {
                let restored = restore_into(node, *head, store).await?;
                if let Some(import) = &restored.import {
                    println!(
                        "{}: stored {}, already present {}",
                        import.aggregate_id, import.stored, import.already_present
                    );
                }
                restored.report
            }
        };
        let id = report.aggregate_id.as_deref().unwrap_or("?");
        if report.is_valid() {
            println!("{id}: {} blocks from {head}: intact", report.verified);
            continue;
        }
        outcome = Outcome::Faults;
        for fault in &report.faults {
            println!(
                "{id}: FAULT at {} (version {}, linked from {}): {:?}",
                fault.cid,
                fault
                    .version
                    .map_or_else(|| "head".to_owned(), |v| v.to_string()),
                fault
                    .linked_from
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                fault.kind
            );
        }
    }
    Ok(outcome)
}
