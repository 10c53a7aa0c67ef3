//! `stats`: what the stream holds (events, aggregates, bytes, first and last time, counts
//! per event type, from the server's per-subject counts: no event is read) and its
//! settings against those the store requires, with a warning for each that differs.

use std::collections::{BTreeMap, BTreeSet};

use cim_events::jetstream::async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
use futures::TryStreamExt;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, time_of, warn};
use crate::scan::aggregate_of;

/// `stats [--json]`.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// A machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stats`.
pub async fn run(conn: &ConnectionArgs, args: StatsArgs) -> Result<Outcome, Failure> {
    let connected = conn.connect().await?;
    let mut stream = connected.stream().await?;
    let prefix = connected.prefix.clone();
    let info = stream.info().await?.clone();
    let subjects: Vec<(String, usize)> = stream
        .info_with_subjects(format!("{prefix}.>"))
        .await?
        .try_collect()
        .await?;
    let mut aggregates = BTreeSet::new();
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    for (subject, count) in &subjects {
        if let Some(id) = aggregate_of(&prefix, subject) {
            aggregates.insert(id.to_owned());
            let event_type = subject.rsplit('.').next().unwrap_or_default();
            *types.entry(event_type.to_owned()).or_default() += *count as u64;
        }
    }
    let state = &info.state;
    let (first, last) = if state.messages == 0 {
        (None, None)
    } else {
        (
            Some(time_of(state.first_timestamp.into())),
            Some(time_of(state.last_timestamp.into())),
        )
    };
    let warnings = settings_warnings(&info.config, &prefix);
    if args.json {
        let report = serde_json::json!({
            "stream": info.config.name,
            "events": state.messages,
            "aggregates": aggregates.len(),
            "bytes": state.bytes,
            "first_sequence": state.first_sequence,
            "last_sequence": state.last_sequence,
            "first_time": first,
            "last_time": last,
            "event_types": types,
            "replicas": info.config.num_replicas,
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("stream      {}", info.config.name);
        println!("events      {}", state.messages);
        println!("aggregates  {}", aggregates.len());
        println!("bytes       {}", state.bytes);
        println!(
            "sequences   {}..{}",
            state.first_sequence, state.last_sequence
        );
        println!("first time  {}", first.as_deref().unwrap_or("-"));
        println!("last time   {}", last.as_deref().unwrap_or("-"));
        println!("replicas    {}", info.config.num_replicas);
        println!("event types");
        for (event_type, count) in &types {
            println!("  {event_type:<30} {count}");
        }
        println!(
            "settings    {}",
            if warnings.is_empty() {
                "as the store requires"
            } else {
                "NOT as the store requires (see warnings)"
            }
        );
    }
    for warning in &warnings {
        warn(warning);
    }
    Ok(Outcome::Done)
}

/// Each setting that differs from what the store requires (see `cim_events::jetstream`).
fn settings_warnings(config: &Config, prefix: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut check = |ok: bool, message: &str| {
        if !ok {
            warnings.push(message.to_owned());
        }
    };
    check(
        config.storage == StorageType::File,
        "storage is memory: a server restart loses every event (the store requires file)",
    );
    check(
        config.deny_delete,
        "deny_delete is off: messages can be deleted",
    );
    check(
        config.deny_purge,
        "deny_purge is off: the stream can be purged",
    );
    check(
        !config.allow_rollup,
        "allow_rollup is on: a rollup replaces history",
    );
    check(
        config.allow_direct,
        "allow_direct is off: the store reads heads by Direct Get",
    );
    check(
        config.allow_atomic_publish,
        "allow_atomic_publish is off: multi-event appends need atomic batches",
    );
    check(
        !config.duplicate_window.is_zero(),
        "duplicate_window is 0: a retried append could store an event twice",
    );
    check(
        config.max_age.is_zero(),
        "max_age is set: the server deletes old events",
    );
    check(
        !((config.max_messages > 0 || config.max_bytes > 0)
            && config.discard == DiscardPolicy::Old),
        "max_msgs/max_bytes with discard old: the server deletes old events at the limit",
    );
    check(
        config.max_messages_per_subject <= 0
            || (config.discard == DiscardPolicy::New && config.discard_new_per_subject),
        "max_msgs_per_subject without discard new per subject: the server deletes events",
    );
    check(
        config.subject_transform.is_none(),
        "a subject transform rewrites subjects",
    );
    check(
        config.sources.as_ref().is_none_or(Vec::is_empty) && config.mirror.is_none(),
        "sources or a mirror add messages the store did not write",
    );
    check(
        config.subject_delete_marker_ttl.is_none(),
        "subject delete markers add messages",
    );
    check(
        config.subjects.iter().any(|s| s == &format!("{prefix}.>")),
        "the stream's subjects do not include `{prefix}.>`",
    );
    warnings
}
