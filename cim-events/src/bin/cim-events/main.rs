//! `cim-events`: the operator CLI (feature `cli`). Every subcommand and an example are in
//! `cim-events/docs/cli.md`.
//!
//! Results go to stdout, progress and errors to stderr. Exit codes: 0 done (for `verify`:
//! intact), 1 faults found, 2 an error or bad arguments.
//!
//! | file | concept |
//! |---|---|
//! | `main.rs` | the command line, dispatch and exit codes |
//! | `connection.rs` | connecting as the `nats` CLI does: flags, environment, contexts |
//! | `output.rs` | errors, secrets kept out of them, progress bars, times, DAG-JSON |
//! | `scan.rs` | one pass over a stream's raw messages, and its last matching message |
//! | `verify.rs` | `verify`: one aggregate, the whole stream in one pass, located faults |
//! | `car_check.rs` | `verify --car`: a CAR file's chains, offline |
//! | `show.rs` | `show`: one aggregate's history |
//! | `tail.rs` | `tail`: events matching a filter, from a start, optionally followed |
//! | `export.rs` / `import.rs` | CAR files out of and into a stream |
//! | `stats.rs` | `stats`: counts, sizes, times and the stream's settings |
//! | `projections.rs` | durable projections: checkpoints, lag, reset |
//! | `shred.rs` | crypto-shredding a data subject's key |
//! | `schema.rs` | `schema check`: the registry against a lock file |
//! | `ipfs.rs` | `ipfs push` / `ipfs restore`: chains onto an IPFS node and back |

mod car_check;
mod connection;
mod export;
mod import;
mod ipfs;
mod output;
mod projections;
mod scan;
mod schema;
mod show;
mod shred;
mod stats;
mod tail;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::{Failure, Outcome};

/// Operate a cim-events store on NATS JetStream: verify, inspect, follow, export and
/// import event chains.
#[derive(Parser)]
#[command(name = "cim-events", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    connection: connection::ConnectionArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prove chains intact: one aggregate, every aggregate (one pass), or a CAR file.
    Verify(verify::VerifyArgs),
    /// One aggregate's history, one line per event.
    Show(show::ShowArgs),
    /// Events matching a subject filter, from a start, optionally followed.
    Tail(tail::TailArgs),
    /// Write chains to CAR files.
    Export(export::ExportArgs),
    /// Load a CAR file's chains into the stream, with the same CIDs.
    Import(import::ImportArgs),
    /// Counts, sizes, times, event types and the stream's settings.
    Stats(stats::StatsArgs),
    /// Durable projections: checkpoints, lag, reset.
    Projections(projections::ProjectionsArgs),
    /// Crypto-shred a data subject's key: their encrypted values become unreadable.
    Shred(shred::ShredArgs),
    /// Schema registry checks.
    Schema(schema::SchemaArgs),
    /// Chains onto an IPFS node (Kubo RPC API) and back, every CID the same.
    Ipfs(ipfs::IpfsArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; everything else clap reports is (exit 2).
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return output::fail(&Failure::from(e)),
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Faults) => ExitCode::from(1),
        Err(failure) => output::fail(&failure),
    }
}

async fn run(cli: Cli) -> Result<Outcome, Failure> {
    let conn = &cli.connection;
    match cli.command {
        Command::Verify(args) => verify::run(conn, args).await,
        Command::Show(args) => show::run(conn, args).await,
        Command::Tail(args) => tail::run(conn, args).await,
        Command::Export(args) => export::run(conn, args).await,
        Command::Import(args) => import::run(conn, args).await,
        Command::Stats(args) => stats::run(conn, args).await,
        Command::Projections(args) => projections::run(conn, args).await,
        Command::Shred(args) => shred::run(conn, args).await,
        Command::Schema(args) => schema::run(conn, args).await,
        Command::Ipfs(args) => ipfs::run(conn, args).await,
    }
}
