//! `show ID`: one aggregate's history, every stored message of it in stream order, one
//! line per event: version, time, type, CID, `prev`, causation (`--payload`: and the
//! payload as DAG-JSON; `--json`: one JSON object per line). A message that is not an
//! event is shown as such, never skipped in silence.

use cim_events::{EventStore, RecordedEvent};
use futures::StreamExt;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, dag_json, redact, time_of_nanos};

/// `show ID [--payload] [--json]`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The aggregate.
    pub id: String,
    /// Add each event's payload, as DAG-JSON.
    #[arg(long)]
    pub payload: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `show`.
pub async fn run(conn: &ConnectionArgs, args: ShowArgs) -> Result<Outcome, Failure> {
    let store = conn.connect().await?.store().await?;
    let mut messages = store.read_messages(&args.id, 0).await?;
    let mut shown = 0u64;
    while let Some(record) = messages.next().await {
        let record = record?;
        let sequence = record.sequence;
        match RecordedEvent::from_raw(record) {
            Ok(event) => println!("{}", event_line(&event, args.payload, args.json)),
            Err(e) if args.json => println!(
                "{}",
                serde_json::json!({"sequence": sequence, "error": redact(&e.to_string())})
            ),
            Err(e) => println!("seq {sequence}: not an event: {}", redact(&e.to_string())),
        }
        shown += 1;
    }
    if shown == 0 {
        eprintln!("aggregate `{}` has no events", args.id);
    }
    Ok(Outcome::Done)
}

/// One event as a line of text, or of JSON.
pub fn event_line(event: &RecordedEvent, payload: bool, json: bool) -> String {
    let block = &event.block;
    if json {
        let mut value = serde_json::json!({
            "sequence": event.sequence,
            "aggregate": block.aggregate_id,
            "version": block.seq,
            "time": time_of_nanos(block.time),
            "type": block.event_type,
            "schema": block.schema,
            "cid": event.cid.to_string(),
            "prev": block.prev.map(|c| c.to_string()),
            "causation": block.causation_id,
            "correlation": block.correlation_id,
        });
        if payload {
            value["payload"] = dag_json(&block.payload);
        }
        return value.to_string();
    }
    let mut line = format!(
        "{} v{} {} {} {} prev={} cause={}",
        block.aggregate_id,
        block.seq,
        time_of_nanos(block.time),
        block.event_type,
        event.cid,
        block.prev.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        block.causation_id.as_deref().unwrap_or("-"),
    );
    if payload {
        line.push(' ');
        line.push_str(&dag_json(&block.payload).to_string());
    }
    line
}
