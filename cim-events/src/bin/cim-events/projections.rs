//! `projections`: the durable projections whose checkpoints are in a bucket (by default
//! `projections`, the name the runner's docs use): each one's checkpoint (stream
//! sequence and CID), whether that CID is the event stored at that sequence (on the
//! chain), and its lag; and `reset NAME --to SEQ|start`, which moves a checkpoint back,
//! refusing while a runner holds the projection's consumer.

use cim_events::block::cid_of;
use cim_events::jetstream::JetStreamCheckpointStore;
use cim_events::jetstream::async_nats::jetstream::kv;
use cim_events::projection::Checkpoint;
use futures::TryStreamExt;

use crate::connection::{Connected, ConnectionArgs};
use crate::output::{Failure, Outcome, confirm};
use crate::scan::message_at;

/// `projections [list] [--bucket B]`, `projections reset NAME --to SEQ|start [--yes]`.
#[derive(clap::Args, Debug)]
pub struct ProjectionsArgs {
    /// The checkpoint bucket.
    #[arg(long, default_value = "projections", global = true)]
    pub bucket: String,
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// What to do with projections.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Each projection's checkpoint, whether it is on the chain, and its lag (the default).
    List {
        /// A machine-readable report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Moves a projection's checkpoint back: to a stream sequence, or to the start.
    Reset {
        /// The projection (its durable consumer has the same name).
        name: String,
        /// `start`, or the stream sequence of the last event to count as applied.
        #[arg(long, value_name = "SEQ|start", value_parser = parse_target)]
        to: Target,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Where a reset moves a checkpoint.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// No checkpoint: the projection starts from the first event.
    Start,
    /// The event at this stream sequence counts as the last applied.
    Sequence(u64),
}

fn parse_target(text: &str) -> Result<Target, String> {
    match text {
        "start" => Ok(Target::Start),
        _ => match text.parse::<u64>() {
            Ok(seq) if seq > 0 => Ok(Target::Sequence(seq)),
            _ => Err(format!(
                "`{text}` is neither `start` nor a stream sequence (1 or more)"
            )),
        },
    }
}

/// Runs `projections`.
pub async fn run(conn: &ConnectionArgs, args: ProjectionsArgs) -> Result<Outcome, Failure> {
    let connected = conn.connect().await?;
    let bucket = connected
        .js
        .get_key_value(&args.bucket)
        .await
        .map_err(|e| {
            Failure::msg(format!(
                "cannot open checkpoint bucket `{}` (`--bucket` names it): {e}",
                args.bucket
            ))
        })?;
    match args.action.unwrap_or(Action::List { json: false }) {
        Action::List { json } => list(&connected, &bucket, json).await,
        Action::Reset { name, to, yes } => reset(&connected, &bucket, &name, to, yes).await,
    }
}

async fn list(connected: &Connected, bucket: &kv::Store, json: bool) -> Result<Outcome, Failure> {
    let stream = connected.stream().await?;
    let last = stream.cached_info().state.last_sequence;
    let mut keys: Vec<String> = bucket.keys().await?.try_collect().await?;
    keys.sort();
    let mut off_chain = false;
    let mut rows = Vec::new();
    for key in keys {
        let Some(value) = bucket.get(&key).await? else {
            continue;
        };
        let (name, checkpoint) = match JetStreamCheckpointStore::decode(&value) {
            Ok(decoded) => decoded,
            Err(e) => {
                off_chain = true;
                rows.push(serde_json::json!({"name": key, "error": e.to_string()}));
                continue;
            }
        };
        let on_chain = match message_at(&stream, checkpoint.sequence).await {
            Ok(record) => cid_of(&record.data) == checkpoint.cid,
            Err(_) => false,
        };
        off_chain |= !on_chain;
        let consumer = stream.consumer_info(&name).await.ok();
        let (pending, runner) = match &consumer {
            Some(info) => (
                info.num_pending + info.num_ack_pending as u64,
                info.num_waiting > 0,
            ),
            None => (last.saturating_sub(checkpoint.sequence), false),
        };
        rows.push(serde_json::json!({
            "name": name,
            "sequence": checkpoint.sequence,
            "cid": checkpoint.cid.to_string(),
            "on_chain": on_chain,
            "pending": pending,
            "consumer": consumer.is_some(),
            "running": runner,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no projections in bucket `{}`", bucket.name);
    } else {
        for row in &rows {
            if let Some(error) = row["error"].as_str() {
                println!("{} UNREADABLE checkpoint: {error}", row["name"]);
                continue;
            }
            println!(
                "{} seq {} cid {} {} pending {}{}{}",
                row["name"].as_str().unwrap_or_default(),
                row["sequence"],
                row["cid"].as_str().unwrap_or_default(),
                if row["on_chain"] == true {
                    "on-chain"
                } else {
                    "NOT-ON-CHAIN"
                },
                row["pending"],
                if row["consumer"] == true {
                    ""
                } else {
                    " (no consumer; at most)"
                },
                if row["running"] == true {
                    " running"
                } else {
                    ""
                },
            );
        }
    }
    Ok(if off_chain {
        Outcome::Faults
    } else {
        Outcome::Done
    })
}

async fn reset(
    connected: &Connected,
    bucket: &kv::Store,
    name: &str,
    to: Target,
    yes: bool,
) -> Result<Outcome, Failure> {
    let stream = connected.stream().await?;
    if let Ok(info) = stream.consumer_info(name).await {
        if info.num_waiting > 0 {
            return Err(Failure::msg(format!(
                "a runner holds consumer `{name}` ({} pull requests waiting): stop it, then reset",
                info.num_waiting
            )));
        }
    }
    let checkpoint = match to {
        Target::Start => None,
        Target::Sequence(sequence) => {
            let record = message_at(&stream, sequence).await.map_err(|e| {
                Failure::msg(format!("no message at stream sequence {sequence}: {}", e.0))
            })?;
            Some(Checkpoint {
                sequence,
                cid: cid_of(&record.data),
            })
        }
    };
    let target = match checkpoint {
        None => "the start".to_owned(),
        Some(c) => format!("stream sequence {} ({})", c.sequence, c.cid),
    };
    if !yes && !confirm(&format!("reset projection `{name}` to {target}?")) {
        return Err(Failure::msg(
            "not confirmed: answer `y` on a terminal, or pass --yes",
        ));
    }
    match checkpoint {
        None => {
            bucket.purge(name).await?;
        }
        Some(checkpoint) => {
            bucket
                .put(name, JetStreamCheckpointStore::encode(name, checkpoint)?)
                .await?;
        }
    }
    // Hygiene only: a runner keeps an existing consumer only if it delivered exactly up
    // to the checkpoint, which after a reset it did not, so it recreates it anyway. An
    // absent consumer is fine.
    let _ = stream.delete_consumer(name).await;
    println!("projection `{name}` reset to {target}");
    eprintln!(
        "note: the read model itself is not touched: its owner must clear it (or roll it back to \
         the checkpoint) before the runner starts again"
    );
    Ok(Outcome::Done)
}
