//! `tail [FILTER]`: the events whose subjects match a filter (`events.*.Deposited`), from
//! the beginning, a stream sequence, a time or new ones only; without `--follow` it stops
//! at the stream's end as it was when it started. Followed, it reads through the store's
//! subscription (an ordered consumer: no gap, no duplicate).

use cim_events::jetstream::async_nats::jetstream::consumer::DeliverPolicy;
use cim_events::{EventStore, RecordedEvent, StartFrom};
use futures::StreamExt;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, parse_since, redact};
use crate::scan::Scan;
use crate::show::event_line;

/// `tail [FILTER] [--from-seq N | --since TIME | --new] [--follow] [--json] [--payload]`.
#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// A subject filter under the prefix, e.g. `events.*.Deposited` (default: `{prefix}.>`).
    pub filter: Option<String>,
    /// Start at this stream sequence.
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["since", "new"])]
    pub from_seq: Option<u64>,
    /// Start at this time: RFC 3339 (`2026-12-02T05:00:00Z`) or a duration ago (`10m`).
    #[arg(long, value_name = "TIME", value_parser = parse_since, conflicts_with = "new")]
    pub since: Option<std::time::SystemTime>,
    /// Only events stored from now on (implies `--follow`).
    #[arg(long)]
    pub new: bool,
    /// Keep following new events.
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Add each event's payload, as DAG-JSON.
    #[arg(long)]
    pub payload: bool,
}

/// Runs `tail`.
pub async fn run(conn: &ConnectionArgs, args: TailArgs) -> Result<Outcome, Failure> {
    let connected = conn.connect().await?;
    let filter = args
        .filter
        .clone()
        .unwrap_or_else(|| format!("{}.>", connected.prefix));
    cim_events::subject::validate_subscription(&connected.prefix, &filter)?;
    let print = |item: Result<RecordedEvent, String>| match item {
        Ok(event) => println!("{}", event_line(&event, args.payload, args.json)),
        Err(e) => eprintln!("warning: {}", redact(&e)),
    };
    if args.follow || args.new {
        let store = connected.store().await?;
        let start = match (args.from_seq, args.since, args.new) {
            (Some(seq), _, _) => StartFrom::Sequence(seq),
            (_, Some(time), _) => StartFrom::Time(time),
            (_, _, true) => StartFrom::Now,
            _ => StartFrom::Beginning,
        };
        let mut events = store.subscribe(&filter, start).await?;
        while let Some(event) = events.next().await {
            print(event.map_err(|e| e.to_string()));
        }
        return Ok(Outcome::Done);
    }
    let deliver = match (args.from_seq, args.since) {
        (Some(seq), _) => DeliverPolicy::ByStartSequence {
            start_sequence: seq.max(1),
        },
        (_, Some(time)) => DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from(time),
        },
        _ => DeliverPolicy::All,
    };
    let stream = connected.stream().await?;
    let mut scan = Scan::start(&stream, &filter, deliver).await?;
    while let Some(record) = scan.next().await {
        let record = record?;
        let sequence = record.sequence;
        print(
            RecordedEvent::from_raw(record)
                .map_err(|e| format!("seq {sequence}: not an event: {e}")),
        );
    }
    Ok(Outcome::Done)
}
